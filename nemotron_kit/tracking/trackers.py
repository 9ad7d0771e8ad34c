"""Lineage trackers: where a run's lineage goes. ``file`` keeps it in the registry itself."""

from __future__ import annotations

import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from nemotron_kit.registry.core import ArtifactVersion
    from nemotron_kit.tracking.run import ActiveRun


@runtime_checkable
class LineageTracker(Protocol):
    """What a tracker is told about a run. Every method is called where the job runs."""

    #: False for trackers that record nothing (then no run record is written at all).
    records_lineage: bool

    def start_run(self, run: ActiveRun) -> None:
        """The run started; ``run`` has its id, redacted config, pinned inputs and code version."""

    def log_output(self, run: ActiveRun, version: ArtifactVersion, aliases: list[str]) -> None:
        """The run published ``version`` (already committed in the registry)."""

    def end_run(self, run: ActiveRun, status: str, error: str | None) -> None:
        """The run ended with ``status`` (COMPLETED or FAILED) and, if it failed, the error."""

    # Optional: ``log_metrics(self, run, step, values)``, a row of numbers the job logged
    # (``ctx.log_metrics``); a tracker without it is not told.


class NoOpTracker:
    """Records nothing; artifacts are still versioned, without a producing run."""

    records_lineage = False

    def start_run(self, run: ActiveRun) -> None:
        return None

    def log_output(self, run: ActiveRun, version: ArtifactVersion, aliases: list[str]) -> None:
        return None

    def end_run(self, run: ActiveRun, status: str, error: str | None) -> None:
        return None


class FileTracker:
    """Run records in the registry (``runs/RUN_ID/``): the embedded default, offline by design.

    Logged metrics are buffered and written as chunks (every ``FLUSH_ROWS`` rows or
    ``FLUSH_S`` seconds, and at the end), so logging every step costs a list append. A chunk
    that cannot be written stays in the buffer for the next flush (up to ``MAX_BUFFERED``
    rows); the run's end record is written whatever happens to its metrics.
    """

    records_lineage = True
    FLUSH_ROWS = 1000
    FLUSH_S = 30.0
    MAX_BUFFERED = 200_000

    def __init__(self) -> None:
        self._rows: list[dict[str, Any]] = []
        self._new = 0  # rows logged since the last write attempt
        self._flushed = time.monotonic()
        self._lock = threading.Lock()
        self._ended = False

    def start_run(self, run: ActiveRun) -> None:
        run.registry.create_run(run.run_id, run.start_record())
        for uri in run.inputs:
            run.registry.add_consumer(uri, run.run_id)
        if run.code_diff:
            run.registry.put_run_text(run.run_id, "code_diff", run.code_diff)

    def log_output(self, run: ActiveRun, version: ArtifactVersion, aliases: list[str]) -> None:
        return None  # the registry indexes a run's outputs itself when they are published

    def log_metrics(self, run: ActiveRun, step: int, values: dict[str, float]) -> None:
        with self._lock:
            if self._ended:
                return  # the run's record is closed: nothing is added after it
            self._rows.append({"step": step, "time": round(time.time(), 3), "values": values})
            self._new += 1
            # Since the last attempt, not the buffer's size: a store that is down is retried
            # every FLUSH_ROWS rows or FLUSH_S seconds, not at every step.
            due = self._new >= self.FLUSH_ROWS or time.monotonic() - self._flushed > self.FLUSH_S
        if due:
            self.flush(run)

    def flush(self, run: ActiveRun) -> None:
        """Write the buffered rows as one chunk; on failure they wait for the next flush."""
        with self._lock:
            rows, self._rows, self._flushed, self._new = self._rows, [], time.monotonic(), 0
        try:
            run.registry.append_metrics(run.run_id, rows)
        except Exception:
            with self._lock:
                self._rows = (rows + self._rows)[-self.MAX_BUFFERED :]
            raise

    def end_run(self, run: ActiveRun, status: str, error: str | None) -> None:
        try:  # the metrics and the console may be lost; the run's end must not be
            try:
                self.flush(run)
            except Exception as exc:
                self._warn(f"{len(self._rows)} logged metric rows of run {run.run_id}", exc)
            try:
                run.store_console(final=True)
            except Exception as exc:
                self._warn(f"the console output of run {run.run_id}", exc)
        finally:
            with self._lock:
                self._ended = True
            run.registry.finish_run(run.run_id, run.end_record(status, error))

    @staticmethod
    def _warn(what: str, exc: Exception) -> None:
        detail = " ".join(str(exc).split())[:200]
        print(
            f"Warning: {what} could not be stored ({type(exc).__name__}: {detail}).",
            file=sys.stderr,
            flush=True,
        )


def build_trackers(tracker_cfg: Any) -> list[LineageTracker]:
    """Trackers from the composed ``tracker`` node: ``{file: {...}, wandb: {...}}``."""
    trackers: list[LineageTracker] = []
    names = list(tracker_cfg.keys()) if tracker_cfg else []
    for name in names:
        options = tracker_cfg[name] or {}
        if not options.get("enabled", True):
            continue
        if name == "file":
            trackers.append(FileTracker())
        elif name == "noop":
            trackers.append(NoOpTracker())
        elif name == "wandb":
            from nemotron_kit.tracking.wandb import WandbTracker

            trackers.append(WandbTracker.from_config(options))
        else:
            from nemotron_kit.errors import ConfigError

            raise ConfigError(
                f"Unknown tracker '{name}': use file, wandb or noop (tracker=[file,wandb])."
            )
    return trackers
