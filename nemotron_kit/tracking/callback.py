"""The Hydra callback that records lineage for Hydra apps other than nemotron-kit's own.

nemotron-kit's task function owns its job's run (it opens the ``JobContext`` from the job's
spec). Another Hydra app that lists this callback under ``hydra.callbacks`` gets the same
lineage: the run starts where the job runs (``on_job_start``) and ends with the job's status
(``on_job_end``). The open context lives on the callback instance for that one job; nothing
is kept in module state.
"""

from __future__ import annotations

import sys
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, open_dict


class LineageCallback(Callback):
    """Starts and ends a run for each job of a task that does not record its own lineage."""

    def __init__(self) -> None:
        self._context: Any = None

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        task = kwargs.get("task_function")
        inner = getattr(task, "task_function", task)
        if getattr(inner, "takes_job_spec", False) or config.get("registry") is None:
            return  # nemotron-kit's own task records its run; no registry, nothing to record
        from nemotron_kit.execution.context import JobContext
        from nemotron_kit.execution.job import JobSpec

        job_cfg = config.copy()
        with open_dict(job_cfg):
            hydra_cfg = job_cfg.pop("hydra", None)
        # Hydra swallows callback errors as warnings: a failure here is printed as an error.
        try:
            self._context = JobContext.open(job_cfg, JobSpec(0, ()), hydra_cfg)
        except Exception as exc:
            print(f"Error: lineage could not be recorded: {exc}", file=sys.stderr, flush=True)

    def on_job_end(self, config: DictConfig, job_return: Any = None, **kwargs: Any) -> None:
        context, self._context = self._context, None
        if context is None:
            return
        status = getattr(getattr(job_return, "status", None), "name", "COMPLETED")
        value = getattr(job_return, "_return_value", None)
        error = None if status == "COMPLETED" else f"{type(value).__name__}: {value}"
        try:
            context.close(status, error, value if status == "COMPLETED" else None)
        except Exception as exc:
            print(f"Error: lineage could not be recorded: {exc}", file=sys.stderr, flush=True)

    def __getstate__(self) -> dict[str, Any]:
        return {"_context": None}  # pickled to remote workers: never an open run
