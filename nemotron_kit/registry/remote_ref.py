"""Publishing data that lives in object storage (``s3://``, ``gs://``, ``az://``) by reference.

Nothing is copied or read: each file's size and the store's own fingerprint of its content
(S3's ETag, GCS's generation or etag, Azure's etag) are recorded, and a manifest entry's digest
is derived from them, so a version is still one immutable manifest. ``verify`` lists the data
again and names every file whose fingerprint changed, went missing or appeared: drift, which a
reference cannot prevent but always detects. Listing goes through the registry's own storage
backends, with their timeouts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from nemotron_kit.errors import ArtifactError, NemotronKitError
from nemotron_kit.registry import hashing


@dataclass(frozen=True)
class RemoteFile:
    rel: str
    size: int
    fingerprint: str

    @property
    def digest(self) -> str:
        """Stands in for the content digest: equal fingerprints, equal entries."""
        return hashing.hash_bytes(f"remote:{self.size}:{self.fingerprint}".encode())


def is_remote(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def scan(url: str, endpoint: str | None = None) -> tuple[list[RemoteFile], str | None]:
    """The files at ``url`` (a prefix, or one object) with their fingerprints, and the file's
    name when ``url`` is a single object."""
    from nemotron_kit.registry.storage import open_storage

    options: dict[str, Any] = {}
    endpoint = endpoint or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint and url.startswith("s3://"):
        options["endpoint_url"] = endpoint
    base = url.rstrip("/")
    try:
        found = open_storage(base, dict(options)).listing()
    except (NemotronKitError, FileNotFoundError):
        raise
    except Exception as exc:  # the data's store, not the registry, refused or timed out
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise ArtifactError(
            f"Cannot list '{url}' ({type(exc).__name__}: {reason}): check the URL, the "
            "credentials and the endpoint (AWS_ENDPOINT_URL for S3-compatible stores)."
        ) from exc
    name = base.rpartition("/")[2]
    if len(found) == 1 and found[0][0] == "":  # the URL names one object
        _, size, fingerprint = found[0]
        return [RemoteFile(name, size, fingerprint)], name
    files = [RemoteFile(rel, size, fp) for rel, size, fp in found if rel]
    if files:
        return sorted(files, key=lambda f: f.rel), None
    raise ArtifactError(
        f"'{url}' holds no files (or cannot be listed with these credentials): check the URL "
        "and that the data is there."
    )
