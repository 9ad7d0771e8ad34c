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

from nemotron_kit.execution.base import Executor, JobOutcome
from nemotron_kit.execution.job import JobSpec
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


class TorchrunExecutor(Executor):
    name = "torchrun"

    def __init__(
        self,
        nproc_per_node: int = 2,
        backend: str = "auto",
        max_restarts: int = 0,
        env: dict[str, str] | None = None,
        **_: Any,
    ) -> None:
        self.nproc_per_node = int(nproc_per_node)
        self.backend = backend
        self.max_restarts = int(max_restarts)
        self.env = {str(k): str(v) for k, v in (env or {}).items()}

    def command(self, payload: Path) -> list[str]:
        return [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={self.nproc_per_node}",
            f"--max_restarts={self.max_restarts}",
            "-m",
            "nemotron_kit.execution._payload",
            str(payload),
        ]

    def run(
        self, job: Callable[[JobSpec], Any], specs: list[JobSpec], sweep_dir: Path
    ) -> list[JobOutcome]:
        import cloudpickle

        outcomes = []
        for spec in specs:  # one job at a time: its ranks already use the machine
            spec = dataclasses.replace(spec, options={**spec.options, "dist_backend": self.backend})
            payload = sweep_dir / ".nemotron_kit" / f"torchrun-{spec.num}.pkl"
            payload.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(payload, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(cloudpickle.dumps((job, spec)))
            env = {
                **os.environ,
                "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
                **self.env,
            }
            if spec.snapshot:  # every rank imports the recorded code, not the live checkout
                env["PYTHONPATH"] = os.pathsep.join(
                    [spec.snapshot, *filter(None, [os.environ.get("PYTHONPATH")])]
                )
            # torchrun and its ranks in a group of their own: Ctrl-C (or a failure here) stops
            # all of them, not torchrun alone, whose ranks would live on.
            proc = subprocess.Popen(self.command(payload), env=env, start_new_session=True)
            try:
                proc.wait()
            except BaseException:
                stop_group(proc)
                raise
            reason = (
                describe_exit(proc.returncode) if proc.returncode else "finished without a result"
            )
            outcome = outcome_from_result(spec, sweep_dir, f"torchrun {reason}", None)
            if (
                proc.returncode and outcome.status == "COMPLETED"
            ):  # rank 0 finished, another rank failed
                outcome.status, outcome.reason = (
                    "FAILED",
                    f"a rank failed: torchrun {describe_exit(proc.returncode)}",
                )
            outcomes.append(outcome)
            payload.unlink(missing_ok=True)
        return outcomes

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
