"""One Hydra job, runnable in another process: the launcher's unit of work.

``HydraJob`` is pickled (cloudpickle, by submitit or our own pool) with Hydra's context and
global state, like Hydra's own launchers do; calling it on the worker composes the job's config
there and runs it through Hydra's ``run_job`` (callbacks included, so lineage is recorded
where the job really runs).
"""

from __future__ import annotations

import json
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nemotron_kit.tracking.run import INSIDE_JOB_ENV, PINS_ENV, REQUESTED_RUN_ID_ENV


@dataclass(frozen=True)
class JobSpec:
    """What distinguishes one job of a sweep: its number, overrides and pinned inputs."""

    num: int
    overrides: tuple[str, ...]
    # art:// reference -> pinned URI, decided when the sweep was submitted.
    pins: dict[str, str] = field(default_factory=dict)
    # The lineage run id the job records under (chosen at submission, kept across requeues).
    run_id: str | None = None

    @property
    def label(self) -> str:
        return " ".join(self.overrides) or "(no overrides)"


class JobFailed(Exception):
    """The job's task raised; raised again on the worker so its process (and Slurm job) fails."""


@dataclass
class HydraJob:
    hydra_context: Any
    task_function: Any
    config: Any
    singleton_state: dict[Any, Any] | None
    sweep_dir: str

    def __call__(self, spec: JobSpec) -> Any:
        from hydra.core.singleton import Singleton
        from hydra.core.utils import JobStatus, run_job, setup_globals
        from omegaconf import open_dict

        os.environ[INSIDE_JOB_ENV] = "1"
        if spec.run_id:
            os.environ[REQUESTED_RUN_ID_ENV] = spec.run_id
        if spec.pins:
            os.environ[PINS_ENV] = json.dumps(spec.pins)
        if self.singleton_state is not None:  # None: a forked worker already has our state
            Singleton.set_state(self.singleton_state)
        setup_globals()
        sweep_config = self.hydra_context.config_loader.load_sweep_config(
            self.config, list(spec.overrides)
        )
        with open_dict(sweep_config.hydra.job):
            sweep_config.hydra.job.id = os.environ.get("SLURM_JOB_ID") or f"job{spec.num}"
            sweep_config.hydra.job.num = spec.num
        ret = run_job(
            hydra_context=self.hydra_context,
            task_function=self.task_function,
            config=sweep_config,
            job_dir_key="hydra.sweep.dir",
            job_subdir_key="hydra.sweep.subdir",
        )
        save_result(ret, result_path(self.sweep_dir, spec.num))
        if ret.status == JobStatus.FAILED:
            raise JobFailed(describe(ret._return_value))
        return ret


def describe(exc: Any) -> str:
    if isinstance(exc, BaseException):
        return f"{type(exc).__name__}: {exc}"
    return str(exc)


def result_path(sweep_dir: str | Path, num: int) -> Path:
    """Where job ``num`` of a sweep leaves its result (a shared filesystem on clusters)."""
    return Path(sweep_dir) / ".nemotron_kit" / f"job-{num}.pkl"


def save_result(ret: Any, path: Path) -> None:
    """Keep a slim JobReturn where the launcher can read it, whatever happens to the process."""
    from nemotron_kit.tracking._secrets import redact, redact_text

    slim = {
        "status": ret.status.name,
        "error": redact_text(describe(ret._return_value)) if ret.status.name == "FAILED" else None,
        "overrides": redact(list(ret.overrides or [])),
        "working_dir": ret.working_dir,
        "return_value": _picklable(ret._return_value) if ret.status.name != "FAILED" else None,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    # Private to the user, and removed by the launcher once it has read it.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pickle.dumps(slim))
    os.replace(tmp, path)


def _picklable(value: Any) -> Any:
    try:
        pickle.dumps(value)
    except Exception:
        return repr(value)
    return value


def load_result(path: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = pickle.loads(path.read_bytes())
    except (FileNotFoundError, EOFError, pickle.UnpicklingError):
        return None
    return data


def for_rank(job: Any, spec: JobSpec, rank: int) -> tuple[Any, JobSpec]:
    """The job as rank ``rank`` runs it: ranks other than 0 run the same job without writing
    Hydra's files or the job's result (rank 0's is the job's)."""
    if rank == 0:
        return job, spec
    import dataclasses

    spec = dataclasses.replace(spec, overrides=(*spec.overrides, "hydra.output_subdir=null"))
    job = dataclasses.replace(
        job, sweep_dir=str(Path(job.sweep_dir) / ".nemotron_kit" / f"rank{rank}")
    )
    return job, spec
