"""Maintenance: gc removes what no record references and what killed publishes left behind,
after a grace period (verify, which re-hashes a version against its manifest, is in trees.py).
"""

from __future__ import annotations

import builtins
import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from nemotron_kit.errors import (
    CorruptRecordError,
)
from nemotron_kit.registry import layout, records
from nemotron_kit.registry.base import (
    _storage_errors,
    _valid_name,
)
from nemotron_kit.registry.gc_fence import Fence, dead_fences, storage_clock
from nemotron_kit.registry.runs import RunLayer
from nemotron_kit.registry.trees import _remove_tree


@dataclass
class GcReport:
    removed: list[str] = field(default_factory=list)
    #: records that could not be read: gc then removes no objects, manifests or trees
    errors: list[str] = field(default_factory=list)


def _digests(keys: builtins.list[str]) -> set[str]:
    """The digests of object and manifest keys (not the names of leftovers)."""
    return {d for d in map(layout.digest_of, keys) if records.is_digest(d)}


class MaintenanceLayer(RunLayer):
    # -- garbage collection ---------------------------------------------------------------
    @_storage_errors
    def gc(self, *, dry_run: bool = False, grace_seconds: float = 3600.0) -> GcReport:
        """Remove what no version references: unreferenced objects, manifests and trees, and
        leftovers of killed publishes. Anything younger than ``grace_seconds`` is kept, because
        a publish in flight has written its objects but not yet its record."""
        report = GcReport()
        referenced_manifests, referenced_objects = self._referenced(report.errors)
        # By the storage's clock, which stamped the times compared with it.
        now = storage_clock(self.storage)
        cutoff = now - grace_seconds
        fence: Fence | None = None

        def tick() -> None:  # at each step from the fence up: keep it alive
            if fence is not None:
                fence.refresh()

        def stale(prefix: str, keep: Callable[[str], bool]) -> Iterator[str]:
            for key, mtime in self.storage.walk(prefix):
                tick()
                if mtime <= cutoff and not keep(key):
                    yield key

        doomed: builtins.list[str] = []
        try:
            if not report.errors:
                # With a record unreadable, what it references is unknown: keep all data.
                doomed += stale(layout.OBJECTS, lambda k: layout.digest_of(k) in referenced_objects)
                doomed += stale(
                    layout.MANIFESTS, lambda k: layout.digest_of(k) in referenced_manifests
                )
                # Publishes that need any of it wait from here on (see gc_fence).
                if not dry_run and doomed:
                    fence = Fence(self.storage, _digests(doomed))
                doomed += stale(layout.TREES, lambda k: layout.digest_of(k) in referenced_manifests)
                # A version committed while we walked (re-using old content that a deleted
                # version left, say) references it now: look at the records once more. A
                # publish in flight protects the old objects it reuses by its manifest, which
                # it writes (or touches) before it checks them a last time and commits; one
                # that looks after the fence went up waits while the fence names what it needs.
                again_manifests, again_objects = self._referenced([], tick)
                again_objects |= self._in_flight(cutoff, again_manifests, tick)
                kept = again_objects | again_manifests | self._trees_being_built(cutoff)
                doomed = [k for k in doomed if layout.digest_of(k) not in kept]
                if fence is not None and not fence.narrow(_digests(doomed)):
                    fence = None
            doomed += stale(layout.STAGING, lambda k: False)
            # Killed writers' temp files, and the marks of publishes killed around their
            # commit (settled below: the run's index gets the version if it was committed).
            doomed += stale(layout.ARTIFACTS, lambda k: not layout.is_temporary(k))
            doomed += stale(
                layout.RUNS, lambda k: not (layout.is_temporary(k) or layout.is_pending_output(k))
            )
            doomed += dead_fences(self.storage, grace_seconds, now)
            report.removed = sorted(doomed)
            local_staging = self._local_staging_leftovers(cutoff)
            report.removed += [str(p) for p in local_staging]
            if not dry_run:
                for key in doomed:
                    tick()  # raises if this gc was paused past the lease: stop deleting
                    if layout.is_pending_output(key):
                        self._settle_pending_output(key)
                    self.storage.delete(key)
                for path in local_staging:
                    _remove_tree(path)
                self._prune_empty_dirs(cutoff, doomed)
        finally:
            if fence is not None:
                fence.remove()
        return report

    def _referenced(
        self, errors: builtins.list[str], tick: Callable[[], None] = lambda: None
    ) -> tuple[set[str], set[str]]:
        """Manifest and object digests the live versions use; unreadable records go to
        ``errors``; ``tick()`` at each version."""
        manifests: set[str] = set()
        objects: set[str] = set()
        for project in self.projects():
            for name in self.storage.list(layout.project(project)):
                if not _valid_name(name):
                    continue
                dead = self.deleted_versions(name, project=project)
                for key in self.storage.list(layout.versions(project, name)):
                    tick()
                    number = layout.version_number(key)
                    if number is None or number in dead:
                        continue  # a deleted version's data is reclaimed unless shared
                    try:
                        version = self._read_record(project, name, number)
                        manifests.add(version.digest)
                        if version.mode == "copy":
                            objects.update(f.digest for f in self.manifest(version).files)
                    except CorruptRecordError as exc:
                        errors.append(str(exc))
        return manifests, objects

    def _trees_being_built(self, cutoff: float) -> set[str]:
        """The temporary names of trees a load is laying out (or did within the grace
        period). Their files are hard links that carry their objects' old times, so only the
        directories, which each new link touches, tell a build in progress from a dead one."""
        local = self.storage.local_path(layout.TREES)
        found: set[str] = set()
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            for entry in os.scandir(local or ""):
                if not (layout.is_temporary(entry.name) and entry.is_dir(follow_symlinks=False)):
                    continue
                for dirpath, _, _ in os.walk(entry.path):
                    with contextlib.suppress(FileNotFoundError):
                        if os.stat(dirpath).st_mtime > cutoff:
                            found.add(entry.name)
                            break
        return found

    def _in_flight(
        self, cutoff: float, committed: set[str], tick: Callable[[], None] = lambda: None
    ) -> set[str]:
        """Manifests younger than the grace period that no version uses yet (publishes in
        flight), and the objects they name; a manifest that cannot be read protects only
        itself."""
        found: set[str] = set()
        for key, mtime in self.storage.walk(layout.MANIFESTS):
            tick()
            digest = layout.digest_of(key)
            if mtime <= cutoff or digest in committed or layout.is_temporary(key):
                continue
            found.add(digest)
            try:
                raw = self.storage.read(key)
            except FileNotFoundError:
                continue
            with contextlib.suppress(CorruptRecordError):
                record = records.parse(records.ManifestRecord, raw, key)
                found.update(file_digest for _, _, file_digest in record.files)
        return found

    def _local_staging_leftovers(self, cutoff: float) -> builtins.list[Path]:
        """This machine's staging directories of killed publishes to a remote registry."""
        if self.storage.local_path("") is not None:
            return []
        from nemotron_kit.paths import home

        base = home() / "tmp"
        found = []
        with contextlib.suppress(FileNotFoundError):
            for entry in base.iterdir():
                with contextlib.suppress(FileNotFoundError):
                    if entry.is_dir() and entry.stat().st_mtime <= cutoff:
                        found.append(entry)
        return sorted(found)

    def _prune_empty_dirs(self, cutoff: float, removed: builtins.list[str]) -> None:
        """Remove empty directories that this gc emptied or that were last changed before
        ``cutoff``. Not a young one that was empty already: it may be a shard or a tree's
        directory that a writer has just made and is about to fill (and one that goes anyway,
        emptied here as a writer looked, is made again: see storage.retry_in_dir)."""
        local = self.storage.local_path("")
        if local is None:
            return
        emptied = {os.path.dirname(str(self.storage.local_path(key))) for key in removed}
        for sub in layout.COLLECTABLE:
            base = str(local / sub)
            if not os.path.isdir(base):
                continue
            for dirpath, _, _ in sorted(os.walk(base), key=lambda t: -len(t[0])):
                if dirpath == base:
                    continue
                with contextlib.suppress(OSError):
                    if dirpath in emptied or os.stat(dirpath).st_mtime <= cutoff:
                        os.rmdir(dirpath)
                        emptied.add(os.path.dirname(dirpath))
