"""The executor interface itself, used from Python as submitit's is: ``submit`` gives a handle
per job; a handle says whether its job is ``done``, gives its ``outcome``, and ``cancel``s it."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from nemotron_kit.execution.base import JobStatus
from nemotron_kit.execution.job import JobSpec
from nemotron_kit.execution.launch import build_executor
from nemotron_kit.execution.local import LocalExecutor
from nemotron_kit.execution.slurm import SlurmExecutor
from tests.conftest import wait_for


class GatedJob:
    """Job N writes ``started-N`` and returns N once ``go-N`` exists (a test opens the gate)."""

    def __init__(self, gates: Path) -> None:
        self.gates = gates

    def __call__(self, spec: JobSpec) -> Any:
        from hydra.core.utils import JobReturn
        from hydra.core.utils import JobStatus as HydraStatus

        (self.gates / f"started-{spec.num}").write_text(str(os.getpid()))
        while not (self.gates / f"go-{spec.num}").exists():
            time.sleep(0.01)
        ret = JobReturn(status=HydraStatus.COMPLETED)
        ret.return_value = spec.num
        return ret


def specs(n: int) -> list[JobSpec]:
    return [JobSpec(i, (f"seed={i}",), run_id=f"run-{i}") for i in range(n)]


def test_handles_wait_report_and_cancel_a_queued_job(tmp_path: Path) -> None:
    executor = LocalExecutor(max_parallel=1)
    handles = executor.submit(GatedJob(tmp_path), specs(3), tmp_path / "sweep")
    try:
        wait_for(lambda: (tmp_path / "started-0").exists(), "job 0 to start")
        assert not handles[0].done() and not handles[1].done()
        assert handles[0].job_id == (tmp_path / "started-0").read_text()  # the worker's pid
        handles[1].cancel()  # still queued: it never starts
        assert handles[1].done()
        cancelled = handles[1].outcome()
        assert cancelled.status is JobStatus.FAILED and cancelled.reason == "cancelled"
        for n in (0, 2):
            (tmp_path / f"go-{n}").touch()
        first, last = handles[0].outcome(), handles[2].outcome()
    finally:
        executor.close(handles)
    assert first.status is JobStatus.COMPLETED and first.return_value == 0
    assert last.status is JobStatus.COMPLETED and last.return_value == 2
    assert not (tmp_path / "started-1").exists()


def test_cancel_stops_a_running_job_and_the_others_go_on(tmp_path: Path) -> None:
    executor = LocalExecutor(max_parallel=2)
    handles = executor.submit(GatedJob(tmp_path), specs(2), tmp_path / "sweep")
    try:
        wait_for(lambda: (tmp_path / "started-0").exists(), "job 0 to start")
        handles[0].cancel()
        stopped = handles[0].outcome()
        (tmp_path / "go-1").touch()
        finished = handles[1].outcome()
    finally:
        executor.close(handles)
    assert stopped.status == "FAILED" and stopped.reason == "killed by SIGTERM"
    assert finished.status == "COMPLETED" and finished.return_value == 1
    assert f"{stopped.status}" == "FAILED"  # prints as the plain name, in tables and JSON


def test_an_executor_setting_that_does_not_exist_is_refused() -> None:
    """No catch-all keyword argument: a misspelt setting in an executor config of one's own
    (not checked by a packaged schema) fails, naming it, instead of being ignored."""
    node = {
        "_target_": "nemotron_kit.execution.slurm.SlurmExecutor",
        "name": "mycluster",
        "partiton": "gpu",
    }
    with pytest.raises(Exception, match="partiton"):
        build_executor(node)
    good = build_executor({**{k: v for k, v in node.items() if k != "partiton"}, "time_min": 5})
    assert good.name == "mycluster"  # the option's name, shown in the sweep summary


def test_the_launchers_max_parallel_bounds_each_executor_its_own_way() -> None:
    slurm = build_executor(
        {"_target_": "nemotron_kit.execution.slurm.SlurmExecutor", "name": "slurm"},
        max_parallel=3,
    )
    assert isinstance(slurm, SlurmExecutor)
    assert slurm.parameters(name="x")["slurm_array_parallelism"] == 3
    local = build_executor(
        {"_target_": "nemotron_kit.execution.local.LocalExecutor", "name": "local"},
        max_parallel=2,
    )
    assert isinstance(local, LocalExecutor) and local.max_parallel == 2


def test_the_filesystem_of_a_path_is_that_of_its_deepest_mount() -> None:
    """Slurm's result wait (submitit's 15 s for a network filesystem to show a result) is
    skipped only on a local filesystem; which one a path is on comes from mountinfo."""
    from nemotron_kit.execution.slurm import filesystem_type

    mountinfo = (
        "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n"
        "2 1 0:40 / /home rw - nfs4 srv:/home rw\n"
        "3 2 0:41 / /home/me/my\\040data rw,relatime shared:5 - lustre x rw\n"
    )
    assert filesystem_type("/home/me/job", mountinfo) == "nfs4"
    assert filesystem_type("/home/me/my data/job", mountinfo) == "lustre"
    assert filesystem_type("/homer/job", mountinfo) == "ext4"  # not under /home
    assert filesystem_type("/home", mountinfo) == "nfs4"
    assert filesystem_type("/", mountinfo) == "ext4"
    assert filesystem_type("/x", "garbage\n") == ""  # cannot tell: treated as remote
