"""The executor interface: run a batch of jobs somewhere, and give every job a result."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nemotron_kit.execution.job import JobSpec


@dataclass
class JobOutcome:
    """How one job ended. ``reason`` says why a FAILED job failed, in one line."""

    spec: JobSpec
    status: str  # COMPLETED | FAILED
    reason: str | None = None
    job_id: str | None = None
    working_dir: str | None = None
    return_value: Any = None
    # The job's composed config and Hydra config (what Hydra's sweepers read of a JobReturn).
    cfg: Any = None
    hydra_cfg: Any = None


class Executor(ABC):
    """Runs jobs: in this process, as local processes, under torchrun, or on Slurm.

    ``run`` never raises for a failed or vanished job: each job gets its ``JobOutcome``.
    """

    name: str = "executor"
    #: Jobs run in other processes (or machines): inputs are pinned at submission.
    remote: bool = True
    #: Jobs run in processes forked from this one, which inherit Hydra's global state as is.
    forks: bool = False

    @abstractmethod
    def run(
        self, job: Callable[[JobSpec], Any], specs: list[JobSpec], sweep_dir: Path
    ) -> list[JobOutcome]:
        """Run every spec; return their outcomes in the same order."""

    def describe(self, specs: list[JobSpec], sweep_dir: Path) -> dict[str, Any]:
        """What ``run`` would do, for dry runs (no side effects)."""
        return {"executor": self.name, "jobs": [list(s.overrides) for s in specs]}
