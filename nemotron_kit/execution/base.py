"""The executor interface, in submitit's shape: ``submit`` jobs, get a handle per job, and ask
each handle whether it is ``done``, for its ``outcome`` (waiting for it), or to ``cancel`` it.

A backend (local pool, torchrun, Slurm, container) fills in ``submit`` and a handle class;
``run`` (submit, collect every outcome in order, cancel everything on Ctrl-C or an error, then
``close``) is written once, here.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from nemotron_kit.execution.job import JobSpec


class JobStatus(str, Enum):
    """How a job ended, as the launcher reports it (a ``str``: ``status == "FAILED"`` holds)."""

    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    #: Detached: handed to the cluster or the engine, which runs it without us.
    SUBMITTED = "SUBMITTED"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


@dataclass
class JobOutcome:
    """How one job ended. ``reason`` says why a FAILED job failed, in one line."""

    spec: JobSpec
    status: JobStatus
    reason: str | None = None
    job_id: str | None = None
    working_dir: str | None = None
    return_value: Any = None
    # The job's composed config and Hydra config (what Hydra's sweepers read of a JobReturn).
    cfg: Any = None
    hydra_cfg: Any = None

    def __post_init__(self) -> None:
        self.status = JobStatus(self.status)  # a job's own result file holds the name


class JobHandle(ABC):
    """One submitted job, like submitit's ``Job``."""

    spec: JobSpec

    @property
    def job_id(self) -> str | None:
        """The backend's id of the job (Slurm job id, container id, worker pid), once known."""
        return None

    @abstractmethod
    def done(self) -> bool:
        """Whether the job has ended (never blocks)."""

    @abstractmethod
    def outcome(self) -> JobOutcome:
        """How the job ended, waiting for it if need be. Never raises for a failed job."""

    @abstractmethod
    def cancel(self) -> None:
        """Stop the job if it runs, or keep it from starting; idempotent."""

    def wait(self) -> None:
        self.outcome()


class DoneHandle(JobHandle):
    """A job whose outcome is known at submission: refused, or detached (SUBMITTED)."""

    def __init__(self, outcome: JobOutcome) -> None:
        self.spec, self._outcome = outcome.spec, outcome

    @property
    def job_id(self) -> str | None:
        return self._outcome.job_id

    def done(self) -> bool:
        return True

    def outcome(self) -> JobOutcome:
        return self._outcome

    def cancel(self) -> None:
        pass


class Executor(ABC):
    """Runs jobs: as local processes, under torchrun, on Slurm, or in containers."""

    name: str = "executor"
    #: Jobs run in other processes (or machines): inputs are pinned at submission.
    remote: bool = True
    #: Jobs run in processes forked from this one, which inherit Hydra's global state as is.
    forks: bool = False
    #: The attribute that bounds how many jobs run at once (the launcher's max_parallel sets
    #: it), or None when jobs run one at a time.
    parallelism: str | None = None

    @abstractmethod
    def submit(
        self, job: Callable[[JobSpec], Any], specs: list[JobSpec], sweep_dir: Path
    ) -> list[JobHandle]:
        """Start (or queue) every spec; a handle per spec, in the same order."""

    def close(self, handles: list[JobHandle]) -> None:  # noqa: B027  (optional hook)
        """After ``run``: release what the jobs no longer need (pools, secret files)."""

    def collect(self, handles: list[JobHandle]) -> list[JobOutcome]:
        """Every handle's outcome, in order (a backend may first stream or poll)."""
        return [h.outcome() for h in handles]

    def run(
        self, job: Callable[[JobSpec], Any], specs: list[JobSpec], sweep_dir: Path
    ) -> list[JobOutcome]:
        """Submit every spec and wait for all: one outcome per spec, in order. Ctrl-C (or any
        error here) cancels every job that was submitted before it is raised."""
        handles: list[JobHandle] = []
        try:
            handles = self.submit(job, specs, sweep_dir)
            return self.collect(handles)
        except BaseException:
            for handle in handles:
                with contextlib.suppress(Exception):
                    handle.cancel()
            raise
        finally:
            self.close(handles)

    def describe(self, specs: list[JobSpec], sweep_dir: Path) -> dict[str, Any]:
        """What ``run`` would do, for dry runs (no side effects)."""
        return {"executor": self.name, "jobs": [list(s.overrides) for s in specs]}
