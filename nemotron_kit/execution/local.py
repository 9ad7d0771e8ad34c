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

from nemotron_kit.execution.base import Executor, JobHandle, JobOutcome, JobStatus
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
        return JobOutcome(spec, JobStatus.FAILED, fallback, job_id)
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


class _Pool:
    """The forked workers of one submission, driven by whoever waits on one of its handles
    (no thread: each ``step`` waits for the next worker to answer or die)."""

    def __init__(
        self,
        job: Callable[[JobSpec], Any],
        specs: list[JobSpec],
        sweep_dir: Path,
        max_parallel: int,
        env: dict[str, str],
    ) -> None:
        self.job, self.sweep_dir, self.env = job, sweep_dir, env
        self.ctx = multiprocessing.get_context("fork")
        self.pending = list(specs)
        self.outcomes: dict[int, JobOutcome] = {}
        self.job_ids: dict[int, str] = {}
        # worker sentinel -> [process, connection, the spec it runs or None]
        self.workers: dict[Any, list[Any]] = {}
        # workers told to stop (a cancel): never given another job, even if they answer
        self.doomed: set[Any] = set()
        for _ in range(min(max_parallel, len(self.pending))):
            self._feed(self._spawn())

    def _spawn(self) -> list[Any]:
        parent, child = self.ctx.Pipe()
        proc = self.ctx.Process(target=_worker, args=(self.job, child, self.env), daemon=True)
        proc.start()
        child.close()
        slot = [proc, parent, None]
        self.workers[proc.sentinel] = slot
        return slot

    def _feed(self, slot: list[Any]) -> None:
        spec = self.pending.pop(0) if self.pending else None
        slot[2] = spec
        if spec is not None:
            self.job_ids[spec.num] = str(slot[0].pid)
        with contextlib.suppress(OSError):
            slot[1].send(spec)

    def step(self, timeout: float | None = None) -> None:
        """Wait (up to ``timeout``) for workers to finish jobs or die; record those outcomes."""
        busy = {slot[1]: slot for slot in self.workers.values() if slot[2] is not None}
        if not busy:
            return
        sentinels = {slot[0].sentinel: slot for slot in busy.values()}
        ready = multiprocessing.connection.wait([*busy, *sentinels], timeout)
        seen: set[int] = set()
        for ready_one in ready:
            slot = busy.get(ready_one) or sentinels.get(ready_one)
            if slot is None or id(slot) in seen:
                continue  # the same worker, ready through its other handle
            seen.add(id(slot))
            proc, conn, spec = slot
            try:
                _, how, result = conn.recv()
            except (EOFError, OSError):  # the worker died with the job: OOM, kill, _exit
                proc.join()
                self.outcomes[spec.num] = JobOutcome(
                    spec, JobStatus.FAILED, describe_exit(proc.exitcode), str(proc.pid)
                )
                slot[2] = None
                self.workers.pop(proc.sentinel, None)
                if self.pending:
                    self._feed(self._spawn())
                continue
            fallback = "raised before recording a result" if how == "error" else "no result"
            self.outcomes[spec.num] = outcome_from_result(
                spec, self.sweep_dir, fallback, str(proc.pid), result
            )
            if proc.sentinel in self.doomed:  # it answered before the cancel took: replace it
                slot[2] = None
                self.workers.pop(proc.sentinel, None)
                proc.join(timeout=10)
                if self.pending:
                    self._feed(self._spawn())
                continue
            self._feed(slot)

    def cancel(self, spec: JobSpec) -> None:
        if spec in self.pending:
            self.pending.remove(spec)
            self.outcomes[spec.num] = JobOutcome(spec, JobStatus.FAILED, "cancelled")
            return
        for proc, _, running in self.workers.values():
            if running is not None and running.num == spec.num:
                self.doomed.add(proc.sentinel)
                proc.terminate()  # the next step records it: killed by SIGTERM

    def close(self) -> None:
        """Stop what still runs (interrupted), tell idle workers to exit, and reap them all;
        a job that never started is recorded as cancelled."""
        for spec in self.pending:
            self.outcomes.setdefault(spec.num, JobOutcome(spec, JobStatus.FAILED, "cancelled"))
        self.pending.clear()
        for proc, conn, spec in self.workers.values():
            if spec is not None:
                proc.terminate()
            else:
                with contextlib.suppress(OSError):
                    conn.send(None)
        for proc, _, _ in self.workers.values():
            proc.join(timeout=10)
            if proc.is_alive():  # it ignored SIGTERM
                proc.kill()
                proc.join(timeout=10)


class _PoolHandle(JobHandle):
    def __init__(self, pool: _Pool, spec: JobSpec) -> None:
        self.pool, self.spec = pool, spec

    @property
    def job_id(self) -> str | None:
        return self.pool.job_ids.get(self.spec.num)

    def done(self) -> bool:
        if self.spec.num not in self.pool.outcomes:
            self.pool.step(timeout=0)
        return self.spec.num in self.pool.outcomes

    def outcome(self) -> JobOutcome:
        while self.spec.num not in self.pool.outcomes:
            self.pool.step()
        return self.pool.outcomes[self.spec.num]

    def cancel(self) -> None:
        self.pool.cancel(self.spec)


class LocalExecutor(Executor):
    """Jobs of a sweep in ``max_parallel`` forked worker processes.

    A worker runs its jobs one after another, as Hydra's own launcher does in one process;
    a worker that dies (killed, out of memory, ``os._exit``) fails only the job it was running
    and is replaced for the rest.
    """

    name = "local"
    parallelism = "max_parallel"
    remote = False
    forks = True

    def __init__(self, max_parallel: int | None = None, env: dict[str, str] | None = None) -> None:
        self.max_parallel = max(1, int(max_parallel or os.cpu_count() or 1))
        self.env = {str(k): str(v) for k, v in (env or {}).items()}

    def submit(
        self, job: Callable[[JobSpec], Any], specs: list[JobSpec], sweep_dir: Path
    ) -> list[JobHandle]:
        _warm_imports()
        pool = _Pool(job, specs, sweep_dir, self.max_parallel, self.env)
        return [_PoolHandle(pool, spec) for spec in specs]

    def close(self, handles: list[JobHandle]) -> None:
        pools = {id(h.pool): h.pool for h in handles if isinstance(h, _PoolHandle)}
        for pool in pools.values():
            pool.close()

    def describe(self, specs: list[JobSpec], sweep_dir: Path) -> dict[str, Any]:
        return {
            "executor": self.name,
            "max_parallel": self.max_parallel,
            "jobs": [list(s.overrides) for s in specs],
        }
