"""Training metrics: every step to the run's metrics (``ctx.log_metrics``: the registry, W&B),
and a line on stdout plus ``metrics.jsonl`` every few steps."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


class MetricLogger:
    """Rank 0's log of a training run; other ranks pass ``enabled=False`` and log nothing."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None,
        every: int,
        enabled: bool = True,
        sink: Callable[[dict[str, Any], int], None] | None = None,
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.sink = sink
        self._step_time = time.perf_counter()
        self.every = max(1, every)
        self.enabled = enabled
        self._last_time = time.perf_counter()
        self._last_step = 0
        if enabled and self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def info(self, message: str) -> None:
        if self.enabled:
            print(message, flush=True)

    def step(self, step: int, total: int, force: bool = False, **values: float) -> None:
        """Give ``values`` (and the step's throughput) to the sink at every step; print and
        append them to ``metrics.jsonl`` when it is a logging step (or ``force``)."""
        if not self.enabled:
            return
        now = time.perf_counter()
        if self.sink is not None:
            per_step = 1.0 / max(now - self._step_time, 1e-9)
            self.sink({**values, "steps_per_s": per_step}, step)
        self._step_time = now
        if not (force or step % self.every == 0):
            return
        rate = (step - self._last_step) / max(now - self._last_time, 1e-9)
        self._last_time, self._last_step = now, step
        shown = "  ".join(f"{k} {v:.4g}" for k, v in values.items())
        print(f"step {step:>6}/{total}  {shown}  {rate:.1f} steps/s", flush=True)
        if self.path is not None:
            record: dict[str, Any] = {"step": step, **values, "steps_per_s": rate}
            with self.path.open("a") as f:
                f.write(json.dumps(record) + "\n")

    def start(self, step: int) -> None:
        self._last_time, self._last_step = time.perf_counter(), step
        self._step_time = self._last_time
