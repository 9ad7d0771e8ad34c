"""Maintenance: gc removes what no record references and what killed publishes left behind,
after a grace period (verify, which re-hashes a version against its manifest, is in trees.py).
"""

from __future__ import annotations

import builtins
import contextlib
import os
import time
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
from nemotron_kit.registry.gc_fence import Fence
from nemotron_kit.registry.runs import RunLayer
from nemotron_kit.registry.trees import _remove_tree


@dataclass
class GcReport:
    removed: list[str] = field(default_factory=list)
    #: records that could not be read: gc then removes no objects, manifests or trees
    errors: list[str] = field(default_factory=list)


class MaintenanceLayer(RunLayer):
    # -- garbage collection ---------------------------------------------------------------
    @_storage_errors
    def gc(self, *, dry_run: bool = False, grace_seconds: float = 3600.0) -> GcReport:
        """Remove what no version references: unreferenced objects, manifests and trees, and
        leftovers of killed publishes. Anything younger than ``grace_seconds`` is kept, because
        a publish in flight has written its objects but not yet its record."""
        report = GcReport()
        referenced_manifests, referenced_objects = self._referenced(report.errors)
        cutoff = time.time() - grace_seconds

        def stale(prefix: str, keep: Callable[[str], bool]) -> Iterator[str]:
            for key, mtime in self.storage.walk(prefix):
                if mtime <= cutoff and not keep(key):
                    yield key

        doomed: builtins.list[str] = []
        fence = None
        if not report.errors:
            # With a record unreadable, what it references is unknown: keep all data.
            doomed += stale(layout.OBJECTS, lambda k: layout.digest_of(k) in referenced_objects)
            doomed += stale(layout.MANIFESTS, lambda k: layout.digest_of(k) in referenced_manifests)
            # Publishes that need any of it wait from here on (see gc_fence).
            if not dry_run and doomed:
                digests = {layout.digest_of(k) for k in doomed}  # and leftovers' names
                fence = Fence(self.storage, {d for d in digests if records.is_digest(d)})
            doomed += stale(layout.TREES, lambda k: layout.digest_of(k) in referenced_manifests)
        try:
            if not report.errors:
                # A version committed while we walked (re-using old content that a deleted
                # version left, say) references it now: look at the records once more. A
                # publish in flight protects the old objects it reuses by its manifest, which
                # it writes (or touches) before it checks them a last time and commits; one
                # that looks after the fence went up waits for this gc to end.
                again_manifests, again_objects = self._referenced([])
                again_objects |= self._in_flight(cutoff, again_manifests)
                kept = again_objects | again_manifests | self._trees_being_built(cutoff)
                doomed = [k for k in doomed if layout.digest_of(k) not in kept]
            doomed += stale(layout.STAGING, lambda k: False)
            for records_prefix in (layout.ARTIFACTS, layout.RUNS):  # killed writers' temps
                doomed += stale(records_prefix, lambda k: not layout.is_temporary(k))
            report.removed = sorted(doomed)
            local_staging = self._local_staging_leftovers(cutoff)
            report.removed += [str(p) for p in local_staging]
            if not dry_run:
                for key in doomed:
                    self.storage.delete(key)
                    if fence is not None:
                        fence.refresh()
                for path in local_staging:
                    _remove_tree(path)
                self._prune_empty_dirs(cutoff, doomed)
        finally:
            if fence is not None:
                fence.remove()
        return report

    def _referenced(self, errors: builtins.list[str]) -> tuple[set[str], set[str]]:
        """Manifest and object digests the live versions use; unreadable records go to
        ``errors``."""
        manifests: set[str] = set()
        objects: set[str] = set()
        for project in self.projects():
            for name in self.storage.list(layout.project(project)):
                if not _valid_name(name):
                    continue
                dead = self.deleted_versions(name, project=project)
                for key in self.storage.list(layout.versions(project, name)):
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

    def _in_flight(self, cutoff: float, committed: set[str]) -> set[str]:
        """Manifests younger than the grace period that no version uses yet (publishes in
        flight), and the objects they name; a manifest that cannot be read protects only
        itself."""
        found: set[str] = set()
        for key, mtime in self.storage.walk(layout.MANIFESTS):
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
