"""The artifact registry: publish, resolve, load, alias, verify and collect garbage.

The layout below the root is nemotron_kit/registry/layout.py's, the only place keys are built.

A publish writes objects and the manifest first, then creates the version record exclusively
(the commit point), then moves aliases. Writers of one name race only on that create: the loser
tries the next number, so versions are distinct and gapless without any lock. ``latest`` is a
pointer that may lag after a crash; resolving it probes forward from the pointer, so it costs
the same at 1 or 10,000 versions and never goes backwards.
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import functools
import json
import math
import os
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import ValidationError

from nemotron_kit.artifacts._base import (
    BASE_FIELDS,
    Artifact,
    artifact_class_path,
    import_artifact_class,
)
from nemotron_kit.errors import (
    ArtifactError,
    CorruptRecordError,
    IntegrityError,
    MetadataError,
    NemotronKitError,
    NotFoundError,
    StorageError,
    URIError,
)
from nemotron_kit.registry import hashing, layout, records
from nemotron_kit.registry.storage import Storage, makedirs, open_storage
from nemotron_kit.registry.uri import LATEST, ArtURI, parse_uri, validate_alias, validate_name

RECORD_FORMAT = "nemotron-kit/version/1"
A = TypeVar("A", bound=Artifact)
Mode = Literal["auto", "copy", "reference"]
F = TypeVar("F", bound=Callable[..., Any])


def _storage_errors(method: F) -> F:
    """Turn a backend's connection or permission failure into one StorageError sentence."""

    @functools.wraps(method)
    def wrapper(self: ArtifactRegistry, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except (NemotronKitError, FileNotFoundError, FileExistsError):
            raise
        except Exception as exc:  # botocore, aiohttp and OS errors differ by backend
            if isinstance(exc, (TypeError, AttributeError, KeyError, AssertionError)):
                raise
            storage: Any = getattr(self, "storage", None)
            if _is_timeout(exc) and getattr(storage, "timeout_s", None):
                where = f" (endpoint {storage.endpoint})" if storage.endpoint else ""
                raise StorageError(
                    f"The registry at '{self.root}'{where} did not answer within "
                    f"{storage.timeout_s:g} s ({storage.attempts} attempts): check that it is up "
                    "and reachable, or raise registry.timeout_s."
                ) from exc
            reason = " ".join(str(exc).split())[:200] or type(exc).__name__
            raise StorageError(
                f"The registry at '{self.root}' failed ({type(exc).__name__}: {reason}): check "
                "that it is reachable (registry.endpoint_url, network, credentials) and writable."
            ) from exc

    return wrapper  # type: ignore[return-value]


def _is_timeout(exc: BaseException) -> bool:
    """A connect or read timeout anywhere in the chain (botocore, aiohttp, asyncio)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, TimeoutError) or "Timeout" in type(seen).__name__:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


@dataclass
class RunContext:
    """The run a registry publishes for: publishes name it as producer and its inputs as theirs.

    Set on the job's registry by its ``JobContext`` (or a script's tracker); the registry only
    reads it, so it stays independent of how runs are tracked.
    """

    run_id: str
    inputs: list[str] = field(default_factory=list)
    # Called after each commit with (version, aliases): trackers mirror outputs (e.g. to W&B).
    listeners: list[Callable[[ArtifactVersion, list[str]], None]] = field(default_factory=list)


@dataclass(frozen=True)
class ArtifactVersion:
    """One published version: its pinned URI and the record stored at publish time."""

    record: dict[str, Any]
    default_project: str = "default"
    #: Set when asked for with ``include_deleted`` and the version was deleted.
    deleted: bool = False

    @property
    def name(self) -> str:
        return str(self.record["name"])

    @property
    def project(self) -> str:
        return str(self.record["project"])

    @property
    def version(self) -> int:
        return int(self.record["version"])

    @property
    def uri(self) -> str:
        return ArtURI(self.name, self.project, self.version).format(self.default_project)

    @property
    def type(self) -> str:
        return str(self.record["type"])

    @property
    def class_path(self) -> str:
        return str(self.record["class"])

    @property
    def fields(self) -> dict[str, Any]:
        return dict(self.record["fields"])

    @property
    def metadata(self) -> dict[str, Any]:
        fields = self.fields
        extra = fields.pop("metadata", {}) or {}
        return {**{k: v for k, v in fields.items() if k not in BASE_FIELDS}, **extra}

    @property
    def metrics(self) -> dict[str, float]:
        return {
            k: float(v)
            for k, v in self.metadata.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        }

    @property
    def digest(self) -> str:
        return str(self.record["manifest"]["digest"])

    @property
    def mode(self) -> str:
        return str(self.record["storage"]["mode"])

    @property
    def created_at(self) -> str:
        return str(self.record["created_at"])

    @property
    def producer(self) -> str | None:
        value = self.record.get("producer")
        return str(value) if value else None

    @property
    def num_files(self) -> int:
        return int(self.record["manifest"]["files"])

    @property
    def total_bytes(self) -> int:
        return int(self.record["manifest"]["bytes"])


@dataclass(frozen=True)
class ArtifactEntry:
    """A name in the registry with its newest version and its aliases."""

    project: str
    name: str
    latest: ArtifactVersion
    aliases: dict[str, int]

    @property
    def type(self) -> str:
        return self.latest.type

    @property
    def num_versions(self) -> int:
        return self.latest.version


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


@dataclass
class GcReport:
    removed: list[str] = field(default_factory=list)
    #: records that could not be read: gc then removes no objects, manifests or trees
    errors: list[str] = field(default_factory=list)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _record_fields(artifact: Artifact) -> dict[str, Any]:
    """The artifact's fields as stored in its version record; metadata that is not JSON (an
    object, a set) is refused here, naming the field, before any data is copied."""
    try:
        fields = artifact.model_dump(mode="json", exclude={"path", "uri", "version", "name"})
    except Exception as exc:  # pydantic cannot serialise a value in metadata
        raise MetadataError(
            f"{type(artifact).__name__} has metadata that cannot be stored as JSON "
            f"({' '.join(str(exc).split())[:200]}): give strings, numbers, booleans, lists and "
            "dicts."
        ) from None
    for key, value in fields.items():
        try:
            json.dumps(value, allow_nan=True)
        except (TypeError, ValueError) as exc:
            raise MetadataError(
                f"{type(artifact).__name__}.{key} cannot be stored as JSON ({exc}): give "
                "strings, numbers, booleans, lists and dicts."
            ) from None
    return fields


class ArtifactRegistry:
    """The one version store. ``root`` is a local path, ``file://``, ``memory://`` or ``s3://``."""

    def __init__(
        self,
        root: str | Path,
        *,
        project: str = "default",
        storage_options: dict[str, Any] | None = None,
        hash_cache: Path | Literal[False] | None = None,
    ) -> None:
        self.root = str(root)
        self.project = validate_name(project, "project name")
        self.storage: Storage = open_storage(self.root, storage_options)
        if hash_cache is False:
            self.hash_cache: hashing.HashCache | None = None
        else:
            from nemotron_kit.paths import home

            self.hash_cache = hashing.HashCache(hash_cache or home() / "cache" / "hashes.sqlite")
        #: The run publishes are made for (set for the duration of a job or a tracked script).
        self.run_context: RunContext | None = None

    def __repr__(self) -> str:
        return f"ArtifactRegistry({self.root!r}, project={self.project!r})"

    # -- keys -----------------------------------------------------------------------------
    def _record_key(self, project: str, name: str, version: int) -> str:
        return layout.version_record(project, name, version)

    def _alias_key(self, project: str, name: str, alias: str) -> str:
        return layout.alias(project, name, alias)

    @staticmethod
    def _manifest_key(digest: str) -> str:
        return layout.manifest(digest)

    @staticmethod
    def _object_key(digest: str) -> str:
        return layout.object_(digest)

    # -- parsing --------------------------------------------------------------------------
    def parse(self, uri: str | ArtURI) -> ArtURI:
        parsed = uri if isinstance(uri, ArtURI) else parse_uri(uri)
        if parsed.project is None:
            parsed = ArtURI(parsed.name, self.project, parsed.version, parsed.alias, parsed.path)
        return parsed

    # -- records --------------------------------------------------------------------------
    def _read_record(self, project: str, name: str, version: int) -> ArtifactVersion:
        key = self._record_key(project, name, version)
        try:
            raw = self.storage.read(key)
        except FileNotFoundError:
            raise NotFoundError(self._missing_version_message(project, name, version)) from None
        where = f"The version record '{key}' in {self.root}"
        record = records.parse(records.VersionRecord, raw, where)
        if (record.project, record.name, record.version) != (project, name, version):
            raise CorruptRecordError(
                f"{where} describes art://{record.project}/{record.name}:v{record.version}, not "
                "the version it is stored as: it was copied or edited; restore it from a backup "
                "or remove it."
            )
        return ArtifactVersion(record.model_dump(mode="json", by_alias=True), self.project)

    def _missing_version_message(self, project: str, name: str, version: int) -> str:
        uri = ArtURI(name, project, version).format(self.project)
        if not self.storage.exists(self._record_key(project, name, 1)):
            return self._unknown_name_message(project, name)
        latest = self._latest_version(project, name)
        return f"{uri} does not exist: '{name}' has versions v1 to v{latest}."

    def _unknown_name_message(self, project: str, name: str) -> str:
        self.storage.check_root()
        known = self.storage.list(layout.project(project))
        hint = (
            f"known names: {', '.join(known[:10])}"
            if known
            else "the registry has no artifacts yet"
        )
        return f"No artifact named '{name}' in project '{project}' at {self.root} ({hint})."

    def _read_alias(self, project: str, name: str, alias: str) -> int | None:
        """The version an alias points at; None if absent, -1 if its record is damaged."""
        key = self._alias_key(project, name, alias)
        try:
            raw = self.storage.read(key)
        except FileNotFoundError:
            return None
        try:
            return records.parse(records.AliasRecord, raw, key).version
        except CorruptRecordError:
            return None if alias == LATEST else -1

    def _latest_version(self, project: str, name: str) -> int:
        """The newest committed version (0 if none): the pointer, then a forward probe.

        The pointer is only a hint: one that points past the last record (a crafted or
        damaged alias) is corrected by a binary search, since versions have no gaps.
        """
        start = self._read_alias(project, name, LATEST) or 0
        if start and not self.storage.exists(self._record_key(project, name, start)):
            low, high = 0, start  # exists(low) (or low == 0), not exists(high)
            while high - low > 1:
                middle = (low + high) // 2
                if self.storage.exists(self._record_key(project, name, middle)):
                    low = middle
                else:
                    high = middle
            start = low
        version = start
        while self.storage.exists(self._record_key(project, name, version + 1)):
            version += 1
        if version != start:  # the pointer lagged (a crash, or a racing writer): mend it
            with contextlib.suppress(Exception):  # best effort: readers may lack write access
                self._move_latest(project, name, version)
        return version

    def _move_latest(self, project: str, name: str, version: int) -> None:
        current = self._read_alias(project, name, LATEST) or 0
        if version > current:
            self.storage.replace(
                self._alias_key(project, name, LATEST),
                records.dumps(records.AliasRecord(version=version, updated_at=_now())),
            )

    # -- resolve / load -------------------------------------------------------------------
    @_storage_errors
    def resolve(self, uri: str | ArtURI, *, include_deleted: bool = False) -> ArtifactVersion:
        """Pin ``uri`` to a concrete version (``latest`` and aliases become ``vN``).

        A deleted version is refused in one sentence, unless ``include_deleted`` (lineage,
        which keeps showing it) asks for its record by number."""
        parsed = self.parse(uri)
        project, name = parsed.project or self.project, parsed.name
        if parsed.version is not None:
            if include_deleted:
                found = self._read_record(project, name, parsed.version)
                dead = self.tombstone(project, name, parsed.version) is not None
                return dataclasses.replace(found, deleted=dead) if dead else found
            return self._live_record(project, name, parsed.version)
        alias = parsed.alias or LATEST
        if alias == LATEST:
            if self._latest_version(project, name) == 0:
                raise NotFoundError(self._unknown_name_message(project, name))
            version = self._live_latest(project, name)
            if version == 0:
                raise NotFoundError(f"Every version of '{name}' was deleted: publish a new one.")
            return self._read_record(project, name, version)
        target = self._read_alias(project, name, alias)
        if target is None or target < 1:
            if not self.storage.exists(self._record_key(project, name, 1)):
                raise NotFoundError(self._unknown_name_message(project, name))
            known = sorted(self.aliases(name, project=project))
            raise NotFoundError(
                f"'{name}' has no alias '{alias}' (its aliases: {', '.join(known)}): set it with "
                f"`nemotron-kit artifacts alias art://{name}:vN {alias}`."
            )
        return self._live_record(project, name, target, via=alias)

    def _live_record(
        self, project: str, name: str, version: int, via: str | None = None
    ) -> ArtifactVersion:
        """The record of a version that was not deleted; a deleted one is one sentence."""
        record = self._read_record(project, name, version)
        dead = self.tombstone(project, name, version)
        if dead is not None:
            why = f" ({dead.reason})" if dead.reason else ""
            how = f"alias '{via}' points at " if via else ""
            raise NotFoundError(
                f"{how}{record.uri}, which was deleted on {dead.deleted_at}{why}: its number is "
                "not reused; choose another version."
            )
        return record

    def tombstone(self, project: str, name: str, version: int) -> records.TombstoneRecord | None:
        """The tombstone of a deleted version, or None while it is live."""
        key = layout.tombstone(project, name, version)
        try:
            raw = self.storage.read(key)
        except FileNotFoundError:
            return None
        return records.parse(records.TombstoneRecord, raw, f"The tombstone '{key}'")

    @_storage_errors
    def load(self, uri: str | ArtURI, expected: type[A] = Artifact, *, verify: bool = False) -> A:  # type: ignore[assignment]
        """The artifact at ``uri`` as its recorded class (which must be ``expected`` or below)."""
        version = self.resolve(uri)
        cls = import_artifact_class(version.class_path)
        fields = version.fields
        if cls is None:  # the class is not importable here: keep its fields as metadata
            cls = Artifact
            extra = {k: v for k, v in fields.items() if k not in BASE_FIELDS}
            fields = {k: v for k, v in fields.items() if k in BASE_FIELDS}
            fields["metadata"] = {**extra, **(fields.get("metadata") or {})}
        if not issubclass(cls, expected):
            raise ArtifactError(
                f"{version.uri} is a {cls.__name__} ({version.type}), not a {expected.__name__}: "
                f"pass an artifact of type {expected.artifact_type}."
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

    def _download_object(self, digest: str, dst: Path) -> None:
        data = self.storage.read(self._object_key(digest))
        if hashing.hash_bytes(data) != digest:
            raise IntegrityError(
                f"The object {digest[:16]}... in {self.root} does not match its digest: run "
                "`nemotron-kit artifacts verify` on the versions that use it, and re-publish them."
            )
        fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        with os.fdopen(fd, "wb") as f:
            f.write(data)

    def _link_object(self, digest: str, dst: Path) -> None:
        src = self.storage.local_path(self._object_key(digest))
        assert src is not None
        try:
            os.link(src, dst)
        except FileNotFoundError:
            raise IntegrityError(
                f"The object {digest[:16]}... is missing from {self.root}: run `nemotron-kit "
                "artifacts verify` on the versions that use it, and re-publish them."
            ) from None
        except OSError:  # a filesystem without hard links: a read-only copy
            shutil.copyfile(src, dst)
            os.chmod(dst, 0o444)

    def _build_tree(
        self, version: ArtifactVersion, target: Path, place: Callable[[str, Path], None]
    ) -> None:
        """Lay the files out under a temp name, then rename: readers never see a partial tree.

        Every path comes from a checked manifest (relative, normalized, no '..'), and each
        target is checked again to lie inside the tree before anything is written there.
        """
        manifest = self.manifest(version)
        makedirs(target.parent)
        tmp = target.parent / f".tmp-{uuid.uuid4().hex}"
        try:
            makedirs(tmp)
            root = str(tmp.resolve())
            for entry in manifest.files:
                dst = tmp / entry.rel
                makedirs(dst.parent)
                if not os.path.realpath(dst.parent).startswith(root + os.sep) and (
                    os.path.realpath(dst.parent) != root
                ):
                    raise CorruptRecordError(
                        f"The manifest of {version.uri} places '{entry.rel}' outside its tree: "
                        "restore it from a backup."
                    )
                place(entry.digest, dst)
            with contextlib.suppress(OSError):  # another reader built it first: same content
                os.rename(tmp, target)
        finally:
            if tmp.exists():
                _remove_tree(tmp)

    # -- publish --------------------------------------------------------------------------
    def _choose_mode(self, mode: Mode, source: Path) -> Literal["copy", "reference"]:
        if mode in ("copy", "reference"):
            if mode == "reference" and not self.storage.is_local:
                raise ArtifactError(
                    f"mode='reference' keeps data outside the registry, which a remote registry "
                    f"({self.root}) cannot read back: use mode='copy'."
                )
            return mode
        if mode != "auto":
            raise ArtifactError(
                f"Unknown publish mode {mode!r}: use 'auto', 'copy' or 'reference'."
            )
        temporary = Path(tempfile.gettempdir()).resolve()
        if not self.storage.is_local or temporary in source.parents or source == temporary:
            return "copy"
        return "reference"

    @_storage_errors
    def publish(
        self,
        artifact: Artifact,
        name: str | None = None,
        *,
        aliases: Iterable[str] = (),
        mode: Mode = "auto",
        producer: str | None = None,
        inputs: Iterable[str] = (),
        follow_symlinks: bool = False,
    ) -> ArtifactVersion:
        """Publish ``artifact`` as the next version of ``name``; atomic under crashes and races.

        Symbolic links inside the artifact's directory are stored as what they point to; one
        that leaves the directory is an error unless ``follow_symlinks``.
        """
        rank = os.environ.get("RANK", "0") or "0"
        if rank != "0":
            raise ArtifactError(
                f"Only rank 0 publishes artifacts (this is RANK={rank}): guard the publish with "
                "nemotron_kit.execution.is_rank_zero()."
            )
        name = validate_name(name or artifact.name or "")
        alias_list = [validate_alias(a) for a in aliases]
        if LATEST in alias_list:
            raise URIError("'latest' always names the newest version and cannot be set by hand.")
        context = self.run_context
        producer = producer or artifact.producer or (context.run_id if context else None)
        if producer is not None:
            validate_name(producer, "run id")
        # Everything that can be refused is refused before a byte is copied.
        fields = _record_fields(artifact)
        input_list = list(inputs) or (list(context.inputs) if context else [])
        pinned_inputs = [self.resolve(i).uri for i in input_list]
        if "://" in artifact.path and not artifact.path.startswith("file://"):
            raise ArtifactError(
                f"Artifact path '{artifact.path}' is remote: publish from a local path (download "
                "it first), or keep the URL in metadata."
            )
        source = Path(artifact.path.removeprefix("file://")).expanduser().resolve()
        chosen = self._choose_mode(mode, source)
        files = hashing.scan(source, links="follow" if follow_symlinks else "inside")
        if not files:
            raise ArtifactError(
                f"Artifact path '{source}' holds no files: there is nothing to publish."
            )
        if chosen == "copy":
            manifest = self._store_objects(files)
        else:
            manifest = hashing.hash_files(files, self.hash_cache)
        manifest_key = self._manifest_key(manifest.digest)
        manifest_record = records.ManifestRecord(
            digest=manifest.digest, files=[(f.rel, f.size, f.digest) for f in manifest.files]
        )
        if not self.storage.create(manifest_key, records.dumps(manifest_record)):
            self.storage.touch(manifest_key)  # reused: see _store_objects

        project = self.project
        created = _now()
        fields["created_at"] = created
        fields["producer"] = producer
        record: dict[str, Any] = {
            "format": records.VERSION_FORMAT,
            "project": project,
            "name": name,
            "type": artifact.type,
            "class": artifact_class_path(type(artifact)),
            "fields": fields,
            "created_at": created,
            "producer": producer,
            "inputs": pinned_inputs,
            "host": socket.gethostname(),
            "manifest": {
                "digest": manifest.digest,
                "files": len(manifest.files),
                "bytes": manifest.total_bytes,
            },
            "storage": {
                "mode": chosen,
                "source": str(source),
                "single_file": source.name if source.is_file() else None,
                "follow_symlinks": follow_symlinks,
            },
        }
        version = self._latest_version(project, name) + 1
        while True:  # the commit point: first writer of a number wins, the others move on
            record["version"] = version
            data = records.dumps(records.VersionRecord.model_validate(record))
            if self._create_or_find_own(self._record_key(project, name, version), data):
                break
            version += 1
        self._move_latest(project, name, version)
        for alias in alias_list:
            self._write_alias(project, name, alias, version)
        published = ArtifactVersion(record, self.project)
        if producer is not None:  # index: a run's outputs, without scanning versions
            self.storage.create(layout.run_output(producer, project, name, version), b"")
        if context is not None:
            for listener in context.listeners:
                listener(published, alias_list)
        object.__setattr__(artifact, "name", name)
        object.__setattr__(artifact, "uri", published.uri)
        object.__setattr__(artifact, "version", version)
        object.__setattr__(artifact, "created_at", datetime.fromisoformat(created))
        return published

    def _create_or_find_own(self, key: str, data: bytes) -> bool:
        """Exclusive create of ``key``. A remote create whose answer was lost (a timeout, then
        a retry) may find the key made by its own first attempt: the same bytes are ours."""
        if self.storage.create(key, data):
            return True
        try:
            return self.storage.read(key) == data
        except FileNotFoundError:
            return False

    def _store_objects(self, files: builtins.list[hashing.FileStat]) -> hashing.Manifest:
        """Copy files into objects/ (content-addressed), hashing in the same pass.

        An object already stored is reused only if it is sound (its content hashes to its
        name: see ``ObjectCheck``); a damaged one is replaced by the fresh copy, so
        re-publishing good data repairs the registry instead of making a version that fails
        ``verify``.
        """
        known = self.hash_cache.lookup(files) if self.hash_cache else {}
        objects = ObjectCheck(self, [self._object_key(d) for d in known.values()])
        staging = self._staging_dir()
        entries = []
        fresh: builtins.list[tuple[hashing.FileStat, str]] = []
        try:
            for f in files:
                digest = known.get(f.rel)
                if digest is None or not objects.reuse(digest):
                    tmp = staging / uuid.uuid4().hex
                    digest = hashing.copy_and_hash(f.path, tmp)
                    fresh.append((f, digest))
                    if objects.reuse(digest):
                        tmp.unlink()
                    else:
                        self._put_object(tmp, digest)
                        objects.stored(digest)
                entries.append(hashing.ManifestEntry(f.rel, f.size, digest))
        finally:
            _remove_tree(staging)
            objects.save()
        if self.hash_cache:
            self.hash_cache.store(fresh)
        return hashing.Manifest.build(entries)

    def _put_object(self, tmp: Path, digest: str) -> None:
        """Store the fresh copy ``tmp`` as the object ``digest`` (replacing a damaged one)."""
        self.storage.adopt(tmp, self._object_key(digest))

    def _object_url(self, key: str) -> str:
        return f"{self.storage.url}/{key}"

    def _staging_dir(self) -> Path:
        local = self.storage.local_path(layout.staging(uuid.uuid4().hex))
        if local is None:
            from nemotron_kit.paths import home

            local = home() / "tmp" / uuid.uuid4().hex
        makedirs(local)
        return local

    # -- aliases --------------------------------------------------------------------------
    def _write_alias(self, project: str, name: str, alias: str, version: int) -> None:
        self.storage.replace(
            self._alias_key(project, name, alias),
            records.dumps(records.AliasRecord(version=version, updated_at=_now())),
        )

    @_storage_errors
    def alias(self, uri: str | ArtURI, alias: str) -> ArtifactVersion:
        """Point ``alias`` at the version ``uri`` resolves to; returns that version."""
        validate_alias(alias)
        if alias == LATEST:
            raise URIError("'latest' always names the newest version and cannot be set by hand.")
        version = self.resolve(uri)
        self._write_alias(version.project, version.name, alias, version.version)
        return version

    @_storage_errors
    def aliases(self, name: str, *, project: str | None = None) -> dict[str, int]:
        project = project or self.project
        validate_name(name)
        out = {}
        for entry in self.storage.list(layout.aliases(project, name)):
            alias = layout.alias_name(entry)
            if alias == LATEST:
                continue
            target = self._read_alias(project, name, alias)
            if target and target > 0:
                out[alias] = target
        latest = self._live_latest(project, name)
        if latest:
            out[LATEST] = latest
        return out

    def _live_latest(self, project: str, name: str) -> int:
        """The newest version that was not deleted (0 if none): what ``latest`` names."""
        version = self._latest_version(project, name)
        while version > 0 and self.tombstone(project, name, version) is not None:
            version -= 1
        return version

    # -- listing --------------------------------------------------------------------------
    @_storage_errors
    def versions(self, name: str, *, project: str | None = None) -> list[ArtifactVersion]:
        """Every version of ``name``, oldest first."""
        project = project or self.project
        validate_name(name)
        latest = self._latest_version(project, name)
        if latest == 0:
            raise NotFoundError(self._unknown_name_message(project, name))
        dead = self.deleted_versions(name, project=project)
        return [self._read_record(project, name, v) for v in range(1, latest + 1) if v not in dead]

    def deleted_versions(self, name: str, *, project: str | None = None) -> set[int]:
        """Numbers of the deleted versions of ``name`` (one listing)."""
        project = project or self.project
        prefix = layout.tombstone(project, name, 1).rsplit("/", 1)[0]
        return {n for e in self.storage.list(prefix) if (n := layout.version_number(e))}

    @_storage_errors
    def list(
        self, *, project: str | None = None, errors: builtins.list[str] | None = None
    ) -> list[ArtifactEntry]:
        """Every artifact name of ``project`` with its newest version and aliases.

        A name whose records cannot be read raises :class:`CorruptRecordError`; with
        ``errors`` given, its sentence is appended there instead and the others are listed.
        """
        project = project or self.project
        validate_name(project, "project name")
        names = self.storage.list(layout.project(project))
        if not names:
            self.storage.check_root()  # a missing bucket is not an empty registry
        entries = []
        for name in names:
            try:
                if not _valid_name(name):
                    raise CorruptRecordError(
                        f"'{layout.name(project, name)}' in {self.root} is not an artifact name "
                        "nemotron-kit writes: remove it."
                    )
                latest = self._live_latest(project, name)
                if latest == 0:
                    continue  # never committed, or every version deleted
                entries.append(
                    ArtifactEntry(
                        project,
                        name,
                        self._read_record(project, name, latest),
                        self.aliases(name, project=project),
                    )
                )
            except CorruptRecordError as exc:
                if errors is None:
                    raise
                errors.append(str(exc))
        return entries

    def projects(self) -> builtins.list[str]:
        return [p for p in self.storage.list(layout.ARTIFACTS) if _valid_name(p)]

    # -- runs and the lineage index ---------------------------------------------------------
    @_storage_errors
    def create_run(self, run_id: str, record: dict[str, Any]) -> None:
        """Write a run's start record (once: run ids are never reused)."""
        validate_name(run_id, "run id")
        if self.storage.create(layout.run_start(run_id), records.dumps(record)):
            return
        if self.storage.exists(layout.run_end(run_id)):
            raise ArtifactError(
                f"Run '{run_id}' already exists in {self.root}: run ids are unique."
            )
        # The same run again: a requeued Slurm job (preemption, time limit) is another attempt.
        attempt = len(self.storage.list(layout.run_attempts(run_id))) + 2
        self.storage.create(layout.run_attempt(run_id, attempt), records.dumps(record))

    @_storage_errors
    def finish_run(self, run_id: str, record: dict[str, Any]) -> None:
        """Write a run's end record (once)."""
        validate_name(run_id, "run id")
        self.storage.create(layout.run_end(run_id), records.dumps(record))

    @_storage_errors
    def read_run(self, run_id: str, *, lease_s: float = 120.0) -> dict[str, Any]:
        """A run's start record merged with its end record (if it ended) and its outputs.

        A run without an end record is RUNNING while its heartbeat is younger than
        ``lease_s`` (and, on this host, its process lives), else LOST."""
        validate_name(run_id, "run id")
        key = layout.run_start(run_id)
        try:
            raw = self.storage.read(key)
        except FileNotFoundError:
            raise NotFoundError(
                f"No run '{run_id}' in {self.root}: list runs with `nemotron-kit runs ls`."
            ) from None
        start = records.parse(records.RunStartRecord, raw, f"The record of run '{run_id}' ({key})")
        if start.run_id != run_id:
            raise CorruptRecordError(
                f"The record of run '{run_id}' ({key}) names run '{start.run_id}': it was "
                "copied or edited; restore it from a backup or remove it."
            )
        record: dict[str, Any] = start.model_dump(mode="json")
        end_key = layout.run_end(run_id)
        try:
            end = records.parse(records.RunEndRecord, self.storage.read(end_key), end_key)
            record.update(end.model_dump(mode="json"))
        except FileNotFoundError:
            record.setdefault("status", "RUNNING")
            if self.run_lease_expired(run_id, record, lease_s):
                record["status"] = "LOST"
                record["error"] = (
                    "the job's process ended without recording its end (killed, out of "
                    "memory, or its node lost)"
                )
        except CorruptRecordError as exc:
            record["status"], record["error"] = "UNKNOWN", str(exc)
        record["outputs"] = self.run_outputs(run_id)
        return record

    @_storage_errors
    def heartbeat(self, run_id: str) -> None:
        """Refresh the lease of a running run (see ``run_state``)."""
        validate_name(run_id, "run id")
        self.storage.replace(layout.run_heartbeat(run_id), records.dumps({"at": time.time()}))

    @_storage_errors
    def run_is_open(self, run_id: str) -> bool:
        """The run started and has no end record."""
        validate_name(run_id, "run id")
        return self.storage.exists(layout.run_start(run_id)) and not self.storage.exists(
            layout.run_end(run_id)
        )

    def run_lease_expired(self, run_id: str, record: dict[str, Any], lease_s: float) -> bool:
        """A RUNNING run whose process is gone: no heartbeat for ``lease_s`` seconds, or (on
        this very host) its process no longer exists."""
        if record.get("host") == socket.gethostname() and isinstance(record.get("pid"), int):
            pid = int(record["pid"])
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            except PermissionError:
                pass
        try:
            beat = json.loads(self.storage.read(layout.run_heartbeat(run_id)))
            last = float(beat["at"])
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            last = _timestamp(record.get("started_at"))
        return last > 0 and time.time() - last > lease_s

    @_storage_errors
    def index_sweep_job(self, sweep_id: str, run_id: str) -> None:
        """Index that ``run_id`` is a job of the sweep ``sweep_id``."""
        validate_name(sweep_id, "sweep id")
        validate_name(run_id, "run id")
        self.storage.create(layout.sweep_job(sweep_id, run_id), b"")

    @_storage_errors
    def sweep_jobs(self, sweep_id: str) -> builtins.list[str]:
        """The run ids of a sweep's jobs."""
        validate_name(sweep_id, "sweep id")
        return [r for r in self.storage.list(layout.sweep_jobs(sweep_id)) if _valid_name(r)]

    @_storage_errors
    def write_sweep_summary(self, sweep_id: str, summary: dict[str, Any]) -> None:
        validate_name(sweep_id, "sweep id")
        self.storage.replace(layout.sweep_summary(sweep_id), records.dumps(summary))

    @_storage_errors
    def read_sweep_summary(self, sweep_id: str) -> dict[str, Any] | None:
        validate_name(sweep_id, "sweep id")
        return self._json_object(layout.sweep_summary(sweep_id))

    @_storage_errors
    def cache_entry(self, key: str) -> dict[str, Any] | None:
        """The pipeline-cache entry under ``key`` (a hex digest), if any."""
        if not key.isalnum():
            raise ArtifactError(f"Pipeline cache key {key!r} is not a digest.")
        return self._json_object(layout.pipeline_cache(key))

    def _json_object(self, key: str) -> dict[str, Any] | None:
        """A JSON object stored at ``key``; None if absent or not an object (untrusted)."""
        try:
            data = json.loads(self.storage.read(key))
        except (FileNotFoundError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    @_storage_errors
    def put_cache_entry(self, key: str, entry: dict[str, Any]) -> None:
        if not key.isalnum():
            raise ArtifactError(f"Pipeline cache key {key!r} is not a digest.")
        self.storage.replace(layout.pipeline_cache(key), records.dumps(entry))

    @_storage_errors
    def run_attempts(self, run_id: str) -> int:
        """How many times the run started (a requeued Slurm job starts it again)."""
        validate_name(run_id, "run id")
        return 1 + len(self.storage.list(layout.run_attempts(run_id)))

    @_storage_errors
    def run_ids(self) -> builtins.list[str]:
        return [r for r in self.storage.list(layout.RUNS) if _valid_name(r)]

    @_storage_errors
    def run_outputs(self, run_id: str) -> builtins.list[str]:
        """The versions a run published, from its index (entries that are not a well-formed
        PROJECT/NAME/VERSION are not ours and are skipped)."""
        validate_name(run_id, "run id")
        out = []
        for key, _ in self.storage.walk(layout.run_outputs(run_id)):
            parsed = layout.parse_run_output(run_id, key)
            if parsed is None:
                continue
            project, name, version = parsed
            if _valid_name(project) and _valid_name(name):
                out.append(ArtURI(name, project, version).format(self.project))
        return sorted(out)

    def _consumer_prefix(self, version: ArtifactVersion) -> str:
        return layout.consumers(version.project, version.name, version.version)

    @_storage_errors
    def add_consumer(self, uri: str | ArtURI, run_id: str) -> None:
        """Index that ``run_id`` used the version at ``uri`` (for downstream queries)."""
        validate_name(run_id, "run id")
        version = self.resolve(uri)
        self.storage.create(
            layout.consumer(version.project, version.name, version.version, run_id), b""
        )

    @_storage_errors
    def consumers(self, uri: str | ArtURI | ArtifactVersion) -> builtins.list[str]:
        """Run ids that used the version at ``uri`` (or that version, already resolved)."""
        version = (  # a deleted version keeps its lineage
            uri if isinstance(uri, ArtifactVersion) else self.resolve(uri, include_deleted=True)
        )
        return [r for r in self.storage.list(self._consumer_prefix(version)) if _valid_name(r)]

    # -- verify ---------------------------------------------------------------------------
    @_storage_errors
    def verify(self, uri: str | ArtURI) -> VerifyReport:
        """Re-hash the artifact's files and compare with the manifest recorded at publish."""
        version = self.resolve(uri)
        manifest = self.manifest(version)
        report = VerifyReport(version.uri)
        storage = version.record["storage"]
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
                    digest = hashing.hash_file(local, threads=0)
                else:
                    digest = hashing.hash_bytes(self.storage.read(key))
            except FileNotFoundError:
                report.missing.append(entry.rel)
                continue
            if digest != entry.digest:
                report.changed.append(entry.rel)
        self._verify_copy(version, manifest, report)
        return report

    def _verify_copy(
        self, version: ArtifactVersion, manifest: hashing.Manifest, report: VerifyReport
    ) -> None:
        """Check the materialized tree ``load`` returns: the manifest's files, nothing else,
        each a link to its (checked) object or re-hashed."""
        local = self.storage.local_path(layout.tree(version.digest))
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
            obj = self.storage.local_path(self._object_key(entry.digest))
            with contextlib.suppress(OSError):
                if obj is not None and os.stat(obj).st_ino == found.ino:
                    continue  # a hard link to the object checked above
            if found.size != entry.size or hashing.hash_file(found.path) != entry.digest:
                report.copy_changed.append(rel)

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
        if not report.errors:
            # With a record unreadable, what it references is unknown: keep all data.
            doomed += stale(layout.OBJECTS, lambda k: layout.digest_of(k) in referenced_objects)
            doomed += stale(layout.MANIFESTS, lambda k: layout.digest_of(k) in referenced_manifests)
            doomed += stale(layout.TREES, lambda k: layout.digest_of(k) in referenced_manifests)
            # A version committed while we walked (re-using old content that a deleted version
            # left, say) references it now: look at the records once more before deleting.
            again_manifests, again_objects = self._referenced([])
            doomed = [
                k for k in doomed if layout.digest_of(k) not in (again_objects | again_manifests)
            ]
        doomed += stale(layout.STAGING, lambda k: False)
        doomed += stale(layout.ARTIFACTS, lambda k: not layout.is_temporary(k))
        report.removed = sorted(doomed)
        local_staging = self._local_staging_leftovers(cutoff)
        report.removed += [str(p) for p in local_staging]
        if not dry_run:
            for key in doomed:
                self.storage.delete(key)
            for path in local_staging:
                _remove_tree(path)
            self._prune_empty_dirs()
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

    def _prune_empty_dirs(self) -> None:
        local = self.storage.local_path("")
        if local is None:
            return
        for sub in layout.COLLECTABLE:
            base = local / sub
            if not base.exists():
                continue
            for dirpath, _, _ in sorted(os.walk(base), key=lambda t: -len(t[0])):
                with contextlib.suppress(OSError):
                    if dirpath != str(base):
                        os.rmdir(dirpath)


def _remove_tree(path: Path) -> None:
    """Remove a materialized tree (read-only files in writable directories)."""
    shutil.rmtree(path, ignore_errors=True)


class ObjectCheck:
    """Which stored objects a publish may reuse: those whose content hashes to their name.

    A fingerprint (size, times and inode; an ETag on S3) that is unchanged since this machine
    last hashed the object vouches for it; otherwise it is hashed again. Fingerprints live in
    the hash cache, read once per publish and written back at its end.
    """

    def __init__(self, registry: ArtifactRegistry, keys: Iterable[str]) -> None:
        self.registry = registry
        self.cache = registry.hash_cache
        urls = [registry._object_url(k) for k in keys]
        self.remembered = self.cache.known_objects(urls) if self.cache else {}
        self.updates: dict[str, tuple[str, str]] = {}

    def reuse(self, digest: str) -> bool:
        """True if the object is stored and sound; then its age is refreshed, so a concurrent
        gc's grace period covers it until this publish commits."""
        key = self.registry._object_key(digest)
        if not self._sound(key, digest):
            return False
        self.registry.storage.touch(key)
        self.stored(digest)  # the touch changed its fingerprint, not its content
        return True

    def stored(self, digest: str) -> None:
        key = self.registry._object_key(digest)
        fingerprint = self.registry.storage.fingerprint(key)
        if fingerprint is not None:
            self.updates[self.registry._object_url(key)] = (fingerprint, digest)

    def _sound(self, key: str, digest: str) -> bool:
        storage = self.registry.storage
        fingerprint = storage.fingerprint(key)
        if fingerprint is None:
            return False
        url = self.registry._object_url(key)
        if self.remembered.get(url) == (fingerprint, digest) or self.updates.get(url) == (
            fingerprint,
            digest,
        ):
            return True
        local = storage.local_path(key)
        try:
            if local is not None:
                actual = hashing.hash_file(local, threads=0)
            else:
                actual = hashing.hash_bytes(storage.read(key))
        except FileNotFoundError:
            return False
        if actual != digest:
            return False
        self.updates[url] = (fingerprint, digest)
        return True

    def save(self) -> None:
        if self.cache is not None and self.updates:
            self.cache.remember_objects(
                [(url, fp, digest) for url, (fp, digest) in self.updates.items()]
            )


def _timestamp(text: Any) -> float:
    try:
        return datetime.fromisoformat(str(text)).timestamp()
    except ValueError:
        return 0.0


def _valid_name(name: str) -> bool:
    """A name read from a listing of storage is one of ours (else it is skipped)."""
    try:
        validate_name(name)
    except URIError:
        return False
    return True
