"""From a version to files: manifests, loading an artifact as its class, and the materialized
tree a copy-mode version is read from (rebuilt when damaged).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from nemotron_kit.errors import (
    ArtifactError,
    CorruptRecordError,
    IntegrityError,
    MetadataError,
    NotFoundError,
    StorageError,
)
from nemotron_kit.registry import hashing, home_cache, layout, records, remote_ref
from nemotron_kit.registry.base import (
    A,
    _storage_errors,
)
from nemotron_kit.registry.storage import makedirs
from nemotron_kit.registry.uri import ArtURI
from nemotron_kit.registry.versions import ArtifactVersion, VersionLayer

if TYPE_CHECKING:
    from nemotron_kit.artifacts._base import Artifact


def _remove_tree(path: Path) -> None:
    """Remove a materialized tree (read-only files in writable directories)."""
    shutil.rmtree(path, ignore_errors=True)


@dataclass
class VerifyReport:
    """What ``verify`` found: files of the stored artifact (its objects, or the referenced
    source) and of the materialized copy ``load`` returns (``copy``), if there is one."""

    uri: str
    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    copy: str | None = None
    copy_changed: list[str] = field(default_factory=list)
    copy_missing: list[str] = field(default_factory=list)
    copy_extra: list[str] = field(default_factory=list)

    @property
    def stored_ok(self) -> bool:
        return not (self.changed or self.missing or self.extra)

    @property
    def ok(self) -> bool:
        return self.stored_ok and not (self.copy_changed or self.copy_missing or self.copy_extra)

    def summary(self) -> str:
        if self.ok:
            return f"{self.uri}: all files match their recorded digests"
        parts = _describe(self.changed, self.missing, self.extra)
        copy = _describe(self.copy_changed, self.copy_missing, self.copy_extra)
        if copy:
            parts.append(f"its local copy at {self.copy}: " + ", ".join(copy))
        return f"{self.uri}: " + "; ".join(parts)


def _describe(changed: list[str], missing: list[str], extra: list[str]) -> list[str]:
    parts = []
    for label, items in (("changed", changed), ("missing", missing), ("extra", extra)):
        if items:
            shown = ", ".join(items[:5]) + (f" and {len(items) - 5} more" if len(items) > 5 else "")
            parts.append(f"{len(items)} {label} ({shown})")
    return parts


class TreeLayer(VersionLayer):
    @overload
    def load(
        self, uri: str | ArtURI, expected: None = None, *, verify: bool = False
    ) -> Artifact: ...

    @overload
    def load(self, uri: str | ArtURI, expected: type[A], *, verify: bool = False) -> A: ...

    @_storage_errors
    def load(
        self, uri: str | ArtURI, expected: type[A] | None = None, *, verify: bool = False
    ) -> A | Artifact:
        """The artifact at ``uri`` as its recorded class (which must be ``expected`` or below,
        ``Artifact`` by default)."""
        # Imported here: opening a registry must not pay for pydantic (see records.py).
        from pydantic import ValidationError

        from nemotron_kit.artifacts._base import BASE_FIELDS, Artifact, import_artifact_class

        wanted: type[Artifact] = expected or Artifact
        version = self.resolve(uri)
        cls = import_artifact_class(version.class_path)
        fields = version.fields
        if cls is None:  # the class is not importable here: keep its fields as metadata
            cls = Artifact
            extra = {k: v for k, v in fields.items() if k not in BASE_FIELDS}
            fields = {k: v for k, v in fields.items() if k in BASE_FIELDS}
            fields["metadata"] = {**extra, **(fields.get("metadata") or {})}
        if not issubclass(cls, wanted):
            raise ArtifactError(
                f"{version.uri} is a {cls.__name__} ({version.type}), not a {wanted.__name__}: "
                f"pass an artifact of type {wanted.artifact_type}."
            )
        if verify:
            report = self.verify(version.uri)
            if not report.stored_ok:
                raise IntegrityError(
                    f"Refusing to load {report.summary()}: the data changed after publishing; "
                    "re-publish it or restore the files."
                )
            if not report.ok and report.copy is not None:
                # The stored data is fine, the local copy is not: it goes, the next load
                # rebuilds it from the checked objects.
                _remove_tree(Path(report.copy))
                raise IntegrityError(
                    f"Refusing to load {report.summary()}: that copy was changed after it was "
                    "made and has been removed; load again to rebuild it."
                )
        path = self._materialize(version)
        values = {
            **fields,
            "path": path,
            "name": version.name,
            "uri": version.uri,
            "version": version.version,
        }
        try:
            return cls.model_validate(values)
        except (ValidationError, MetadataError) as exc:
            if isinstance(exc, ValidationError):
                first = exc.errors()[0]
                detail = f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
            else:
                detail = str(exc).rstrip(".")
            raise CorruptRecordError(
                f"The version record of {version.uri} does not fit {cls.__name__} ({detail}): "
                "it was damaged, or the class changed since; restore the record or load it as "
                "Artifact."
            ) from None

    @_storage_errors
    def locate(self, uri: str | ArtURI) -> str:
        """The local path of ``uri``: the artifact's root, or the file or directory named by
        its sub-path (``art://data:v3/blend.json``), which must be in the artifact."""
        parsed = self.parse(uri)
        version = self.resolve(parsed)
        root = self._materialize(version)
        if not parsed.path:
            return root
        self.check_subpath(version, parsed.path)
        if version.record["storage"].get("single_file"):
            return root  # a one-file artifact: its one file
        if remote_ref.is_remote(root):  # data referenced in object storage: a URL
            return f"{root.rstrip('/')}/{parsed.path}"
        return str(Path(root) / parsed.path)

    def check_subpath(self, version: ArtifactVersion, inner: str) -> None:
        """NotFoundError unless ``inner`` is a file or directory of the version."""
        files = [f.rel for f in self.manifest(version).files]
        if inner in files or any(rel.startswith(f"{inner}/") for rel in files):
            return
        shown = ", ".join(files[:5]) + (f" and {len(files) - 5} more" if len(files) > 5 else "")
        raise NotFoundError(
            f"{version.uri} has no file or directory '{inner}' (its files: {shown}): fix the "
            "path after the version."
        )

    def manifest(self, version: ArtifactVersion) -> hashing.Manifest:
        """The version's file list, checked: a safe path per file, no duplicates, and a tree
        digest that matches both the files and the version record."""
        key = self._manifest_key(version.digest)
        where = f"The manifest of {version.uri} ('{key}' in {self.root})"
        try:
            raw = self.storage.read(key)
        except FileNotFoundError:
            raise CorruptRecordError(
                f"The manifest of {version.uri} is missing from {self.root}: the registry was "
                "damaged outside nemotron-kit; restore it from a backup."
            ) from None
        record = records.parse(records.ManifestRecord, raw, where)
        manifest = hashing.Manifest.build(
            hashing.ManifestEntry(rel, size, digest) for rel, size, digest in record.files
        )
        problem = None
        if record.digest != version.digest:
            problem = "it belongs to another tree"
        elif manifest.digest != record.digest:
            problem = "its files do not hash to its digest"
        elif (clash := hashing.path_clash(f.rel for f in manifest.files)) is not None:
            problem = f"'{clash}' is listed twice, or as a file and as a directory"
        elif len(manifest.files) != version.num_files:
            problem = "it lists another number of files than the version record"
        if problem:
            raise CorruptRecordError(
                f"{where} does not match its version ({problem}): restore it from a backup."
            )
        return manifest

    def _materialize(self, version: ArtifactVersion, *, check: bool = False) -> str:
        """A readable path for the artifact's files.

        A local registry lays copy-mode files out as hard links to its read-only objects, so the
        tree is never a second, unchecked copy: verifying the objects verifies it. ``check``
        rebuilds a tree whose files are not exactly the manifest's (a file deleted, added or
        replaced), and re-hashes a downloaded one.
        """
        storage = version.record["storage"]
        single = storage.get("single_file")
        if storage["mode"] == "reference":
            return str(storage["source"])
        local = self.storage.local_path(layout.tree(version.digest))
        if local is None:
            from nemotron_kit.paths import home

            tree = home() / "cache" / "trees" / version.digest
            place = self._download_object
        else:
            tree, place = local, self._link_object
        if local is None:  # a downloaded tree: its age (for gc of the home) restarts, first
            home_cache.touch(tree)  # so that a gc of the home that looks now keeps it
        if tree.exists() and check and not self._tree_matches(version, tree, local is None):
            _remove_tree(tree)
        if not tree.exists():
            self._build_tree(version, tree, place)
        return str(tree / single) if single else str(tree)

    def _tree_matches(self, version: ArtifactVersion, tree: Path, rehash: bool) -> bool:
        """The tree holds exactly the manifest's files: linked to their objects, or (for a
        downloaded tree) with the recorded content."""
        expected = {f.rel: f for f in self.manifest(version).files}
        try:
            present = {f.rel: f for f in hashing.scan(tree, links="refuse")}
        except ArtifactError:
            return False
        if present.keys() != expected.keys():
            return False
        for rel, entry in expected.items():
            found = present[rel]
            if found.size != entry.size:
                return False
            if rehash:
                if hashing.hash_file(found.path) != entry.digest:
                    return False
            else:
                obj = self.storage.local_path(self._object_key(entry.digest))
                try:
                    if obj is None or os.stat(obj).st_ino != found.ino:
                        return False
                except FileNotFoundError:
                    return False
        return True

    def _build_tree(
        self, version: ArtifactVersion, target: Path, place: Callable[[str, Path], None]
    ) -> None:
        """Lay the files out under a temp name, then rename: readers never see a partial tree
        (downloads show a progress bar on a terminal)."""
        manifest = self.manifest(version)
        makedirs(target.parent)
        tmp = target.parent / f".tmp-{os.urandom(16).hex()}"
        downloading = place == self._download_object
        total = sum(e.size for e in manifest.files) if downloading else 0
        try:
            makedirs(tmp)
            root = str(tmp.resolve())
            with hashing.progress(total, "downloading") as advance:
                self._place_files(version, manifest, tmp, root, place, advance)
            with contextlib.suppress(OSError):  # another reader built it first: same content
                os.rename(tmp, target)
            if not target.is_dir():
                raise StorageError(
                    f"The files of {version.uri} vanished as they were laid out at {target} "
                    "(removed by hand, or by a gc with a grace period of 0?): load it again."
                )
        finally:
            if tmp.exists():
                _remove_tree(tmp)

    def _place_files(
        self,
        version: ArtifactVersion,
        manifest: hashing.Manifest,
        tmp: Path,
        root: str,
        place: Callable[[str, Path], None],
        advance: Callable[[int], None] | None,
    ) -> None:
        """Every path comes from a checked manifest; each target's directory is checked again
        to lie inside the tree before anything is written there (once per directory: a tree
        of 100,000 files has a few hundred)."""
        inside: set[Path] = set()
        for entry in manifest.files:
            dst = tmp / entry.rel
            parent = dst.parent
            if parent not in inside:
                makedirs(parent)
                real = os.path.realpath(parent)
                if real != root and not real.startswith(root + os.sep):
                    raise CorruptRecordError(
                        f"The manifest of {version.uri} places '{entry.rel}' outside its tree: "
                        "restore it from a backup."
                    )
                inside.add(parent)
            place(entry.digest, dst)
            if advance is not None:
                advance(entry.size)

    # -- verify ---------------------------------------------------------------------------
    @_storage_errors
    def verify(self, uri: str | ArtURI) -> VerifyReport:
        """Re-hash the artifact's files and compare with the manifest recorded at publish."""
        version = self.resolve(uri)
        manifest = self.manifest(version)
        report = VerifyReport(version.uri)
        storage = version.record["storage"]
        if storage.get("fingerprints") is not None:  # data referenced in object storage
            _verify_remote(self.s3_endpoint, storage, report)
            return report
        if storage["mode"] == "reference":
            source = Path(storage["source"])
            try:
                links: hashing.Links = "follow" if storage.get("follow_symlinks") else "inside"
                current = hashing.scan(source, links=links)
            except ArtifactError:
                report.missing = [f.rel for f in manifest.files]
                return report
            recorded = {f.rel: f for f in manifest.files}
            present = {f.rel: f for f in current}
            report.missing = sorted(set(recorded) - set(present))
            report.extra = sorted(set(present) - set(recorded))
            both = [present[r] for r in sorted(set(recorded) & set(present))]
            fresh = hashing.hash_files(both, cache=None)  # verify never trusts the stat cache
            for entry in fresh.files:
                if (
                    entry.digest != recorded[entry.rel].digest
                    or entry.size != recorded[entry.rel].size
                ):
                    report.changed.append(entry.rel)
            return report
        for entry in manifest.files:
            key = self._object_key(entry.digest)
            local = self.storage.local_path(key)
            try:
                if local is not None:
                    digest, size = hashing.hash_file_sized(local, threads=0)
                else:
                    data = self.storage.read(key)
                    digest, size = hashing.hash_bytes(data), len(data)
            except FileNotFoundError:
                report.missing.append(entry.rel)
                continue
            if (digest, size) != (entry.digest, entry.size):  # a manifest's size can be wrong
                report.changed.append(entry.rel)
        _verify_copy(self, version, manifest, report)
        return report


def _verify_remote(endpoint: str | None, storage: dict[str, Any], report: VerifyReport) -> None:
    """List the referenced data again: a fingerprint that differs is a changed file."""
    recorded: dict[str, str] = storage["fingerprints"]
    # A listing that fails (timeout, credentials) is an error, not "every file missing":
    # only data that is really gone is drift.
    files = remote_ref.list_files(storage["source"], endpoint)
    present = {f.rel: f.fingerprint for f in files}
    report.missing = sorted(set(recorded) - set(present))
    report.extra = sorted(set(present) - set(recorded))
    report.changed = sorted(r for r in set(recorded) & set(present) if present[r] != recorded[r])


def _verify_copy(
    layer: TreeLayer, version: ArtifactVersion, manifest: hashing.Manifest, report: VerifyReport
) -> None:
    """Check the materialized tree ``load`` returns: the manifest's files, nothing else,
    each a link to its (checked) object or re-hashed."""
    local = layer.storage.local_path(layout.tree(version.digest))
    if local is None:
        from nemotron_kit.paths import home

        tree = home() / "cache" / "trees" / version.digest
    else:
        tree = local
    if not tree.exists():
        return
    report.copy = str(tree)
    expected = {f.rel: f for f in manifest.files}
    try:
        present = {f.rel: f for f in hashing.scan(tree, links="refuse")}
    except ArtifactError:
        report.copy_changed = sorted(expected)
        return
    report.copy_missing = sorted(expected.keys() - present.keys())
    report.copy_extra = sorted(present.keys() - expected.keys())
    for rel in sorted(expected.keys() & present.keys()):
        found, entry = present[rel], expected[rel]
        obj = layer.storage.local_path(layer._object_key(entry.digest))
        with contextlib.suppress(OSError):
            if obj is not None and os.stat(obj).st_ino == found.ino:
                continue  # a hard link to the object checked above
        if found.size != entry.size or hashing.hash_file(found.path) != entry.digest:
            report.copy_changed.append(rel)
