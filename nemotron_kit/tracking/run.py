"""The run a job works for: started when the job starts, ended when it ends.

One run per job, recorded where the job really runs (locally, in a Slurm job, in torchrun's
rank 0); the job's publishes name it as their producer. ``start_run`` returns the run and
``end_run`` closes it: the caller (the job's ``JobContext``) holds it, nothing else does. While
a run is open a heartbeat thread refreshes its lease, so a run whose process died without a
word (SIGKILL, node lost, OOM) reads as LOST instead of RUNNING forever.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf, open_dict

from nemotron_kit.errors import NemotronKitError
from nemotron_kit.tracking._code import code_state, package_versions
from nemotron_kit.tracking._secrets import (
    config_secrets,
    redact,
    redact_override,
    redact_text,
    secret_values,
)
from nemotron_kit.tracking.console import ConsoleTail

if TYPE_CHECKING:
    from nemotron_kit.registry.core import ArtifactRegistry, ArtifactVersion
    from nemotron_kit.tracking.trackers import LineageTracker

#: Seconds between heartbeats of a running job; a run is LOST after HEARTBEAT_LEASE_S without one.
HEARTBEAT_S = 30.0
HEARTBEAT_LEASE_S = 120.0


class LineageError(NemotronKitError):
    """Lineage could not be recorded; the job does not run without it."""


_SLURM_FIELDS = {
    "job_id": "SLURM_JOB_ID",
    "array_job_id": "SLURM_ARRAY_JOB_ID",
    "array_task_id": "SLURM_ARRAY_TASK_ID",
    "restart_count": "SLURM_RESTART_COUNT",
    "nodelist": "SLURM_JOB_NODELIST",
}


def new_run_id() -> str:
    return f"{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:8]}"


def new_sweep_id() -> str:
    return "sweep-" + new_run_id()


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
    # The uncommitted changes the run ran with (redacted), stored beside its record.
    code_diff: str | None = None
    # What the job prints, its tail stored with the run while it runs and at its end.
    console: ConsoleTail = field(default_factory=ConsoleTail)
    tracker_errors: list[str] = field(default_factory=list)
    # Numbers the task returned (an eval's accuracy): kept with the run's lineage.
    metrics: dict[str, float] = field(default_factory=dict)
    _heartbeat: threading.Event | None = field(default=None, repr=False)
    _console_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _console_stored_final: bool = field(default=False, repr=False)
    _last_step: int = field(default=-1, repr=False)

    @property
    def recipe(self) -> str | None:
        recipe = self.config.get("recipe") or {}
        if isinstance(recipe, dict) and recipe.get("name"):
            return str(recipe["name"])
        pipeline = self.config.get("pipeline") or {}
        return (
            f"pipeline:{pipeline.get('name')}" if isinstance(pipeline, dict) and pipeline else None
        )

    @property
    def recipe_package(self) -> str | None:
        """The distribution a recipe came from (``nano3-recipes 0.2.0``), unless it is one of
        nemotron-kit's own."""
        from nemotron_kit.recipes.api import recipe_package

        recipe = self.config.get("recipe") or {}
        if not isinstance(recipe, dict):
            return None
        # What is installed where the job runs; the composed label where that cannot be told
        # (a container without the package's metadata).
        found = recipe_package(str(recipe["_target_"])) if recipe.get("_target_") else None
        label = f"{found['name']} {found['version']}" if found else recipe.get("package")
        if not isinstance(label, str) or label.split(" ")[0] == "nemotron-kit":
            return None
        return label

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
            "recipe_package": self.recipe_package,
            "host": os.uname().nodename,  # what runs.py compares with (gethostname)
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

    def log_metrics(self, values: dict[str, Any], step: int | None = None) -> None:
        """Record a row of numbers (loss, lr, ...) at ``step`` (default: one past the last) in
        every tracker that takes metrics: the registry's stream, W&B's history."""
        if step is None:
            step = self._last_step + 1
        if not isinstance(step, int) or isinstance(step, bool) or step < 0:
            from nemotron_kit.errors import NemotronKitError

            raise NemotronKitError(f"log_metrics: step={step!r} must be an integer >= 0.")
        row = _numbers(values)
        self._last_step = max(self._last_step, step)
        for tracker in self.trackers:
            log = getattr(tracker, "log_metrics", None)
            if log is None:
                continue
            try:
                log(self, step, row)
            except Exception as exc:  # metrics are retried at the next flush: the job goes on
                detail = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
                print(
                    f"Warning: {type(tracker).__name__} could not store metrics yet ({detail}); "
                    "they are kept and retried.",
                    file=sys.stderr,
                    flush=True,
                )

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

    def start_heartbeat(self, interval_s: float = HEARTBEAT_S) -> None:
        """Refresh the run's lease every ``interval_s`` until the run ends."""
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(interval_s):
                with contextlib.suppress(Exception):  # a missed beat only ages the lease
                    self.registry.heartbeat(self.run_id)
                with contextlib.suppress(Exception):  # the next beat or the end tries again
                    self.store_console()

        self._heartbeat = stop
        threading.Thread(target=beat, name=f"nk-heartbeat-{self.run_id}", daemon=True).start()

    def stop_heartbeat(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.set()

    def store_console(self, *, final: bool = False) -> None:
        """Store the console tail if it changed; ``final`` once, at the end of the run. A beat
        still storing when the run ends finishes first, and none stores after the final one."""
        with self._console_lock:
            if self._console_stored_final or not (final or self.console.changed()):
                return
            self._console_stored_final = final
            self.registry.put_run_text(self.run_id, "console", self.console.take())


def log_metrics(values: dict[str, Any], step: int | None = None) -> None:
    """Log a row of numbers from inside a running job (``ctx.log_metrics`` where the recipe
    has its context): kept with the run and mirrored to every tracker. Only rank 0 logs; a job
    without lineage (``tracker=noop``) logs nothing."""
    from nemotron_kit.errors import NemotronKitError
    from nemotron_kit.execution.torchrun import rank
    from nemotron_kit.registry import get_registry, is_initialized

    if rank() != 0:
        return
    if not is_initialized():
        raise NemotronKitError(
            "log_metrics needs a running job: call it inside a recipe run by "
            "`python -m nemotron_kit`."
        )
    context = get_registry().run_context
    if context is not None and context.metrics is not None:  # else no lineage: nothing
        context.metrics(values, step)


def _numbers(values: dict[str, Any]) -> dict[str, float]:
    """Metric names and numbers (torch/numpy scalars too); anything else is one sentence
    naming the key, since a silently dropped loss is worse than a failed log. NaN and
    infinity reach the trackers (a diverged loss is worth seeing); the registry's stream
    keeps finite values only."""
    from nemotron_kit.errors import NemotronKitError

    row: dict[str, float] = {}
    for key, value in values.items():
        try:
            number = value.item() if hasattr(value, "item") else value
            if not isinstance(key, str) or not key or isinstance(number, bool):
                raise TypeError
            row[key] = float(number)
        except (TypeError, ValueError, RuntimeError):
            raise NemotronKitError(
                f"log_metrics: {key}={value!r} is not a number: log named numbers only."
            ) from None
    return row


def start_run(
    job_cfg: DictConfig,
    hydra_cfg: DictConfig | None,
    *,
    registry: ArtifactRegistry,
    run_id: str,
    inputs: list[str],
    pins: dict[str, str],
    sweep_id: str | None = None,
    snapshot: str | None = None,
) -> ActiveRun | None:
    """Start the job's run in every tracker (its record, its pinned inputs, its code version).

    Returns None when no tracker records lineage (``tracker=noop``) and on torchrun ranks
    other than 0, which run the same job without recording it.
    """
    from nemotron_kit.tracking.trackers import build_trackers

    if int(os.environ.get("RANK", "0") or 0) != 0:
        return None
    trackers = build_trackers(job_cfg.get("tracker"))
    if not any(t.records_lineage for t in trackers):
        return None
    cfg = job_cfg
    if "hydra" in cfg:  # the job's config as the task sees it, without Hydra's own node
        cfg = cfg.copy()
        with open_dict(cfg):
            cfg.pop("hydra")
    hydra_info: dict[str, Any] = {"sweep_id": sweep_id}
    overrides: list[str] = []
    if hydra_cfg is not None:
        job = hydra_cfg.job
        overrides = [str(o) for o in hydra_cfg.overrides.task]
        mode = hydra_cfg.get("mode")
        hydra_info.update(
            job_name=job.get("name"),
            job_num=job.get("num"),
            mode=getattr(mode, "name", str(mode)),
            output_dir=hydra_cfg.runtime.get("output_dir"),
        )
    code, diff = code_state()
    # Secrets by value: the environment's and those written in the config itself.
    container = OmegaConf.to_container(cfg, resolve=False)
    secrets = sorted({*secret_values(), *config_secrets(container)}, key=len, reverse=True)
    if snapshot:
        code["snapshot"] = {"digest": os.path.basename(snapshot.rstrip("/")), "path": snapshot}
    run = ActiveRun(
        run_id=run_id,
        registry=registry,
        trackers=trackers,
        config=redact(container, secrets),
        inputs=inputs,
        pins=pins,
        overrides=[redact_override(o) for o in overrides],
        hydra=hydra_info,
        code=code,
        code_diff=redact_text(diff, secrets) if diff else None,
        console=ConsoleTail(secrets),
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
    if sweep_id:
        registry.index_sweep_job(sweep_id, run_id)
    run.console.capture()
    run.start_heartbeat()
    return run


def end_run(run: ActiveRun, status: str, error: str | None, result: Any = None) -> None:
    """End ``run`` in every tracker; a tracker's failure is in ``run.tracker_errors``."""
    run.stop_heartbeat()
    run.console.release()
    if isinstance(result, dict):
        run.metrics = {
            str(k): float(v)
            for k, v in result.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)
        }
    error = redact(error) if error else None
    for tracker in run.trackers:
        try:
            tracker.end_run(run, status, error)
        except Exception as exc:
            run.report_tracker_error(tracker, "end_run", exc)
