"""The config API for plain training scripts that do not use ``@hydra.main``.

from nemotron_kit.train_script import parse_config_and_overrides
cfg = parse_config_and_overrides(TrainConfig, config_file="train.yaml", overrides=sys.argv[1:])
"""

from nemotron_kit.config import (
    apply_hydra_overrides,
    load_omegaconf_yaml,
    omegaconf_to_dataclass,
    parse_config_and_overrides,
)

__all__ = [
    "apply_hydra_overrides",
    "load_omegaconf_yaml",
    "omegaconf_to_dataclass",
    "parse_config_and_overrides",
]
