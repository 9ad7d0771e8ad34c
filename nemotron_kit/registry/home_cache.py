"""What ``$NEMOTRON_KIT_HOME`` accumulates beside the registry, and collecting it.

Three caches grow with use: code snapshots (``snapshots/DIGEST``, one per distinct state of the
code a job ran), trees downloaded from remote registries (``cache/trees/DIGEST``) and the hash
cache (``cache/hashes.sqlite``). Each can be rebuilt, but a snapshot is also what ``reproduce``
runs, so one that a run record of the registry names is kept whatever its age. Trees and
snapshots are touched when used (a snapshot when a job is launched from it), so their age is
the time since last use. Only this registry's runs are known here: a snapshot only another
registry's runs name goes once it is older than the age, so collecting is opt-in
(``artifacts gc --cache-age AGE``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from nemotron_kit.errors import NemotronKitError, NotFoundError
from nemotron_kit.registry.hash_cache import HashCache

if TYPE_CHECKING:
    from nemotron_kit.registry.core import ArtifactRegistry


@dataclass
class HomeReport:
    """What collecting the home removed (or would remove) and the bytes that frees."""

    removed: list[str] = field(default_factory=list)
    freed_bytes: int = 0
    kept_referenced: int = 0
    stale_hashes: int = 0
    #: Why no snapshot was collected (a run record that cannot be read), if so.
    snapshots_kept_because: str | None = None


def collect_home(
    registry: ArtifactRegistry, home: Path, *, older_than_s: float, dry_run: bool = False
) -> HomeReport:
    """Remove trees and snapshots unused for ``older_than_s`` (snapshots only when no run
    record of ``registry`` names them) and the hash cache's entries for files that are gone."""
    report = HomeReport()
    cutoff = time.time() - older_than_s
    try:
        referenced: set[str] | None = _referenced_snapshots(registry)
    except NemotronKitError as exc:  # which snapshots are in use is unknown: keep them all
        referenced, report.snapshots_kept_because = None, str(exc)

    def stale(entry: Path, name: str | None = None) -> bool:
        """``name``: the entry's own, if it has been renamed since."""
        if (name or entry.name).startswith(".tmp-"):  # a writer's: stale once nothing moves
            return _newest_mtime(entry) < time.time() - 3600
        return _mtime(entry) < cutoff

    for kind in (home / "cache" / "trees", home / "snapshots"):
        for entry in sorted(kind.iterdir()) if kind.is_dir() else []:
            if not stale(entry):
                continue
            in_use = referenced is None or entry.name in referenced
            if kind.name == "snapshots" and not entry.name.startswith(".tmp-") and in_use:
                report.kept_referenced += 1
                continue
            size = _size(entry)
            if dry_run or _remove(entry, stale):
                report.removed.append(str(entry))
                report.freed_bytes += size
    hashes = home / "cache" / "hashes.sqlite"
    if hashes.is_file():
        report.stale_hashes = HashCache(hashes).prune(dry_run)
    return report


def touch(path: Path) -> None:
    """Mark a cached tree or snapshot as used now (its age restarts)."""
    with contextlib.suppress(OSError):
        os.utime(path)


def _referenced_snapshots(registry: ArtifactRegistry) -> set[str]:
    """Snapshot digests named by the registry's run records; a record that cannot be read
    makes collecting snapshots unsafe, so it stops everything with one sentence."""
    found: set[str] = set()
    for run_id in registry.run_ids():
        try:
            record = registry.read_run(run_id)
        except NotFoundError:  # only indexes of it (its outputs, a sweep): it names no code
            continue
        except NemotronKitError as exc:
            raise NemotronKitError(
                f"no snapshot was collected, since a run record cannot be read ({exc})"
            ) from None
        code = record.get("code")
        snapshot = code.get("snapshot") if isinstance(code, dict) else None
        digest = snapshot.get("digest") if isinstance(snapshot, dict) else None
        if isinstance(digest, str):
            found.add(digest)
    return found


def _mtime(path: Path) -> float:
    try:
        return path.lstat().st_mtime
    except OSError:
        return time.time()


def _newest_mtime(path: Path) -> float:
    """The latest modification below ``path``: a download still writing keeps it young."""
    newest = _mtime(path)
    for root, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                newest = max(newest, os.lstat(os.path.join(root, name)).st_mtime)
    return newest


def _size(path: Path) -> int:
    if path.is_symlink() or path.is_file():
        return path.lstat().st_size
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def _remove(path: Path, stale: Callable[[Path, str], bool]) -> bool:
    """Remove a cached tree (read-only files) or snapshot if it is still ``stale``; a rename
    first, so a reader never sees half of one. A load touches a tree it hands out: one that
    did so as this looked gets it back. True if it was removed."""
    doomed = path.with_name(f".tmp-gc-{path.name}")
    try:
        if not stale(path, path.name):
            return False
        path.rename(doomed)
    except OSError:
        return False  # in use or gone: left for next time
    if not stale(doomed, path.name):
        with contextlib.suppress(OSError):  # else a load laid it out again: same content
            doomed.rename(path)
            return False
    for root, dirs, _ in os.walk(doomed):  # read-only directories cannot be emptied
        for name in dirs:
            with contextlib.suppress(OSError):
                os.chmod(os.path.join(root, name), 0o755)
    with contextlib.suppress(OSError):
        os.chmod(doomed, 0o755)
    shutil.rmtree(doomed, ignore_errors=True)
    return True
