"""Lineage queries and ``nemotron-kit lineage`` / ``runs``, on runs recorded by real jobs.

The chain is made by ``python -m nemotron_kit`` jobs of the stage recipe (tests/conf):

    data:v1 -> model:v1 -> eval:v1     (eval reads model and data: a diamond)
    data:v1 -> other:v1                (a second consumer of data: a branch)
    model:v1 -> broken run (FAILED, no output)

The jobs run once per module; each test gets a fresh NEMOTRON_KIT_HOME holding a copy.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from nemotron_kit.artifacts import Artifact
from nemotron_kit.errors import MissingDependencyError
from nemotron_kit.lineage import (
    ArtifactNode,
    LineageGraph,
    LineageQueryError,
    RunNode,
    layout,
    lineage,
    render,
    run_lineage,
    to_dot,
    to_mermaid,
)
from nemotron_kit.registry.core import ArtifactRegistry
from tests.conftest import (
    REPO,
    RunCli,
    cli_command,
    needs,
    ok,
    one_error_line,
    parse_table,
    registry_of,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

JOBS: list[tuple[list[str], int]] = [
    (["stage.name=data", "output.name=data"], 0),
    (["stage.name=model", "output.name=model", "+inputs.data=art://data:latest"], 0),
    (
        [
            "stage.name=eval",
            "output.name=eval",
            "+inputs.model=art://model:latest",
            "+inputs.data=art://data:latest",
        ],
        0,
    ),
    (["stage.name=other", "output.name=other", "+inputs.data=art://data:v1"], 0),
    (
        [
            "stage.name=broken",
            "output.name=broken",
            "+inputs.model=art://model:v1",
            "stage.fail=true",
        ],
        1,
    ),
]


@pytest.fixture(scope="module")
def recorded_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry filled by the five jobs above (run once for the module)."""
    base = tmp_path_factory.mktemp("lineage-chain")
    home, work = base / "home", base / "work"
    home.mkdir()
    work.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("HYDRA_FULL_ERROR", "NEMOTRON_KIT_CONFIG_PATH")
    }
    env.update({"NEMOTRON_KIT_HOME": str(home), "PYTHONPATH": str(REPO)})
    for overrides, code in JOBS:
        result = subprocess.run(
            cli_command("+recipe=stage", *overrides),
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == code, (overrides, result.stderr)
    return home / "registry"


@dataclass
class Chain:
    registry: ArtifactRegistry
    data: str  # run ids
    model: str
    eval: str
    other: str
    broken: str


@pytest.fixture
def chain(recorded_registry: Path, nk_home: Path) -> Chain:
    """The recorded registry copied into this test's own NEMOTRON_KIT_HOME."""
    shutil.copytree(recorded_registry, nk_home / "registry", symlinks=True)
    registry = registry_of(nk_home)

    def producer(uri: str) -> str:
        run_id = registry.resolve(uri).producer
        assert run_id is not None
        return run_id

    model_run, eval_run = producer("art://model:v1"), producer("art://eval:v1")
    broken = [r for r in registry.consumers("art://model:v1") if r != eval_run]
    assert len(broken) == 1
    return Chain(
        registry,
        producer("art://data:v1"),
        model_run,
        eval_run,
        producer("art://other:v1"),
        broken[0],
    )


def version_node(registry: ArtifactRegistry, name: str) -> dict[str, Any]:
    version = registry.resolve(f"art://{name}:v1")
    return {
        "id": f"art://{name}:v1",
        "kind": "artifact",
        "name": name,
        "project": "default",
        "version": 1,
        "type": "data_blends",
        "created_at": version.created_at,
        "producer": version.producer,
        "missing": False,
        "deleted": False,
    }


def run_node(registry: ArtifactRegistry, run_id: str, status: str = "COMPLETED") -> dict[str, Any]:
    record = registry.read_run(run_id)
    assert record["status"] == status
    return {
        "id": f"run:{run_id}",
        "kind": "run",
        "run_id": run_id,
        "recipe": "stage",
        "status": status,
        "started_at": record["started_at"],
        "duration_s": record["duration_s"],
        "error": record["error"],
    }


def edge(source: str, target: str, kind: str) -> dict[str, str]:
    return {"source": source, "target": target, "kind": kind}


def node_ids(data: dict[str, Any]) -> set[str]:
    return {n["id"] for n in data["nodes"]}


# -- lineage: the graph -------------------------------------------------------------------
def test_upstream_json_is_the_exact_graph(run_cli: RunCli, chain: Chain) -> None:
    reg = chain.registry
    got = json.loads(ok(run_cli("lineage", "art://eval:v1", "--format", "json")))
    r_data, r_model, r_eval = (f"run:{r}" for r in (chain.data, chain.model, chain.eval))
    expected_nodes = [
        version_node(reg, "data"),
        version_node(reg, "eval"),
        version_node(reg, "model"),
        run_node(reg, chain.data),
        run_node(reg, chain.eval),
        run_node(reg, chain.model),
    ]
    expected_edges = [
        edge("art://data:v1", r_eval, "consumed_by"),
        edge("art://data:v1", r_model, "consumed_by"),
        edge("art://model:v1", r_eval, "consumed_by"),
        edge(r_data, "art://data:v1", "produced"),
        edge(r_eval, "art://eval:v1", "produced"),
        edge(r_model, "art://model:v1", "produced"),
    ]
    expected = {
        "root": "art://eval:v1",
        "direction": "upstream",
        "depth": None,
        "nodes": sorted(expected_nodes, key=lambda n: n["id"]),
        "edges": sorted(expected_edges, key=lambda e: (e["source"], e["target"], e["kind"])),
    }
    assert got == expected
    # An alias is pinned first; the same query through the Python API gives the same graph.
    assert lineage(reg, "art://eval:latest").to_json() == expected


def test_downstream_reaches_both_branches_and_the_failed_run(run_cli: RunCli, chain: Chain) -> None:
    got = json.loads(ok(run_cli("lineage", "art://data:v1", "--downstream", "--format", "json")))
    assert got["direction"] == "downstream"
    runs = {n["run_id"]: n for n in got["nodes"] if n["kind"] == "run"}
    assert set(runs) == {chain.model, chain.eval, chain.other, chain.broken}
    assert chain.data not in runs  # the producer of the root is upstream
    assert node_ids(got) - {f"run:{r}" for r in runs} == {
        "art://data:v1",
        "art://model:v1",
        "art://eval:v1",
        "art://other:v1",
    }
    broken = runs[chain.broken]
    assert broken["status"] == "FAILED"
    assert broken["error"] == "RuntimeError: stage broken was asked to fail"
    edges = {(e["source"], e["target"], e["kind"]) for e in got["edges"]}
    assert ("art://data:v1", f"run:{chain.other}", "consumed_by") in edges
    assert (f"run:{chain.other}", "art://other:v1", "produced") in edges
    assert ("art://model:v1", f"run:{chain.broken}", "consumed_by") in edges
    assert not any(e["source"] == f"run:{chain.broken}" for e in got["edges"])


def test_depth_stops_after_the_given_hops(run_cli: RunCli, chain: Chain) -> None:
    got = json.loads(ok(run_cli("lineage", "art://eval:v1", "--depth", "1", "--format", "json")))
    assert got["depth"] == 1
    assert node_ids(got) == {
        "art://eval:v1",
        f"run:{chain.eval}",
        "art://model:v1",
        "art://data:v1",
    }
    two = lineage(chain.registry, "art://eval:v1", depth=2).to_json()
    assert node_ids(two) == node_ids(lineage(chain.registry, "art://eval:v1").to_json())
    zero = lineage(chain.registry, "art://eval:v1", depth=0)
    assert list(zero.nodes) == ["art://eval:v1"] and not zero.edges
    down = lineage(chain.registry, "art://model:v1", direction="downstream", depth=1)
    assert set(down.nodes) == {
        "art://model:v1",
        f"run:{chain.eval}",
        "art://eval:v1",
        f"run:{chain.broken}",
    }


def test_both_directions(chain: Chain) -> None:
    graph = lineage(chain.registry, "art://model:v1", direction="both")
    assert set(graph.nodes) == {
        "art://data:v1",
        f"run:{chain.data}",
        f"run:{chain.model}",
        "art://model:v1",
        f"run:{chain.eval}",
        "art://eval:v1",
        f"run:{chain.broken}",
    }
    assert f"run:{chain.other}" not in graph.nodes  # a sibling branch, neither up nor down


def test_lineage_of_a_run_from_the_command_line(run_cli: RunCli, chain: Chain) -> None:
    """``lineage run:ID``: the run's inputs and their past, its outputs and their future, the
    same graph as the query; the tree hangs both off the run."""
    target = f"run:{chain.model}"
    got = json.loads(ok(run_cli("lineage", target, "--format", "json")))
    expected = run_lineage(chain.registry, chain.model).to_json()
    assert got["root"] == target and got["direction"] == "both"
    assert sorted(got["nodes"], key=lambda n: n["id"]) == sorted(
        expected["nodes"], key=lambda n: n["id"]
    )
    assert node_ids(got) == {
        "art://data:v1",
        f"run:{chain.data}",
        target,
        "art://model:v1",
        f"run:{chain.eval}",
        "art://eval:v1",
        f"run:{chain.broken}",
    }
    assert edge("art://data:v1", target, "consumed_by") in got["edges"]
    assert edge(target, "art://model:v1", "produced") in got["edges"]
    one = json.loads(ok(run_cli("lineage", target, "--depth", "1", "--format", "json")))
    assert node_ids(one) == {"art://data:v1", target, "art://model:v1"}

    tree = ok(run_cli("lineage", target))
    lines = tree.splitlines()
    assert f"run {chain.model}" in lines[0]
    assert "input art://data:v1" in tree and "output art://model:v1" in tree
    assert f"produced by stage run {chain.data}  COMPLETED" in tree
    assert f"consumed by stage run {chain.broken}  FAILED" in tree


def test_graph_reads_back_from_json_and_lays_out(chain: Chain) -> None:
    graph = lineage(chain.registry, "art://data:v1", direction="both")
    again = LineageGraph.from_json(json.loads(json.dumps(graph.to_json())))
    assert again.to_json() == graph.to_json()
    assert again.consumers("art://data:v1") == graph.consumers("art://data:v1")
    assert len(graph.consumers("art://data:v1")) == 3
    with pytest.raises(KeyError, match="no node"):
        again.add_edge("art://data:v1", "run:nothing", "consumed_by")
    placed = {n["id"]: n for n in layout(graph)["nodes"]}
    assert set(placed) == set(graph.nodes) and placed["art://data:v1"]["root"]
    data_run = f"run:{chain.data}"
    assert [placed[i]["layer"] for i in (data_run, "art://data:v1", f"run:{chain.eval}")] == [
        0,
        1,
        4,  # after model:v1, which it also reads
    ]
    assert placed[f"run:{chain.broken}"]["style"] == "failed"


def test_tree_output_shows_runs_recipes_and_versions(run_cli: RunCli, chain: Chain) -> None:
    out = ok(run_cli("lineage", "art://eval:latest"))
    lines = out.splitlines()
    assert lines[0].startswith("art://eval:v1")
    for text in ("art://model:v1", "art://data:v1", chain.eval, chain.model, chain.data):
        assert text in out
    assert f"produced by stage run {chain.eval}  COMPLETED" in out
    # data:v1 is an input of two runs; its own producer is shown once, then "(see above)".
    assert out.count(f"run {chain.data}") == 1 and "(see above)" in out
    down = ok(run_cli("lineage", "art://data:v1", "--downstream"))
    assert f"consumed by stage run {chain.broken}  FAILED" in down
    assert "art://other:v1" in down and "art://eval:v1" in down


def test_mermaid_and_dot_contain_every_node(run_cli: RunCli, chain: Chain) -> None:
    graph = lineage(chain.registry, "art://data:v1", direction="downstream")
    mermaid = ok(run_cli("lineage", "art://data:v1", "--downstream", "--format", "mermaid"))
    dot = ok(run_cli("lineage", "art://data:v1", "--downstream", "--format", "dot"))
    assert mermaid.startswith("flowchart LR")
    assert dot.startswith("digraph lineage {") and dot.rstrip().endswith("}")
    assert len(graph.nodes) == 8
    for node_id, node in graph.nodes.items():
        assert f'"{node_id}" [' in dot
        shown = node_id if isinstance(node, ArtifactNode) else node.run_id
        assert shown in mermaid
    assert mermaid.count("-->") == len(graph.edges)
    assert dot.count(" -> ") == len(graph.edges)
    assert (to_mermaid(graph), to_dot(graph)) == (mermaid, dot)  # the CLI prints the same text


@needs("graphviz")
def test_output_png(run_cli: RunCli, chain: Chain, tmp_path: Path) -> None:
    target = tmp_path / "lineage.png"
    out = ok(run_cli("lineage", "art://eval:v1", "--output", str(target)))
    assert out == f"Wrote {target} (3 versions, 3 runs, 6 edges).\n"
    assert target.read_bytes()[:8] == PNG_MAGIC
    svg = tmp_path / "lineage.svg"
    assert render(lineage(chain.registry, "art://data:v1", direction="downstream"), svg) == svg
    assert "<svg" in svg.read_text() and "art://other:v1" in svg.read_text()


@needs("graphviz")
def test_rendered_files_are_as_readable_as_text_ones(
    run_cli: RunCli, chain: Chain, tmp_path: Path
) -> None:
    old = os.umask(0o022)
    try:
        for name in ("lineage.png", "lineage.svg", "lineage.dot"):
            ok(run_cli("lineage", "art://eval:v1", "--output", str(tmp_path / name)))
            assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644, name
    finally:
        os.umask(old)


def test_output_with_an_unknown_suffix_lists_every_accepted_one(
    run_cli: RunCli, chain: Chain, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    said = one_error_line(run_cli("lineage", "art://eval:v1", "--output", str(out / "x.pdf")))
    assert "x.pdf" in said
    for suffix in (".png", ".svg", ".dot", ".gv", ".mmd", ".json"):
        assert suffix in said, suffix
    assert list(out.iterdir()) == []


def test_render_without_graphviz_is_one_sentence(
    chain: Chain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    graph = lineage(chain.registry, "art://eval:v1")
    with pytest.raises(LineageQueryError, match=r"must end in \.png or \.svg"):
        render(graph, tmp_path / "x.pdf")
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setenv("PATH", str(out))  # no `dot` on it
    with pytest.raises(LineageQueryError, match=r"install Debian's graphviz") as no_dot:
        render(graph, out / "x.png")
    monkeypatch.setitem(sys.modules, "graphviz", None)  # the package not installed
    extra = r"pip install 'nemotron-kit\[graph\]'"
    with pytest.raises(MissingDependencyError, match=extra) as no_package:
        render(graph, out / "x.svg")
    for error in (no_dot.value, no_package.value):
        assert ". " not in str(error) and str(error).endswith(".")  # one sentence
    assert list(out.iterdir()) == []  # nothing half-written


# -- runs ---------------------------------------------------------------------------------
def test_runs_ls_lists_every_run_with_status(run_cli: RunCli, chain: Chain) -> None:
    header, rows = parse_table(ok(run_cli("runs", "ls")))
    assert header == ["run", "recipe", "status", "started", "duration", "outputs"]
    status = {row["run"]: row["status"] for row in rows}
    assert status == {
        chain.data: "COMPLETED",
        chain.model: "COMPLETED",
        chain.eval: "COMPLETED",
        chain.other: "COMPLETED",
        chain.broken: "FAILED",
    }
    by_id = {row["run"]: row for row in rows}
    assert by_id[chain.eval]["outputs"] == "art://eval:v1"
    assert by_id[chain.broken]["outputs"] == "-"
    assert {row["recipe"] for row in rows} == {"stage"}
    listed = json.loads(ok(run_cli("runs", "ls", "--json")))
    started = [r["started_at"] for r in listed]
    assert started == sorted(started, reverse=True)  # newest first
    assert listed[0]["run_id"] == chain.broken  # the last job run
    limited = json.loads(ok(run_cli("runs", "ls", "--json", "--limit", "2")))
    assert limited == listed[:2]
    # At 80 columns the run ids, which users copy into `runs show`, were cut with an ellipsis.
    narrow = ok(run_cli("runs", "ls", env={"COLUMNS": "80"}))
    assert "…" not in narrow and max(len(line) for line in narrow.splitlines()) <= 80
    assert set(status) <= set(narrow.split())


def test_runs_show_failed_run(run_cli: RunCli, chain: Chain) -> None:
    out = ok(run_cli("runs", "show", chain.broken))
    assert out.splitlines()[0] == f"run {chain.broken}"
    assert "FAILED" in out
    assert "RuntimeError: stage broken was asked to fail" in out
    for text in ("stage.fail=true", "art://model:v1", "packages", "hydra-core", "config:"):
        assert text in out
    assert "  stage:\n    fail: true\n    name: broken" in out  # the config as YAML
    record = json.loads(ok(run_cli("runs", "show", chain.eval, "--json")))
    assert record["status"] == "COMPLETED" and record["error"] is None
    assert sorted(record["inputs"]) == ["art://data:v1", "art://model:v1"]
    assert record["outputs"] == ["art://eval:v1"]
    assert record["config"]["inputs"] == {"model": "art://model:v1", "data": "art://data:v1"}


def test_runs_ls_skips_producers_without_record_and_flags_damaged_ones(
    run_cli: RunCli, chain: Chain, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("x")
    chain.registry.publish(Artifact(path=str(src)), "hand", producer="by-hand")
    start = Path(chain.registry.root) / "runs" / chain.other / "start.json"
    start.write_text("{not json")
    listed = {r["run_id"]: r for r in json.loads(ok(run_cli("runs", "ls", "--json")))}
    assert "by-hand" not in listed and len(listed) == 5
    assert listed[chain.other]["status"] == "UNREADABLE"
    assert "corrupted" in listed[chain.other]["error"]
    # Asked about by itself, the damaged run is an error naming it, not "no such run".
    line = one_error_line(run_cli("lineage", f"run:{chain.other}"))
    assert f"run '{chain.other}'" in line and "No run" not in line


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("runs", "show", "20990101-000000-deadbeef"), "No run '20990101-000000-deadbeef'"),
        (("runs", "show", "../escape"), "run id '../escape' is not allowed"),
        (("lineage", "art://bad name:v1"), "'bad name' is not allowed"),
        (("lineage", "data:v1"), "art://"),
        (("lineage", "art://nothing:v1"), "No artifact named 'nothing'"),
        (("lineage", "art://data:v9"), "art://data:v9 does not exist"),
        (("lineage", "art://data:v1", "--depth", "x"), "--depth"),
        (("lineage", "art://data:v1", "--upstream", "--downstream"), "not allowed with"),
        (("lineage", "run:../escape"), "run id '../escape' is not allowed"),
        (("lineage", "run:20991231-000000-00000000"), "No run '20991231-000000-00000000'"),
        (("lineage", "run:x", "--downstream"), "drop --downstream"),
        (("lineage", "run:"), "give a run id after 'run:'"),
        (("lineage", "20261130-010048-8dbf6fff"), "nor a run (run:RUN_ID)"),
        (("runs", "ls", "--limit", "0"), "--limit"),
    ],
)
def test_bad_input_is_one_error_line(
    run_cli: RunCli, chain: Chain, args: tuple[str, ...], expected: str
) -> None:
    line = one_error_line(run_cli(*args))
    assert expected in line


# -- the query reads only the records on its path -----------------------------------------
def _stage(registry: ArtifactRegistry, tmp: Path, run_id: str, name: str, inputs: list[str]) -> str:
    """One run like the file tracker records it: start, consumers, publish, end."""
    registry.create_run(
        run_id,
        {"run_id": run_id, "recipe": name, "inputs": inputs, "started_at": run_id},
    )
    for uri in inputs:
        registry.add_consumer(uri, run_id)
    source = tmp / run_id
    source.mkdir()
    (source / "out.txt").write_text(run_id)
    version = registry.publish(Artifact(path=str(source)), name, producer=run_id, inputs=inputs)
    registry.finish_run(run_id, {"status": "COMPLETED", "error": None, "duration_s": 1.0})
    return version.uri


def _cost(graph: LineageGraph) -> tuple[int, int, dict[str, int]]:
    return graph.records_read, graph.keys_listed, graph.storage_calls


def test_a_query_reads_only_the_records_on_its_path(tmp_path: Path) -> None:
    registry = ArtifactRegistry(tmp_path / "registry", hash_cache=False)
    src = tmp_path / "src"
    src.mkdir()
    a = _stage(registry, src, "run-a", "a", [])
    b = _stage(registry, src, "run-b", "b", [a])
    c = _stage(registry, src, "run-c", "c", [b])
    _stage(registry, src, "run-d", "d", [c])

    def queries() -> list[LineageGraph]:
        return [
            lineage(registry, "art://c:v1"),
            lineage(registry, "art://a:v1", direction="downstream"),
            lineage(registry, "art://b:v1", direction="both", depth=1),
        ]

    before = queries()
    # Unrelated history: more versions of the same names, other names, runs and consumers.
    for i in range(60):
        _stage(registry, src, f"noise-{i}", ["a", "b", "x", "y"][i % 4], [])
    for i in range(60):
        _stage(registry, src, f"user-{i}", "z", [f"art://x:v{i // 4 + 1}", "art://y:latest"])
    assert len(registry.run_ids()) == 124 and registry.resolve("art://a:latest").version == 16
    after = queries()

    for old, new in zip(before, after, strict=True):
        assert new.to_json() == old.to_json()
        assert _cost(new) == _cost(old)
    upstream = after[0]
    assert set(upstream.nodes) == {"art://a:v1", "art://b:v1", "art://c:v1"} | {
        "run:run-a",
        "run:run-b",
        "run:run-c",
    }
    # c's record; then per run: start and end records, then the input's version record; and
    # per version one look for its tombstone (a deleted version is shown as deleted).
    assert upstream.records_read == 1 + 3 * 2 + 2 + 3
    assert upstream.storage_calls.get("list", 0) == 0  # no listing at all upstream
    downstream = after[1]
    assert set(downstream.nodes) >= {"run:run-d", "art://d:v1"}
    assert downstream.records_read <= 20 and downstream.keys_listed <= 10


SCRIPT = """
from pathlib import Path

from nemotron_kit import Artifact
from nemotron_kit.tracking.script import set_lineage_tracker
from nemotron_kit.tracking.trackers import FileTracker

set_lineage_tracker(FileTracker())
Path("d").mkdir()
(Path("d") / "f").write_text("x")
print(Artifact(path="d").save("scripted"))
"""


def test_a_version_published_by_a_script_names_the_script(run_cli: RunCli, tmp_path: Path) -> None:
    script = tmp_path / "publish_it.py"
    script.write_text(SCRIPT)
    assert ok(run_cli(module=[str(script)])) == "art://scripted:v1\n"
    tree = ok(run_cli("lineage", "art://scripted:v1"))
    assert "produced by script publish_it.py run " in tree and "?" not in tree
    mermaid = ok(run_cli("lineage", "art://scripted:v1", "--format", "mermaid"))
    assert "script publish_it.py<br/>" in mermaid


def test_unknown_producer_is_a_leaf_and_a_run_without_record_is_unknown(tmp_path: Path) -> None:
    registry = ArtifactRegistry(tmp_path / "registry", hash_cache=False)
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("x")
    raw = registry.publish(Artifact(path=str(src)), "raw")  # outside any run
    made = registry.publish(Artifact(path=str(src)), "made", producer="by-hand", inputs=[raw.uri])
    graph = lineage(registry, made.uri)
    run = graph.nodes["run:by-hand"]
    assert isinstance(run, RunNode) and run.status == "UNKNOWN" and run.title == "unrecorded"
    assert graph.inputs("run:by-hand") == ["art://raw:v1"]  # from the version's own record
    assert graph.producers("art://raw:v1") == []  # a leaf
    assert set(graph.nodes) == {"art://made:v1", "run:by-hand", "art://raw:v1"}
    with pytest.raises(LineageQueryError, match="direction"):
        lineage(registry, made.uri, direction="sideways")
    with pytest.raises(LineageQueryError, match="depth"):
        lineage(registry, made.uri, depth=-1)
