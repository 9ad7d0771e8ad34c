"""What ``$NEMOTRON_KIT_HOME`` accumulates beside the registry, and collecting it.

Three caches grow with use: code snapshots (``snapshots/DIGEST``, one per distinct state of the
code a job ran), trees downloaded from remote registries (``cache/trees/DIGEST``) and the hash
cache (``cache/hashes.sqlite``). Each can be rebuilt, but a snapshot is also what ``reproduce``
runs, so one that a run record of the registry names is kept whatever its age. Trees and
snapshots are touched when used, so their age is the time since last use.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from nemotron_kit.errors import NemotronKitError, NotFoundError

if TYPE_CHECKING:
    from nemotron_kit.registry.core import ArtifactRegistry

#: Default age (seconds since last use) after which unreferenced caches go: 30 days.
DEFAULT_CACHE_AGE = 30 * 86400.0


@dataclass
class HomeReport:
    """What collecting the home removed (or would remove) and the bytes that frees."""

    removed: list[str] = field(default_factory=list)
    freed_bytes: int = 0
    kept_referenced: int = 0
    stale_hashes: int = 0


def collect_home(
    registry: ArtifactRegistry, home: Path, *, older_than_s: float, dry_run: bool = False
) -> HomeReport:
    """Remove trees and snapshots unused for ``older_than_s`` (snapshots only when no run
    record of ``registry`` names them) and the hash cache's rows for files that are gone."""
    report = HomeReport()
    cutoff = time.time() - older_than_s
    referenced = _referenced_snapshots(registry)
    for kind in (home / "cache" / "trees", home / "snapshots"):
        for entry in sorted(kind.iterdir()) if kind.is_dir() else []:
            if entry.name.startswith(".tmp-"):
                stale = _mtime(entry) < time.time() - 3600  # a killed writer's leftover
            else:
                stale = _mtime(entry) < cutoff
            if not stale:
                continue
            if kind.name == "snapshots" and entry.name in referenced:
                report.kept_referenced += 1
                continue
            report.removed.append(str(entry))
            report.freed_bytes += _size(entry)
            if not dry_run:
                _remove(entry)
    hashes = home / "cache" / "hashes.sqlite"
    if hashes.is_file():
        report.stale_hashes = _prune_hashes(hashes, dry_run)
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
                f"Cannot tell which code snapshots are in use: {exc} Repair or remove that "
                "run record, then collect again."
            ) from None
        code = record.get("code")
        snapshot = code.get("snapshot") if isinstance(code, dict) else None
        digest = snapshot.get("digest") if isinstance(snapshot, dict) else None
        if isinstance(digest, str):
            found.add(digest)
    return found


def _prune_hashes(path: Path, dry_run: bool) -> int:
    """Drop cached digests of files that no longer exist; then give the space back."""
    try:
        with contextlib.closing(sqlite3.connect(path, timeout=30, isolation_level=None)) as db:
            paths = [row[0] for row in db.execute("SELECT path FROM hashes")]
            gone = [p for p in paths if not os.path.exists(p)]
            if gone and not dry_run:
                db.executemany("DELETE FROM hashes WHERE path = ?", [(p,) for p in gone])
                db.execute("VACUUM")
            return len(gone)
    except sqlite3.Error:
        return 0  # the cache is an optimisation: a broken one is rebuilt, never an error


def _mtime(path: Path) -> float:
    try:
        return path.lstat().st_mtime
    except OSError:
        return time.time()


def _size(path: Path) -> int:
    if path.is_symlink() or path.is_file():
        return path.lstat().st_size
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def _remove(path: Path) -> None:
    """Remove a cached tree (read-only files) or snapshot; a rename first, so a reader never
    sees half of one."""
    doomed = path.with_name(f".tmp-gc-{path.name}")
    try:
        path.rename(doomed)
    except OSError:
        return  # in use or gone: left for next time
    for root, dirs, _ in os.walk(doomed):  # read-only directories cannot be emptied
        for name in dirs:
            with contextlib.suppress(OSError):
                os.chmod(os.path.join(root, name), 0o755)
    with contextlib.suppress(OSError):
        os.chmod(doomed, 0o755)
    shutil.rmtree(doomed, ignore_errors=True)
