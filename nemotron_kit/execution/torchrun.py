"""torchrun on this machine: each job runs as ``nproc_per_node`` ranks (standalone rendezvous).

Every rank runs the Hydra job with the same pinned inputs; rank 0 alone records lineage and
may publish (``is_rank_zero()``); the job's result is rank 0's.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nemotron_kit.execution.base import Executor, JobHandle, JobOutcome, JobStatus
from nemotron_kit.execution.job import JobSpec, failed_rank
from nemotron_kit.execution.local import describe_exit, outcome_from_result


def rank() -> int:
    return int(os.environ.get("RANK", "0") or 0)


def is_rank_zero() -> bool:
    """True outside distributed jobs, and on the rank that publishes and records lineage."""
    return rank() == 0


def backend(chosen: str = "auto") -> str:
    """The process-group backend: ``chosen``, or for ``auto`` nccl with CUDA, else gloo."""
    if chosen != "auto":
        return chosen
    import torch

    return "nccl" if torch.cuda.is_available() else "gloo"


class _Queue:
    """Jobs one at a time (each one's ranks already use the machine), advanced by whoever
    asks a handle: when the running job has ended, the next one starts."""

    def __init__(self, executor: TorchrunExecutor, job: Any, sweep_dir: Path) -> None:
        self.executor, self.job, self.sweep_dir = executor, job, sweep_dir
        self.handles: list[_TorchrunHandle] = []

    def advance(self, block: bool) -> None:
        """Record the running job's end (waiting for it with ``block``) and start the next
        one; never waits for more than one job."""
        for handle in self.handles:
            if handle.result is not None:
                continue
            if handle.proc is None:
                handle.start()
            if not handle.finish(block):
                return  # still running: the rest wait
            block = False  # one job ended: start the next, without waiting for it

    def stop(self) -> None:
        for handle in self.handles:
            handle.cancel()


class _TorchrunHandle(JobHandle):
    def __init__(self, queue: _Queue, spec: JobSpec) -> None:
        self.queue, self.spec = queue, spec
        self.proc: subprocess.Popen[bytes] | None = None
        self.result: JobOutcome | None = None
        self.payload = queue.sweep_dir / ".nemotron_kit" / f"torchrun-{spec.num}.pkl"

    @property
    def job_id(self) -> str | None:
        return str(self.proc.pid) if self.proc is not None else None

    def start(self) -> None:
        import cloudpickle

        executor = self.queue.executor
        spec = self.spec
        self.payload.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.payload, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(cloudpickle.dumps((self.queue.job, spec)))
        env = {
            **os.environ,
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
            **executor.env,
        }
        if spec.snapshot:  # every rank imports the recorded code, not the live checkout
            env["PYTHONPATH"] = os.pathsep.join(
                [spec.snapshot, *filter(None, [os.environ.get("PYTHONPATH")])]
            )
        # torchrun and its ranks in a group of their own: Ctrl-C (or a failure here) stops
        # all of them, not torchrun alone, whose ranks would live on.
        self.proc = subprocess.Popen(
            executor.command(self.payload), env=env, start_new_session=True
        )

    def finish(self, block: bool) -> bool:
        """Record the outcome if the job has ended (waiting for it with ``block``)."""
        assert self.proc is not None
        if block:
            self.proc.wait()
        elif self.proc.poll() is None:
            return False
        code = self.proc.returncode
        reason = describe_exit(code) if code else "finished without a result"
        outcome = outcome_from_result(self.spec, self.queue.sweep_dir, f"torchrun {reason}")
        # Another rank's own error says more than torchrun's exit: rank 0 ended without a
        # result (stopped with the others), or finished before that rank failed.
        peer = failed_rank(self.queue.sweep_dir, self.spec)
        rank0_said = outcome.status == JobStatus.FAILED and outcome.reason != f"torchrun {reason}"
        if peer is not None and not rank0_said:
            outcome.status = JobStatus.FAILED
            outcome.reason = f"rank {peer[0]} failed: {peer[1]}"
        elif code and outcome.status == JobStatus.COMPLETED:
            outcome.status = JobStatus.FAILED
            outcome.reason = f"a rank failed: torchrun {describe_exit(code)}"
        self.result = outcome
        self.payload.unlink(missing_ok=True)
        return True

    def done(self) -> bool:
        self.queue.advance(block=False)
        return self.result is not None

    def outcome(self) -> JobOutcome:
        while self.result is None:
            self.queue.advance(block=True)
        return self.result

    def cancel(self) -> None:
        if self.result is not None:
            return
        if self.proc is None:
            self.result = JobOutcome(self.spec, JobStatus.FAILED, "cancelled before it started")
            return
        stop_group(self.proc)
        self.finish(block=True)


class TorchrunExecutor(Executor):
    name = "torchrun"

    def __init__(
        self,
        nproc_per_node: int = 2,
        backend: str = "auto",
        max_restarts: int = 0,
        env: dict[str, str] | None = None,
    ) -> None:
        self.nproc_per_node = int(nproc_per_node)
        self.backend = backend
        self.max_restarts = int(max_restarts)
        self.env = {str(k): str(v) for k, v in (env or {}).items()}

    def command(self, payload: Path) -> list[str]:
        return [
            sys.executable,
            "-m",
            "nemotron_kit.execution._torchrun",  # torchrun, without its failure traceback
            "--standalone",
            f"--nproc_per_node={self.nproc_per_node}",
            f"--max_restarts={self.max_restarts}",
            "-m",
            "nemotron_kit.execution._payload",
            str(payload),
        ]

    def submit(
        self, job: Callable[[JobSpec], Any], specs: list[JobSpec], sweep_dir: Path
    ) -> list[JobHandle]:
        queue = _Queue(self, job, sweep_dir)
        options = {"dist_backend": self.backend}
        queue.handles = [
            _TorchrunHandle(queue, dataclasses.replace(s, options={**s.options, **options}))
            for s in specs
        ]
        queue.advance(block=False)  # the first job starts now
        return list(queue.handles)

    def describe(self, specs: list[JobSpec], sweep_dir: Path) -> dict[str, Any]:
        return {
            "executor": self.name,
            "command": self.command(sweep_dir / ".nemotron_kit" / "torchrun-N.pkl"),
            "jobs": [list(s.overrides) for s in specs],
        }


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group of ``proc`` (torchrun and every rank), then SIGKILL to
    whatever is left after a grace period."""
    import signal

    for sig, grace in ((signal.SIGTERM, 30.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
        try:  # torchrun is gone; its ranks may not be
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
