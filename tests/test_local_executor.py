"""The local pool: every job gets a result, a dying job fails alone, workers are replaced."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

from nemotron_kit.execution.testing import ExecutorSuite
from tests.conftest import RunCli, registry_of, run_test_conf, wait_for


def test_pool_reports_every_job_and_survives_dying_workers(
    run_cli: RunCli, nk_home: Path, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    result = run_test_conf(
        run_cli,
        work,
        "-m",
        "+recipe=stage",
        "stage.name=s",
        "output.name=pool",
        "+stage.exit_code=null,3",
        "stage.fail=false,true",
        "stage.seed=1,2",
        "executor.max_parallel=2",
    )
    assert result.returncode != 0
    assert "2 of 8 jobs completed" in result.stderr
    registry = registry_of(nk_home)
    assert [v.version for v in registry.versions("pool")] == [1, 2]  # the good jobs' results kept
    runs = [registry.read_run(r) for r in registry.run_ids()]
    statuses = sorted(
        str(r["status"]) for r in runs if not str(r.get("recipe", "")).startswith("pipeline")
    )
    # the two os._exit jobs never ran their end hook: the launcher closed their runs as FAILED
    assert statuses == ["COMPLETED"] * 2 + ["FAILED"] * 6
    errors = sorted(str(r.get("error")) for r in runs if r["status"] == "FAILED")
    assert errors.count("exited with code 3 before recording a result") == 2  # os._exit(3)
    assert errors.count("RuntimeError: stage s was asked to fail") == 4


def test_a_killed_run_is_lost_and_runs_ls_filters(tmp_path: Path) -> None:
    """SIGKILL leaves no end record; `runs ls` shows LOST (its process is gone), not RUNNING
    forever, and the status, recipe and sweep filters find exactly the runs asked for."""
    probe = ExecutorSuite().probe(tmp_path)
    hold_dir = probe.work / "held"
    hold_dir.mkdir()
    cmd = probe.command("+recipe=nk_probe", "probe.mode=hold", f"probe.hold_dir={hold_dir}")
    with subprocess.Popen(cmd, cwd=probe.work, env=probe.env(), start_new_session=True) as proc:
        try:
            wait_for(lambda: list(hold_dir.glob("*.pid")), "the held run to start", proc=proc)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
    sweep = probe.run("-m", "+recipe=nk_probe", "probe.mode=ok,raise")
    assert sweep.returncode != 0, sweep.stderr

    def ls(*args: str) -> list[dict[str, Any]]:
        result = probe.run("runs", "ls", "--json", *args)
        assert result.returncode == 0, result.stderr
        return list(json.loads(result.stdout))

    every = ls()
    assert len(every) == 3
    (lost,) = ls("--status", "LOST")
    assert "ended without recording its end" in lost["error"]
    assert ls("--status", "running") == []
    assert {r["status"] for r in ls("--status", "FAILED", "--status", "COMPLETED")} == {
        "FAILED",
        "COMPLETED",
    }
    assert len(ls("--recipe", "nk_probe")) == 3 and ls("--recipe", "other") == []
    shown = probe.run("runs", "show", "--json", every[0]["run_id"])
    sweep_id = json.loads(shown.stdout)["hydra"]["sweep_id"]
    in_sweep = ls("--sweep", sweep_id)
    assert sorted(r["status"] for r in in_sweep) == ["COMPLETED", "FAILED"]
    assert lost["run_id"] not in {r["run_id"] for r in in_sweep}
    bad = probe.run("runs", "ls", "--status", "DONE")
    assert bad.returncode == 2 and "'DONE' is not a run status" in bad.stderr
