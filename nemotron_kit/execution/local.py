"""Local execution: the job in this process (single runs), or a bounded pool of processes."""

from __future__ import annotations

import contextlib
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
from nemotron_kit.execution.job import (
    JobFailed,
    JobSpec,
    load_result,
    result_path,
    slim_result,
)


def _run_one(job: Callable[[JobSpec], Any], spec: JobSpec) -> tuple[str, Any]:
    """Run one job in this worker: ("ok" | "failed" | "error", the job's slim result)."""
    try:
        ret = job(spec)
    except JobFailed as exc:  # the task raised; the job log has its traceback
        return "failed", slim_result(exc.ret, redacted=False) if exc.ret is not None else None
    except BaseException:
        traceback.print_exc()
        return "error", None
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    return "ok", slim_result(ret, redacted=False) if ret is not None else None


def _worker(job: Callable[[JobSpec], Any], conn: Any, env: dict[str, str]) -> None:
    """A forked worker: run the specs it is sent, one after another, until told to stop.
    Each result goes back over the pipe (never through a file: its config is whole)."""
    os.environ.update(env)
    while True:
        spec = conn.recv()
        if spec is None:
            break
        how, result = _run_one(job, spec)
        try:
            conn.send((spec.num, how, result))
        except Exception:  # a result that does not pickle: the launcher reads the file
            conn.send((spec.num, how, None))
    os._exit(0)


def outcome_from_result(
    spec: JobSpec,
    sweep_dir: Path,
    fallback: str,
    job_id: str | None = None,
    result: dict[str, Any] | None = None,
) -> JobOutcome:
    """The outcome recorded by the job itself, or ``fallback`` as the reason if it left none."""
    if result is None:
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
        result.get("cfg"),
        result.get("hydra_cfg"),
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


def _warm_imports() -> None:
    """Import once here what every job imports on first use; forked jobs then inherit it
    instead of each paying for it (about a third of a trivial job's cost)."""
    import importlib

    for name in (
        "logging.config",
        "hydra.utils",
        "hydra.core.hydra_config",
        "nemotron_kit.config",
        "nemotron_kit.registry",
        "nemotron_kit.registry.api",
        "nemotron_kit.registry.resolver",
        "nemotron_kit.tracking.callback",
        "nemotron_kit.tracking.run",
        "nemotron_kit.tracking.trackers",
    ):
        importlib.import_module(name)


class LocalExecutor(Executor):
    """Jobs of a sweep in ``max_parallel`` forked worker processes.

    A worker runs its jobs one after another, as Hydra's own launcher does in one process;
    a worker that dies (killed, out of memory, ``os._exit``) fails only the job it was running
    and is replaced for the rest.
    """

    name = "local"
    remote = False
    forks = True

    def __init__(
        self, max_parallel: int | None = None, env: dict[str, str] | None = None, **_: Any
    ) -> None:
        self.max_parallel = max(1, int(max_parallel or os.cpu_count() or 1))
        self.env = {str(k): str(v) for k, v in (env or {}).items()}

    def run(
        self, job: Callable[[JobSpec], Any], specs: list[JobSpec], sweep_dir: Path
    ) -> list[JobOutcome]:
        ctx = multiprocessing.get_context("fork")
        _warm_imports()
        pending = list(specs)
        outcomes: dict[int, JobOutcome] = {}
        # worker sentinel -> (process, connection, the spec it runs or None)
        workers: dict[Any, list[Any]] = {}

        def spawn() -> None:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker, args=(job, child, self.env), daemon=True)
            proc.start()
            child.close()
            workers[proc.sentinel] = [proc, parent, None]

        def feed(slot: list[Any]) -> None:
            spec = pending.pop(0) if pending else None
            slot[2] = spec
            with contextlib.suppress(OSError):
                slot[1].send(spec)

        try:
            for _ in range(min(self.max_parallel, len(pending))):
                spawn()
            for slot in list(workers.values()):
                feed(slot)
            while any(slot[2] is not None for slot in workers.values()):
                busy = {slot[1]: slot for slot in workers.values() if slot[2] is not None}
                sentinels = {slot[0].sentinel: slot for slot in busy.values()}
                ready = multiprocessing.connection.wait([*busy, *sentinels])
                done: set[int] = set()
                for ready_one in ready:
                    found = busy.get(ready_one) or sentinels.get(ready_one)
                    if found is None or id(found) in done:
                        continue  # the same worker, ready through its other handle
                    done.add(id(found))
                    slot = found
                    proc, conn, spec = slot
                    try:
                        _, how, result = conn.recv()
                    except (EOFError, OSError):  # the worker died with the job: OOM, kill, _exit
                        proc.join()
                        outcomes[spec.num] = JobOutcome(
                            spec, "FAILED", describe_exit(proc.exitcode), str(proc.pid)
                        )
                        slot[2] = None
                        workers.pop(proc.sentinel, None)
                        if pending:
                            spawn()
                            feed(workers[list(workers)[-1]])
                        continue
                    fallback = "raised before recording a result" if how == "error" else "no result"
                    outcomes[spec.num] = outcome_from_result(
                        spec, sweep_dir, fallback, str(proc.pid), result
                    )
                    feed(slot)
        finally:
            for proc, conn, spec in workers.values():
                if spec is not None:  # interrupted: stop what is still running
                    proc.terminate()
                else:
                    with contextlib.suppress(OSError):
                        conn.send(None)
            for proc, _, _ in workers.values():
                proc.join(timeout=10)
        return [outcomes[s.num] for s in specs]

    def describe(self, specs: list[JobSpec], sweep_dir: Path) -> dict[str, Any]:
        return {
            "executor": self.name,
            "max_parallel": self.max_parallel,
            "jobs": [list(s.overrides) for s in specs],
        }
