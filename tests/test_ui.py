"""``nemotron-kit ui``: the pages over a registry made by real runs, served and exported.

The registry of this module is made as a user makes one: ``+pipeline=tiny`` then a 3-job sweep
of pretrain, through the command line. The HTTP tests read the server's JSON and check it
against the registry's API; the browser tests (headless Chromium, offline, tests/browser.py)
click through the pages as a user does, served and opened from disk, and fail on any console
error or non-local request.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from playwright.sync_api import Locator, Page, expect

from nemotron_kit.errors import ArtifactError
from nemotron_kit.lineage import lineage
from nemotron_kit.registry import ArtifactRegistry
from nemotron_kit.ui.export import MARKER, export_site, file_name, page_key
from nemotron_kit.ui.server import UIServer
from nemotron_kit.ui.site import PageError, Site
from tests.browser import screenshot
from tests.conftest import make_files, needs, one_error_line, registry_of

SWEEP_STEPS = 40
LRS = ("1e-3", "3e-4", "1e-4")


def _nk(
    home: Path, cwd: Path, *args: str, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NEMOTRON_KIT_HOME": str(home), "OMP_NUM_THREADS": "1"}
    env.pop("NEMOTRON_KIT_CONFIG_PATH", None)
    return subprocess.run(
        [sys.executable, "-m", "nemotron_kit", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry after ``+pipeline=tiny`` and a sweep of three pretrain jobs."""
    base = tmp_path_factory.mktemp("ui")
    home = base / "home"
    _ok(_nk(home, base, "+pipeline=tiny"))
    _ok(_nk(home, base, "-m", "+recipe=pretrain", f"train.lr={','.join(LRS)}",
            f"train.steps={SWEEP_STEPS}", "train.warmup_steps=5"))  # fmt: skip
    return home


@pytest.fixture(scope="module")
def registry(home: Path) -> ArtifactRegistry:
    return registry_of(home)


@pytest.fixture(scope="module")
def server(registry: ArtifactRegistry) -> Iterator[UIServer]:
    served = UIServer(Site(registry), 0)
    served.start()
    yield served
    served.shutdown()
    served.server_close()


def _get(server: UIServer, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(server.url + path, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, dict(exc.headers), exc.read()


def _api(server: UIServer, page: str, **params: str) -> dict[str, Any]:
    query = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())
    status, _, body = _get(server, f"api/{page}" + (f"?{query}" if query else ""))
    assert status == 200, body
    data: dict[str, Any] = json.loads(body)
    return data


def _sweep_runs(registry: ArtifactRegistry) -> list[str]:
    runs = [r for r in registry.run_ids() if registry.read_run(r).get("hydra", {}).get("sweep_id")]
    assert len(runs) == len(LRS)
    return sorted(runs)


# -- the JSON behind the pages ----------------------------------------------------------------
def test_pages_show_what_the_registry_holds(server: UIServer, registry: ArtifactRegistry) -> None:
    names = {e["name"]: e for e in _api(server, "artifacts")["artifacts"]}
    assert set(names) == {"pretrain-data", "tiny-gpt", "sft-data", "tiny-gpt-sft"}
    assert names["tiny-gpt"]["num_versions"] == 1 + len(LRS)

    listing = _api(server, "versions", name="tiny-gpt")
    assert [v["uri"] for v in listing["versions"]] == [f"art://tiny-gpt:v{n}" for n in (4, 3, 2, 1)]
    assert (listing["total"], listing["type"]) == (4, "model")

    version = registry.resolve("art://tiny-gpt:v1")
    page = _api(server, "version", uri="art://tiny-gpt:v1")
    assert page["producer_run"]["run_id"] == version.producer
    assert page["producer_run"]["recipe"] == "pretrain"
    assert sorted(page["consumers"]) == sorted(registry.consumers(version))
    assert page["consumers_total"] == len(registry.consumers(version)) >= 1
    manifest = registry.manifest(version)
    assert [(f["path"], f["size"]) for f in page["file_list"]] == [
        (f.rel, f.size) for f in manifest.files
    ]

    runs = _api(server, "runs")
    assert runs["total"] == 6 + len(LRS)  # the pipeline, its five steps, the sweep
    started = [r["run_id"] for r in runs["runs"]]
    assert started == sorted(started, reverse=True)  # newest first
    assert _api(server, "runs", status="FAILED")["total"] == 0
    assert _api(server, "runs", recipe="pretrain")["total"] == 1 + len(LRS)
    assert [r["run_id"] for r in _api(server, "runs", limit="2", offset="1")["runs"]] == started[
        1:3
    ]

    sweep_runs = _sweep_runs(registry)
    sweep_id = registry.read_run(sweep_runs[0])["hydra"]["sweep_id"]
    in_sweep = _api(server, "runs", sweep=sweep_id)["runs"]
    assert sorted(r["run_id"] for r in in_sweep) == sweep_runs

    run = _api(server, "run", id=sweep_runs[0])
    logged = registry.read_metrics(sweep_runs[0])
    assert len(logged) == SWEEP_STEPS
    assert run["curves"]["loss"]["points"] == SWEEP_STEPS
    assert [p[0] for p in run["curves"]["loss"]["data"]] == [r["step"] for r in logged]
    assert run["run"]["config"]["train"]["steps"] == SWEEP_STEPS


def test_the_lineage_page_draws_the_query(server: UIServer, registry: ArtifactRegistry) -> None:
    graph = lineage(registry, "art://tiny-gpt-sft:v1", direction="both", depth=None)
    page = _api(server, "lineage", uri="art://tiny-gpt-sft:v1", depth="all")
    drawn = {n["id"] for n in page["layout"]["nodes"]}
    assert drawn == set(graph.nodes) and len(drawn) == page["nodes"] == 9
    assert {(e["source"], e["target"]) for e in page["layout"]["edges"]} == {
        (e["source"], e["target"]) for e in graph.to_json()["edges"]
    }
    shallow = _api(server, "lineage", uri="art://tiny-gpt-sft:v1", depth="1")
    assert shallow["nodes"] < page["nodes"]

    # Around a run: its inputs and outputs at depth 1, then what made them and what they made.
    pretrain = registry.resolve("art://tiny-gpt:v1").producer
    around = _api(server, "lineage", run=pretrain or "", depth="1")["layout"]["nodes"]
    assert {n["id"] for n in around} == {
        f"run:{pretrain}",
        "art://pretrain-data:v1",
        "art://tiny-gpt:v1",
    }
    assert [n["id"] for n in around if n["root"]] == [f"run:{pretrain}"]
    everything = {
        n["id"] for n in _api(server, "lineage", run=pretrain or "", depth="all")["layout"]["nodes"]
    }
    recipes = {
        registry.read_run(i.removeprefix("run:"))["recipe"]
        for i in everything
        if i.startswith("run:")
    }
    assert recipes == {"data_prep", "pretrain", "sft", "eval"}  # sft_data made no input of pretrain


def test_bad_page_requests_get_one_sentence(server: UIServer) -> None:
    cases = {
        "api/nope": (404, "There is no page 'nope'"),
        "api/version": (400, "needs the parameter 'uri'"),
        "api/version?uri=art://nope:v1": (404, "No artifact named 'nope'"),
        "api/version?uri=not-a-uri": (400, "not-a-uri"),
        "api/run?id=20990101-000000-deadbeef": (404, "No run '20990101-000000-deadbeef'"),
        "api/lineage?run=20990101-000000-deadbeef": (404, "No run '20990101-000000-deadbeef'"),
        "api/runs?offset=-3": (400, "'offset=-3' is not a whole number >= 0"),
        "api/lineage?uri=art://tiny-gpt:v1&depth=9": (400, "Depth '9' is not one of"),
    }
    for path, (status, words) in cases.items():
        got, headers, body = _get(server, path)
        error = json.loads(body)["error"]
        assert (got, words in error) == (status, True), (path, got, error)
        assert "\n" not in error and headers["Content-Type"] == "application/json"


def test_the_server_is_read_only_local_and_serves_only_its_files(server: UIServer) -> None:
    status, headers, body = _get(server, "")
    assert status == 200 and b'src="static/app.js"' in body
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    # DNS rebinding: a page of another site that resolves its name to 127.0.0.1 is refused;
    # a tunnel to another local port is not (ssh -L 9000:127.0.0.1:PORT).
    status, _, body = _get(server, "api/artifacts", Host=f"evil.example:{server.port}")
    assert status == 403 and server.url in json.loads(body)["error"]
    assert _get(server, "api/artifacts", Host=f"localhost:{server.port}")[0] == 200
    assert _get(server, "api/artifacts", Host="127.0.0.1:9000")[0] == 200
    # A page of another site that sends the browser here is refused (the browser says so).
    assert (
        _get(server, "api/verify?uri=art://tiny-gpt:v1", **{"Sec-Fetch-Site": "cross-site"})[0]
        == 403
    )
    assert _get(server, "api/artifacts", **{"Sec-Fetch-Site": "same-origin"})[0] == 200
    for path in ("static/../site.py", "static/site.py", "static/%2e%2e/site.py", "etc/passwd"):
        assert _get(server, path)[0] == 404, path
    request = urllib.request.Request(server.url + "api/artifacts", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    with refused.value:
        assert refused.value.code == 405


def test_secrets_this_process_knows_are_redacted_by_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = ArtifactRegistry(tmp_path / "reg", hash_cache=False)
    token = "tok-9f8e7d6c5b4a"
    run_id = "20260101-000000-0badf00d"
    registry.create_run(
        run_id,
        {
            "format": "nemotron-kit/run/1",
            "run_id": run_id,
            "recipe": "pretrain",
            "config": {"note": f"pushed with {token}", "train": {"loss_per_token": 1.25}},
            "started_at": "2026-01-01T00:00:00+00:00",
        },
    )
    registry.put_run_text(run_id, "console", f"uploading with {token}\n")
    registry.append_metrics(run_id, [{"step": 0, "time": 1.0, "values": {"token_accuracy": 0.5}}])
    monkeypatch.setenv("HF_TOKEN", token)
    page = Site(registry).get("run", {"id": run_id})
    assert token not in json.dumps(page)
    assert page["run"]["config"]["note"] == "pushed with ***REDACTED***"
    assert page["console"] == "uploading with ***REDACTED***\n"
    # Names with a secret word in them are not secrets: metrics keep their values.
    assert page["run"]["config"]["train"]["loss_per_token"] == 1.25
    assert page["curves"]["token_accuracy"]["data"] == [[0, 0.5]]

    # The exported site too, a name's version list included (the list the page pages itself).
    from nemotron_kit.artifacts import Artifact

    make_files(tmp_path / "d", {"a.txt": "a"})
    version = registry.publish(Artifact(path=str(tmp_path / "d")), name="m")
    registry.alias(version.uri, token)
    export_site(Site(registry), tmp_path / "site")
    exported = [p.read_text() for p in (tmp_path / "site" / "data").iterdir()]
    assert len(exported) > 3 and not [text for text in exported if token in text]
    assert _data(tmp_path / "site", "versions", name="m", project="default")["versions"]


def test_hostile_run_records_do_not_break_the_pages(tmp_path: Path) -> None:
    """A start record with fields of the wrong types (extra fields pass the record's schema)
    is listed, with what can be shown; the list, the run and the export still work."""
    registry = ArtifactRegistry(tmp_path / "reg", hash_cache=False)
    odd = "20260101-000000-0000dead"
    registry.create_run(
        odd,
        {
            "format": "nemotron-kit/run/1",
            "run_id": odd,
            "status": ["not", "a", "status"],
            "error": {"a": 1},
            "duration_s": "long",
            "hydra": {"sweep_id": 7},
            "code": "not a dict",
            "packages": [1, 2],
            "started_at": "2999-01-01T00:00:00+00:00",  # no lease expires: stays open
        },
    )
    site = Site(registry)
    (line,) = site.get("runs", {})["runs"]
    assert (line["status"], line["error"], line["duration_s"], line["sweep_id"]) == (
        "UNKNOWN",
        None,
        None,
        None,
    )
    assert site.get("runs", {"status": "UNKNOWN"})["total"] == 1
    assert site.get("run", {"id": odd})["summary"]["run_id"] == odd
    site.warm_up()
    report = export_site(site, tmp_path / "site")
    assert report.runs == 1


@pytest.mark.parametrize("root", ["local", "memory"])
def test_run_filters_over_many_runs_keep_the_order(root: str, tmp_path: Path) -> None:
    """Object storage reads the run records several at once (memory:// takes that path, as
    S3 does): the filtered list must still be newest first, and its total exact."""
    registry = ArtifactRegistry(
        tmp_path / "registry" if root == "local" else f"memory://ui-{uuid.uuid4().hex}",
        hash_cache=False,
    )
    assert registry.storage.is_local == (root == "local")
    made = []
    for i in range(130):  # more than one batch of reads
        run_id = f"20261130-{i:06d}"
        recipe, status = ("pretrain" if i % 2 else "sft"), ("FAILED" if i % 3 == 0 else "COMPLETED")
        registry.create_run(run_id, {"run_id": run_id, "recipe": recipe})
        registry.finish_run(run_id, {"status": status})
        made.append((run_id, recipe, status))
    newest_first = made[::-1]
    site = Site(registry)
    failed = [r for r, _, s in newest_first if s == "FAILED"]
    page = site.get("runs", {"status": "FAILED", "offset": "10", "limit": "20"})
    assert page["total"] == len(failed) == 44
    assert [line["run_id"] for line in page["runs"]] == failed[10:30]
    both = site.get("runs", {"status": "FAILED", "recipe": "pretrain"})
    assert [line["run_id"] for line in both["runs"]] == [
        r for r, rec, s in newest_first if s == "FAILED" and rec == "pretrain"
    ]
    plain = site.get("runs", {"offset": "100"})
    assert [line["run_id"] for line in plain["runs"]] == [r for r, _, _ in newest_first[100:]]


# -- the command -------------------------------------------------------------------------------
# -- the command -------------------------------------------------------------------------------
def test_ui_serves_until_ctrl_c(home: Path, tmp_path: Path) -> None:
    env = {**os.environ, "NEMOTRON_KIT_HOME": str(home)}
    # Tests started in the background of a script (`cmd &`) ignore SIGINT, and a child
    # inherits an ignored signal (it never stopped): start it with the default, as a
    # terminal's Ctrl-C finds it (a handler of ours becomes the default in the child).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "nemotron_kit", "ui", "--port", "0"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    with proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line.startswith(f"Serving {home / 'registry'} at http://127.0.0.1:"), line
            url = line.split(" at ")[1].split()[0]
            with urllib.request.urlopen(url + "api/artifacts", timeout=60) as response:
                assert len(json.loads(response.read())["artifacts"]) == 4
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
        finally:
            proc.kill()
    assert proc.returncode == 0, err
    assert out.strip() == "Stopped."


def test_ui_bad_input_is_one_sentence(home: Path, tmp_path: Path) -> None:
    cases = {
        ("ui", "--port", "70000"): "'70000' is not a port number",
        ("ui", "--lineage", "art://tiny-gpt:v1"): "give --export DIR too",
        ("ui", "--root", str(tmp_path / "nothing")): "There is no registry at",
        ("ui", "--export", str(tmp_path / "s"), "--lineage", "art://nope:v1"): "No artifact",
    }
    for args, words in cases.items():
        assert words in one_error_line(_nk(home, tmp_path, *args)), args
    assert not (tmp_path / "s").exists()
    with UIServer(Site(registry_of(home)), 0) as busy:
        line = one_error_line(_nk(home, tmp_path, "ui", "--port", str(busy.port)))
    assert f"Cannot listen on 127.0.0.1:{busy.port}" in line and "--port 0" in line


def _export(home: Path, cwd: Path, dest: Path, *args: str) -> str:
    return _ok(_nk(home, cwd, "ui", "--export", str(dest), *args))


def _data(site: Path, page: str, **params: str) -> dict[str, Any]:
    key = page_key(page, params)
    text = (site / "data" / file_name(key)).read_text()
    prefix = f"NK.receive({json.dumps(key)}, "
    assert text.startswith(prefix) and text.endswith(");\n")
    data: dict[str, Any] = json.loads(text[len(prefix) : -3])
    return data


def test_export_writes_every_page_and_needs_no_network(
    home: Path, registry: ArtifactRegistry, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    out = _export(home, tmp_path, site)
    assert out.startswith(f"Wrote {site}/index.html: 7 versions, 9 runs")
    assert (site / MARKER).is_file()
    umask = os.umask(0)
    os.umask(umask)
    assert site.stat().st_mode & 0o777 == 0o777 & ~umask  # readable as any directory made here
    assert {p.name for p in (site / "static").iterdir()} == {
        "app.css",
        "app.js",
        "charts.js",
        "graph.js",
        "config.js",
    }
    assert 'window.NK_MODE = "static"' in (site / "static" / "config.js").read_text()
    for path in (site / "static").iterdir():  # nothing fetched from elsewhere
        text = path.read_text().replace("http://www.w3.org/2000/svg", "")
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, path
    assert len(_data(site, "runs")["runs"]) == 9
    run_id = _sweep_runs(registry)[0]
    assert _data(site, "run", id=run_id)["curves"]["loss"]["points"] == SWEEP_STEPS
    for depth in ("1", "2", "3", "all"):
        assert _data(site, "lineage", uri="art://tiny-gpt:v2", depth=depth)["nodes"] >= 3

    # A second export replaces the first; a directory that is not an export is never touched.
    (site / "data" / "stale.js").write_text("old")
    _export(home, tmp_path, site)
    assert not (site / "data" / "stale.js").exists()
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    line = one_error_line(_nk(home, tmp_path, "ui", "--export", str(other)))
    assert "is not empty and holds no earlier export" in line
    assert [p.name for p in other.iterdir()] == ["notes.txt"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".other.")]


def test_export_of_one_lineage_holds_only_that_lineage(
    home: Path, registry: ArtifactRegistry, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    _export(home, tmp_path, site, "--lineage", "art://tiny-gpt:v2")
    graph = lineage(registry, "art://tiny-gpt:v2", direction="both", depth=None)
    runs = {n.run_id for n in graph.runs()}
    assert {r["run_id"] for r in _data(site, "runs")["runs"]} == runs
    names = {a["name"] for a in _data(site, "artifacts")["artifacts"]}
    assert names == {"pretrain-data", "tiny-gpt"}
    assert _data(site, "overview")["lineage_of"] == "art://tiny-gpt:v2"
    assert not (
        site / "data" / file_name(page_key("version", {"uri": "art://tiny-gpt:v1"}))
    ).exists()
    listed = _data(site, "versions", name="tiny-gpt", project="default")
    kept = sorted(
        (n.id for n in graph.artifacts() if n.id.startswith("art://tiny-gpt:")), reverse=True
    )
    assert [v["uri"] for v in listed["versions"]] == kept and listed["total"] == len(kept)


# -- in a real browser -------------------------------------------------------------------------
def _open(page: Page, url: str) -> None:
    """Go to ``url`` and wait until the page has drawn (app.js marks main ready)."""
    page.goto(url)
    expect(page.locator("main[data-ready=true]")).to_be_attached()


def _click(page: Page, locator: Locator) -> None:
    """Follow a link and wait for the next page to be drawn."""
    expect(page.locator("main[data-ready=true]")).to_be_attached()
    with page.expect_event("framenavigated"):
        locator.click()
    expect(page.locator("main[data-ready=true]")).to_be_attached()


def _click_through(page: Page, base: str, registry: ArtifactRegistry, screenshots: Path) -> None:
    """Artifact -> version -> producer run -> its input -> back, as a user does."""
    _open(page, base + "#/artifacts")
    expect(page.locator("#artifacts tbody tr")).to_have_count(4)
    page.fill("#artifact-search", "sft")
    expect(page.locator("#artifacts tbody tr:visible")).to_have_count(2)
    screenshot(page, screenshots / "artifacts.png")
    _click(page, page.get_by_role("link", name="tiny-gpt-sft", exact=True))
    expect(page.locator("h1")).to_contain_text("tiny-gpt-sft")
    _click(page, page.locator("#versions").get_by_role("link", name="art://tiny-gpt-sft:v1"))
    expect(page.locator("h1")).to_have_text("art://tiny-gpt-sft:v1")
    screenshot(page, screenshots / "version.png")
    producer = registry.resolve("art://tiny-gpt-sft:v1").producer
    assert producer
    _click(page, page.get_by_role("link", name=producer))
    expect(page.locator("h1")).to_have_text(f"Run {producer}")
    logged = len(registry.read_metrics(producer))
    assert logged > 0
    expect(page.locator(".chart[data-metric=loss] polyline")).to_have_attribute(
        "data-points", str(logged)
    )
    screenshot(page, screenshots / "run.png")
    _click(page, page.locator("dd").get_by_role("link", name="art://tiny-gpt:v1"))
    expect(page.locator("h1")).to_have_text("art://tiny-gpt:v1")
    page.go_back()
    expect(page.locator("h1")).to_have_text(f"Run {producer}")
    _click(page, page.locator("#lineage-link"))
    expect(page.locator("#graph g.node.root")).to_have_attribute("data-id", f"run:{producer}")
    page.go_back()
    expect(page.locator("h1")).to_have_text(f"Run {producer}")


def _compare_sweep(page: Page, base: str, registry: ArtifactRegistry, screenshots: Path) -> None:
    _open(page, base + "#/runs")
    expect(page.locator("#runs tbody tr")).to_have_count(9)
    screenshot(page, screenshots / "runs.png")
    _click(page, page.locator("#runs tbody tr").first.locator("td").nth(4).get_by_role("link"))
    expect(page.locator("#runs tbody tr")).to_have_count(len(LRS))
    for box in page.locator("#runs tbody input[type=checkbox]").all()[:2]:
        box.check()
    _click(page, page.locator("#compare"))
    expect(page.locator("#compare-config tr.diff")).to_have_count(1)
    expect(page.locator("#compare-config tr.diff td").first).to_have_text("train.lr")
    lines = page.locator(".chart[data-metric=loss] polyline")
    expect(lines).to_have_count(2)
    for line in lines.all():
        assert line.get_attribute("data-points") == str(SWEEP_STEPS)
    page.check("#show-all")
    expect(page.locator("#compare-config tbody tr:visible").nth(5)).to_be_visible()
    screenshot(page, screenshots / "compare.png")


def _lineage(page: Page, base: str, registry: ArtifactRegistry, screenshots: Path) -> None:
    graph = lineage(registry, "art://tiny-gpt-sft:v1", direction="both", depth=None)
    _open(page, base + "#/lineage/" + quote("art://tiny-gpt-sft:v1", safe="") + "?depth=all")
    nodes = page.locator("#graph g.node")
    expect(nodes).to_have_count(len(graph.nodes))
    assert {n.get_attribute("data-id") for n in nodes.all()} == set(graph.nodes)
    expect(page.locator("#graph path.edge")).to_have_count(len(graph.edges))
    viewport = page.locator("#graph g.viewport")
    before = viewport.get_attribute("transform")
    page.click("#graph button[title='Zoom in']")
    assert viewport.get_attribute("transform") != before
    page.click("#graph-fit")
    screenshot(page, screenshots / "lineage.png", full_page=False)
    page.select_option("#depth", "1")
    expect(page.locator("#graph g.node")).not_to_have_count(len(graph.nodes))
    run = next(n for n in graph.runs() if n.recipe == "eval")
    _click(page, page.locator(f"#graph g.node[data-id='run:{run.run_id}']"))
    expect(page.locator("h1")).to_have_text(f"Run {run.run_id}")


def test_browser_pages_of_the_server(
    page: Page, server: UIServer, registry: ArtifactRegistry, tmp_path: Path
) -> None:
    shots = Path(os.environ.get("NK_UI_SCREENSHOTS", tmp_path / "shots"))
    _click_through(page, server.url, registry, shots)
    _compare_sweep(page, server.url, registry, shots)
    _lineage(page, server.url, registry, shots)
    _open(page, server.url + "#/version/" + quote("art://tiny-gpt:v2", safe=""))
    page.click("#verify")
    expect(page.locator("#verify-result")).to_have_text(
        "art://tiny-gpt:v2: all files match their recorded digests"
    )


def test_browser_exported_site_from_disk(
    page: Page, home: Path, registry: ArtifactRegistry, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    _export(home, tmp_path, site)
    base = (site / "index.html").as_uri()
    _click_through(page, base, registry, tmp_path / "shots")
    _compare_sweep(page, base, registry, tmp_path / "shots")
    _lineage(page, base, registry, tmp_path / "shots")


def _long_history(root: Path, data: Path) -> ArtifactRegistry:
    """55 versions of "many", v3 deleted: 54 to list, more than a page."""
    from nemotron_kit.artifacts import Artifact
    from nemotron_kit.registry.lifecycle import delete

    registry = ArtifactRegistry(root, hash_cache=False)
    data.mkdir()
    for n in range(1, 56):
        (data / "step.txt").write_text(str(n))
        registry.publish(Artifact(path=str(data)), name="many", mode="copy")
    delete(registry, "art://many:v3", reason="bad step")
    return registry


def test_a_long_history_of_versions_is_paged_newest_first(tmp_path: Path) -> None:
    registry = _long_history(tmp_path / "reg", tmp_path / "data")
    site = Site(registry)
    first = site.get("versions", {"name": "many"})
    assert [v["version"] for v in first["versions"]] == list(range(55, 3, -1))[:50]
    assert (first["total"], first["offset"], first["deleted"]) == (54, 0, [3])
    last = site.get("versions", {"name": "many", "offset": "50", "limit": "10"})
    assert [v["version"] for v in last["versions"]] == [5, 4, 2, 1]
    assert (last["total"], last["type"], last["deleted"]) == (54, "artifact", [3])
    with pytest.raises(ArtifactError, match="negative"):
        registry.version_page("many", offset=-1)
    assert site.get("versions", {"name": "many", "offset": "54"})["versions"] == []
    with pytest.raises(PageError, match="limit"):
        site.get("versions", {"name": "many", "limit": "0"})


def test_browser_pages_through_a_long_history(page: Page, tmp_path: Path) -> None:
    """On the server and in the exported site: Older shows the rest, oldest last."""
    registry = _long_history(tmp_path / "reg", tmp_path / "data")
    export_site(Site(registry), tmp_path / "site")
    with UIServer(Site(registry), 0) as served:
        served.start()
        try:
            for base in (served.url, (tmp_path / "site" / "index.html").as_uri()):
                _open(page, base + "#/artifact/default/many")
                expect(page.locator("#versions-count")).to_have_text("1–50 of 54")
                expect(page.locator("#versions tbody tr").first).to_contain_text("art://many:v55")
                _click(page, page.get_by_role("button", name="Older"))
                expect(page.locator("#versions-count")).to_have_text("51–54 of 54")
                expect(page.locator("#versions tbody tr")).to_have_count(4)
                expect(page.locator("#versions tbody tr").last).to_contain_text("art://many:v1")
                expect(page.get_by_role("button", name="Older")).to_be_disabled()
        finally:
            served.shutdown()


def test_browser_shows_hostile_text_as_text(page: Page, tmp_path: Path) -> None:
    registry = ArtifactRegistry(tmp_path / "reg", hash_cache=False)
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.txt").write_text("a")
    markup = "<img src=x onerror=\"console.error('injected')\"><b>bold</b>"
    from nemotron_kit.artifacts import Artifact

    registry.publish(Artifact(path=str(data), metadata={"note": markup}), name="plain")
    with UIServer(Site(registry), 0) as served:
        served.start()
        try:
            _open(page, served.url + "#/version/" + quote("art://plain:v1", safe=""))
            expect(page.locator("#metadata td.mono")).to_have_text(markup)
            assert page.locator("#metadata img, #metadata b").count() == 0
        finally:
            served.shutdown()


@needs("s3")
def test_browser_pages_of_an_s3_registry(
    page: Page, s3_endpoint: str, s3_bucket: str, tmp_path: Path
) -> None:
    """The same pages over a team registry on S3 (moto in server mode)."""
    home = tmp_path / "home"
    s3 = ("registry=s3", f"registry.bucket={s3_bucket}", f"registry.endpoint_url={s3_endpoint}")
    _ok(_nk(home, tmp_path, "+pipeline=tiny", *s3))
    root = f"s3://{s3_bucket}/nemotron-kit"
    registry = ArtifactRegistry(root, storage_options={"endpoint_url": s3_endpoint})
    with UIServer(Site(registry), 0) as served:
        served.start()
        try:
            _click_through(page, served.url, registry, tmp_path / "shots")
            _open(page, served.url + "#/runs")
            expect(page.locator("#runs tbody tr")).to_have_count(6)
            _open(page, served.url + "#/lineage/" + quote("art://tiny-gpt-sft:v1", safe=""))
            expect(page.locator("#graph g.node")).not_to_have_count(0)
        finally:
            served.shutdown()
    # The command line opens the same registry from its URL.
    out = _nk(home, tmp_path, "ui", "--root", root, "--endpoint-url", s3_endpoint,
              "--export", str(tmp_path / "site"))  # fmt: skip
    assert _ok(out).startswith(f"Wrote {tmp_path / 'site'}/index.html: 4 versions, 6 runs")


def test_export_of_a_lineage_too_large_to_draw_still_holds_it(
    registry: ArtifactRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("nemotron_kit.ui.site.MAX_GRAPH_NODES", 2)
    report = export_site(Site(registry), tmp_path / "site", lineage_of="art://tiny-gpt-sft:v1")
    graph = lineage(registry, "art://tiny-gpt-sft:v1", direction="both", depth=None)
    assert (report.versions, report.runs) == (len(graph.artifacts()), len(graph.runs()))
    drawn = _data(tmp_path / "site", "lineage", uri="art://tiny-gpt-sft:v1", depth="all")
    assert "too_large" in drawn and "layout" not in drawn


def test_a_deleted_version_is_shown_as_deleted(tmp_path: Path) -> None:
    """Lineage links to deleted versions: their page says when and why, and lists their files
    while the data is kept."""
    from nemotron_kit.artifacts import Artifact
    from nemotron_kit.registry.lifecycle import delete

    registry = ArtifactRegistry(tmp_path / "reg", hash_cache=False)
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.txt").write_text("a")
    registry.publish(Artifact(path=str(data)), name="gone")
    delete(registry, "art://gone:v1", reason="superseded")
    page = Site(registry).get("version", {"uri": "art://gone:v1"})
    assert page["deleted"]["reason"] == "superseded" and page["deleted"]["at"]
    assert [f["path"] for f in page["file_list"]] == ["a.txt"]
