"""The one version store for artifacts, on fsspec storage (local disk, S3, memory)."""

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
