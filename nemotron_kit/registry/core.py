"""The artifact registry: publish, resolve, load, alias, verify and collect garbage.

``ArtifactRegistry`` is the stack of layers, each module the one place of its concern:

    base.py         storage, keys (through layout.py, the only place keys are built), parsing
    versions.py     version records, aliases, resolve, listing
    trees.py        manifests, load, materialized trees, verify
    publishing.py   publish (objects, manifest, then the exclusive record create: the commit)
    runs.py         run records, sweep indexes, pipeline cache entries, consumers
    maintenance.py  gc (lifecycle.py: rm and retention; transfer.py: export, diff; home_cache.py:
                    the home's caches; remote_ref.py: data referenced in object storage)

Every record read back from storage is untrusted input (records.py parses it).
"""

from __future__ import annotations

from nemotron_kit.registry.base import RECORD_FORMAT, Mode, RunContext
from nemotron_kit.registry.maintenance import GcReport, MaintenanceLayer
from nemotron_kit.registry.publishing import ObjectCheck
from nemotron_kit.registry.trees import VerifyReport
from nemotron_kit.registry.versions import ArtifactEntry, ArtifactVersion

__all__ = [
    "RECORD_FORMAT",
    "ArtifactEntry",
    "ArtifactRegistry",
    "ArtifactVersion",
    "GcReport",
    "Mode",
    "ObjectCheck",
    "RunContext",
    "VerifyReport",
]


class ArtifactRegistry(MaintenanceLayer):
    """The one version store. ``root`` is a local path, ``file://``, ``memory://``, ``s3://``,
    ``az://`` or ``gs://`` (or a protocol a package registers)."""
