"""The one version store for artifacts, on fsspec storage (local disk, S3, memory).

Names are imported on first use: the Hydra app imports the ``${art:...}`` resolver at every
start, and composing a config must not pay for pydantic models, hashing and storage.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "RegistryConfig": "nemotron_kit.registry.api",
    "get_config": "nemotron_kit.registry.api",
    "get_registry": "nemotron_kit.registry.api",
    "init": "nemotron_kit.registry.api",
    "init_from_config": "nemotron_kit.registry.api",
    "is_initialized": "nemotron_kit.registry.api",
    "reset": "nemotron_kit.registry.api",
    "ArtifactEntry": "nemotron_kit.registry.core",
    "ArtifactRegistry": "nemotron_kit.registry.core",
    "ArtifactVersion": "nemotron_kit.registry.core",
    "GcReport": "nemotron_kit.registry.core",
    "VerifyReport": "nemotron_kit.registry.core",
    "ArtURI": "nemotron_kit.registry.uri",
    "parse_uri": "nemotron_kit.registry.uri",
}

__all__ = [
    "ArtURI",
    "ArtifactEntry",
    "ArtifactRegistry",
    "ArtifactVersion",
    "GcReport",
    "RegistryConfig",
    "VerifyReport",
    "get_config",
    "get_registry",
    "init",
    "init_from_config",
    "is_initialized",
    "parse_uri",
    "reset",
]

if TYPE_CHECKING:
    from nemotron_kit.registry.api import (
        RegistryConfig,
        get_config,
        get_registry,
        init,
        init_from_config,
        is_initialized,
        reset,
    )
    from nemotron_kit.registry.core import (
        ArtifactEntry,
        ArtifactRegistry,
        ArtifactVersion,
        GcReport,
        VerifyReport,
    )
    from nemotron_kit.registry.uri import ArtURI, parse_uri


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'nemotron_kit.registry' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
