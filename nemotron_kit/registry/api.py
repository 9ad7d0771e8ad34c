"""The seed's process-wide entry points: ``init``, ``get_config``, ``is_initialized``.

A process talks to one registry at a time. Scripts call ``init(root=...)``; the Hydra app calls
it from the composed ``registry`` config in every job (also on remote workers), so no state has
to be shipped between processes. Without ``init``, the embedded default under
``$NEMOTRON_KIT_HOME/registry`` is used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nemotron_kit.errors import ConfigError
from nemotron_kit.registry.core import ArtifactRegistry

BACKENDS = ("fsspec", "local")


@dataclass(frozen=True)
class RegistryConfig:
    root: str
    backend: str = "fsspec"
    project: str = "default"
    storage_options: dict[str, Any] = field(default_factory=dict)


_config: RegistryConfig | None = None
_registry: ArtifactRegistry | None = None


def default_root() -> str:
    from nemotron_kit.paths import home

    return str(home() / "registry")


def init(
    root: str | Path | None = None,
    *,
    backend: str = "fsspec",
    project: str = "default",
    endpoint_url: str | None = None,
    storage_options: dict[str, Any] | None = None,
    timeout_s: float | None = None,
    attempts: int | None = None,
) -> ArtifactRegistry:
    """Select the registry this process publishes to and loads from; returns it.

    ``timeout_s`` and ``attempts`` bound every call to a remote registry (see
    :func:`nemotron_kit.registry.storage.open_storage`).
    """
    global _config, _registry
    if backend not in BACKENDS:
        raise ConfigError(f"Registry backend {backend!r} is unknown: use 'fsspec' (or 'local').")
    options = dict(storage_options or {})
    if endpoint_url:
        options["endpoint_url"] = endpoint_url
    if timeout_s:
        options["timeout_s"] = timeout_s
    if attempts:
        options["attempts"] = attempts
    text = str(root) if root is not None else default_root()
    if "://" not in text:
        text = str(Path(text).expanduser())
    config = RegistryConfig(root=text, backend=backend, project=project, storage_options=options)
    registry = ArtifactRegistry(config.root, project=project, storage_options=options)
    _config, _registry = config, registry
    return registry


def _settings(registry_cfg: Any) -> dict[str, Any]:
    get = registry_cfg.get
    return {
        "root": get("root"),
        "backend": get("backend", "fsspec"),
        "project": get("project", "default"),
        "endpoint_url": get("endpoint_url"),
        "timeout_s": get("timeout_s"),
        "attempts": get("attempts"),
    }


def init_from_config(registry_cfg: Any) -> ArtifactRegistry:
    """``init`` from a composed ``registry`` config node (local or s3 option)."""
    return init(**_settings(registry_cfg))


def registry_from_config(registry_cfg: Any) -> ArtifactRegistry:
    """The registry a ``registry`` config node names; the active one if it is the same."""
    settings = _settings(registry_cfg)
    root = str(settings["root"])
    if "://" not in root:
        root = str(Path(root).expanduser())
    if (
        _registry is not None
        and _config is not None
        and (_config.root, _config.project)
        == (
            root,
            settings["project"],
        )
    ):
        return _registry
    options = {
        k: settings[k] for k in ("endpoint_url", "timeout_s", "attempts") if settings[k] is not None
    }
    return ArtifactRegistry(root, project=settings["project"], storage_options=options)


def is_initialized() -> bool:
    return _registry is not None


def get_config() -> RegistryConfig:
    """The active registry's configuration (the embedded default if ``init`` was not called)."""
    get_registry()
    assert _config is not None
    return _config


def get_registry() -> ArtifactRegistry:
    """The active registry, initialising the embedded default on first use."""
    if _registry is None:
        return init()
    return _registry


def reset() -> None:
    """Forget the active registry (tests, and processes that switch registries)."""
    global _config, _registry
    _config, _registry = None, None
