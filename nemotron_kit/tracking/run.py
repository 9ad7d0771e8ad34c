"""The run a job process works for: created at job start, ended at job end.

One run per job. The lineage callback starts it where the job really runs (locally, in a
Slurm job, in torchrun's rank 0) and the job's publishes name it as their producer.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import socket
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf, open_dict

from nemotron_kit.errors import NemotronKitError
from nemotron_kit.tracking._code import code_version, package_versions
from nemotron_kit.tracking._secrets import redact, redact_override

if TYPE_CHECKING:
    from nemotron_kit.registry.core import ArtifactRegistry, ArtifactVersion
    from nemotron_kit.tracking.trackers import LineageTracker

RUN_ID_ENV = "NEMOTRON_KIT_RUN_ID"
# Set by the launcher for jobs it runs elsewhere: the pins decided at submission (JSON), and a
# marker that this process is the job itself (so a remote executor does not submit again).
PINS_ENV = "NEMOTRON_KIT_PINS"
INSIDE_JOB_ENV = "NEMOTRON_KIT_INSIDE_JOB"
# Set by the CLI when the user asked for a sweep (-m), as opposed to one run on a remote executor.
MULTIRUN_ENV = "NEMOTRON_KIT_MULTIRUN"
# Set by `nemotron-kit reproduce` (and launchers) to choose the id of the run they start.
REQUESTED_RUN_ID_ENV = "NEMOTRON_KIT_REQUESTED_RUN_ID"


class LineageError(NemotronKitError):
    """Lineage could not be recorded; the job does not run without it."""


_SLURM_FIELDS = {
    "job_id": "SLURM_JOB_ID",
    "array_job_id": "SLURM_ARRAY_JOB_ID",
    "array_task_id": "SLURM_ARRAY_TASK_ID",
    "restart_count": "SLURM_RESTART_COUNT",
    "nodelist": "SLURM_JOB_NODELIST",
}
SNAPSHOT_ENV = "NEMOTRON_KIT_SNAPSHOT"


def new_run_id() -> str:
    return f"{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:8]}"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


@dataclass
class ActiveRun:
    run_id: str
    registry: ArtifactRegistry
    trackers: list[LineageTracker]
    config: dict[str, Any]  # the composed job config: pinned, unresolved, secrets redacted
    inputs: list[str]
    pins: dict[str, str]
    overrides: list[str]
    hydra: dict[str, Any]
    started_at: str = field(default_factory=_now)
    started_monotonic: float = field(default_factory=time.monotonic)
    code: dict[str, Any] = field(default_factory=dict)
    tracker_errors: list[str] = field(default_factory=list)
    # Numbers the task returned (an eval's accuracy): kept with the run's lineage.
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def recipe(self) -> str | None:
        recipe = self.config.get("recipe") or {}
        if isinstance(recipe, dict) and recipe.get("name"):
            return str(recipe["name"])
        pipeline = self.config.get("pipeline") or {}
        return (
            f"pipeline:{pipeline.get('name')}" if isinstance(pipeline, dict) and pipeline else None
        )

    def start_record(self) -> dict[str, Any]:
        return {
            "format": "nemotron-kit/run/1",
            "run_id": self.run_id,
            "recipe": self.recipe,
            "config": self.config,
            "overrides": self.overrides,
            "inputs": self.inputs,
            "hydra": self.hydra,
            "code": self.code,
            "packages": package_versions(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "slurm": {k: os.environ[v] for k, v in _SLURM_FIELDS.items() if v in os.environ}
            or None,
            "argv": [redact_override(a) for a in sys.argv],
            "started_at": self.started_at,
        }

    def end_record(self, status: str, error: str | None) -> dict[str, Any]:
        return {
            "status": status,
            "error": error,
            "metrics": self.metrics,
            "ended_at": _now(),
            "duration_s": round(time.monotonic() - self.started_monotonic, 3),
            "outputs": self.registry.run_outputs(self.run_id),
        }

    def notify_output(self, version: ArtifactVersion, aliases: list[str]) -> None:
        for tracker in self.trackers:
            try:
                tracker.log_output(self, version, aliases)
            except Exception as exc:  # the version is committed; a mirror failure is reported
                self.report_tracker_error(tracker, "log_output", exc)

    def report_tracker_error(self, tracker: object, what: str, exc: BaseException) -> None:
        """A tracker failed. A mirror's failure (W&B) is a warning: the registry holds the
        lineage, so the job neither fails nor waits for it; any other fails the command."""
        detail = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
        message = redact(f"{type(tracker).__name__}.{what} failed: {detail}")
        if getattr(tracker, "mirror", False):
            print(f"Warning: lineage mirror {message}", file=sys.stderr, flush=True)
            return
        self.tracker_errors.append(message)
        print(f"Error: lineage tracker {message}", file=sys.stderr, flush=True)


_current: ActiveRun | None = None
# A failure while starting lineage; the task refuses to run (Hydra swallows callback errors).
_start_error: str | None = None
# The start failure itself: an input that does not exist is the user's error, not lineage's.
_start_exception: BaseException | None = None


def current_run() -> ActiveRun | None:
    return _current


def start_error() -> str | None:
    return _start_error


def start_exception() -> BaseException | None:
    return _start_exception


def start_run(job_cfg: DictConfig, hydra_cfg: DictConfig | None = None) -> ActiveRun | None:
    """Start the job's run: registry, pinned inputs, run record, trackers, run context.

    Returns None when every tracker is ``noop`` (no lineage is wanted).
    """
    global _current, _start_error, _start_exception
    from nemotron_kit.registry import init_from_config
    from nemotron_kit.registry.core import RunContext, set_run_context
    from nemotron_kit.registry.resolver import pin_config
    from nemotron_kit.tracking.trackers import build_trackers

    _start_error = None
    _start_exception = None
    if int(os.environ.get("RANK", "0") or 0) != 0:
        return None  # under torchrun only rank 0 records lineage
    trackers = build_trackers(job_cfg.get("tracker"))
    if not any(t.records_lineage for t in trackers):
        return None
    cfg = copy.deepcopy(job_cfg)
    if "hydra" in cfg:  # the job's config as the task sees it, without Hydra's own node
        with open_dict(cfg):
            cfg.pop("hydra")
    registry = init_from_config(cfg.registry)
    pins: dict[str, str] = json.loads(os.environ.get(PINS_ENV) or "{}")
    inputs = pin_config(cfg, pins=pins)
    run_id = os.environ.pop(REQUESTED_RUN_ID_ENV, None) or new_run_id()
    hydra_info: dict[str, Any] = {}
    overrides: list[str] = []
    if hydra_cfg is not None:
        job = hydra_cfg.job
        overrides = [str(o) for o in hydra_cfg.overrides.task]
        mode = hydra_cfg.get("mode")
        mode_name = getattr(mode, "name", str(mode))
        hydra_info = {
            "job_name": job.get("name"),
            "job_num": job.get("num"),
            "mode": mode_name,
            "output_dir": hydra_cfg.runtime.get("output_dir"),
            # Jobs our launcher runs elsewhere see a plain RUN; the sweep id comes with them.
            "sweep_id": os.environ.get(SWEEP_ID_ENV)
            or (sweep_id(hydra_cfg) if mode_name == "MULTIRUN" else None),
        }
    run = ActiveRun(
        run_id=run_id,
        registry=registry,
        trackers=trackers,
        config=redact(OmegaConf.to_container(cfg, resolve=False)),
        inputs=inputs,
        pins=pins,
        overrides=[redact_override(o) for o in overrides],
        hydra=hydra_info,
        code=_code_info(),
    )
    started: list[LineageTracker] = []
    try:
        for tracker in list(trackers):
            try:
                tracker.start_run(run)
            except Exception as exc:
                if not getattr(tracker, "mirror", False):
                    raise
                run.report_tracker_error(tracker, "start_run", exc)
                run.trackers.remove(tracker)  # the job runs; this mirror sits it out
                continue
            started.append(tracker)
    except BaseException as exc:
        # A run begun in one tracker must not stay RUNNING there because another one failed.
        for tracker in started:
            with contextlib.suppress(Exception):
                tracker.end_run(
                    run, "FAILED", redact(f"lineage start failed: {type(exc).__name__}: {exc}")
                )
        raise
    if hydra_info.get("sweep_id"):
        registry.storage.create(f"sweeps/{hydra_info['sweep_id']}/jobs/{run_id}", b"")
    _current = run
    os.environ[RUN_ID_ENV] = run_id
    set_run_context(RunContext(run_id, list(inputs), [run.notify_output]))
    return run


def _code_info() -> dict[str, Any]:
    """The git state, plus the snapshot a remote job runs from (its digest names the code)."""
    info = code_version()
    snapshot = os.environ.get(SNAPSHOT_ENV)
    if snapshot:
        info["snapshot"] = {"digest": os.path.basename(snapshot.rstrip("/")), "path": snapshot}
    return info


def fail_start(exc: BaseException) -> None:
    """Remember why lineage could not start; the task reports it (and does not run)."""
    global _start_error, _start_exception
    text = str(exc) if isinstance(exc, NemotronKitError) else f"{type(exc).__name__}: {exc}"
    _start_error = redact(text)
    _start_exception = exc


def end_run(status: str, error: str | None, result: Any = None) -> dict[str, Any] | None:
    """End the current run in every tracker; returns the end record."""
    global _current
    from nemotron_kit.registry.core import set_run_context

    run = _current
    if run is None:
        return None
    if isinstance(result, dict):
        run.metrics = {
            str(k): float(v)
            for k, v in result.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)
        }
    try:
        error = redact(error) if error else None
        for tracker in run.trackers:
            try:
                tracker.end_run(run, status, error)
            except Exception as exc:
                run.report_tracker_error(tracker, "end_run", exc)
        return run.end_record(status, error)
    finally:
        _current = None
        set_run_context(None)
        os.environ.pop(RUN_ID_ENV, None)


SWEEP_ID_ENV = "NEMOTRON_KIT_SWEEP_ID"


def sweep_id(hydra_cfg: DictConfig) -> str:
    """The id of a multirun, the same in the submitting process and in every job.

    The lineage callback chooses it when the multirun starts and exports it, so jobs in other
    processes (pools, Slurm) inherit it; the sweep directory's digest is the fallback.
    """
    chosen = os.environ.get(SWEEP_ID_ENV)
    if chosen:
        return chosen
    import blake3

    sweep_dir = os.path.abspath(str(hydra_cfg.sweep.dir))
    return "sweep-" + blake3.blake3(sweep_dir.encode()).hexdigest()[:16]


def new_sweep_id() -> str:
    return "sweep-" + new_run_id()
