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
}

__all__ = [
    "ConfigError",
    "NemotronKitError",
    "__version__",
    "apply_hydra_overrides",
    "instantiate",
    "load_omegaconf_yaml",
    "omegaconf_to_dataclass",
    "parse_config_and_overrides",
]

if TYPE_CHECKING:
    from nemotron_kit.config import (
        apply_hydra_overrides,
        instantiate,
        load_omegaconf_yaml,
        omegaconf_to_dataclass,
        parse_config_and_overrides,
    )
    from nemotron_kit.errors import ConfigError, NemotronKitError


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'nemotron_kit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
