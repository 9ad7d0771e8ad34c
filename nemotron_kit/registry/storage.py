"""Storage primitives under the registry: a handful per backend, everything else built on them.

Keys are ``/``-separated paths relative to the registry root. Each backend provides exclusive
create (the commit point of a publish), atomic replace, read, exists, list and delete; the
registry logic is written once above these.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import functools
import io
import os
import shutil
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

from nemotron_kit.errors import StorageError

#: Requests a remote backend keeps in flight at once (uploads, HEADs): about what the HTTP
#: connection pool of s3fs holds (10), so none waits for a connection.
PARALLEL_REQUESTS = 8
#: From this many keys on, an S3 registry lists their prefix instead of a HEAD per key.
LIST_AT_LEAST = 16


class Storage(ABC):
    """The primitives a registry needs from a place to keep bytes.

    A backend implements six: ``read``, ``create`` (exclusive), ``replace`` (atomic), ``list``,
    ``walk`` and ``delete``. Everything else has a default here, written on those six, that a
    backend overrides only where it has something cheaper (a HEAD instead of a read, a
    server-side copy, a rename). ``local_path`` is a capability: a backend that keeps its keys
    as files on this machine says where, and the registry then links instead of copying.
    """

    url: str  # the registry root as an fsspec URL or local path

    @abstractmethod
    def read(self, key: str) -> bytes:
        """The object's bytes; ``FileNotFoundError`` if absent."""

    @abstractmethod
    def create(self, key: str, data: bytes) -> bool:
        """Create ``key`` with ``data`` only if absent, atomically; False if it already exists."""

    @abstractmethod
    def replace(self, key: str, data: bytes) -> None:
        """Write ``key`` so readers see the old or the new bytes, never a mix."""

    @abstractmethod
    def list(self, prefix: str) -> list[str]:
        """Names directly under ``prefix`` (files and sub-prefixes), sorted; [] if none."""

    @abstractmethod
    def walk(self, prefix: str) -> Iterator[tuple[str, float]]:
        """Every object key below ``prefix`` with its modification time (epoch seconds)."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key``; nothing happens if it is absent."""

    # -- derived: correct on the primitives, overridden where a backend has better --------------
    def exists(self, key: str) -> bool:
        try:
            self.read(key)
        except FileNotFoundError:
            return False
        return True

    def put_file(self, local: Path, key: str) -> None:
        """Upload a local file to ``key`` atomically (readers never see a partial object)."""
        self.replace(key, local.read_bytes())

    def adopt(self, local: Path, key: str) -> None:
        """Store the temporary file ``local`` as ``key``, which then owns it (moved, or
        uploaded and removed)."""
        self.put_file(local, key)
        local.unlink()

    def store_object(self, key: str, data: bytes, *, exclusive: bool = False) -> bool:
        """Store ``data`` as ``key``: content that is never written again (a local backend
        makes it read-only). With ``exclusive``, only if ``key`` is absent: False if it
        exists (left as it is), which answers a look-up in the same call."""
        if exclusive:
            return self.create(key, data)
        self.replace(key, data)
        return True

    def touch(self, key: str) -> None:
        """Set the object's modification time to now (gc keeps young objects)."""
        with contextlib.suppress(FileNotFoundError):
            self.replace(key, self.read(key))

    def open(self, key: str) -> IO[bytes]:
        """A binary stream for reading ``key``."""
        return io.BytesIO(self.read(key))

    def fingerprint(self, key: str) -> str | None:
        """What changes whenever the object's bytes may have (size, times, inode or ETag);
        None if it does not exist."""
        try:
            data = self.read(key)
        except FileNotFoundError:
            return None
        import hashlib  # here: OpenSSL costs milliseconds to load, and few backends get here

        return f"{len(data)}:{hashlib.blake2b(data, digest_size=16).hexdigest()}"

    def fingerprints(self, keys: Collection[str]) -> dict[str, str]:
        """The fingerprint of each of ``keys`` that exists (absent ones are left out), in as
        few round trips as the backend can: one ``fingerprint`` per key here."""
        found = {key: self.fingerprint(key) for key in keys}
        return {key: fp for key, fp in found.items() if fp is not None}

    def local_path(self, key: str) -> Path | None:
        """The key's local filesystem path, when the storage is a local directory."""
        return None

    def listing(self, prefix: str = "") -> builtins.list[tuple[str, int, str]]:
        """``(key, size, fingerprint)`` of every object below ``prefix`` (or the object named
        ``prefix``), for publishing data by reference; one listing call where a backend can."""
        out = []
        for key, _ in self.walk(prefix):
            fingerprint = self.fingerprint(key)
            if fingerprint is not None:
                out.append((key, int(fingerprint.split(":", 1)[0]), fingerprint))
        return out

    def check_root(self) -> None:  # noqa: B027 - optional hook, most backends need nothing
        """Raise StorageError if the root itself is missing (e.g. an S3 bucket never created)."""

    @property
    def is_local(self) -> bool:
        return self.local_path("") is not None


def makedirs(path: Path) -> None:
    """``mkdir -p`` with mode 0755 for every directory it creates, whatever the umask: a
    shared registry must never become world-writable (umask 000 would make it so)."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        # Made by another writer meanwhile, or pruned by a gc right after: the write that
        # needs it finds out (see retry_in_dir).
        with contextlib.suppress(FileExistsError, FileNotFoundError):
            directory.mkdir()
            os.chmod(directory, 0o755)


T = TypeVar("T")


def retry_in_dir(directory: str | Path, make: Callable[[], T]) -> T:
    """``make()``, which creates an entry in ``directory``; if that finds something missing,
    make the directory and call it again (up to twice more). Directories are made only when
    a write finds them missing (no stat walk before each), and gc prunes an empty one it
    emptied or that is old, which may be just as a writer looked: the writer's own, new one
    stays (young). What else may be missing (a source file) fails the last call the same
    way."""
    for _ in range(2):  # twice: two gc runs at once may each prune it once
        try:
            return make()
        except FileNotFoundError:
            makedirs(Path(directory))
    return make()


# O_TMPFILE errors that mean "not on this filesystem or kernel" (NFS, an old kernel).
_NO_TMPFILE = {errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL}


def _write_whole(path: str, data: bytes, *, exclusive: bool, mode: int, sync: bool = False) -> bool:
    """``data`` as the file ``path`` with ``mode`` (not 0666 less the umask), which readers
    see whole or not at all: only if absent with ``exclusive`` (False if it exists), else
    replacing what is there. With ``sync``, on disk before it gets its name.

    It is written as an unnamed file in its directory (``O_TMPFILE``) and then linked in under
    its name: one directory entry made, where a named temporary file costs three changes
    (create, rename out, rename in: a third of a copy-mode publish of small files). A killed
    writer leaves nothing behind. Where the system or filesystem has no unnamed files (macOS,
    NFS), or /proc is not mounted, it goes by a named one.
    """
    unnamed_file = getattr(os, "O_TMPFILE", None)  # Linux only
    if unnamed_file is None:
        return _write_named(path, data, exclusive, mode, sync)
    try:
        fd = os.open(os.path.dirname(path), os.O_WRONLY | unnamed_file | os.O_CLOEXEC, 0o600)
    except OSError as e:
        if e.errno not in _NO_TMPFILE:
            raise  # FileNotFoundError: the directory is missing (see retry_in_dir)
        return _write_named(path, data, exclusive, mode, sync)
    try:
        _fill(fd, data, mode, sync)
        unnamed = f"/proc/self/fd/{fd}"
        # os.link calls linkat(AT_SYMLINK_FOLLOW), which links the file the /proc entry
        # points to, only when given a directory descriptor (unused with an absolute path).
        try:
            os.link(unnamed, path, src_dir_fd=fd, follow_symlinks=True)
            return True
        except FileExistsError:
            if exclusive:
                return False
            tmp = os.path.join(os.path.dirname(path), f".tmp-{os.urandom(16).hex()}")
            os.link(unnamed, tmp, src_dir_fd=fd, follow_symlinks=True)
            try:
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
            return True
        except FileNotFoundError:
            if os.path.isdir("/proc/self/fd"):
                raise  # the directory went (a gc pruned it): see retry_in_dir
            return _write_named(path, data, exclusive, mode, sync)
    finally:
        os.close(fd)


def _write_named(path: str, data: bytes, exclusive: bool, mode: int, sync: bool) -> bool:
    tmp = os.path.join(os.path.dirname(path), f".tmp-{os.urandom(16).hex()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        try:
            _fill(fd, data, mode, sync)
        finally:
            os.close(fd)
        if not exclusive:
            os.replace(tmp, path)
            return True
        try:
            os.link(tmp, path)  # atomic, fails if the name exists; content already complete
        except FileExistsError:
            return False
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _fill(fd: int, data: bytes, mode: int, sync: bool) -> None:
    _write_fd(fd, data)
    os.fchmod(fd, mode)
    if sync:
        os.fsync(fd)


def _write_fd(fd: int, data: bytes) -> None:
    view = memoryview(data)
    done = 0
    while done < len(view):
        done += os.write(fd, view[done:])


def _join(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p.strip("/"))


class LocalStorage(Storage):
    """A directory on this machine. Exclusive create is ``link(2)`` of a fully written temp file."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(str(root).removeprefix("file://")).expanduser().resolve()
        self.url = str(self.root)
        self._root_str = str(self.root)
        self._root_prefix = self._root_str.rstrip("/") + "/"
        if self.root.exists() and not self.root.is_dir():
            raise StorageError(f"Registry root '{self.root}' is a file: choose a directory.")

    def _file(self, key: str) -> str:
        # Keys are built from validated names; normpath (no syscalls) still guards against '..'.
        path = os.path.normpath(os.path.join(self._root_str, key))
        if path != self._root_str and not path.startswith(self._root_prefix):
            raise StorageError(f"Registry key '{key}' escapes the registry root.")
        return path

    def _path(self, key: str) -> Path:
        return Path(self._file(key))

    def local_path(self, key: str) -> Path:
        return self._path(key)

    @property
    def is_local(self) -> bool:
        return True

    def _temp_for(self, path: Path) -> Path:
        return path.parent / f".tmp-{os.urandom(16).hex()}-{path.name}"

    def read(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    def create(self, key: str, data: bytes) -> bool:
        path = self._file(key)
        return retry_in_dir(
            os.path.dirname(path),
            lambda: _write_whole(path, data, exclusive=True, mode=0o644, sync=True),
        )

    def replace(self, key: str, data: bytes) -> None:
        path = self._file(key)
        retry_in_dir(
            os.path.dirname(path), lambda: _write_whole(path, data, exclusive=False, mode=0o644)
        )

    def put_file(self, local: Path, key: str) -> None:
        path = self._path(key)
        tmp = self._temp_for(path)
        try:
            retry_in_dir(path.parent, lambda: shutil.copyfile(local, tmp))
            os.chmod(tmp, 0o444)  # published content is never written again
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    def adopt(self, local: Path, key: str) -> None:
        """Move a temp file written inside the registry into place (same filesystem)."""
        # Called once per file a publish copies: a plain string path.
        path = self._file(key)
        os.chmod(local, 0o444)  # published content is never written again
        retry_in_dir(os.path.dirname(path), lambda: os.replace(local, path))

    def store_object(self, key: str, data: bytes, *, exclusive: bool = False) -> bool:
        path = self._file(key)
        return retry_in_dir(  # published content is never written again
            os.path.dirname(path),
            lambda: _write_whole(path, data, exclusive=exclusive, mode=0o444),
        )

    def touch(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.utime(self._file(key))

    def list(self, prefix: str) -> list[str]:
        path = self._path(prefix)
        try:
            return sorted(p.name for p in path.iterdir() if not p.name.startswith(".tmp-"))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def walk(self, prefix: str) -> Iterator[tuple[str, float]]:
        base = self._path(prefix)
        for dirpath, _, files in os.walk(base):
            for fname in files:
                full = Path(dirpath) / fname
                with contextlib.suppress(FileNotFoundError):
                    yield full.relative_to(self.root).as_posix(), full.stat().st_mtime

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()

    def open(self, key: str) -> IO[bytes]:
        return open(self._path(key), "rb")

    def fingerprint(self, key: str) -> str | None:
        # ctime changes on every write and cannot be set back, unlike mtime.
        try:
            st = os.stat(self._file(key))
        except FileNotFoundError:
            return None
        return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}"


class FsspecStorage(Storage):
    """An fsspec filesystem whose backend honours conditional writes (see ``create``)."""

    timeout_s: float | None
    attempts: int
    endpoint: str | None

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float | None = None,
        attempts: int = 1,
        endpoint: str | None = None,
        **storage_options: Any,
    ) -> None:
        import fsspec

        self.timeout_s, self.attempts, self.endpoint = timeout_s, attempts, endpoint
        self.url = url.rstrip("/")
        self.fs, self.base = fsspec.core.url_to_fs(self.url, **storage_options)
        self.base = self.base.rstrip("/")

    def _full(self, key: str) -> str:
        return _join(self.base, key) if key else self.base

    def _io(self, method: str, *args: Any, size: int = 0, **kwargs: Any) -> Any:
        """``fs.method(*args)``, never longer than its deadline on a remote store.

        The per-request timeouts bound each read, but a request can also stall elsewhere (a
        PUT waiting for '100 Continue'); fsspec's ``sync`` then enforces the whole call's
        deadline: ``timeout_s`` times ``attempts``, plus the time ``size`` bytes take at 1 MiB/s.
        """
        if self.timeout_s is not None and hasattr(self.fs, "loop"):
            kwargs["timeout"] = self.timeout_s * self.attempts + 5 + size / (1 << 20)
        call = getattr(self.fs, method)
        for attempt in range(SERVER_ERROR_TRIES - 1):
            try:
                return call(*args, **kwargs)
            except Exception as exc:
                if not self._server_error(exc):
                    raise
            # Full jitter: writers that failed together (a burst) do not retry together.
            time.sleep(min(2.0, 0.1 * 2**attempt) * int.from_bytes(os.urandom(2)) / 65536)
        return call(*args, **kwargs)

    def _server_error(self, exc: Exception) -> bool:
        """Whether ``exc`` is the store's answer that it failed this time (HTTP 500, 502,
        503, 504), which its own SDK would try again, and which the fsspec backend did not
        (the call is then tried again, up to ``SERVER_ERROR_TRIES`` times in all). Errors
        without an answer (timeouts, refused connections) are not: ``attempts`` bounds those."""
        return False

    def create(self, key: str, data: bytes) -> bool:
        """A conditional write through fsspec's ``mode="create"`` (S3 ``If-None-Match: *``,
        Azure the same, GCS ``ifGenerationMatch=0``); the loser's error says it exists."""
        try:
            self._io("pipe_file", self._full(key), data, mode="create", size=len(data))
        except FileExistsError:
            return False
        except Exception as exc:
            if self._already_exists(exc):
                return False
            raise
        return True

    def _already_exists(self, exc: Exception) -> bool:
        """Whether a backend's own error for a conditional write means "it exists"."""
        return False

    def read(self, key: str) -> bytes:
        data: bytes = self._io("cat_file", self._full(key))
        return data

    def exists(self, key: str) -> bool:
        return bool(self._io("exists", self._full(key)))

    def replace(self, key: str, data: bytes) -> None:
        self._io("pipe_file", self._full(key), data, size=len(data))

    def put_file(self, local: Path, key: str) -> None:
        self._io("put_file", str(local), self._full(key), size=local.stat().st_size)

    def list(self, prefix: str) -> list[str]:
        try:
            entries = self._io("ls", self._full(prefix), detail=False, refresh=True)
        except FileNotFoundError:
            return []
        names = {str(e).rstrip("/").rsplit("/", 1)[-1] for e in entries}
        return sorted(n for n in names if n and not n.startswith(".tmp-"))

    def walk(self, prefix: str) -> Iterator[tuple[str, float]]:
        base = self._full(prefix)
        try:
            found = self._io("find", base, detail=True)
        except FileNotFoundError:
            return
        for path, info in found.items():
            if info.get("type") == "directory":
                continue
            rel = str(path)[len(self.base) :].lstrip("/")
            yield rel, _mtime(info)

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._io("rm_file", self._full(key))

    def touch(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            data = self._io("cat_file", self._full(key))
            self._io("pipe_file", self._full(key), data, size=len(data))

    def open(self, key: str) -> IO[bytes]:
        stream: IO[bytes] = self.fs.open(self._full(key), "rb")
        return stream

    def fingerprint(self, key: str) -> str | None:
        try:
            info = self._io("info", self._full(key))
        except FileNotFoundError:
            return None
        return _fingerprint(info)

    def fingerprints(self, keys: Collection[str]) -> dict[str, str]:
        """One request per key, but many at once: a round trip each, not one after another."""
        if len(keys) < 2:
            return super().fingerprints(keys)
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(len(keys), PARALLEL_REQUESTS)) as pool:
            found = dict(zip(keys, pool.map(self.fingerprint, keys), strict=True))
        return {key: fp for key, fp in found.items() if fp is not None}

    def listing(self, prefix: str = "") -> builtins.list[tuple[str, int, str]]:
        base = self._full(prefix) if prefix else self.base
        try:
            found = self._io("find", base, detail=True)
        except FileNotFoundError:
            return []
        out = []
        for path, info in found.items():
            if info.get("type") == "directory":
                continue
            rel = str(path)[len(self.base) :].lstrip("/")
            out.append((rel, int(info.get("size") or 0), _fingerprint(info)))
        return out


def _fingerprint(info: dict[str, Any]) -> str:
    """Size and what the store changes with the content: a version id or generation where
    the bucket keeps versions, else the ETag (S3, Azure) or etag (GCS), else the time."""
    tag = (
        info.get("VersionId")
        or info.get("generation")
        or info.get("ETag")
        or info.get("etag")
        or info.get("created")
        or _mtime(info)
    )
    return f"{info.get('size')}:{tag}"


def _mtime(info: dict[str, Any]) -> float:
    value = (
        info.get("mtime")
        or info.get("LastModified")
        or info.get("last_modified")
        or info.get("created")
        or 0.0
    )
    if hasattr(value, "timestamp"):
        return float(value.timestamp())
    return float(value)


class MemoryStorage(FsspecStorage):
    """fsspec's in-memory filesystem (one process): for tests and notebooks."""

    _lock = threading.Lock()

    def create(self, key: str, data: bytes) -> bool:
        with self._lock:
            if self.fs.exists(self._full(key)):
                return False
            self.fs.pipe_file(self._full(key), data)
            return True


class S3Storage(FsspecStorage):
    """S3 and S3-compatible stores. Exclusive create is a conditional PUT (If-None-Match: *)."""

    def _already_exists(self, exc: Exception) -> bool:
        # s3fs raises FileExistsError when the 412 names its condition (AWS and moto do);
        # a server that leaves it out gives an OSError.
        code, status = _s3_answer(exc)
        return code == "PreconditionFailed" or status == 412

    def _server_error(self, exc: Exception) -> bool:
        # botocore's own retries are off (see open_s3) and s3fs retries only SlowDown: an
        # InternalError (500, "please try again") failed the publish.
        code, status = _s3_answer(exc)
        return code != "SlowDown" and status in _SERVER_ERRORS

    def touch(self, key: str) -> None:
        # Copying an object onto itself with new metadata refreshes LastModified server-side,
        # without moving the data through this process.
        bucket, _, path = self._full(key).partition("/")
        with contextlib.suppress(FileNotFoundError):
            self._io(
                "call_s3",
                "copy_object",
                Bucket=bucket,
                Key=path,
                CopySource={"Bucket": bucket, "Key": path},
                MetadataDirective="REPLACE",
            )

    def check_root(self) -> None:
        # HEAD the bucket itself: s3fs's exists() answers False for a timeout too.
        bucket = self.base.split("/", 1)[0]
        try:
            self._io("call_s3", "head_bucket", Bucket=bucket)
        except FileNotFoundError:
            raise StorageError(
                f"The bucket '{bucket}' of registry '{self.url}' does not exist: create it "
                f"(aws s3 mb s3://{bucket}) or fix registry.bucket."
            ) from None
        except PermissionError:
            raise StorageError(
                f"Access to the bucket '{bucket}' of registry '{self.url}' was refused: check "
                "the credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE)."
            ) from None

    def fingerprints(self, keys: Collection[str]) -> dict[str, str]:
        """Many keys below one prefix (a publish's objects): one listing of that prefix, a page
        per 1,000 objects, unless it holds far more objects than asked about; then a HEAD per
        key, many at once."""
        if len(keys) >= LIST_AT_LEAST:
            prefix = os.path.commonpath(list(keys))  # a directory: the keys are distinct
            listed = self._list_fingerprints(prefix, limit=max(1000, 20 * len(keys)))
            if listed is not None:
                return {key: listed[key] for key in keys if key in listed}
        return super().fingerprints(keys)

    def _list_fingerprints(self, prefix: str, limit: int) -> dict[str, str] | None:
        """key -> fingerprint of every object below ``prefix``; None once there are more than
        ``limit``. The fingerprint is the one a HEAD gives (size and ETag) on an unversioned
        bucket."""
        bucket, _, path = self._full(prefix).partition("/")
        path = f"{path}/" if path else ""
        skip = len(self.base.partition("/")[2]) + 1 if "/" in self.base else 0
        found: dict[str, str] = {}
        request: dict[str, Any] = {"Bucket": bucket, "Prefix": path}
        while True:
            page = self._io("call_s3", "list_objects_v2", **request)
            for item in page.get("Contents", []):
                found[item["Key"][skip:]] = f"{item['Size']}:{item.get('ETag')}"
            if len(found) > limit:
                return None
            if not page.get("IsTruncated"):
                return found
            request["ContinuationToken"] = page["NextContinuationToken"]

    def exists(self, key: str) -> bool:
        # Listings are cached by s3fs; a commit point must never be judged from a stale cache.
        self.fs.invalidate_cache(self._full(key))
        return bool(self._io("exists", self._full(key)))


class AzureStorage(FsspecStorage):
    """Azure Blob Storage through adlfs (``az://CONTAINER/PREFIX``). Exclusive create is an
    upload with ``If-None-Match: *``; the service answers 409 BlobAlreadyExists."""

    def _already_exists(self, exc: Exception) -> bool:
        return type(exc).__name__ == "ResourceExistsError"  # azure-core's, without importing it

    def list(self, prefix: str) -> list[str]:
        # adlfs caches listings and ignores ``refresh``: another writer's record would be missed.
        self.fs.invalidate_cache(self._full(prefix))
        return super().list(prefix)

    def check_root(self) -> None:
        container = self.base.split("/", 1)[0]
        try:
            found = self._io("exists", container)
        except PermissionError:
            found = True  # an account without list rights: the first write will say
        if not found:
            raise StorageError(
                f"The container '{container}' of registry '{self.url}' does not exist: create "
                f"it (az storage container create -n {container}) or fix the registry root."
            )


class GCSStorage(FsspecStorage):
    """Google Cloud Storage through gcsfs (``gs://BUCKET/PREFIX``). Exclusive create is an
    upload with ``ifGenerationMatch=0``; the service answers 412 (gcsfs: FileExistsError)."""

    def exists(self, key: str) -> bool:
        self.fs.invalidate_cache(self._full(key))
        return bool(self._io("exists", self._full(key)))

    def check_root(self) -> None:
        bucket = self.base.split("/", 1)[0]
        if not self._io("exists", bucket):
            raise StorageError(
                f"The bucket '{bucket}' of registry '{self.url}' does not exist: create it "
                f"(gcloud storage buckets create gs://{bucket}) or fix the registry root."
            )


DEFAULT_TIMEOUT_S = 10.0
DEFAULT_ATTEMPTS = 2


def _s3_answer(exc: BaseException) -> tuple[str | None, int | None]:
    """The error code and HTTP status S3 answered with, if ``exc`` came from an answer. s3fs
    translates botocore's error into an OSError that names it as its cause (a few of its paths
    leave it only as the context)."""
    response = getattr(exc.__cause__ or exc.__context__, "response", None)
    if not isinstance(response, dict):
        return None, None
    return response.get("Error", {}).get("Code"), response.get("ResponseMetadata", {}).get(
        "HTTPStatusCode"
    )


#: Tries of a call the store answered with a server error (see FsspecStorage._server_error):
#: as many as botocore's legacy mode makes, backing off from 0.1 s (1.5 s at most in all).
SERVER_ERROR_TRIES = 5
_SERVER_ERRORS = {500, 502, 503, 504}
#: The entry-point group through which a package adds a storage backend for a protocol:
#: ``[project.entry-points."nemotron_kit.storage"] myproto = "mypkg.storage:open_myproto"``,
#: a callable ``(root, options, timeout_s, attempts) -> Storage``.
ENTRY_POINT_GROUP = "nemotron_kit.storage"


def local_root(root: str) -> Path | None:
    """The directory of a registry root on this machine, or None for remote storage."""
    if "://" in root and not root.startswith("file://"):
        return None
    return Path(root.removeprefix("file://")).expanduser().absolute()


def open_storage(
    root: str | os.PathLike[str], storage_options: dict[str, Any] | None = None
) -> Storage:
    """The storage for a registry root, chosen by its protocol: a local path or ``file://``,
    ``memory://``, ``s3://``, ``az://`` (also ``abfs://``), ``gs://`` (also ``gcs://``), or one a
    package registers in the ``nemotron_kit.storage`` entry-point group.

    Remote storage waits at most ``timeout_s`` (default 10 s, or
    ``$NEMOTRON_KIT_REGISTRY_TIMEOUT``) to connect and for each answer, and tries a request
    ``attempts`` times (default 2) with backoff: an endpoint that accepts connections and never
    answers costs about ``timeout_s * attempts`` per call, never hangs a job.
    """
    from nemotron_kit.environment import REGISTRY_TIMEOUT_ENV

    root = os.fspath(root)
    options = dict(storage_options or {})
    timeout = float(
        options.pop("timeout_s", None) or os.environ.get(REGISTRY_TIMEOUT_ENV) or DEFAULT_TIMEOUT_S
    )
    attempts = int(options.pop("attempts", None) or DEFAULT_ATTEMPTS)
    protocol = root.split("://", 1)[0] if "://" in root else "file"
    # A built-in protocol needs no look at the installed packages (a scan of their metadata).
    opener = BUILTIN.get(protocol) or _plugins().get(protocol)
    if opener is None:
        urls = ", ".join(f"{p}://" for p in sorted(backends()) if p != "file")
        raise StorageError(
            f"Registry root '{root}' uses protocol '{protocol}', which nemotron-kit cannot "
            f"publish to safely: use a local path or one of {urls} (a package can add a "
            f"protocol through the '{ENTRY_POINT_GROUP}' entry points)."
        )
    return opener(root, options, timeout, attempts)


Opener = Callable[[str, dict[str, Any], float, int], Storage]


def backends() -> dict[str, Opener]:
    """Protocol -> opener: the built-in backends, then those of installed packages (which
    add protocols; they cannot take over a built-in one)."""
    return {**_plugins(), **BUILTIN}


@functools.cache
def _plugins() -> dict[str, Opener]:
    """The installed packages' backends, looked up once per process (a scan of every
    installed distribution's metadata)."""
    from importlib.metadata import entry_points

    found: dict[str, Opener] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, _lazy(ep))
    return found


def _lazy(ep: Any) -> Opener:
    def opener(root: str, options: dict[str, Any], timeout: float, attempts: int) -> Storage:
        storage: Storage = ep.load()(root, options, timeout, attempts)
        return storage

    return opener


def open_local(root: str, options: dict[str, Any], timeout: float, attempts: int) -> Storage:
    return LocalStorage(root)


def open_memory(root: str, options: dict[str, Any], timeout: float, attempts: int) -> Storage:
    return MemoryStorage(root, **options)


def _needs(module: str, option: str, *loggers: str) -> None:
    """The backend's package is installed (else one sentence naming the extra); and inside a
    Hydra job, whose root logger is at INFO, its SDK's chatter stays out of the log."""
    import logging

    from nemotron_kit._deps import require

    require(module, option)
    for name in loggers:
        logging.getLogger(name).setLevel(logging.WARNING)


def open_s3(root: str, options: dict[str, Any], timeout: float, attempts: int) -> Storage:
    _needs("s3fs", "registry=s3", "aiobotocore", "botocore", "s3fs")
    endpoint = options.pop("endpoint_url", None)
    if endpoint:
        options.setdefault("client_kwargs", {})["endpoint_url"] = endpoint
    options.setdefault("skip_instance_cache", True)
    # botocore tries once; s3fs's own loop makes the attempts (with backoff), so the
    # total wait is bounded by timeout and attempts alone.
    config = options.setdefault("config_kwargs", {})
    config.setdefault("connect_timeout", timeout)
    config.setdefault("read_timeout", timeout)
    config.setdefault("retries", {"max_attempts": 0, "mode": "legacy"})  # one try each
    storage = S3Storage(root, timeout_s=timeout, attempts=attempts, endpoint=endpoint, **options)
    storage.fs.retries = attempts
    return storage


def open_azure(root: str, options: dict[str, Any], timeout: float, attempts: int) -> Storage:
    """Credentials as adlfs reads them: ``connection_string``/``account_name``+``account_key``
    options, or $AZURE_STORAGE_CONNECTION_STRING (and adlfs's other AZURE_STORAGE_* names)."""
    _needs("adlfs", "registry=azure", "azure", "adlfs")
    endpoint = options.pop("endpoint_url", None)
    options.setdefault("skip_instance_cache", True)
    options.setdefault("connection_timeout", timeout)
    options.setdefault("read_timeout", timeout)
    url = "az://" + root.split("://", 1)[1]
    return AzureStorage(url, timeout_s=timeout, attempts=attempts, endpoint=endpoint, **options)


def open_gcs(root: str, options: dict[str, Any], timeout: float, attempts: int) -> Storage:
    """Credentials as gcsfs finds them (``token`` option, application default credentials);
    ``endpoint_url`` for an emulator."""
    _needs("gcsfs", "registry=gcs", "gcsfs", "google")
    endpoint = options.pop("endpoint_url", None) or os.environ.get("STORAGE_EMULATOR_HOST")
    if endpoint:
        options["endpoint_url"] = endpoint
        options.setdefault("token", "anon")
        # gcsfs 2026 probes the bucket type over gRPC first; an emulator never answers that.
        os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
    options.setdefault("skip_instance_cache", True)
    options.setdefault("timeout", timeout)
    url = "gs://" + root.split("://", 1)[1]
    return GCSStorage(url, timeout_s=timeout, attempts=attempts, endpoint=endpoint, **options)


BUILTIN: dict[str, Opener] = {
    "file": open_local,
    "memory": open_memory,
    "s3": open_s3,
    "s3a": open_s3,
    "az": open_azure,
    "abfs": open_azure,
    "gs": open_gcs,
    "gcs": open_gcs,
}
