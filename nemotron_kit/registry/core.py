"""The artifact registry: publish, resolve, load, alias, verify and collect garbage.

Layout below the root (every key relative to it):

    artifacts/PROJECT/NAME/versions/00000001.json   version records: immutable, the commit point
    artifacts/PROJECT/NAME/aliases/ALIAS.json       mutable pointers ({"version": N})
    manifests/ab/<tree digest>.json                 file lists with sizes and BLAKE3 digests
    objects/ab/<file digest>                        file contents (copy mode), stored once
    trees/<tree digest>/...                         copy-mode artifacts laid out for reading
    staging/<id>/...                                in-flight copies; leftovers are gc's

A publish writes objects and the manifest first, then creates the version record exclusively
(the commit point), then moves aliases. Writers of one name race only on that create: the loser
tries the next number, so versions are distinct and gapless without any lock. ``latest`` is a
pointer that may lag after a crash; resolving it probes forward from the pointer, so it costs
the same at 1 or 10,000 versions and never goes backwards.
"""

from __future__ import annotations

import builtins
import contextlib
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
    NemotronKitError,
    NotFoundError,
    StorageError,
    URIError,
)
from nemotron_kit.registry import hashing
from nemotron_kit.registry.storage import Storage, open_storage
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
            reason = " ".join(str(exc).split())[:200] or type(exc).__name__
            raise StorageError(
                f"The registry at '{self.root}' failed ({type(exc).__name__}: {reason}): check "
                "that it is reachable (registry.endpoint_url, network, credentials) and writable."
            ) from exc

    return wrapper  # type: ignore[return-value]


@dataclass
class RunContext:
    """The run this process works for: publishes name it as producer and its inputs as theirs.

    Set by the lineage tracker at job start (nemotron_kit.tracking); the registry only reads it,
    so it stays independent of how runs are tracked.
    """

    run_id: str
    inputs: list[str] = field(default_factory=list)
    # Called after each commit with (version, aliases): trackers mirror outputs (e.g. to W&B).
    listeners: list[Callable[[ArtifactVersion, list[str]], None]] = field(default_factory=list)


_run_context: RunContext | None = None


def set_run_context(context: RunContext | None) -> None:
    global _run_context
    _run_context = context


def run_context() -> RunContext | None:
    return _run_context


@dataclass(frozen=True)
class ArtifactVersion:
    """One published version: its pinned URI and the record stored at publish time."""

    record: dict[str, Any]
    default_project: str = "default"

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
    uri: str
    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.changed or self.missing or self.extra)

    def summary(self) -> str:
        if self.ok:
            return f"{self.uri}: all files match their recorded digests"
        parts = []
        for label, items in (
            ("changed", self.changed),
            ("missing", self.missing),
            ("extra", self.extra),
        ):
            if items:
                shown = ", ".join(items[:5]) + (
                    f" and {len(items) - 5} more" if len(items) > 5 else ""
                )
                parts.append(f"{len(items)} {label} ({shown})")
        return f"{self.uri}: " + "; ".join(parts)


@dataclass
class GcReport:
    removed: list[str] = field(default_factory=list)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _finite(data: Any) -> Any:
    """NaN and infinities become null: records must stay valid JSON (a diverged loss is NaN)."""
    if isinstance(data, float) and not math.isfinite(data):
        return None
    if isinstance(data, dict):
        return {k: _finite(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_finite(v) for v in data]
    return data


def _dumps(data: Any) -> bytes:
    return json.dumps(_finite(data), sort_keys=True, separators=(",", ":"), default=str).encode()


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

    def __repr__(self) -> str:
        return f"ArtifactRegistry({self.root!r}, project={self.project!r})"

    # -- keys -----------------------------------------------------------------------------
    def _name_prefix(self, project: str, name: str) -> str:
        return f"artifacts/{project}/{name}"

    def _record_key(self, project: str, name: str, version: int) -> str:
        return f"{self._name_prefix(project, name)}/versions/{version:08d}.json"

    def _alias_key(self, project: str, name: str, alias: str) -> str:
        return f"{self._name_prefix(project, name)}/aliases/{alias}.json"

    @staticmethod
    def _manifest_key(digest: str) -> str:
        return f"manifests/{digest[:2]}/{digest}.json"

    @staticmethod
    def _object_key(digest: str) -> str:
        return f"objects/{digest[:2]}/{digest}"

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
        try:
            record = json.loads(raw)
            if record.get("format") != RECORD_FORMAT or int(record["version"]) != version:
                raise ValueError("not a nemotron-kit version record")
            for required in ("name", "project", "class", "fields", "manifest", "storage"):
                record[required]
        except (ValueError, KeyError, TypeError) as exc:
            raise CorruptRecordError(
                f"The version record '{key}' in {self.root} is corrupted ({exc}): restore it from "
                "a backup; nemotron-kit never rewrites published records."
            ) from None
        return ArtifactVersion(record, self.project)

    def _missing_version_message(self, project: str, name: str, version: int) -> str:
        uri = ArtURI(name, project, version).format(self.project)
        if not self.storage.exists(self._record_key(project, name, 1)):
            return self._unknown_name_message(project, name)
        latest = self._latest_version(project, name)
        return f"{uri} does not exist: '{name}' has versions v1 to v{latest}."

    def _unknown_name_message(self, project: str, name: str) -> str:
        self.storage.check_root()
        known = self.storage.list(f"artifacts/{project}")
        hint = (
            f"known names: {', '.join(known[:10])}"
            if known
            else "the registry has no artifacts yet"
        )
        return f"No artifact named '{name}' in project '{project}' at {self.root} ({hint})."

    def _read_alias(self, project: str, name: str, alias: str) -> int | None:
        try:
            data = json.loads(self.storage.read(self._alias_key(project, name, alias)))
            return int(data["version"])
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError):
            return None if alias == LATEST else -1

    def _latest_version(self, project: str, name: str) -> int:
        """The newest committed version (0 if none): the pointer, then a forward probe."""
        start = self._read_alias(project, name, LATEST) or 0
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
                _dumps({"version": version, "updated_at": _now()}),
            )

    # -- resolve / load -------------------------------------------------------------------
    @_storage_errors
    def resolve(self, uri: str | ArtURI) -> ArtifactVersion:
        """Pin ``uri`` to a concrete version (``latest`` and aliases become ``vN``)."""
        parsed = self.parse(uri)
        project, name = parsed.project or self.project, parsed.name
        if parsed.version is not None:
            return self._read_record(project, name, parsed.version)
        alias = parsed.alias or LATEST
        if alias == LATEST:
            version = self._latest_version(project, name)
            if version == 0:
                raise NotFoundError(self._unknown_name_message(project, name))
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
        return self._read_record(project, name, target)

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
            if not report.ok:
                raise IntegrityError(
                    f"Refusing to load {report.summary()}: the data changed after publishing; "
                    "re-publish it or restore the files."
                )
        path = self._materialize(version)
        values = {
            **fields,
            "path": path,
            "name": version.name,
            "uri": version.uri,
            "version": version.version,
        }
        return cls.model_validate(values)

    def manifest(self, version: ArtifactVersion) -> hashing.Manifest:
        try:
            data = json.loads(self.storage.read(self._manifest_key(version.digest)))
            return hashing.Manifest.from_json(data)
        except FileNotFoundError:
            raise CorruptRecordError(
                f"The manifest of {version.uri} is missing from {self.root}: the registry was "
                "damaged outside nemotron-kit; restore it from a backup."
            ) from None
        except (ValueError, KeyError, TypeError, AssertionError) as exc:
            raise CorruptRecordError(
                f"The manifest of {version.uri} is corrupted ({exc})."
            ) from None

    def _materialize(self, version: ArtifactVersion) -> str:
        """A readable path for the artifact's files."""
        storage = version.record["storage"]
        single = storage.get("single_file")
        if storage["mode"] == "reference":
            return str(storage["source"])
        local = self.storage.local_path(f"trees/{version.digest}")
        if local is None:
            return self._materialize_remote(version, single)
        if not local.exists():
            self._build_tree(version, local, self._link_object)
        return str(local / single) if single else str(local)

    def _materialize_remote(self, version: ArtifactVersion, single: str | None) -> str:
        from nemotron_kit.paths import home

        local = home() / "cache" / "trees" / version.digest
        if not local.exists():

            def download(digest: str, dst: Path) -> None:
                dst.write_bytes(self.storage.read(self._object_key(digest)))
                os.chmod(dst, 0o444)

            self._build_tree(version, local, download)
        return str(local / single) if single else str(local)

    def _link_object(self, digest: str, dst: Path) -> None:
        # A copy, not a hard link: writing into a loaded artifact must not change the stored
        # object that every version with this content shares (root ignores read-only modes).
        src = self.storage.local_path(self._object_key(digest))
        assert src is not None
        shutil.copyfile(src, dst)
        os.chmod(dst, 0o444)

    def _build_tree(
        self, version: ArtifactVersion, target: Path, place: Callable[[str, Path], None]
    ) -> None:
        """Lay the files out under a temp name, then rename: readers never see a partial tree."""
        manifest = self.manifest(version)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.parent / f".tmp-{uuid.uuid4().hex}"
        try:
            for entry in manifest.files:
                dst = tmp / entry.rel
                dst.parent.mkdir(parents=True, exist_ok=True)
                place(entry.digest, dst)
            tmp.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(OSError):  # another reader built it first: same content
                os.rename(tmp, target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

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
        extra: dict[str, Any] | None = None,
    ) -> ArtifactVersion:
        """Publish ``artifact`` as the next version of ``name``; atomic under crashes and races."""
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
        context = run_context()
        producer = producer or artifact.producer or (context.run_id if context else None)
        if producer is not None:
            validate_name(producer, "run id")
        input_list = list(inputs) or (list(context.inputs) if context else [])
        pinned_inputs = [self.resolve(i).uri for i in input_list]
        if "://" in artifact.path and not artifact.path.startswith("file://"):
            raise ArtifactError(
                f"Artifact path '{artifact.path}' is remote: publish from a local path (download "
                "it first), or keep the URL in metadata."
            )
        source = Path(artifact.path.removeprefix("file://")).expanduser().resolve()
        chosen = self._choose_mode(mode, source)
        files = hashing.scan(source)
        if not files:
            raise ArtifactError(
                f"Artifact path '{source}' holds no files: there is nothing to publish."
            )
        if chosen == "copy":
            manifest = self._store_objects(files)
        else:
            manifest = hashing.hash_files(files, self.hash_cache)
        if not self.storage.create(self._manifest_key(manifest.digest), _dumps(manifest.to_json())):
            self.storage.touch(self._manifest_key(manifest.digest))  # reused: see _store_objects

        project = self.project
        created = _now()
        fields = artifact.model_dump(mode="json", exclude={"path", "uri", "version", "name"})
        fields["created_at"] = created
        fields["producer"] = producer
        record = {
            "format": RECORD_FORMAT,
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
            },
            **(extra or {}),
        }
        version = self._latest_version(project, name) + 1
        while True:  # the commit point: first writer of a number wins, the others move on
            record["version"] = version
            if self.storage.create(self._record_key(project, name, version), _dumps(record)):
                break
            version += 1
        self._move_latest(project, name, version)
        for alias in alias_list:
            self._write_alias(project, name, alias, version)
        published = ArtifactVersion(record, self.project)
        if producer is not None:  # index: a run's outputs, without scanning versions
            self.storage.create(f"runs/{producer}/outputs/{project}/{name}/{version:08d}", b"")
        if context is not None:
            for listener in context.listeners:
                listener(published, alias_list)
        object.__setattr__(artifact, "name", name)
        object.__setattr__(artifact, "uri", published.uri)
        object.__setattr__(artifact, "version", version)
        object.__setattr__(artifact, "created_at", datetime.fromisoformat(created))
        return published

    def _store_objects(self, files: builtins.list[hashing.FileStat]) -> hashing.Manifest:
        """Copy files into objects/ (content-addressed), hashing in the same pass."""
        known = self.hash_cache.lookup(files) if self.hash_cache else {}
        staging = self._staging_dir()
        entries = []
        fresh: builtins.list[tuple[hashing.FileStat, str]] = []
        try:
            for f in files:
                digest = known.get(f.rel)
                if digest is not None and self.storage.exists(self._object_key(digest)):
                    # Reused content: refresh its age, so a concurrent gc's grace period covers it
                    # until this publish commits.
                    self.storage.touch(self._object_key(digest))
                else:
                    tmp = staging / uuid.uuid4().hex
                    digest = hashing.copy_and_hash(f.path, tmp)
                    fresh.append((f, digest))
                    key = self._object_key(digest)
                    if self.storage.exists(key):
                        tmp.unlink()
                        self.storage.touch(key)
                    elif hasattr(self.storage, "adopt"):
                        self.storage.adopt(tmp, key)
                    else:
                        self.storage.put_file(tmp, key)
                        tmp.unlink()
                entries.append(hashing.ManifestEntry(f.rel, f.size, digest))
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        if self.hash_cache:
            self.hash_cache.store(fresh)
        return hashing.Manifest.build(entries)

    def _staging_dir(self) -> Path:
        local = self.storage.local_path(f"staging/{uuid.uuid4().hex}")
        if local is None:
            from nemotron_kit.paths import home

            local = home() / "tmp" / uuid.uuid4().hex
        local.mkdir(parents=True, exist_ok=True)
        return local

    # -- aliases --------------------------------------------------------------------------
    def _write_alias(self, project: str, name: str, alias: str, version: int) -> None:
        self.storage.replace(
            self._alias_key(project, name, alias),
            _dumps({"version": version, "updated_at": _now()}),
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
        for entry in self.storage.list(f"{self._name_prefix(project, name)}/aliases"):
            alias = entry.removesuffix(".json")
            if alias == LATEST:
                continue
            target = self._read_alias(project, name, alias)
            if target and target > 0:
                out[alias] = target
        latest = self._latest_version(project, name)
        if latest:
            out[LATEST] = latest
        return out

    # -- listing --------------------------------------------------------------------------
    @_storage_errors
    def versions(self, name: str, *, project: str | None = None) -> list[ArtifactVersion]:
        """Every version of ``name``, oldest first."""
        project = project or self.project
        validate_name(name)
        latest = self._latest_version(project, name)
        if latest == 0:
            raise NotFoundError(self._unknown_name_message(project, name))
        return [self._read_record(project, name, v) for v in range(1, latest + 1)]

    @_storage_errors
    def list(self, *, project: str | None = None) -> list[ArtifactEntry]:
        """Every artifact name of ``project`` with its newest version and aliases."""
        project = project or self.project
        entries = []
        for name in self.storage.list(f"artifacts/{project}"):
            latest = self._latest_version(project, name)
            if latest == 0:
                continue  # a name whose first publish never committed
            entries.append(
                ArtifactEntry(
                    project,
                    name,
                    self._read_record(project, name, latest),
                    self.aliases(name, project=project),
                )
            )
        return entries

    def projects(self) -> builtins.list[str]:
        return self.storage.list("artifacts")

    # -- runs and the lineage index ---------------------------------------------------------
    @_storage_errors
    def create_run(self, run_id: str, record: dict[str, Any]) -> None:
        """Write a run's start record (once: run ids are never reused)."""
        validate_name(run_id, "run id")
        if self.storage.create(f"runs/{run_id}/start.json", _dumps(record)):
            return
        if self.storage.exists(f"runs/{run_id}/end.json"):
            raise ArtifactError(
                f"Run '{run_id}' already exists in {self.root}: run ids are unique."
            )
        # The same run again: a requeued Slurm job (preemption, time limit) is another attempt.
        attempt = len(self.storage.list(f"runs/{run_id}/attempts")) + 2
        self.storage.create(f"runs/{run_id}/attempts/{attempt:04d}.json", _dumps(record))

    @_storage_errors
    def finish_run(self, run_id: str, record: dict[str, Any]) -> None:
        """Write a run's end record (once)."""
        validate_name(run_id, "run id")
        self.storage.create(f"runs/{run_id}/end.json", _dumps(record))

    @_storage_errors
    def read_run(self, run_id: str) -> dict[str, Any]:
        """A run's start record merged with its end record (if it ended) and its outputs."""
        validate_name(run_id, "run id")
        try:
            record: dict[str, Any] = json.loads(self.storage.read(f"runs/{run_id}/start.json"))
        except FileNotFoundError:
            raise NotFoundError(
                f"No run '{run_id}' in {self.root}: list runs with `nemotron-kit runs ls`."
            ) from None
        except ValueError as exc:
            raise CorruptRecordError(
                f"The record of run '{run_id}' is corrupted ({exc})."
            ) from None
        try:
            record.update(json.loads(self.storage.read(f"runs/{run_id}/end.json")))
        except FileNotFoundError:
            record.setdefault("status", "RUNNING")
        except ValueError:
            record["status"] = "UNKNOWN"
        record["outputs"] = self.run_outputs(run_id)
        return record

    @_storage_errors
    def run_attempts(self, run_id: str) -> int:
        """How many times the run started (a requeued Slurm job starts it again)."""
        validate_name(run_id, "run id")
        return 1 + len(self.storage.list(f"runs/{run_id}/attempts"))

    @_storage_errors
    def run_ids(self) -> builtins.list[str]:
        return self.storage.list("runs")

    @_storage_errors
    def run_outputs(self, run_id: str) -> builtins.list[str]:
        out = []
        for key, _ in self.storage.walk(f"runs/{run_id}/outputs"):
            project, name, version = key.split("/")[-3:]
            out.append(ArtURI(name, project, int(version)).format(self.project))
        return sorted(out)

    def _consumer_prefix(self, version: ArtifactVersion) -> str:
        return f"{self._name_prefix(version.project, version.name)}/consumers/{version.version:08d}"

    @_storage_errors
    def add_consumer(self, uri: str | ArtURI, run_id: str) -> None:
        """Index that ``run_id`` used the version at ``uri`` (for downstream queries)."""
        validate_name(run_id, "run id")
        self.storage.create(f"{self._consumer_prefix(self.resolve(uri))}/{run_id}", b"")

    @_storage_errors
    def consumers(self, uri: str | ArtURI) -> builtins.list[str]:
        """Run ids that used the version at ``uri``."""
        return self.storage.list(self._consumer_prefix(self.resolve(uri)))

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
                current = hashing.scan(source)
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
        return report

    # -- garbage collection ---------------------------------------------------------------
    @_storage_errors
    def gc(self, *, dry_run: bool = False, grace_seconds: float = 3600.0) -> GcReport:
        """Remove what no version references: unreferenced objects, manifests and trees, and
        leftovers of killed publishes. Anything younger than ``grace_seconds`` is kept, because
        a publish in flight has written its objects but not yet its record."""
        referenced_manifests: set[str] = set()
        referenced_objects: set[str] = set()
        for project in self.projects():
            for name in self.storage.list(f"artifacts/{project}"):
                for key in self.storage.list(f"{self._name_prefix(project, name)}/versions"):
                    if not key.endswith(".json"):
                        continue
                    version = self._read_record(project, name, int(key.removesuffix(".json")))
                    referenced_manifests.add(version.digest)
                    if version.mode == "copy":
                        referenced_objects.update(f.digest for f in self.manifest(version).files)
        cutoff = time.time() - grace_seconds
        report = GcReport()

        def stale(prefix: str, keep: Callable[[str], bool]) -> Iterator[str]:
            for key, mtime in self.storage.walk(prefix):
                if mtime <= cutoff and not keep(key):
                    yield key

        doomed: builtins.list[str] = []
        doomed += stale("objects", lambda k: k.rsplit("/", 1)[-1] in referenced_objects)
        doomed += stale(
            "manifests",
            lambda k: k.rsplit("/", 1)[-1].removesuffix(".json") in referenced_manifests,
        )
        doomed += stale("staging", lambda k: False)
        doomed += stale("trees", lambda k: k.split("/")[1] in referenced_manifests)
        doomed += stale("artifacts", lambda k: not k.rsplit("/", 1)[-1].startswith(".tmp-"))
        report.removed = sorted(doomed)
        if not dry_run:
            for key in report.removed:
                self.storage.delete(key)
            self._prune_empty_dirs()
        return report

    def _prune_empty_dirs(self) -> None:
        local = self.storage.local_path("")
        if local is None:
            return
        for sub in ("objects", "manifests", "staging", "trees"):
            base = local / sub
            if not base.exists():
                continue
            for dirpath, _, _ in sorted(os.walk(base), key=lambda t: -len(t[0])):
                with contextlib.suppress(OSError):
                    if dirpath != str(base):
                        os.rmdir(dirpath)
