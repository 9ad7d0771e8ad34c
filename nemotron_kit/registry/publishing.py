"""Publishing: objects and the manifest first, then the version record created exclusively (the
commit point), then aliases. Writers of one name race only on that create: the loser tries
the next number, so versions are distinct and gapless without any lock.
"""

from __future__ import annotations

import builtins
import json
import os
import socket
import tempfile
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from nemotron_kit.artifacts._base import (
    Artifact,
    artifact_class_path,
)
from nemotron_kit.errors import (
    ArtifactError,
    MetadataError,
    URIError,
)
from nemotron_kit.registry import hashing, layout, records, remote_ref
from nemotron_kit.registry.base import (
    Mode,
    RegistryBase,
    _now,
    _storage_errors,
)
from nemotron_kit.registry.trees import TreeLayer, _remove_tree
from nemotron_kit.registry.uri import LATEST, validate_alias, validate_name
from nemotron_kit.registry.versions import ArtifactVersion


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


class ObjectCheck:
    """Which stored objects a publish may reuse: those whose content hashes to their name.

    A fingerprint (size, times and inode; an ETag on S3) that is unchanged since this machine
    last hashed the object vouches for it; otherwise it is hashed again. Fingerprints live in
    the hash cache, read once per publish and written back at its end.
    """

    def __init__(self, registry: RegistryBase, keys: Iterable[str]) -> None:
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


class PublishLayer(TreeLayer):
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
        if remote_ref.is_remote(artifact.path):
            manifest, storage_info = self._remote_reference(artifact.path, mode)
        else:
            manifest, storage_info = self._local_data(artifact.path, mode, follow_symlinks)
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
            "storage": storage_info,
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

    def _local_data(
        self, path: str, mode: Mode, follow_symlinks: bool
    ) -> tuple[hashing.Manifest, dict[str, Any]]:
        """Hash (reference) or copy (copy mode) local files: the manifest and how they are
        stored."""
        source = Path(path.removeprefix("file://")).expanduser().resolve()
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
        return manifest, {
            "mode": chosen,
            "source": str(source),
            "single_file": source.name if source.is_file() else None,
            "follow_symlinks": follow_symlinks,
        }

    def _remote_reference(self, url: str, mode: Mode) -> tuple[hashing.Manifest, dict[str, Any]]:
        """Data already in object storage is referenced where it is: listed, not read."""
        if mode == "copy":
            raise ArtifactError(
                f"Artifact path '{url}' is in object storage, which mode='copy' does not read: "
                "publish it by reference (mode='reference' or 'auto'), or download it first."
            )
        files, single = remote_ref.scan(url, self.s3_endpoint)
        manifest = hashing.Manifest.build(
            hashing.ManifestEntry(f.rel, f.size, f.digest) for f in files
        )
        return manifest, {
            "mode": "reference",
            "source": url,
            "single_file": single,
            "follow_symlinks": False,
            "fingerprints": {f.rel: f.fingerprint for f in files},
        }

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
        entries: builtins.list[hashing.ManifestEntry] = []
        fresh: builtins.list[tuple[hashing.FileStat, str]] = []
        remote = not self.storage.is_local
        total = sum(f.size for f in files if f.rel not in known)
        try:
            with hashing.progress(total, "uploading" if remote else "copying") as advance:
                self._copy_files(files, known, objects, staging, entries, fresh, advance, remote)
        finally:
            _remove_tree(staging)
            objects.save()
        if self.hash_cache:
            self.hash_cache.store(fresh)
        return hashing.Manifest.build(entries)

    def _copy_files(
        self,
        files: builtins.list[hashing.FileStat],
        known: dict[str, str],
        objects: ObjectCheck,
        staging: Path,
        entries: builtins.list[hashing.ManifestEntry],
        fresh: builtins.list[tuple[hashing.FileStat, str]],
        advance: Callable[[int], None] | None,
        remote: bool,
    ) -> None:
        """Each file's bytes are read once: copied to staging while hashed, then stored. The
        bar follows the copy on local storage, each finished upload on remote storage."""
        for f in files:
            digest = known.get(f.rel)
            if digest is None or not objects.reuse(digest):
                tmp = staging / uuid.uuid4().hex
                digest = hashing.copy_and_hash(f.path, tmp, None if remote else advance)
                fresh.append((f, digest))
                if objects.reuse(digest):
                    tmp.unlink()
                else:
                    self._put_object(tmp, digest)
                    objects.stored(digest)
                    if remote and advance is not None:
                        advance(f.size)
            entries.append(hashing.ManifestEntry(f.rel, f.size, digest))
