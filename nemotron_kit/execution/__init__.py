"""Where jobs run: executors (local, torchrun, Slurm), the sweep launcher, code snapshots."""

from nemotron_kit.execution.base import Executor, JobOutcome
from nemotron_kit.execution.job import JobSpec
from nemotron_kit.execution.launch import build_executor
from nemotron_kit.execution.local import LocalExecutor

__all__ = ["Executor", "JobOutcome", "JobSpec", "LocalExecutor", "build_executor"]
