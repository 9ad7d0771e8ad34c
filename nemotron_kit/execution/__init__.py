"""Where jobs run: executors (local, torchrun, Slurm), the sweep launcher, code snapshots."""

from nemotron_kit.execution.base import Executor, JobOutcome
from nemotron_kit.execution.job import JobSpec
from nemotron_kit.execution.launch import build_executor
from nemotron_kit.execution.local import LocalExecutor
from nemotron_kit.execution.profiles import RunConfig, load_run_profile
from nemotron_kit.execution.torchrun import is_rank_zero

__all__ = [
    "Executor",
    "JobOutcome",
    "JobSpec",
    "LocalExecutor",
    "RunConfig",
    "build_executor",
    "is_rank_zero",
    "load_run_profile",
]
