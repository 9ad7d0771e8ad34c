"""Versions out of the registry and side by side: ``export`` (also a download from a remote
registry) copies a version's files to a directory of the user's; ``diff`` compares two."""

from __future__ import annotations

import math
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nemotron_kit.errors import ArtifactError, IntegrityError
from nemotron_kit.registry import hashing

if TYPE_CHECKING:
    from nemotron_kit.registry.core import ArtifactRegistry
    from nemotron_kit.registry.uri import ArtURI


@dataclass
class ExportReport:
    uri: str
    destination: str
    files: int
    bytes: int


def export(registry: ArtifactRegistry, uri: str | ArtURI, destination: str | Path) -> ExportReport:
    """Copy the files of ``uri`` (or of its sub-path, ``art://x:v3/eval``) into
    ``destination``, a new or empty directory, as ordinary writable files.

    Every byte is checked against the manifest while it is copied; the directory appears only
    when all files are in it (nothing half-written on an error or an interrupt).
    """
    parsed = registry.parse(uri)
    version = registry.resolve(parsed)
    entries = list(registry.manifest(version).files)
    inner = parsed.path
    if inner:
        registry.check_subpath(version, inner)
        entries = [e for e in entries if e.rel == inner or e.rel.startswith(f"{inner}/")]
    dest = Path(destination).expanduser().absolute()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ArtifactError(
            f"'{dest}' exists and is not an empty directory: export to a new directory."
        )
    stored = version.record["storage"]
    if stored.get("fingerprints") is not None:
        raise ArtifactError(
            f"{version.uri} references data in object storage ({stored['source']}), which "
            "export does not download: copy it with your storage's tools or fsspec."
        )
    source = Path(registry.locate(version.uri))  # the checked local copy (downloaded if remote)
    single = bool(version.record["storage"].get("single_file"))
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = dest.parent / f".{dest.name}.tmp-{os.urandom(6).hex()}"
    staging.mkdir()
    try:
        for entry in entries:
            rel = entry.rel[len(inner) + 1 :] if inner and entry.rel != inner else entry.rel
            if inner and entry.rel == inner:
                rel = Path(inner).name  # a single file asked for by its path
            target = staging / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            digest, size = hashing.copy_and_hash(source if single else source / entry.rel, target)
            if (digest, size) != (entry.digest, entry.size):
                raise IntegrityError(
                    f"'{entry.rel}' of {version.uri} does not match its recorded digest and "
                    f"size: run `nemotron-kit artifacts verify {version.uri}`; nothing was "
                    "exported."
                )
            os.chmod(target, 0o644)
        if dest.exists():
            dest.rmdir()
        os.replace(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ExportReport(version.uri, str(dest), len(entries), sum(e.size for e in entries))


@dataclass
class VersionDiff:
    """What changed from version ``a`` to ``b``: files by path, metadata by key."""

    a: str
    b: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: int = 0
    #: key -> (value in a, value in b), for keys whose values differ (None: absent)
    metadata: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    #: numeric metadata of both, side by side (also the equal ones), as recorded (ints stay ints)
    metrics: dict[str, tuple[int | float | None, int | float | None]] = field(default_factory=dict)

    @property
    def same_content(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def to_json(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "same_content": self.same_content,
            "files": {
                "added": self.added,
                "removed": self.removed,
                "changed": self.changed,
                "unchanged": self.unchanged,
            },
            "metadata": {k: {"a": va, "b": vb} for k, (va, vb) in self.metadata.items()},
            "metrics": {k: {"a": va, "b": vb} for k, (va, vb) in self.metrics.items()},
        }


def diff(registry: ArtifactRegistry, a: str | ArtURI, b: str | ArtURI) -> VersionDiff:
    """Compare two versions (of one name or of two) by their manifests and metadata; no data
    is read or downloaded."""
    first, second = registry.resolve(a), registry.resolve(b)
    old = {e.rel: e.digest for e in registry.manifest(first).files}
    new = {e.rel: e.digest for e in registry.manifest(second).files}
    result = VersionDiff(first.uri, second.uri)
    result.added = sorted(set(new) - set(old))
    result.removed = sorted(set(old) - set(new))
    both = set(old) & set(new)
    result.changed = sorted(r for r in both if old[r] != new[r])
    result.unchanged = len(both) - len(result.changed)
    meta_a, meta_b = first.metadata, second.metadata
    for key in sorted(set(meta_a) | set(meta_b)):
        va, vb = meta_a.get(key), meta_b.get(key)
        if va != vb:
            result.metadata[key] = (va, vb)
        if _number(va) or _number(vb):
            result.metrics[key] = (_as_number(va), _as_number(vb))
    return result


def _as_number(value: Any) -> int | float | None:
    return value if _number(value) else None


def _number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return math.isfinite(value)
