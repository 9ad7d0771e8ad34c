"""``nemotron-kit artifacts ...`` against a real registry, run in a subprocess."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nemotron_kit.artifacts import Artifact, ModelArtifact
from nemotron_kit.registry.core import ArtifactRegistry, ArtifactVersion
from tests.conftest import RunCli, make_files, needs, ok, one_error_line, parse_table


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "registry"


@pytest.fixture
def registry(root: Path) -> ArtifactRegistry:
    return ArtifactRegistry(root, hash_cache=False)


def publish_models(registry: ArtifactRegistry, tmp_path: Path) -> list[ArtifactVersion]:
    """tiny-gpt v1..v3 (best -> v2) and eval-report v1; all in copy mode (under the temp dir)."""
    published = []
    for i in range(3):
        weights = make_files(tmp_path / f"ckpt{i}", {"weights.bin": bytes([i]) * 256})
        model = ModelArtifact(path=str(weights), step=100 * (i + 1), final_loss=2.0 - 0.25 * i)
        aliases = ["best"] if i == 1 else []
        published.append(registry.publish(model, "tiny-gpt", aliases=aliases))
    report = make_files(tmp_path / "report", {"scores.json": b"{}"})
    published.append(
        registry.publish(
            Artifact(path=str(report), metadata={"accuracy": 0.625, "passed": True}),
            "eval-report",
            producer="run-42",
            inputs=["art://tiny-gpt:best"],
        )
    )
    return published


def run_artifacts(
    run_cli: RunCli, root: Path, *args: str, **kw: object
) -> subprocess.CompletedProcess[str]:
    return run_cli("artifacts", *args, "--root", str(root), **kw)


# -- ls -------------------------------------------------------------------------------------
def test_ls_shows_names_latest_aliases_and_metrics(
    run_cli: RunCli, registry: ArtifactRegistry, root: Path, tmp_path: Path
) -> None:
    publish_models(registry, tmp_path)
    header, rows = parse_table(ok(run_artifacts(run_cli, root, "ls")))
    assert header == ["name", "type", "latest", "aliases", "created", "metrics"]
    by_name = {row["name"]: row for row in rows}
    assert set(by_name) == {"tiny-gpt", "eval-report"}
    gpt, report = by_name["tiny-gpt"], by_name["eval-report"]
    assert (gpt["type"], gpt["latest"], gpt["aliases"]) == ("model", "v3", "best:v2")
    # The latest version's numeric metadata, as recorded; the bool is not a metric.
    assert gpt["metrics"] == "final_loss=1.5 step=300"
    assert (report["type"], report["latest"], report["aliases"]) == ("artifact", "v1", "")
    assert report["metrics"] == "accuracy=0.625"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", gpt["created"])


def test_ls_fits_a_narrow_terminal_without_cutting_names(
    run_cli: RunCli, registry: ArtifactRegistry, root: Path, tmp_path: Path
) -> None:
    publish_models(registry, tmp_path)
    data = make_files(tmp_path / "blend", {"blend.json": b"{}"})
    metrics = {f"a_rather_long_metric_name_{i}": i for i in range(12)}
    registry.publish(Artifact(path=str(data), metadata=metrics), "pretrain-data-with-a-long-name")
    names = ["tiny-gpt", "eval-report", "pretrain-data-with-a-long-name"]
    pairs = [f"a_rather_long_metric_name_{i}={i}" for i in range(12)]
    for columns in (120, 100, 60):
        out = ok(run_artifacts(run_cli, root, "ls", env={"COLUMNS": str(columns)}))
        lines = out.splitlines()
        assert max(len(line) for line in lines) <= columns
        assert "…" not in out  # never cut
        words = out.split()  # names and key=value pairs whole: folded between words only
        assert all(name in words for name in names) and all(pair in words for pair in pairs)
        if columns == 120:  # a table: whole names, types and versions, the metrics folded
            assert lines[0].split() == ["name", "type", "latest", "aliases", "created", "metrics"]
            start = lines[0].index("metrics")
            assert len([line for line in lines if line[start:].strip()]) > 4
        else:  # too narrow for that: one block per name, as psql's expanded display
            assert set(names) <= set(lines)
            assert [line.split()[0] for line in lines if line.startswith("  ")][:5] == [
                "type",
                "latest",
                "aliases",
                "created",
                "metrics",
            ]


def test_versions_keep_digests_and_values_whole_at_80_columns(
    run_cli: RunCli, registry: ArtifactRegistry, root: Path, tmp_path: Path
) -> None:
    """Digests and metric values are what users copy: at 80 columns they were cut ("1234…")."""
    for i in range(2):
        weights = make_files(tmp_path / f"w{i}", {"weights.bin": bytes([i]) * 64})
        metadata = {f"metric_number_{k}": 123456789 * (k + i + 1) for k in range(6)}
        registry.publish(Artifact(path=str(weights), metadata=metadata), "a-model")
    out = ok(run_artifacts(run_cli, root, "versions", "a-model", env={"COLUMNS": "80"}))
    assert "…" not in out and max(len(line) for line in out.splitlines()) <= 80
    words = out.split()
    assert {v.digest[:12] for v in registry.version_page("a-model").versions} <= set(words)
    assert "metric_number_5" in words and str(123456789 * 7) in words


def test_listings_keep_long_keys_markup_and_escapes_harmless(
    run_cli: RunCli, registry: ArtifactRegistry, root: Path, tmp_path: Path
) -> None:
    """Metadata keys are the users' own: a long one, rich markup, an escape sequence."""
    long_key = "validation_perplexity_on_held_out_set"
    weights = make_files(tmp_path / "w", {"weights.bin": b"w"})
    metadata = {long_key: 1234567, "loss[/x]": 2, "[bold]acc": 3, "evil\x1b[31m": 4}
    version = registry.publish(Artifact(path=str(weights), metadata=metadata), "m")
    for args in (["versions", "m"], ["ls"], ["show", "art://m:v1"]):
        for columns in ("200", "50"):
            out = ok(run_artifacts(run_cli, root, *args, env={"COLUMNS": columns}))
            assert "\x1b" not in out and "evil\\x1b[31m" in out  # shown, escaped
            assert "loss[/x]" in out and "[bold]acc" in out  # as written: not markup
            assert "…" not in out and max(map(len, out.splitlines())) <= int(columns)
            if args[0] == "versions":  # too narrow for the key beside its value: under it
                assert long_key in out.split() and "1234567" in out.split()
                assert version.digest[:12] in out.split()


def test_ls_json(run_cli: RunCli, registry: ArtifactRegistry, root: Path, tmp_path: Path) -> None:
    publish_models(registry, tmp_path)
    entries = json.loads(ok(run_artifacts(run_cli, root, "ls", "--json")))
    by_name = {e["name"]: e for e in entries}
    gpt = by_name["tiny-gpt"]
    assert gpt["uri"] == "art://tiny-gpt:v3"
    assert gpt["type"] == "model"
    assert gpt["latest_version"] == 3 and gpt["num_versions"] == 3
    assert gpt["aliases"] == {"best": 2}
    assert gpt["metrics"] == {"step": 300, "final_loss": 1.5}
    assert gpt["created_at"] == registry.resolve("art://tiny-gpt:v3").created_at
    assert by_name["eval-report"]["metrics"] == {"accuracy": 0.625}


def test_ls_empty_registry(run_cli: RunCli, root: Path) -> None:
    root.mkdir()
    assert "No artifacts" in ok(run_artifacts(run_cli, root, "ls"))
    assert json.loads(ok(run_artifacts(run_cli, root, "ls", "--json"))) == []


def test_default_root_and_project(run_cli: RunCli, nk_home: Path, tmp_path: Path) -> None:
    """Without --root the registry under $NEMOTRON_KIT_HOME is used; --project selects one."""
    default = ArtifactRegistry(nk_home / "registry", hash_cache=False)
    default.publish(ModelArtifact(path=str(make_files(tmp_path / "a", {"w": b"a"}))), "home-model")
    team = ArtifactRegistry(nk_home / "registry", project="team", hash_cache=False)
    team.publish(ModelArtifact(path=str(make_files(tmp_path / "b", {"w": b"b"}))), "team-model")
    names = [e["name"] for e in json.loads(ok(run_cli("artifacts", "ls", "--json")))]
    assert names == ["home-model"]
    result = run_cli("artifacts", "--project", "team", "ls", "--json")
    assert [e["name"] for e in json.loads(ok(result))] == ["team-model"]
    shown = json.loads(ok(run_cli("artifacts", "show", "art://team/team-model", "--json")))
    assert shown["project"] == "team" and shown["version"] == 1


def test_console_script_entry_point(
    run_cli: RunCli, registry: ArtifactRegistry, root: Path, tmp_path: Path
) -> None:
    """``nemotron_kit.cli:main`` (the console script) dispatches to the subcommand too."""
    publish_models(registry, tmp_path)
    code = "import sys; from nemotron_kit.cli import main; main(sys.argv[1:])"
    result = run_cli("artifacts", "ls", "--root", str(root), module=("-c", code))
    assert "tiny-gpt" in ok(result)


@needs("s3")
def test_s3_registry_through_endpoint_url(
    run_cli: RunCli, s3_endpoint: str, s3_bucket: str, tmp_path: Path
) -> None:
    """--endpoint-url (or $AWS_ENDPOINT_URL) reaches an S3-compatible registry."""
    root = f"s3://{s3_bucket}/nk"
    registry = ArtifactRegistry(
        root, storage_options={"endpoint_url": s3_endpoint}, hash_cache=False
    )
    data = make_files(tmp_path / "ckpt", {"weights.bin": b"w" * 32})
    registry.publish(ModelArtifact(path=str(data), step=7), "s3-model", aliases=["best"])
    result = run_cli("artifacts", "ls", "--json", "--root", root, "--endpoint-url", s3_endpoint)
    (entry,) = json.loads(ok(result))
    assert (entry["name"], entry["aliases"], entry["metrics"]) == (
        "s3-model",
        {"best": 1},
        {"step": 7},
    )
    env = {"AWS_ENDPOINT_URL": s3_endpoint}
    result = run_cli("artifacts", "verify", "art://s3-model:best", "--root", root, env=env)
    assert "all files match" in ok(result)


# -- versions / show / alias ----------------------------------------------------------------
def test_versions_lists_every_version(
    run_cli: RunCli, registry: ArtifactRegistry, root: Path, tmp_path: Path
) -> None:
    published = publish_models(registry, tmp_path)[:3]
    header, rows = parse_table(ok(run_artifacts(run_cli, root, "versions", "tiny-gpt")))
    assert header == ["version", "created", "digest", "final_loss", "step", "aliases"]
    assert [row["version"] for row in rows] == ["v1", "v2", "v3"]
    assert [row["digest"] for row in rows] == [v.digest[:12] for v in published]
    assert [row["step"] for row in rows] == ["100", "200", "300"]
    assert [row["final_loss"] for row in rows] == ["2.0", "1.75", "1.5"]
    assert [row["aliases"] for row in rows] == ["", "best", "latest"]

    entries = json.loads(ok(run_artifacts(run_cli, root, "versions", "art://tiny-gpt", "--json")))
    assert [e["uri"] for e in entries] == [v.uri for v in published]
    assert [e["digest"] for e in entries] == [v.digest for v in published]
    assert [e["metrics"]["step"] for e in entries] == [100, 200, 300]
    assert [e["aliases"] for e in entries] == [[], ["best"], ["latest"]]

    limited = run_artifacts(run_cli, root, "versions", "tiny-gpt", "--limit", "2")
    assert limited.returncode == 0 and limited.stderr == "the 2 newest of 3 versions (--limit)\n"
    assert [row["version"] for row in parse_table(limited.stdout)[1]] == ["v2", "v3"]
    assert run_artifacts(run_cli, root, "versions", "tiny-gpt", "--limit", "3").stderr == ""
    newest = ok(run_artifacts(run_cli, root, "versions", "tiny-gpt", "--limit", "1", "--json"))
    assert [e["uri"] for e in json.loads(newest)] == [published[-1].uri]


def test_piped_tables_have_no_trailing_spaces(
    run_cli: RunCli, registry: ArtifactRegistry, root: Path, tmp_path: Path
) -> None:
    """Output read by grep, diff or a script: rich pads every line to the table's width."""
    publish_models(registry, tmp_path)
    for args in (("ls",), ("versions", "tiny-gpt"), ("show", "art://eval-report:v1")):
        out = ok(run_artifacts(run_cli, root, *args))
        assert out.strip() and all(line == line.rstrip() for line in out.splitlines()), args
    # A pipe that is not UTF-8 gets ASCII tree guides, as rich gives it when writing there itself.
    tree = run_cli(
        "lineage", "art://eval-report:v1", "--root", str(root), env={"PYTHONIOENCODING": "ascii"}
    )
    assert tree.returncode == 0 and "art://tiny-gpt:v2" in tree.stdout, tree.stderr


def test_show_reports_one_version(
    run_cli: RunCli, registry: ArtifactRegistry, root: Path, tmp_path: Path
) -> None:
    report = publish_models(registry, tmp_path)[3]
    info = json.loads(ok(run_artifacts(run_cli, root, "show", "art://eval-report", "--json")))
    assert info["uri"] == report.uri == "art://eval-report:v1"
    assert info["type"] == "artifact"
    assert info["class"] == "nemotron_kit.artifacts._base:Artifact"
    assert info["producer"] == "run-42"
    assert info["storage"] == {"mode": "copy"}
    assert info["files"] == 1 and info["bytes"] == 2
    assert info["digest"] == report.digest
    assert info["metadata"] == {"accuracy": 0.625, "passed": True}
    assert info["inputs"] == ["art://tiny-gpt:v2"]  # pinned at publish time
    assert info["aliases"] == ["latest"]
    assert info["created_at"] == report.created_at

    text = ok(run_artifacts(run_cli, root, "show", "art://tiny-gpt:best"))
    assert text.splitlines()[0] == "art://tiny-gpt:v2"
    for fragment in ("model", "copy", "1 file, 256 B", "best", "final_loss", "1.75", "step"):
        assert fragment in text
    assert registry.resolve("art://tiny-gpt:v2").digest in text


def test_alias_moves_and_show_follows(
    run_cli: RunCli, registry: ArtifactRegistry, root: Path, tmp_path: Path
) -> None:
    publish_models(registry, tmp_path)
    assert ok(run_artifacts(run_cli, root, "alias", "art://tiny-gpt:v3", "best")) == (
        "best -> art://tiny-gpt:v3\n"
    )
    info = json.loads(ok(run_artifacts(run_cli, root, "show", "art://tiny-gpt:best", "--json")))
    assert info["version"] == 3 and info["aliases"] == ["best", "latest"]
    # An alias given as the source resolves first: prod -> whatever best is now.
    assert ok(run_artifacts(run_cli, root, "alias", "art://tiny-gpt:best", "prod")) == (
        "prod -> art://tiny-gpt:v3\n"
    )
    ok(run_artifacts(run_cli, root, "alias", "art://tiny-gpt:1", "best"))
    shown = ok(run_artifacts(run_cli, root, "show", "art://tiny-gpt:best"))
    assert shown.splitlines()[0] == "art://tiny-gpt:v1"
    entries = json.loads(ok(run_artifacts(run_cli, root, "versions", "tiny-gpt", "--json")))
    assert [e["aliases"] for e in entries] == [["best"], [], ["latest", "prod"]]
    assert registry.aliases("tiny-gpt") == {"best": 1, "prod": 3, "latest": 3}


# -- verify ---------------------------------------------------------------------------------
def test_verify_copy_mode_detects_a_changed_blob(
    run_cli: RunCli, registry: ArtifactRegistry, root: Path, tmp_path: Path
) -> None:
    publish_models(registry, tmp_path)
    result = run_artifacts(run_cli, root, "verify", "art://tiny-gpt:v2")
    assert "all files match" in ok(result)
    version = registry.resolve("art://tiny-gpt:v2")
    assert version.mode == "copy"
    (entry,) = registry.manifest(version).files
    blob = root / "objects" / entry.digest[:2] / entry.digest
    blob.write_bytes(b"bit rot")

    result = run_artifacts(run_cli, root, "verify", "art://tiny-gpt:best")
    assert result.returncode == 1, result.stderr
    assert "art://tiny-gpt:v2: 1 changed (weights.bin)" in result.stdout
    report = json.loads(
        run_artifacts(run_cli, root, "verify", "art://tiny-gpt:v2", "--json").stdout
    )
    assert report == {
        "uri": "art://tiny-gpt:v2",
        "ok": False,
        "changed": ["weights.bin"],
        "missing": [],
        "extra": [],
        "copy": None,  # never loaded here: no local copy to check
        "copy_changed": [],
        "copy_missing": [],
        "copy_extra": [],
    }
    # Other versions do not share that blob and still verify.
    ok(run_artifacts(run_cli, root, "verify", "art://tiny-gpt:v3"))
    blob.unlink()
    result = run_artifacts(run_cli, root, "verify", "art://tiny-gpt:v2")
    assert result.returncode == 1 and "1 missing (weights.bin)" in result.stdout


def test_verify_reference_mode_detects_changed_missing_and_extra_files(
    run_cli: RunCli, registry: ArtifactRegistry, root: Path, tmp_path: Path
) -> None:
    data = make_files(tmp_path / "shards", {"a.bin": b"a" * 64, "sub/b.bin": b"b" * 64})
    version = registry.publish(ModelArtifact(path=str(data)), "ref-model", mode="reference")
    assert version.mode == "reference"
    info = json.loads(ok(run_artifacts(run_cli, root, "show", version.uri, "--json")))
    assert info["storage"] == {"mode": "reference", "source": str(data.resolve())}
    assert json.loads(ok(run_artifacts(run_cli, root, "verify", version.uri, "--json")))["ok"]

    (data / "a.bin").write_bytes(b"A" * 64)  # same size, other bytes
    (data / "sub" / "b.bin").unlink()
    (data / "new.bin").write_bytes(b"new")
    result = run_artifacts(run_cli, root, "verify", "art://ref-model")
    assert result.returncode == 1, result.stderr
    first, *details = result.stdout.splitlines()
    assert first.startswith("art://ref-model:v1: ")
    assert [d.split() for d in details] == [
        ["changed", "a.bin"],
        ["missing", "sub/b.bin"],
        ["extra", "new.bin"],
    ]


# -- gc -------------------------------------------------------------------------------------
def test_gc_lists_then_removes_leftovers_and_keeps_referenced_data(
    run_cli: RunCli, registry: ArtifactRegistry, root: Path, tmp_path: Path
) -> None:
    publish_models(registry, tmp_path)
    leftover = make_files(root / "staging" / "x", {"y": b"half-copied"}) / "y"
    orphan = make_files(root / "objects" / "ff", {"ff" + "0" * 62: b"unreferenced"})
    orphan_blob = orphan / ("ff" + "0" * 62)

    # Fresh files are within the default one-hour grace: a publish could be writing them.
    assert "Nothing to remove" in ok(run_artifacts(run_cli, root, "gc", "--dry-run"))
    hours_ago = time.time() - 7200
    for path in (leftover, orphan_blob):
        os.utime(path, (hours_ago, hours_ago))
    result = json.loads(ok(run_artifacts(run_cli, root, "gc", "--dry-run", "--json")))
    expected = ["objects/ff/" + orphan_blob.name, "staging/x/y"]
    assert result == {
        "dry_run": True,
        "grace_seconds": 3600.0,
        "retired": [],
        "retention": None,  # no policy set, no --keep-last
        "removed": expected,
        "errors": [],
        "home": None,  # the home's caches only with --cache-age
    }
    text = ok(run_artifacts(run_cli, root, "gc", "--dry-run"))
    assert "Would remove 2 files" in text and "staging/x/y" in text
    assert leftover.exists() and orphan_blob.exists()

    fresh = make_files(root / "staging" / "z", {"w": b"in flight"}) / "w"
    text = ok(run_artifacts(run_cli, root, "gc", "--grace", "0"))
    assert text.startswith("Removed 3 files")
    assert not leftover.exists() and not orphan_blob.exists() and not fresh.exists()
    # Everything a version references survived.
    for uri in ("art://tiny-gpt:v1", "art://tiny-gpt:v2", "art://tiny-gpt:v3", "art://eval-report"):
        ok(run_artifacts(run_cli, root, "verify", uri))
    assert "Nothing to remove" in ok(run_artifacts(run_cli, root, "gc", "--grace", "0"))


# -- errors ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["show", "art://a/b/c"], ["'art://a/b/c'", "ambiguous"]),
        (["show", "not-a-uri"], ["'not-a-uri'", "art://NAME"]),
        (["show", "art://nope"], ["'nope'", "tiny-gpt"]),
        (["versions", "nope"], ["'nope'", "known names"]),
        (  # an empty project of a registry that has others: not "no artifacts yet"
            ["versions", "tiny-gpt", "--project", "other"],
            ["project 'other'", "this project has no artifacts", "projects: default"],
        ),
        (["versions", "art://tiny-gpt:v1"], ["give the name alone"]),
        (["versions", "tiny-gpt", "--limit", "0"], ["--limit", "'0'"]),
        (["show", "art://tiny-gpt:prod"], ["no alias 'prod'", "best"]),
        (["verify", "art://tiny-gpt:prod"], ["no alias 'prod'"]),
        (["show", "art://tiny-gpt:v9"], ["v1 to v3"]),
        (["alias", "art://nope:v1", "best"], ["'nope'"]),
        (["alias", "art://tiny-gpt:v1", "latest"], ["'latest'"]),
        (["alias", "art://tiny-gpt:v1", "v2"], ["'v2'", "version number"]),
        (["show"], ["required: URI", "--help"]),
        (["gc", "--grace", "-5"], ["--grace", "'-5'"]),
        (["frobnicate"], ["invalid choice", "'frobnicate'"]),
    ],
)
def test_bad_input_is_one_error_line_exit_2(
    run_cli: RunCli,
    registry: ArtifactRegistry,
    root: Path,
    tmp_path: Path,
    args: list[str],
    fragments: list[str],
) -> None:
    publish_models(registry, tmp_path)
    result = run_artifacts(run_cli, root, *args)
    line = one_error_line(result)
    for fragment in fragments:
        assert fragment in line
    assert result.stdout == ""


def test_missing_registry_is_an_error_not_an_empty_listing(run_cli: RunCli, tmp_path: Path) -> None:
    line = one_error_line(run_artifacts(run_cli, tmp_path / "typo", "ls"))
    assert str(tmp_path / "typo") in line
    assert not (tmp_path / "typo").exists()


def test_full_error_shows_the_traceback(
    run_cli: RunCli, registry: ArtifactRegistry, root: Path, tmp_path: Path
) -> None:
    publish_models(registry, tmp_path)
    result = run_artifacts(run_cli, root, "show", "art://nope", env={"HYDRA_FULL_ERROR": "1"})
    assert result.returncode != 0
    assert "Traceback" in result.stderr and "NotFoundError" in result.stderr


def test_hydra_path_does_not_import_the_subcommands(tmp_path: Path) -> None:
    code = (
        "import sys; import nemotron_kit.cli; "
        "print(sorted(m for m in ('rich', 'nemotron_kit.cli.artifacts', 'nemotron_kit.registry') "
        "if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
