"""Lineage for plain scripts: the seed's ``set_lineage_tracker`` and ``init(backend="wandb")``.

A script outside ``python -m nemotron_kit`` that sets a tracker gets one run for the process:
it starts at the script's first publish (so a script that publishes nothing leaves no trace),
names the versions the script publishes as its outputs, and ends when the process exits.
Inside a job, trackers come from the ``tracker=`` config group and this module stays out.
"""

from __future__ import annotations

import atexit
import sys
from typing import TYPE_CHECKING, Any

from nemotron_kit.errors import ConfigError

if TYPE_CHECKING:
    from nemotron_kit.registry.core import ArtifactRegistry, ArtifactVersion
    from nemotron_kit.tracking.run import ActiveRun
    from nemotron_kit.tracking.trackers import LineageTracker


class ScriptLineage:
    """The process's script tracker and, once something was published, its run."""

    def __init__(self, tracker: LineageTracker) -> None:
        from nemotron_kit.tracking.run import new_run_id

        self.tracker = tracker
        self.run_id = new_run_id()
        self.run: ActiveRun | None = None
        self.ended = False

    def on_publish(self, version: ArtifactVersion, aliases: list[str]) -> None:
        from nemotron_kit.registry import get_registry

        if self.run is None:
            self.run = self._start(get_registry())
        self.run.notify_output(version, aliases)

    def _start(self, registry: ArtifactRegistry) -> ActiveRun:
        from nemotron_kit.tracking._code import code_version
        from nemotron_kit.tracking._secrets import redact_override
        from nemotron_kit.tracking.run import ActiveRun

        run = ActiveRun(
            run_id=self.run_id,
            registry=registry,
            trackers=[self.tracker],
            config={"script": sys.argv[0] if sys.argv else None},
            inputs=[],
            pins={},
            overrides=[redact_override(a) for a in sys.argv[1:]],
            hydra={},
            code=code_version(),
        )
        self.tracker.start_run(run)
        atexit.register(self.end)
        return run

    def end(self, status: str = "COMPLETED") -> None:
        if self.run is None or self.ended:
            return
        self.ended = True
        try:
            self.tracker.end_run(self.run, status, None)
        except Exception as exc:  # at exit: say it, do not turn the script's exit into a crash
            print(f"Error: lineage tracker could not end the script's run: {exc}", file=sys.stderr)


_script: ScriptLineage | None = None  # the seed's process-wide tracker (plain scripts only)


def set_lineage_tracker(tracker: LineageTracker | None) -> None:
    """Mirror what this script publishes to ``tracker`` (``None``: stop), as the seed did."""
    global _script
    from nemotron_kit.registry import get_registry
    from nemotron_kit.registry.core import RunContext

    registry = get_registry()
    if registry.run_context is not None and (
        _script is None or registry.run_context.run_id != _script.run_id
    ):
        raise ConfigError(
            "set_lineage_tracker() was called inside a nemotron-kit job, whose trackers come from "
            "the config: choose them with tracker=[file,wandb] instead."
        )
    if _script is not None:
        _script.end()
        registry.run_context = None
    _script = ScriptLineage(tracker) if tracker is not None else None
    if _script is not None:
        registry.run_context = RunContext(_script.run_id, [], [_script.on_publish])


def get_lineage_tracker() -> Any:
    """The tracker set with :func:`set_lineage_tracker` (None if none was set)."""
    return _script.tracker if _script is not None else None


def init(
    root: str | None = None,
    *,
    backend: str = "fsspec",
    project: str = "default",
    endpoint_url: str | None = None,
    storage_options: dict[str, Any] | None = None,
    wandb_project: str | None = None,
    wandb_entity: str | None = None,
) -> ArtifactRegistry:
    """``kit.init``: choose the registry this process publishes to and loads from.

    ``backend="fsspec"`` (or ``"local"``): the registry at ``root`` (a directory, ``s3://...``;
    default ``$NEMOTRON_KIT_HOME/registry``). ``backend="wandb"``, as in the seed: the same
    registry, which stays the source of truth, plus every version this script publishes
    mirrored to W&B in ``wandb_project`` (see :func:`set_lineage_tracker`).
    """
    from nemotron_kit.registry.api import init as init_registry

    if backend == "wandb":
        from nemotron_kit._deps import require
        from nemotron_kit.tracking.wandb import WandbTracker

        require("wandb", "init(backend='wandb')")
        registry = init_registry(
            root, project=project, endpoint_url=endpoint_url, storage_options=storage_options
        )
        set_lineage_tracker(
            WandbTracker(project=wandb_project or "nemotron-kit", entity=wandb_entity)
        )
        return registry
    if wandb_project or wandb_entity:
        raise ConfigError(
            f"init(backend={backend!r}) was given wandb_project/wandb_entity, which only "
            "backend='wandb' uses: pass backend='wandb', or drop them."
        )
    return init_registry(
        root,
        backend=backend,
        project=project,
        endpoint_url=endpoint_url,
        storage_options=storage_options,
    )
