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


#: The stores whose objects can be referenced (their registry backends list them).
SCHEMES = ("s3", "gs", "gcs", "az", "abfs")


def scan(url: str, endpoint: str | None = None) -> tuple[list[RemoteFile], str | None]:
    """The files at ``url`` (a prefix, or one object) with their fingerprints, and the file's
    name when ``url`` is a single object. Nothing there is an error."""
    files, single = _scan(url, endpoint)
    if not files:
        raise ArtifactError(
            f"'{url}' holds no files (or cannot be listed with these credentials): check the "
            "URL and that the data is there."
        )
    return files, single


def list_files(url: str, endpoint: str | None = None) -> list[RemoteFile]:
    """What is at ``url`` now (empty if nothing): for verify, which reports what changed."""
    return _scan(url, endpoint)[0]


def _scan(url: str, endpoint: str | None) -> tuple[list[RemoteFile], str | None]:
    from nemotron_kit.registry.records import safe_relpath
    from nemotron_kit.registry.storage import open_storage

    scheme = url.split("://", 1)[0]
    if scheme not in SCHEMES:
        raise ArtifactError(
            f"Artifact path '{url}' is a {scheme}:// URL, which cannot be referenced: publish "
            f"data from a local path or from {', '.join(f'{s}://' for s in SCHEMES)}."
        )
    options: dict[str, Any] = {}
    # The environment names the data's S3 endpoint; else the S3 registry's own is the guess.
    endpoint = os.environ.get("AWS_ENDPOINT_URL") or endpoint
    if endpoint and scheme == "s3":
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
    files = []
    for rel, size, fingerprint in found:
        try:
            safe_relpath(rel)
        except ValueError as exc:
            raise ArtifactError(
                f"'{url}' holds the object '{rel}', whose name {exc}: no manifest can hold it; "
                "rename it or publish a prefix without it."
            ) from None
        files.append(RemoteFile(rel, size, fingerprint))
    return sorted(files, key=lambda f: f.rel), None
