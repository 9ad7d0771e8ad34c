"""Lineage: which run made which version from which inputs, with which config and code.

Runs are recorded where jobs run (the Hydra callback in ``callback.py``), kept in the registry
by the ``file`` tracker and optionally mirrored to W&B; ``nemotron_kit.lineage`` answers the
queries.
"""

from nemotron_kit.tracking.run import ActiveRun, LineageError
from nemotron_kit.tracking.trackers import FileTracker, LineageTracker, NoOpTracker

__all__ = [
    "ActiveRun",
    "FileTracker",
    "LineageError",
    "LineageTracker",
    "NoOpTracker",
]
