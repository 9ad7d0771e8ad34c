"""The registry's foundation: its storage, keys (through layout), URI parsing and the object
primitives every layer above shares; backend failures become one StorageError sentence.
"""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from nemotron_kit.errors import (
    IntegrityError,
    NemotronKitError,
    StorageError,
    URIError,
)
from nemotron_kit.registry import hashing, layout
from nemotron_kit.registry.hash_cache import HashCache
from nemotron_kit.registry.storage import Storage, makedirs, open_storage
from nemotron_kit.registry.uri import ArtURI, parse_uri, validate_name

if TYPE_CHECKING:
    from nemotron_kit.artifacts._base import Artifact
    from nemotron_kit.registry.versions import ArtifactVersion

RECORD_FORMAT = "nemotron-kit/version/1"
A = TypeVar("A", bound="Artifact")
Mode = Literal["auto", "copy", "reference"]
F = TypeVar("F", bound=Callable[..., Any])


def _storage_errors(method: F) -> F:
    """Turn a backend's connection or permission failure into one StorageError sentence."""

    @functools.wraps(method)
    def wrapper(self: RegistryBase, *args: Any, **kwargs: Any) -> Any:
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
    # Takes the job's logged metrics (``nemotron_kit.log_metrics``): the run's own method.
    metrics: Callable[[dict[str, Any], int | None], None] | None = None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


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


class RegistryBase:
    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        project: str = "default",
        storage_options: dict[str, Any] | None = None,
        hash_cache: str | os.PathLike[str] | Literal[False] | None = None,
    ) -> None:
        self.root = os.fspath(root)
        self.project = validate_name(project, "project name")
        self.storage: Storage = open_storage(self.root, storage_options)
        if hash_cache is False:
            self.hash_cache: HashCache | None = None
        else:
            from nemotron_kit.paths import home

            self.hash_cache = HashCache(hash_cache or home() / "cache" / "hashes.sqlite")
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

    @property
    def s3_endpoint(self) -> str | None:
        """An S3 registry's endpoint: the guess for data referenced in ``s3://`` (after
        $AWS_ENDPOINT_URL, which remote_ref reads first)."""
        endpoint = (
            getattr(self.storage, "endpoint", None) if self.root.startswith("s3://") else None
        )
        return endpoint if isinstance(endpoint, str) else None

    # -- parsing --------------------------------------------------------------------------
    def parse(self, uri: str | ArtURI) -> ArtURI:
        parsed = uri if isinstance(uri, ArtURI) else parse_uri(uri)
        if parsed.project is None:
            parsed = ArtURI(parsed.name, self.project, parsed.version, parsed.alias, parsed.path)
        return parsed

    def _object_url(self, key: str) -> str:
        return f"{self.storage.url}/{key}"

    def _staging_dir(self) -> Path:
        local = self.storage.local_path(layout.staging(os.urandom(16).hex()))
        if local is None:
            from nemotron_kit.paths import home

            local = home() / "tmp" / os.urandom(16).hex()
        makedirs(local)
        return local

    def _create_or_find_own(self, key: str, data: bytes) -> bool:
        """Exclusive create of ``key``. A remote create whose answer was lost (a timeout, then
        a retry) may find the key made by its own first attempt: the same bytes are ours."""
        if self.storage.create(key, data):
            return True
        try:
            return self.storage.read(key) == data
        except FileNotFoundError:
            return False

    def _put_object(self, tmp: Path, digest: str) -> None:
        """Store the fresh copy ``tmp`` as the object ``digest`` (replacing a damaged one)."""
        self.storage.adopt(tmp, self._object_key(digest))

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
            if os.path.exists(src):  # the tree's directory went, not the object
                raise StorageError(
                    f"The tree being laid out at {dst.parent} vanished (removed by hand, or "
                    "by a gc with a grace period of 0?): load it again."
                ) from None
            raise IntegrityError(
                f"The object {digest[:16]}... is missing from {self.root}: run `nemotron-kit "
                "artifacts verify` on the versions that use it, and re-publish them."
            ) from None
        except OSError:  # a filesystem without hard links: a read-only copy
            shutil.copyfile(src, dst)
            os.chmod(dst, 0o444)
