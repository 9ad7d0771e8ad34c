"""nemotron-kit: Hydra-native training recipes with typed, versioned artifacts and lineage.

Names are imported on first use (PEP 562): Hydra imports this package at every start through the
search-path plugin, and ``--help`` must not pay for what it does not use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # config API (also in nemotron_kit.train_script)
    "load_omegaconf_yaml": "nemotron_kit.config",
    "apply_hydra_overrides": "nemotron_kit.config",
    "omegaconf_to_dataclass": "nemotron_kit.config",
    "parse_config_and_overrides": "nemotron_kit.config",
    "instantiate": "nemotron_kit.config",
    # errors
    "NemotronKitError": "nemotron_kit.errors",
    "ConfigError": "nemotron_kit.errors",
    # artifacts
    "Artifact": "nemotron_kit.artifacts",
    "DataBlendsArtifact": "nemotron_kit.artifacts",
    "InputDatasetInfo": "nemotron_kit.artifacts",
    "ModelArtifact": "nemotron_kit.artifacts",
    "PretrainBlendsArtifact": "nemotron_kit.artifacts",
    "PretrainDataArtifact": "nemotron_kit.artifacts",
    "SFTDataArtifact": "nemotron_kit.artifacts",
    "SplitJsonlDataArtifact": "nemotron_kit.artifacts",
    # registry
    "ArtifactEntry": "nemotron_kit.registry",
    "ArtifactRegistry": "nemotron_kit.registry",
    "ArtifactVersion": "nemotron_kit.registry",
    "get_config": "nemotron_kit.registry",
    "get_registry": "nemotron_kit.registry",
    "init": "nemotron_kit.registry",
    "is_initialized": "nemotron_kit.registry",
    # execution
    "RunConfig": "nemotron_kit.execution",
    "build_executor": "nemotron_kit.execution",
    "load_run_profile": "nemotron_kit.execution",
    # lineage
    "LineageTracker": "nemotron_kit.tracking",
    "NoOpTracker": "nemotron_kit.tracking",
    "WandbTracker": "nemotron_kit.tracking.wandb",
    "add_wandb_tags": "nemotron_kit.tracking.wandb",
    "finish_wandb": "nemotron_kit.tracking.wandb",
}
_SUBMODULES = ("artifacts", "config", "registry", "errors", "train_script", "execution", "tracking")

__all__ = [
    "Artifact",
    "ArtifactEntry",
    "ArtifactRegistry",
    "ArtifactVersion",
    "ConfigError",
    "DataBlendsArtifact",
    "InputDatasetInfo",
    "LineageTracker",
    "ModelArtifact",
    "NemotronKitError",
    "NoOpTracker",
    "PretrainBlendsArtifact",
    "PretrainDataArtifact",
    "RunConfig",
    "SFTDataArtifact",
    "SplitJsonlDataArtifact",
    "WandbTracker",
    "__version__",
    "add_wandb_tags",
    "apply_hydra_overrides",
    "build_executor",
    "finish_wandb",
    "get_config",
    "get_registry",
    "init",
    "instantiate",
    "is_initialized",
    "load_omegaconf_yaml",
    "load_run_profile",
    "omegaconf_to_dataclass",
    "parse_config_and_overrides",
]

if TYPE_CHECKING:
    from nemotron_kit.artifacts import (
        Artifact,
        DataBlendsArtifact,
        InputDatasetInfo,
        ModelArtifact,
        PretrainBlendsArtifact,
        PretrainDataArtifact,
        SFTDataArtifact,
        SplitJsonlDataArtifact,
    )
    from nemotron_kit.config import (
        apply_hydra_overrides,
        instantiate,
        load_omegaconf_yaml,
        omegaconf_to_dataclass,
        parse_config_and_overrides,
    )
    from nemotron_kit.errors import ConfigError, NemotronKitError
    from nemotron_kit.execution import RunConfig, build_executor, load_run_profile
    from nemotron_kit.registry import (
        ArtifactEntry,
        ArtifactRegistry,
        ArtifactVersion,
        get_config,
        get_registry,
        init,
        is_initialized,
    )
    from nemotron_kit.tracking import LineageTracker, NoOpTracker
    from nemotron_kit.tracking.wandb import WandbTracker, add_wandb_tags, finish_wandb


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"nemotron_kit.{name}")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'nemotron_kit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
