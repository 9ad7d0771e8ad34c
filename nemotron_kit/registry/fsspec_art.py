"""``art://`` as a read-only fsspec protocol: ``fsspec.open("art://data:v3/blend.json")``.

Registered through the ``fsspec.specs`` entry point, so any fsspec user (pandas, datasets,
torch loaders) can read a file of a published version by its URI. The registry is the active
one (``nemotron_kit.registry.init``), or ``root=`` given as a storage option.
"""

from __future__ import annotations

import io
from typing import Any

from fsspec.spec import AbstractFileSystem

from nemotron_kit.errors import ArtifactError, IntegrityError
from nemotron_kit.registry import hashing
from nemotron_kit.registry.uri import SCHEME, parse_uri


class ArtFileSystem(AbstractFileSystem):  # type: ignore[misc]
    protocol = "art"
    root_marker = ""

    def __init__(self, root: str | None = None, project: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._root = root
        self._project = project

    @property
    def registry(self) -> Any:
        from nemotron_kit.registry.api import get_registry
        from nemotron_kit.registry.core import ArtifactRegistry

        if self._root:
            return ArtifactRegistry(self._root, project=self._project or "default")
        return get_registry()

    @classmethod
    def _strip_protocol(cls, path: str) -> str:
        text = path[0] if isinstance(path, list) else path
        return str(text).removeprefix(SCHEME).rstrip("/")

    def _split(self, path: str) -> tuple[Any, Any, str]:
        parsed = parse_uri(SCHEME + self._strip_protocol(path))
        registry = self.registry
        version = registry.resolve(parsed)
        return registry, version, parsed.path

    def _entries(self, path: str) -> tuple[Any, Any, str, dict[str, Any]]:
        registry, version, inner = self._split(path)
        files = {f.rel: f for f in registry.manifest(version).files}
        return registry, version, inner, files

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        _, version, inner, files = self._entries(path)
        name = self._strip_protocol(path)  # fsspec's convention: names without the protocol
        if inner in files:
            return {
                "name": name,
                "size": files[inner].size,
                "type": "file",
                "digest": files[inner].digest,
            }
        prefix = f"{inner}/" if inner else ""
        if any(rel.startswith(prefix) for rel in files):
            return {"name": name, "size": 0, "type": "directory"}
        raise FileNotFoundError(f"{version.uri} has no file '{inner}'")

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        """Entries named as asked (``x:latest/sub/a.json`` under ``x:latest/sub``), without the
        protocol, as fsspec's glob, find and open_files expect."""
        _, version, inner, files = self._entries(path)
        prefix = f"{inner}/" if inner else ""
        stripped = self._strip_protocol(path)
        base = stripped[: len(stripped) - len(inner)].rstrip("/") if inner else stripped
        seen: dict[str, dict[str, Any]] = {}
        for rel, entry in files.items():
            if not rel.startswith(prefix):
                continue
            head, sep, _ = rel[len(prefix) :].partition("/")
            full = f"{base}/{prefix}{head}"
            if sep:
                seen.setdefault(full, {"name": full, "size": 0, "type": "directory"})
            else:
                seen[full] = {"name": full, "size": entry.size, "type": "file"}
        if not seen and inner not in files:
            raise FileNotFoundError(f"{version.uri} has no directory '{inner}'")
        out = sorted(seen.values(), key=lambda d: d["name"])
        return out if detail else [d["name"] for d in out]

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        if "r" not in mode or "+" in mode:
            raise ArtifactError(
                f"art:// is read-only ({path!r} opened with mode {mode!r}): publish a new version "
                "instead of writing into one."
            )
        registry, version, inner, files = self._entries(path)
        if inner not in files:
            raise FileNotFoundError(f"{version.uri} has no file '{inner}'")
        storage = version.record["storage"]
        if storage["mode"] == "reference":
            from pathlib import Path

            source = Path(storage["source"])
            return open(source if storage.get("single_file") else source / inner, "rb")
        digest = files[inner].digest
        key = registry._object_key(digest)
        local = registry.storage.local_path(key)
        if local is not None:
            return open(local, "rb")
        data = registry.storage.read(key)
        if hashing.hash_bytes(data) != digest:  # a remote object is untrusted until checked
            raise IntegrityError(
                f"{version.uri}/{inner} does not match its recorded digest in {registry.root}: "
                "run `nemotron-kit artifacts verify` on it and re-publish it."
            )
        return io.BytesIO(data)

    def cat_file(
        self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any
    ) -> bytes:
        with self._open(path) as f:
            data: bytes = f.read()
        return data[start:end]
