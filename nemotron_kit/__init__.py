"""nemotron-kit: Hydra-native training recipes with typed, versioned artifacts and lineage.

Names are imported on first use (PEP 562): Hydra imports this package at every start through the
search-path plugin, and ``--help`` must not pay for what it does not use.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # config API (also in nemotron_kit.train_script)
    "load_omegaconf_yaml": "nemotron_kit.config",
    "apply_hydra_overrides": "nemotron_kit.config",
    "omegaconf_to_dataclass": "nemotron_kit.config",
    "parse_config_and_overrides": "nemotron_kit.config",
    "instantiate": "nemotron_kit.config",
    "constrained": "nemotron_kit.config",
    # writing recipes
    "recipe": "nemotron_kit.recipes.api",
    "ArtifactInput": "nemotron_kit.recipes.api",
    "ArtifactOutput": "nemotron_kit.recipes.api",
    "JobContext": "nemotron_kit.execution.context",
    "launch": "nemotron_kit.execution.api",
    "log_metrics": "nemotron_kit.tracking.run",
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
    "init": "nemotron_kit.tracking.script",
    "is_initialized": "nemotron_kit.registry",
    # execution
    "RunConfig": "nemotron_kit.execution",
    "build_executor": "nemotron_kit.execution",
    "load_run_profile": "nemotron_kit.execution",
    # lineage
    "FileTracker": "nemotron_kit.tracking",
    "LineageTracker": "nemotron_kit.tracking",
    "NoOpTracker": "nemotron_kit.tracking",
    "get_lineage_tracker": "nemotron_kit.tracking.script",
    "set_lineage_tracker": "nemotron_kit.tracking.script",
    "WandbTracker": "nemotron_kit.tracking.wandb",
    "add_wandb_tags": "nemotron_kit.tracking.wandb",
    "finish_wandb": "nemotron_kit.tracking.wandb",
}
_SUBMODULES = ("artifacts", "config", "registry", "errors", "train_script", "execution", "tracking")

__all__ = [
    "Artifact",
    "ArtifactEntry",
    "ArtifactInput",
    "ArtifactOutput",
    "ArtifactRegistry",
    "ArtifactVersion",
    "ConfigError",
    "DataBlendsArtifact",
    "FileTracker",
    "InputDatasetInfo",
    "JobContext",
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
    "constrained",
    "finish_wandb",
    "get_config",
    "get_lineage_tracker",
    "get_registry",
    "init",
    "instantiate",
    "is_initialized",
    "launch",
    "load_omegaconf_yaml",
    "load_run_profile",
    "log_metrics",
    "omegaconf_to_dataclass",
    "parse_config_and_overrides",
    "recipe",
    "set_lineage_tracker",
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
        constrained,
        instantiate,
        load_omegaconf_yaml,
        omegaconf_to_dataclass,
        parse_config_and_overrides,
    )
    from nemotron_kit.errors import ConfigError, NemotronKitError
    from nemotron_kit.execution import RunConfig, build_executor, load_run_profile
    from nemotron_kit.execution.api import launch
    from nemotron_kit.execution.context import JobContext
    from nemotron_kit.recipes.api import ArtifactInput, ArtifactOutput, recipe
    from nemotron_kit.registry import (
        ArtifactEntry,
        ArtifactRegistry,
        ArtifactVersion,
        get_config,
        get_registry,
        is_initialized,
    )
    from nemotron_kit.tracking import FileTracker, LineageTracker, NoOpTracker
    from nemotron_kit.tracking.run import log_metrics
    from nemotron_kit.tracking.script import get_lineage_tracker, init, set_lineage_tracker
    from nemotron_kit.tracking.wandb import WandbTracker, add_wandb_tags, finish_wandb


class _RegisterResolverOnImport:
    """Registers ``${art:...}`` with OmegaConf as soon as omegaconf is imported.

    ``${art:NAME:v1,FIELD}`` must resolve in any config of a process that imported
    nemotron_kit, whichever of the two it imported first, without making ``import
    nemotron_kit`` pay for importing omegaconf itself.
    """

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "omegaconf":
            return None
        sys.meta_path.remove(self)
        import importlib.util  # here: only a process that imports omegaconf needs it

        spec = importlib.util.find_spec(name)
        loader = getattr(spec, "loader", None)
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        exec_module = loader.exec_module

        def exec_and_register(module: Any) -> None:
            exec_module(module)
            _register_art_resolver()

        loader.exec_module = exec_and_register
        return spec


def _register_art_resolver() -> None:
    from nemotron_kit.registry.resolver import register

    register()


if "omegaconf" in sys.modules:
    _register_art_resolver()
elif not any(isinstance(f, _RegisterResolverOnImport) for f in sys.meta_path):
    sys.meta_path.insert(0, _RegisterResolverOnImport())


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
