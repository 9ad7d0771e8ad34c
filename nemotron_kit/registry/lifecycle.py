"""Versions leave the registry: ``delete`` (a tombstone; gc then reclaims the data no live
version shares), ``remove_alias``, and ``retention`` (which versions a policy lets go).

A deleted version keeps its record: its number is never reused, lineage still shows who made it
and from what, and resolving it says when it was deleted. A version that a live version
downstream was made from is not deleted unless forced: that would leave a result that can no
longer be re-made.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from nemotron_kit.errors import ArtifactError, NotFoundError, URIError
from nemotron_kit.registry import layout, records
from nemotron_kit.registry.base import _storage_errors
from nemotron_kit.registry.uri import LATEST, validate_alias

if TYPE_CHECKING:
    from nemotron_kit.registry.core import ArtifactRegistry, ArtifactVersion
    from nemotron_kit.registry.uri import ArtURI


def live_downstream(registry: ArtifactRegistry, version: ArtifactVersion) -> list[str]:
    """Live versions published by runs that read ``version``."""
    out = []
    for run_id in registry.consumers(version.uri):
        for uri in registry.run_outputs(run_id):
            try:
                registry.resolve(uri)
            except NotFoundError:  # deleted: nothing live depends on it there
                continue  # (any other failure is raised: unknown is not "not live")
            out.append(uri)
    return sorted(set(out))


@_storage_errors
def delete(
    registry: ArtifactRegistry,
    uri: str | ArtURI,
    *,
    reason: str | None = None,
    force: bool = False,
) -> ArtifactVersion:
    """Delete the version ``uri`` resolves to; returns it. Its aliases go with it."""
    version = registry.resolve(uri)
    downstream = live_downstream(registry, version)
    if downstream and not force:
        shown = ", ".join(downstream[:5]) + (" ..." if len(downstream) > 5 else "")
        raise ArtifactError(
            f"{version.uri} is an input of live versions ({shown}): delete those first, or "
            "force it (--force), and they can no longer be re-made."
        )
    stone = records.TombstoneRecord(
        deleted_at=datetime.now(timezone.utc).isoformat(), reason=reason, forced=bool(downstream)
    )
    key = layout.tombstone(version.project, version.name, version.version)
    registry.storage.create(key, records.dumps(stone))  # a second delete keeps the first
    for alias, target in registry.aliases(version.name, project=version.project).items():
        if alias != LATEST and target == version.version:
            registry.storage.delete(layout.alias(version.project, version.name, alias))
    return version


@_storage_errors
def remove_alias(
    registry: ArtifactRegistry, name: str, alias: str, project: str | None = None
) -> int:
    """Remove ``alias`` of ``name``; returns the version it pointed at."""
    validate_alias(alias)
    if alias == LATEST:
        raise URIError("'latest' always names the newest version and cannot be removed.")
    project = project or registry.project
    target = registry.aliases(name, project=project).get(alias)
    if target is None:
        known = ", ".join(sorted(registry.aliases(name, project=project)))
        raise ArtifactError(f"'{name}' has no alias '{alias}' (its aliases: {known}).")
    registry.storage.delete(layout.alias(project, name, alias))
    return target


@dataclass
class RetentionPlan:
    """What a policy lets go, and what it would but may not (a live version depends on it)."""

    delete: list[ArtifactVersion] = field(default_factory=list)
    kept_for_downstream: list[str] = field(default_factory=list)


def retention(
    registry: ArtifactRegistry,
    *,
    keep_last: int,
    older_than_s: float = 0.0,
    project: str | None = None,
) -> RetentionPlan:
    """Versions beyond the newest ``keep_last`` of each name, older than ``older_than_s``,
    with no alias pointing at them and no live version made from them."""
    if keep_last < 1:
        raise ArtifactError(f"keep_last must be at least 1 (got {keep_last}): the newest stays.")
    plan = RetentionPlan()
    cutoff = time.time() - older_than_s
    for entry in registry.list(project=project):
        versions = registry.versions(entry.name, project=entry.project)
        aliased = {
            v for a, v in registry.aliases(entry.name, project=entry.project).items() if a != LATEST
        }
        for version in versions[: max(0, len(versions) - keep_last)]:
            created = datetime.fromisoformat(version.created_at).timestamp()
            if version.version in aliased or created > cutoff:
                continue
            if live_downstream(registry, version):
                plan.kept_for_downstream.append(version.uri)
            else:
                plan.delete.append(version)
    return plan
