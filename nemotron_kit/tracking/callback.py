"""The Hydra callback that records lineage where each job really runs.

Configured by default under ``hydra.callbacks.lineage``. Hydra turns exceptions raised in
callbacks into warnings; a lineage failure must not pass that quietly, so a failed start is
remembered and the task refuses to run, and tracker failures are printed as errors and make
the command exit non-zero. The callback keeps no state of its own: it is pickled to remote
workers (Slurm) and must carry no open handles.
"""

from __future__ import annotations

import copy
import json
import sys
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from nemotron_kit.tracking import run as runs

# Exit status problems found after the job ran (tracker failures); the CLI checks this.
failures: list[str] = []
# The multirun in progress in this (submitting) process. Hydra skips on_multirun_end when a
# job failed, which is when the summary matters most; the CLI then calls flush_pending_sweep.
_pending_sweep: DictConfig | None = None


class LineageCallback(Callback):
    """Starts and ends the job's run; writes a sweep summary at the end of a multirun."""

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        from nemotron_kit.config import check_job_config

        try:
            _redact_hydra_files(config)
            # A bad value or a missing package is refused before the run record is written.
            check_job_config(config)
            runs.start_run(config, config.get("hydra"))
        except Exception as exc:
            runs.fail_start(exc)

    def on_job_end(self, config: DictConfig, job_return: Any = None, **kwargs: Any) -> None:
        status = getattr(getattr(job_return, "status", None), "name", "COMPLETED")
        error = None
        if status != "COMPLETED":
            exc = getattr(job_return, "_return_value", None)
            error = f"{type(exc).__name__}: {exc}" if isinstance(exc, BaseException) else str(exc)
        run = runs.current_run()
        errors_before = list(run.tracker_errors) if run else []
        try:
            result = getattr(job_return, "_return_value", None) if status == "COMPLETED" else None
            runs.end_run(status, error, result)
        except Exception as exc:  # the run record could not be closed: say so, fail the command
            failures.append(f"ending run: {type(exc).__name__}: {exc}")
            print(f"Error: lineage could not be recorded: {exc}", file=sys.stderr, flush=True)
        if run is not None and run.tracker_errors:
            failures.extend(run.tracker_errors[len(errors_before) :] or run.tracker_errors)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        global _pending_sweep
        import os

        if not os.environ.get(runs.MULTIRUN_ENV):
            return  # one run on a remote executor, not a sweep: its run record says it all
        os.environ[runs.SWEEP_ID_ENV] = runs.new_sweep_id()
        _pending_sweep = copy.deepcopy(config)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if _pending_sweep is not None:
            flush_pending_sweep(config)


def _redact_hydra_files(config: DictConfig) -> None:
    """The job's .hydra/ files (written by Hydra just before) lose any secret values."""
    from pathlib import Path

    from nemotron_kit.app import redact_saved_files

    hydra = config.get("hydra")
    if hydra is None or hydra.get("output_subdir") is None:
        return
    redact_saved_files(Path(str(hydra.runtime.output_dir)) / str(hydra.output_subdir))


def flush_pending_sweep(config: DictConfig | None = None) -> None:
    """Write the summary of the multirun started in this process, if it has not been written."""
    global _pending_sweep
    import os

    config = config if config is not None else _pending_sweep
    _pending_sweep = None
    if config is None:
        return
    try:
        write_sweep_summary(config)
        os.environ.pop(runs.SWEEP_ID_ENV, None)
    except Exception as exc:
        failures.append(f"sweep summary: {exc}")
        print(f"Error: the sweep summary could not be written: {exc}", file=sys.stderr, flush=True)


def write_sweep_summary(config: DictConfig) -> dict[str, Any] | None:
    """Collect every job of the sweep from the registry; store and print the summary."""
    from nemotron_kit.registry.api import registry_from_config
    from nemotron_kit.tracking.trackers import build_trackers

    if not any(t.records_lineage for t in build_trackers(config.get("tracker"))):
        return None
    registry = registry_from_config(config.registry)
    sweep = runs.sweep_id(config.hydra)
    jobs = []
    for run_id in registry.storage.list(f"sweeps/{sweep}/jobs"):
        record = registry.read_run(run_id)
        jobs.append(
            {
                "run_id": run_id,
                "job_num": record.get("hydra", {}).get("job_num"),
                "overrides": record.get("overrides", []),
                "status": record.get("status"),
                "error": record.get("error"),
                "outputs": record.get("outputs", []),
            }
        )
    if not jobs:
        return None  # refused before any job started (a bad value, a missing input)
    jobs.sort(key=lambda j: (j["job_num"] is None, j["job_num"]))
    summary = {"sweep_id": sweep, "sweep_dir": str(config.hydra.sweep.dir), "jobs": jobs}
    registry.storage.replace(f"sweeps/{sweep}/summary.json", json.dumps(summary, indent=1).encode())
    outputs = sum(len(j["outputs"]) for j in jobs)
    print(
        f"lineage: {_count(len(jobs), 'run')} of {sweep} recorded, "
        f"{_count(outputs, 'version')} published (nemotron-kit runs ls)",
        file=sys.stderr,
        flush=True,
    )
    return summary


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")
