"""The Hydra application behind ``python -m nemotron_kit`` and the ``nemotron-kit`` command.

The task function is defined here, in a regular module, so Hydra names the job after it and
finds configs through the search-path plugin rather than relative to ``__main__``.
"""

from __future__ import annotations

from typing import Any

import hydra
from omegaconf import DictConfig

from nemotron_kit.errors import NemotronKitError
from nemotron_kit.paths import packaged_conf_dir


class NothingToRunError(NemotronKitError):
    """The composed config names neither a recipe nor a pipeline."""


def run(cfg: DictConfig) -> Any:
    """Run the composed job: the recipe's ``_target_`` called with the whole config."""
    from nemotron_kit.config import instantiate

    if cfg.get("recipe") is None:
        raise NothingToRunError(
            "Nothing to run: choose a recipe with '+recipe=NAME' (see `--help` for the options "
            "of the 'recipe' group), or add '--cfg job' to print the composed config."
        )
    # Only the target is instantiated: the recipe node also carries its name and metadata.
    recipe_fn = instantiate({"_target_": cfg.recipe._target_, "_partial_": True})
    return recipe_fn(cfg)


# An absolute config_path: with None, Hydra would add the package itself (pkg://nemotron_kit)
# to the search path, and a wheel's nemotron_kit/conf would show up as a bogus 'conf' group.
@hydra.main(version_base="1.3", config_path=str(packaged_conf_dir()), config_name="config")
def hydra_app(cfg: DictConfig) -> Any:
    return run(cfg)
