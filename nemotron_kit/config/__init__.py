"""Loading, overriding, validating and instantiating configs, with or without ``@hydra.main``."""

from nemotron_kit.config._check import check_config, check_job_config, constrained
from nemotron_kit.config._instantiate import instantiate
from nemotron_kit.config._loading import load_omegaconf_yaml
from nemotron_kit.config._overrides import apply_hydra_overrides
from nemotron_kit.config._schema import omegaconf_to_dataclass, parse_config_and_overrides

__all__ = [
    "apply_hydra_overrides",
    "check_config",
    "check_job_config",
    "constrained",
    "instantiate",
    "load_omegaconf_yaml",
    "omegaconf_to_dataclass",
    "parse_config_and_overrides",
]
