"""Run records written where the job runs: contents, failures, sweeps, reproduce, secrets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from nemotron_kit.tracking.console import ConsoleTail
from tests.conftest import REPO, RunCli, ok, one_error_line, registry_of, run_test_conf


def stage(
    run_cli: RunCli, cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_test_conf(
        run_cli,
        cwd,
        "+recipe=stage",
        "hydra.run.dir=out/${now:%H%M%S%f}",
        "hydra.sweep.dir=multi/${now:%H%M%S%f}",
        *args,
        env=env,
    )


def test_run_records_what_a_job_used_and_made(run_cli: RunCli, nk_home: Path, work: Path) -> None:
    # The job runs inside a git repository with an uncommitted change: the run names both.
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    (work / "train.py").write_text("print('v1')\n")
    subprocess.run(["git", "-C", str(work), "add", "."], check=True)
    subprocess.run(
        [
            "git",
            "-C",
            str(work),
            "-c",
            "user.email=a@b",
            "-c",
            "user.name=a",
            "commit",
            "-qm",
            "init",
        ],
        check=True,
    )
    (work / "train.py").write_text("print('v2, uncommitted')\n")
    (work / "notes.txt").write_text("not in git yet\n")

    assert stage(run_cli, work, "stage.name=data", "output.name=data").returncode == 0
    second = stage(
        run_cli, work, "stage.name=model", "output.name=model", "+inputs.data=art://data:latest"
    )
    assert second.returncode == 0, second.stderr

    registry = registry_of(nk_home)
    model = registry.resolve("art://model")
    data = registry.resolve("art://data")
    assert model.record["inputs"] == ["art://data:v1"]
    run = registry.read_run(model.producer or "")
    assert run["status"] == "COMPLETED" and run["outputs"] == ["art://model:v1"]
    assert run["recipe"] == "stage" and run["inputs"] == ["art://data:v1"]
    assert run["config"]["inputs"]["data"] == "art://data:v1"  # pinned, never latest
    assert "+inputs.data=art://data:latest" in run["overrides"]
    assert run["hydra"]["job_name"] == "nemotron_kit"
    assert run["code"]["commit"] and run["code"]["dirty"] and run["code"]["diff_digest"]
    # What the uncommitted change was is kept beside the record, for the run page.
    diff = registry.read_run_text(model.producer or "", "code_diff") or ""
    assert "-print('v1')\n+print('v2, uncommitted')" in diff
    assert "Untracked files" in diff and "notes.txt (15 bytes)" in diff
    shown = run_cli("runs", "log", "--diff", model.producer or "")
    assert shown.returncode == 0 and shown.stdout == diff, shown.stderr
    console = run_cli("runs", "log", model.producer or "")
    assert console.returncode == 0 and console.stdout == registry.read_run_text(
        model.producer or "", "console"
    )
    assert "No run 'nope'" in one_error_line(run_cli("runs", "log", "nope"))
    assert "hydra-core" in run["packages"] and run["host"]
    assert run["duration_s"] >= 0 and run["started_at"]
    assert registry.consumers("art://data:v1") == [model.producer]
    assert data.producer and registry.read_run(data.producer)["outputs"] == ["art://data:v1"]


def test_failed_job_is_recorded_failed_with_its_error(
    run_cli: RunCli, nk_home: Path, work: Path
) -> None:
    result = stage(run_cli, work, "stage.name=bad", "output.name=bad", "stage.fail=true")
    assert result.returncode != 0
    registry = registry_of(nk_home)
    (run_id,) = registry.run_ids()
    run = registry.read_run(run_id)
    assert run["status"] == "FAILED"
    assert run["error"] == "RuntimeError: stage bad was asked to fail"
    assert run["outputs"] == []


def test_sweep_summary_lists_every_job(run_cli: RunCli, nk_home: Path, work: Path) -> None:
    result = stage(
        run_cli,
        work,
        "-m",
        "stage.name=s",
        "output.name=sw",
        "stage.seed=1,2",
        "stage.fail=false,true",
    )
    assert result.returncode != 0  # one job failed
    registry = registry_of(nk_home)
    (sweep,) = registry.storage.list("sweeps")
    summary = json.loads(registry.storage.read(f"sweeps/{sweep}/summary.json"))
    jobs = summary["jobs"]
    assert [j["job_num"] for j in jobs] == [0, 1, 2, 3]
    assert [j["status"] for j in jobs] == ["COMPLETED", "FAILED", "COMPLETED", "FAILED"]
    assert all(j["outputs"] for j in jobs if j["status"] == "COMPLETED")
    assert all("asked to fail" in j["error"] for j in jobs if j["status"] == "FAILED")
    assert sweep in result.stderr  # the summary table is printed


def test_noop_tracker_records_no_run(run_cli: RunCli, nk_home: Path, work: Path) -> None:
    assert stage(run_cli, work, "tracker=noop", "output.name=quiet").returncode == 0
    registry = registry_of(nk_home)
    assert registry.run_ids() == []
    assert registry.resolve("art://quiet").producer is None


def test_lineage_failure_stops_the_job(
    run_cli: RunCli, nk_home: Path, work: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    result = stage(run_cli, work, f"registry.root={blocker}", "output.name=x")
    assert result.returncode != 0
    assert result.stderr.strip() == (
        f"Error: Registry root '{blocker}' is a file: choose a directory."
    )
    assert not list(work.rglob("out-one"))  # the recipe never ran


def test_reproduce_reports_equal_digests(run_cli: RunCli, nk_home: Path, work: Path) -> None:
    assert stage(run_cli, work, "stage.name=data", "output.name=data").returncode == 0
    assert (
        stage(
            run_cli, work, "stage.name=m", "output.name=m", "+inputs.data=art://data:latest"
        ).returncode
        == 0
    )
    # A newer input must not leak into the reproduction: it uses the pinned version.
    assert (
        stage(run_cli, work, "stage.name=data", "output.name=data", "stage.seed=9").returncode == 0
    )
    result = run_cli("reproduce", "art://m:v1", "--json", cwd=work, env={"PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout[result.stdout.index("{") :])
    assert report["identical"] is True and report["reproduced"] == "art://m:v2"
    registry = registry_of(nk_home)
    assert registry.read_run(report["run"])["inputs"] == ["art://data:v1"]

    changed = run_cli(
        "reproduce", "art://m:v1", "stage.seed=3", cwd=work, env={"PYTHONPATH": str(REPO)}
    )
    assert changed.returncode == 1 and "DIFFERENT" in changed.stdout
    orphan = run_cli("reproduce", "art://nope", cwd=work)
    assert orphan.returncode == 2 and orphan.stderr.count("Error:") == 1


SENTINELS = {
    "WANDB_API_KEY": "sentinel-wandb-4f1c9e2a7b",
    "HF_TOKEN": "sentinel-hf-8d3e6a0c51",
    "AWS_SECRET_ACCESS_KEY": "sentinel-aws-2b7f4c9d13",
}


def test_secrets_land_nowhere(run_cli: RunCli, nk_home: Path, work: Path, tmp_path: Path) -> None:
    wandb_dirs = {
        k: str(tmp_path / k.lower())
        for k in ("WANDB_DIR", "WANDB_DATA_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR")
    }
    for d in wandb_dirs.values():
        Path(d).mkdir()
    env = {**SENTINELS, **wandb_dirs, "WANDB_MODE": "offline"}
    first = stage(
        run_cli,
        work,
        "stage.name=data",
        "output.name=data",
        "tracker=[file,wandb]",
        "+stage.hf_token=${oc.env:HF_TOKEN}",
        "+stage.note=${oc.env:WANDB_API_KEY}",
        env=env,
    )
    assert first.returncode == 0, first.stderr
    second = stage(
        run_cli,
        work,
        "stage.name=m",
        "output.name=m",
        "tracker=[file,wandb]",
        "+inputs.data=art://data:latest",
        "stage.fail=true",
        "+stage.api_key=${oc.env:AWS_SECRET_ACCESS_KEY}",
        env=env,
    )
    assert second.returncode != 0
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".wandb" for p in written), "the W&B mirror wrote nothing"
    for path in written:
        data = path.read_bytes()
        for name, value in SENTINELS.items():
            assert value.encode() not in data, f"{name} leaked into {path}"
    for stream in (first.stdout, first.stderr, second.stdout, second.stderr):
        assert not any(v in stream for v in SENTINELS.values())


def test_sweep_moves_an_alias_to_the_best_version(
    run_cli: RunCli, nk_home: Path, work: Path
) -> None:
    result = stage(
        run_cli,
        work,
        "-m",
        "stage.name=s",
        "output.name=scored",
        "stage.seed=1,3,2",
        "sweep.alias=best",
        "sweep.metric=score",
        "sweep.mode=max",
    )
    assert result.returncode == 0, result.stderr
    registry = registry_of(nk_home)
    best = registry.resolve("art://scored:best")
    assert best.metrics["score"] == 3.0
    assert "best -> art://scored:" in result.stderr


def test_a_missing_input_says_which_recipe_to_run_first(
    run_cli: RunCli, nk_home: Path, work: Path
) -> None:
    result = run_cli("+recipe=pretrain", cwd=work)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1
    assert "'pretrain-data'" in errors[0] and "+recipe=data_prep` first" in errors[0]
    assert "ineage" not in errors[0]  # an input problem, not a lineage one


def test_logged_metrics_are_chunks_read_back_in_order_and_untrusted(tmp_path: Path) -> None:
    from nemotron_kit.registry import ArtifactRegistry, layout

    registry = ArtifactRegistry(tmp_path / "registry", hash_cache=False)
    registry.append_metrics("run-1", [{"step": 1, "time": 1.0, "values": {"loss": 2.5}}])
    registry.append_metrics("run-1", [{"step": 2, "time": 2.0, "values": {"loss": 2.0}}])
    # What someone else wrote there is read as untrusted: damaged rows and values are skipped.
    junk = b'not json\n{"step": -1, "values": {}}\n{"step": 3, "values": {"loss": "x", "ok": 1}}\n'
    registry.storage.create(layout.run_metrics_chunk("run-1", "99999999999999999999-zz"), junk)
    rows = registry.read_metrics("run-1")
    assert [(r["step"], r["values"]) for r in rows] == [
        (1, {"loss": 2.5}),
        (2, {"loss": 2.0}),
        (3, {"ok": 1.0}),
    ]
    assert registry.read_metrics("run-2") == []


def test_log_metrics_outside_a_job_or_with_a_non_number_is_one_sentence(
    tmp_path: Path,
) -> None:
    import pytest

    import nemotron_kit as kit
    from nemotron_kit.registry import reset

    reset()
    with pytest.raises(kit.NemotronKitError, match="log_metrics needs a running job"):
        kit.log_metrics({"loss": 1.0})
    from nemotron_kit.tracking.run import _numbers

    with pytest.raises(kit.NemotronKitError, match="loss='high' is not a number"):
        _numbers({"loss": "high"})
    assert _numbers({"loss": 1, "lr": 0.5}) == {"loss": 1.0, "lr": 0.5}


def test_a_pretrain_run_logs_every_step(run_cli: RunCli, nk_home: Path) -> None:
    assert run_cli("+recipe=data_prep", "data.num_documents=2000").returncode == 0
    done = run_cli("+recipe=pretrain", "train.steps=25", "train.log_every=10")
    assert done.returncode == 0, done.stderr[-2000:]
    registry = registry_of(nk_home)
    run_id = registry.resolve("art://tiny-gpt:v1").producer
    assert run_id is not None
    rows = registry.read_metrics(run_id)
    assert [r["step"] for r in rows] == list(range(1, 26))  # every step, not every 10th
    assert all({"loss", "lr", "steps_per_s"} <= set(r["values"]) for r in rows)
    shown = json.loads(run_cli("runs", "show", run_id, "--json").stdout)["logged_metrics"]
    assert shown["points"] == 25 and shown["steps"] == [1, 25]
    assert shown["last"]["loss"] == rows[-1]["values"]["loss"]


def test_runs_compare_shows_the_keys_that_differ_and_the_metrics(
    run_cli: RunCli, nk_home: Path, work: Path
) -> None:
    for seed in ("7", "8"):
        assert stage(run_cli, work, f"stage.seed={seed}").returncode == 0
    registry = registry_of(nk_home)
    # In start order: ids started in the same second sort by their random suffix.
    first, second = sorted(registry.run_ids(), key=lambda r: registry.read_run(r)["started_at"])
    result = run_cli("runs", "compare", first, second, "--json")
    assert result.returncode == 0, result.stderr
    compared = json.loads(result.stdout)
    assert compared["runs"] == [first, second]
    assert compared["status"] == ["COMPLETED", "COMPLETED"]
    differing = {k for k in compared["config"] if not k.startswith("hydra")}
    assert differing == {"stage.seed"}
    assert compared["config"]["stage.seed"] == [7, 8]
    text = run_cli("runs", "compare", first, second)
    assert text.returncode == 0 and "stage.seed" in text.stdout
    every = json.loads(run_cli("runs", "compare", first, second, "--all", "--json").stdout)
    assert "stage.name" in every["config"] and len(every["config"]) > len(compared["config"])
    # A narrow terminal folds long keys and values (paths, targets): it never cuts them.
    narrow = ok(run_cli("runs", "compare", first, second, "--all", env={"COLUMNS": "60"}))
    assert "…" not in narrow and max(len(line) for line in narrow.splitlines()) <= 60
    assert first[:12] in narrow and "stage.seed" in narrow
    alone = run_cli("runs", "compare", first)
    assert alone.returncode == 2 and "give two or more run ids" in alone.stderr


def test_a_failed_metrics_flush_keeps_the_rows_and_never_costs_the_run_its_end(
    tmp_path: Path,
) -> None:
    from nemotron_kit.registry import ArtifactRegistry
    from nemotron_kit.tracking.run import ActiveRun
    from nemotron_kit.tracking.trackers import FileTracker

    registry = ArtifactRegistry(tmp_path / "registry", hash_cache=False)
    tracker = FileTracker()
    run = ActiveRun("run-f", registry, [tracker], {}, [], {}, [], {})
    tracker.start_run(run)
    real = registry.append_metrics
    failing = {"on": True}

    def flaky(run_id: str, rows: list[dict[str, object]]) -> None:
        if failing["on"]:
            raise OSError("store unreachable")
        real(run_id, rows)

    registry.append_metrics = flaky  # type: ignore[method-assign]
    tracker.FLUSH_ROWS = 2
    for step in range(1, 6):
        run.log_metrics({"loss": 1.0 / step}, step)  # flushes fail: a warning, rows kept
    assert run.tracker_errors == []
    failing["on"] = False
    tracker.end_run(run, "COMPLETED", None)
    assert [r["step"] for r in registry.read_metrics("run-f")] == [1, 2, 3, 4, 5]
    assert registry.read_run("run-f")["status"] == "COMPLETED"
    run.log_metrics({"loss": 0.0}, 6)  # after the end: not recorded
    assert len(registry.read_metrics("run-f")) == 5
    # A final flush that fails still ends the run.
    other = ActiveRun("run-g", registry, [FileTracker()], {}, [], {}, [], {})
    other.trackers[0].start_run(other)
    failing["on"] = True
    other.log_metrics({"loss": 1.0}, 1)
    other.trackers[0].end_run(other, "COMPLETED", None)
    assert registry.read_run("run-g")["status"] == "COMPLETED"


def test_a_resumed_runs_repeated_steps_read_back_once(tmp_path: Path) -> None:
    from nemotron_kit.registry import ArtifactRegistry

    registry = ArtifactRegistry(tmp_path / "registry", hash_cache=False)
    first = [{"step": s, "time": 1.0, "values": {"loss": 10.0 - s}} for s in range(1, 6)]
    registry.append_metrics("run-r", first)
    again = [{"step": s, "time": 2.0, "values": {"loss": 20.0 - s}} for s in range(3, 8)]
    registry.append_metrics("run-r", again)  # the requeued attempt, from step 3's checkpoint
    rows = registry.read_metrics("run-r")
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6, 7]
    assert [r["values"]["loss"] for r in rows][2:] == [17.0, 16.0, 15.0, 14.0, 13.0]


SECRET_RECIPE = """# @package _global_
defaults:
  - stage
  - _self_
stage:
  name: secretive
  say: "token in use: lit-secret-98765"
  hub_token: lit-secret-98765
output:
  name: secretive
"""


def test_the_console_tail_keeps_output_logs_and_tracebacks_without_secrets(
    run_cli: RunCli, nk_home: Path, work: Path, tmp_path: Path
) -> None:
    """What a job prints and logs is kept with its run, a secret of its config (written in a
    YAML, not only in the environment) redacted; a failed run's tail ends with its traceback."""
    conf = tmp_path / "secret-conf"
    (conf / "recipe").mkdir(parents=True)
    (conf / "recipe" / "stage_secret.yaml").write_text(SECRET_RECIPE)
    ok = run_test_conf(run_cli, work, "--config-dir", str(conf), "+recipe=stage_secret")
    assert ok.returncode == 0, ok.stderr
    failed = run_test_conf(
        run_cli, work, "--config-dir", str(conf), "+recipe=stage_secret", "stage.fail=true"
    )
    assert failed.returncode != 0
    registry = registry_of(nk_home)
    by_status = {registry.read_run(r)["status"]: r for r in registry.run_ids()}
    for status, run_id in by_status.items():
        console = registry.read_run_text(run_id, "console") or ""
        assert "lit-secret-98765" not in console, console
        assert "token in use: ***REDACTED***" in console, (status, console)
        assert "logged: token in use: ***REDACTED***" in console, (status, console)
    failed_tail = registry.read_run_text(by_status["FAILED"], "console") or ""
    assert failed_tail.rstrip().endswith("RuntimeError: stage secretive was asked to fail")
    assert "Traceback (most recent call last)" in failed_tail


def test_console_tail_redacts_before_it_cuts_and_keeps_a_bar_s_last_state() -> None:
    secret = "hf_SECRETVALUE123456"
    tail = ConsoleTail([secret], limit=30)
    tail.add("x" * 40 + secret + "y" * 20)  # the cut falls inside the secret
    assert "ALUE123456" not in tail.take() and tail.take().endswith("y" * 20)
    for i in range(10_000):
        tail.add(f"{secret[:3]}{i}")  # trimming many times keeps no part of a secret
    tail.add(secret + "\n")
    assert secret not in tail.take() and tail.take().endswith("***REDACTED***\n")
    bar = ConsoleTail([], limit=1000)
    bar.add("start\n")
    for percent in (10, 50, 100):
        bar.add(f"\rprogress {percent}%")
    bar.add("\ndone\n")
    assert bar.take() == "start\nprogress 100%\ndone\n"
    assert not bar.changed()
    lines = ConsoleTail([], limit=1000)
    lines.capture()
    try:
        sys.stdout.writelines(["one\n", "two\n"])
    finally:
        lines.release()
    assert lines.take() == "one\ntwo\n"
