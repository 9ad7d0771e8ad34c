"""The ``${art:NAME[:VER][,FIELD]}`` resolver and pinning of a job's artifact references.

``${art:pretrain-data}`` is the local path of the newest version; ``${art:data:v3,total_tokens}``
a metadata field of version 3. Within a job every reference resolves once, to one concrete
version, and the saved config shows the pinned ``art://NAME:vN`` — never ``latest``.
"""

from __future__ import annotations

import re
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from nemotron_kit.errors import ArtifactError
from nemotron_kit.registry.uri import SCHEME, parse_uri

RESOLVER = "art"
_FIELDS = ("path", "version", "name", "type", "uri", "digest")


def _uri_of(ref: str) -> str:
    return ref if ref.startswith(SCHEME) else f"{SCHEME}{ref}"


def registry_for(root_cfg: Any) -> Any:
    """The registry a config names (its ``registry`` node), else the process's active one."""
    from nemotron_kit.registry.api import get_registry, registry_from_config

    node = root_cfg.get("registry") if isinstance(root_cfg, DictConfig) else None
    if isinstance(node, DictConfig) and node.get("root"):
        return registry_from_config(node)
    return get_registry()


def artifact_field(ref: str, field: str = "path", *, _root_: Any = None) -> Any:
    """The value of ``field`` for the artifact ``ref`` (``NAME[:VER]`` or a full ``art://`` URI)."""
    registry = registry_for(_root_)
    uri = _uri_of(str(ref))
    version = registry.resolve(uri)
    if parse_uri(uri).path and field != "path":
        registry.check_subpath(version, parse_uri(uri).path)
    if field == "uri":
        return version.uri
    if field == "version":
        return version.version
    if field == "name":
        return version.name
    if field == "type":
        return version.type
    if field == "digest":
        return version.digest
    if field == "path":
        return registry.locate(uri)
    metadata = version.metadata
    if field in metadata:
        return metadata[field]
    available = ", ".join([*_FIELDS, *sorted(metadata)])
    raise ArtifactError(
        f"{version.uri} has no field '{field}' for ${{art:...}}: use one of {available}."
    )


def register() -> None:
    """Register ``${art:...}`` with OmegaConf (idempotent)."""
    if not OmegaConf.has_resolver(RESOLVER):
        OmegaConf.register_new_resolver(RESOLVER, artifact_field)


_REF = re.compile(r"\$\{art:\s*(['\"]?)([^,}'\"]+)\1")


def pin_config(cfg: DictConfig, pins: dict[str, str] | None = None) -> list[str]:
    """Pin every ``${art:...}`` reference and ``art://`` string in ``cfg`` to a version, in place.

    ``${art:data}`` becomes ``${art:data:v3}`` and ``art://data:latest`` becomes
    ``art://data:v3``. Returns the pinned URIs in the order met. Pinning happens once, at job
    start: a publish to ``latest`` during a long job cannot change what the job reads, and the
    saved config names the exact versions. ``pins`` (reference -> pinned URI) is reused and
    filled in, so pinning a second copy of the config gives the very same versions.
    """
    registry: Any = None  # opened on the first reference: most configs have none
    pinned: dict[str, str] = {} if pins is None else pins
    used: list[str] = []

    def pin(uri: str) -> str:
        nonlocal registry
        if uri not in pinned:
            parsed = parse_uri(uri)
            registry = registry or registry_for(cfg)
            version = registry.resolve(parsed)
            pinned[uri] = version.uri + (f"/{parsed.path}" if parsed.path else "")
        used.append(pinned[uri])
        return pinned[uri]

    def pin_ref(match: re.Match[str]) -> str:
        return "${art:" + pin(_uri_of(match.group(2).strip())).removeprefix(SCHEME)

    def visit(node: DictConfig | ListConfig) -> None:
        raw = OmegaConf.to_container(node, resolve=False, throw_on_missing=False)
        items = enumerate(raw) if isinstance(raw, list) else raw.items()  # type: ignore[union-attr]
        for key, text in list(items):
            if isinstance(text, str) and "${art:" in text:
                node[key] = _REF.sub(pin_ref, text)
            elif isinstance(text, str) and text.startswith(SCHEME):
                node[key] = pin(text)
            elif isinstance(text, (dict, list)):
                visit(node[key])

    visit(cfg)
    return list(dict.fromkeys(used))
