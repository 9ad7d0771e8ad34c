"""Publishing: objects and the manifest first, then the version record created exclusively (the
commit point), then aliases. Writers of one name race only on that create: the loser tries
the next number, so versions are distinct and gapless without any lock.
"""

from __future__ import annotations

import builtins
import json
import os
import tempfile
from collections.abc import Callable, Collection, Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

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
from nemotron_kit.registry.gc_fence import wait_for_gc
from nemotron_kit.registry.storage import PARALLEL_REQUESTS, retry_in_dir
from nemotron_kit.registry.trees import TreeLayer, _remove_tree
from nemotron_kit.registry.uri import LATEST, validate_alias, validate_name
from nemotron_kit.registry.versions import ArtifactVersion

if TYPE_CHECKING:
    from nemotron_kit.artifacts._base import Artifact

#: Files up to this size go to remote storage from memory (one read, no staging copy).
INLINE_UPLOAD = hashing.CHUNK


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


_UNLISTED = "\0unlisted"  # no fingerprint: ObjectCheck has not looked the key up


class ObjectCheck:
    """Which stored objects a publish may reuse: those whose content hashes to their name.

    The objects' fingerprints (size, times and inode; an ETag on S3) are looked up together
    (one listing on S3, not a request per object). A fingerprint unchanged since this machine
    last hashed the object vouches for it; otherwise it is hashed again. Fingerprints live in
    the hash cache, read once per publish and written back at its end.

    Reused objects are not touched one by one: the publish's manifest, written or touched
    before the objects are looked at for the last time, keeps them from gc until it commits
    (see ``PublishLayer._store_objects``).
    """

    def __init__(self, registry: RegistryBase, digests: Iterable[str]) -> None:
        self.registry = registry
        self.cache = registry.hash_cache
        self.listed: dict[str, str | None] = {}  # key -> fingerprint (None: absent)
        self.written: set[str] = set()  # keys this publish stored
        self.updates: dict[str, tuple[str, str]] = {}
        keys = self._look_up({registry._object_key(d) for d in digests})
        urls = [registry._object_url(k) for k, fp in keys.items() if fp is not None]
        self.remembered = self.cache.known_objects(urls) if self.cache else {}

    def _look_up(self, keys: Collection[str]) -> dict[str, str | None]:
        found = self.registry.storage.fingerprints(keys)
        looked: dict[str, str | None] = {key: found.get(key) for key in keys}
        self.listed.update(looked)
        return looked

    def sound(self, digest: str) -> bool:
        """True if the object is stored and its content hashes to ``digest``."""
        key = self.registry._object_key(digest)
        if key in self.written:
            return True
        # One lookup: a copy thread storing the same content may pop the key meanwhile.
        fingerprint = self.listed.get(key, _UNLISTED)
        if fingerprint is _UNLISTED:
            fingerprint = self.listed[key] = self.registry.storage.fingerprint(key)
        if fingerprint is None:
            return False
        url = self.registry._object_url(key)
        if self.remembered.get(url) == (fingerprint, digest) or self.updates.get(url) == (
            fingerprint,
            digest,
        ):
            return True
        storage = self.registry.storage
        local = storage.local_path(key)
        try:
            if local is not None:
                actual = hashing.hash_file(local, threads=0)
            else:
                actual = hashing.hash_bytes(storage.read(key))
        except FileNotFoundError:
            return False
        if actual != digest:
            self.listed[key] = None  # damaged: as good as absent, replaced by a fresh copy
            return False
        self.updates[url] = (fingerprint, digest)
        return True

    def store(self, digest: str, data: bytes) -> None:
        """Store ``data``, which hashes to ``digest``, as its object unless a sound one is
        there. A key not looked up yet is created exclusively: absent (new content, the
        common case), that stores it and looks it up in one call."""
        key = self.registry._object_key(digest)
        storage = self.registry.storage
        if key in self.written:
            return
        if key not in self.listed and storage.store_object(key, data, exclusive=True):
            self.stored(digest)
        elif not self.sound(digest):
            storage.store_object(key, data)
            self.stored(digest)

    def stored(self, digest: str) -> None:
        """This publish stored the object: its content is known, its fingerprint comes with
        ``confirm``."""
        key = self.registry._object_key(digest)
        self.written.add(key)
        self.listed.pop(key, None)

    def confirm(self, digests: Iterable[str]) -> builtins.list[str]:
        """Look at every object once more (after the manifest protects them): the digests
        whose object is gone or no longer sound (a concurrent gc, a damaged store)."""
        wanted = {self.registry._object_key(d): d for d in digests}
        previous = {key: self.listed.get(key) for key in wanted}
        now = self._look_up(wanted.keys())
        lost = []
        for key, digest in wanted.items():
            fingerprint = now[key]
            if fingerprint is None:  # asked once more by itself: a listing may lag behind
                fingerprint = self.listed[key] = self.registry.storage.fingerprint(key)
            if fingerprint is None:
                lost.append(digest)
                self.written.discard(key)
            elif key in self.written:  # its content is what this publish read and hashed
                self.updates[self.registry._object_url(key)] = (fingerprint, digest)
            elif fingerprint != previous[key] and not self.sound(digest):
                lost.append(digest)
        return lost

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
        while True:
            if remote_ref.is_remote(artifact.path):
                manifest, storage_info = self._remote_reference(artifact.path, mode)
                self._write_manifest(manifest)
            else:  # writes the manifest too (in copy mode, where its objects need it)
                manifest, storage_info = self._local_data(artifact.path, mode, follow_symlinks)
            # A gc in progress may delete reused content: once it ends, store it anew.
            needed = {manifest.digest}
            if storage_info["mode"] == "copy":
                needed.update(f.digest for f in manifest.files)
            if not wait_for_gc(self.storage, needed, str(self.root)):
                break

        project = self.project
        created = _now()
        fields["created_at"] = created
        fields["producer"] = producer
        record = _version_record(artifact, project, name, fields, pinned_inputs, manifest)
        record["storage"] = storage_info
        version = self._latest_version(project, name) + 1
        while True:  # the commit point: first writer of a number wins, the others move on
            record["version"] = version
            data = records.dumps(records.VersionRecord.model_validate(record))
            # The run's index of outputs learns of the version before it exists: a publish
            # killed right after its commit must not drop it from lineage (run_outputs).
            pending = (
                layout.run_output_pending(producer, project, name, version, os.urandom(16).hex())
                if producer
                else None
            )
            if pending is not None:  # its own name: no other publish removes it
                self.storage.create(pending, b"")
            if self._create_or_find_own(self._record_key(project, name, version), data):
                break
            if pending is not None:  # another publish's number
                self.storage.delete(pending)
            version += 1
        self._move_latest(project, name, version)
        for alias in alias_list:
            self._write_alias(project, name, alias, version)
        published = ArtifactVersion(record, self.project)
        if producer is not None:  # index: a run's outputs, without scanning versions
            self.storage.create(layout.run_output(producer, project, name, version), b"")
            if pending is not None:
                self.storage.delete(pending)
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
        """Hash (reference) or copy (copy mode) local files and write their manifest: the
        manifest and how the files are stored."""
        source = Path(path.removeprefix("file://")).expanduser().resolve()
        chosen = self._choose_mode(mode, source)
        with hashing.old_objects_frozen():  # a row or two per file: GC passes add up
            files = hashing.scan(source, links="follow" if follow_symlinks else "inside")
            if not files:
                raise ArtifactError(
                    f"Artifact path '{source}' holds no files: there is nothing to publish."
                )
            if chosen == "copy":
                manifest = self._store_objects(files)
            else:
                manifest = hashing.hash_files(files, self.hash_cache)
                self._write_manifest(manifest)
        info = {
            "mode": chosen,
            "source": str(source),
            "single_file": source.name if source.is_file() else None,
            "follow_symlinks": follow_symlinks,
        }
        return manifest, info

    def _write_manifest(self, manifest: hashing.Manifest) -> None:
        """Create the manifest, or make it young again if it exists: a young manifest keeps
        the objects it names from gc (see ObjectCheck)."""
        # Its rows are (path, size, digest) tuples already.
        record = records.ManifestRecord(digest=manifest.digest, files=list(manifest.files))
        key = self._manifest_key(manifest.digest)
        if not self.storage.create(key, records.dumps(record)):
            self.storage.touch(key)

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
        """Copy files into objects/ (content-addressed) and write their manifest: what is
        stored is what was hashed.

        On local storage each file is copied next to the objects by the kernel and the copy
        is hashed (several files at once), then renamed into place. On remote storage the
        files are hashed first (or found in the hash cache), the objects already held are
        found with one listing, and only the missing ones are uploaded, several at once. An
        object already stored is reused only if it is sound (its content hashes to its name:
        see ``ObjectCheck``); a damaged one is replaced by the fresh copy, so re-publishing
        good data repairs the registry instead of making a version that fails ``verify``.

        The objects a publish reuses are looked at for the last time after its manifest is
        written, which keeps them from gc: on remote storage the manifest is written before
        they are looked up at all; on local storage, where the digests are known only after
        the copy, they are looked at again then (a stat each).
        """
        remote = not self.storage.is_local
        if remote:
            manifest = hashing.hash_files(files, self.hash_cache)
            self._write_manifest(manifest)
            known = {e.rel: e for e in manifest.files}
        else:
            cached = self.hash_cache.lookup(files) if self.hash_cache else {}
            known = {
                f.rel: hashing.ManifestEntry(f.rel, f.size, cached[f.rel])
                for f in files
                if f.rel in cached
            }
        objects = ObjectCheck(self, {e.digest for e in known.values()})
        todo = [f for f in files if f.rel not in known or not objects.sound(known[f.rel].digest)]
        made = self._store_files(todo, objects)
        if not remote and todo and self.hash_cache:
            self.hash_cache.store(files, [made.get(f.rel) or known[f.rel] for f in files])
        # A file that changed since it was scanned (or, remote, hashed) is recorded as it was
        # stored: the manifest names what the objects hold.
        changed = any(known.get(rel) != e for rel, e in made.items())
        known.update(made)
        if not remote or changed:
            manifest = hashing.Manifest.build([known[f.rel] for f in files])
            self._write_manifest(manifest)
        digests = {rel: e.digest for rel, e in known.items()}
        # Remote: what was uploaded (which learns its fingerprints); local: every object.
        lost = objects.confirm([e.digest for e in made.values()] if remote else digests.values())
        if lost:  # a concurrent gc removed them before the manifest protected them
            sources = {digests[f.rel]: f for f in files}
            again = self._store_files([sources[d] for d in lost], objects)
            if any(again[sources[d].rel].digest != d for d in lost) or objects.confirm(lost):
                raise ArtifactError(
                    f"Objects of this publish to {self.root} vanished as they were written (a "
                    "gc with a grace period shorter than the publish?) and could not be stored "
                    "again as they were: publish again."
                )
        objects.save()
        return manifest

    def _store_files(
        self, files: builtins.list[hashing.FileStat], objects: ObjectCheck
    ) -> dict[str, hashing.ManifestEntry]:
        """Store the files' contents as objects (see ``_store_file``): by rel, what was
        stored."""
        remote = not self.storage.is_local
        staging = self._staging_dir() if remote else None  # local: see layout.object_temp
        try:
            total = sum(f.size for f in files)
            with hashing.progress(total, "uploading" if remote else "copying") as advance:

                def store(f: hashing.FileStat) -> hashing.ManifestEntry:
                    return self._store_file(f, objects, staging, advance)

                # Uploads wait on the network; local copies of files that are not tiny spend
                # their time in system calls and BLAKE3, both outside the GIL: several at once.
                # Tiny local files would only contend for the GIL.
                workers = PARALLEL_REQUESTS if remote else min(4, os.cpu_count() or 1)
                worth_it = remote or total > len(files) * hashing.SMALL_FILE
                if len(files) > 1 and workers > 1 and worth_it:
                    from concurrent.futures import ThreadPoolExecutor

                    with ThreadPoolExecutor(min(len(files), workers)) as pool:
                        made = list(pool.map(store, files))
                else:
                    made = [store(f) for f in files]
        finally:
            if staging is not None:
                _remove_tree(staging)
        return {f.rel: entry for f, entry in zip(files, made, strict=True)}

    def _store_file(
        self,
        f: hashing.FileStat,
        objects: ObjectCheck,
        staging: Path | None,
        advance: Callable[[int], None] | None,
    ) -> hashing.ManifestEntry:
        """Store the content of ``f`` as its object, unless a sound one is there: its entry
        (digest and size of the content stored, read once).

        A small file (up to ``INLINE_UPLOAD`` bound for remote storage, ``SMALL_FILE`` on
        local) is read into memory once, hashed and stored from there; any other is copied
        (to ``staging``, or on local storage next to the objects), and the copy hashed and
        stored.
        """
        remote = not self.storage.is_local
        limit = INLINE_UPLOAD if remote else hashing.SMALL_FILE
        data = hashing.read_small(f.path, f.size, limit) if f.size <= limit else None
        if data is not None:
            digest, size = hashing.hash_bytes(data), len(data)
            objects.store(digest, data)
        else:
            token = os.urandom(16).hex()
            if staging is not None:
                tmp = staging / token
            else:  # local storage: next to the objects (see layout.object_temp)
                local = self.storage.local_path(layout.object_temp(token))
                assert local is not None
                tmp = local
            try:
                digest, size = _copy_in(f, tmp, None if remote else advance)
                if objects.sound(digest):
                    tmp.unlink()
                else:
                    self._put_object(tmp, digest)
                    objects.stored(digest)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        if advance is not None and (remote or data is not None):  # a local copy advanced it
            advance(f.size)
        return hashing.ManifestEntry(f.rel, size, digest)


def _version_record(
    artifact: Artifact,
    project: str,
    name: str,
    fields: dict[str, Any],
    inputs: builtins.list[str],
    manifest: hashing.Manifest,
) -> dict[str, Any]:
    """A version record but for its number and storage (``fields`` carry its creation time
    and producer)."""
    from nemotron_kit.artifacts._base import artifact_class_path  # loaded: ``artifact`` is

    return {
        "format": records.VERSION_FORMAT,
        "project": project,
        "name": name,
        "type": artifact.type,
        "class": artifact_class_path(type(artifact)),
        "fields": fields,
        "created_at": fields["created_at"],
        "producer": fields["producer"],
        "inputs": inputs,
        "host": os.uname().nodename,
        "manifest": {
            "digest": manifest.digest,
            "files": len(manifest.files),
            "bytes": manifest.total_bytes,
        },
    }


def _copy_in(
    f: hashing.FileStat, tmp: Path, advance: Callable[[int], None] | None
) -> tuple[str, int]:
    """``copy_and_hash`` of ``f`` to ``tmp``, in an object shard made when the copy finds it
    missing (see storage.retry_in_dir). Like hash_files: BLAKE3's threads inside a large
    file, one thread per other file (several are copied at once). The copy is the owner's
    alone until it is stored read-only: under umask 000 another user could otherwise change
    it after it was hashed."""
    threads = 0 if f.size >= hashing.LARGE_FILE else 1
    return retry_in_dir(
        tmp.parent, lambda: hashing.copy_and_hash(f.path, tmp, advance, threads, mode=0o600)
    )
