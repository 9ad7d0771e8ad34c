"""Local execution: the job in this process (single runs), or a bounded pool of processes."""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nemotron_kit.execution.base import Executor, JobOutcome
from nemotron_kit.execution.job import JobFailed, JobSpec, load_result, result_path


def _child(job: Callable[[JobSpec], Any], spec: JobSpec, env: dict[str, str]) -> None:
    os.environ.update(env)
    try:
        job(spec)
    except JobFailed:
        os._exit(1)  # the task's error is in the result file; the job log has its traceback
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(2)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def outcome_from_result(
    spec: JobSpec, sweep_dir: Path, fallback: str, job_id: str | None = None
) -> JobOutcome:
    """The outcome recorded by the job itself, or ``fallback`` as the reason if it left none."""
    result = load_result(result_path(sweep_dir, spec.num))
    if result is None:
        return JobOutcome(spec, "FAILED", fallback, job_id)
    return JobOutcome(
        spec,
        result["status"],
        result["error"],
        job_id,
        result["working_dir"],
        result.get("return_value"),
    )


def describe_exit(code: int | None) -> str:
    if code is None:
        return "did not exit"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code} before recording a result"


class LocalExecutor(Executor):
    """Jobs of a sweep as forked processes, at most ``max_parallel`` at a time."""

    name = "local"
    remote = False

    def __init__(
        self, max_parallel: int | None = None, env: dict[str, str] | None = None, **_: Any
    ) -> None:
        self.max_parallel = max(1, int(max_parallel or os.cpu_count() or 1))
        self.env = {str(k): str(v) for k, v in (env or {}).items()}

    def run(
        self, job: Callable[[JobSpec], Any], specs: list[JobSpec], sweep_dir: Path
    ) -> list[JobOutcome]:
        ctx = multiprocessing.get_context("fork")
        pending = list(specs)
        running: dict[Any, tuple[Any, JobSpec]] = {}
        outcomes: dict[int, JobOutcome] = {}
        try:
            while pending or running:
                while pending and len(running) < self.max_parallel:
                    spec = pending.pop(0)
                    proc = ctx.Process(
                        target=_child, args=(job, spec, self.env), name=f"job-{spec.num}"
                    )
                    proc.start()
                    running[proc.sentinel] = (proc, spec)
                for sentinel in multiprocessing.connection.wait(list(running)):
                    proc, spec = running.pop(sentinel)
                    proc.join()
                    outcome = outcome_from_result(
                        spec, sweep_dir, describe_exit(proc.exitcode), str(proc.pid)
                    )
                    if proc.exitcode and proc.exitcode < 0:
                        outcome.status, outcome.reason = "FAILED", describe_exit(proc.exitcode)
                    outcomes[spec.num] = outcome
        finally:
            for proc, _ in running.values():  # interrupted: stop what we started
                proc.terminate()
            for proc, _ in running.values():
                proc.join(timeout=10)
        return [outcomes[s.num] for s in specs]

    def describe(self, specs: list[JobSpec], sweep_dir: Path) -> dict[str, Any]:
        return {
            "executor": self.name,
            "max_parallel": self.max_parallel,
            "jobs": [list(s.overrides) for s in specs],
        }
