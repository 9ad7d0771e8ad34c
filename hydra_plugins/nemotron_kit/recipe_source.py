"""Serves ``nk_recipe/MODULE.FUNCTION``: the structured config a ``@recipe`` declares.

A recipe option links to its function in one line (``- /nk_recipe@_global_: pkg.train.main``);
this source imports that module only when the option is composed, so ``--help`` and every other
option stay as cheap as before, and the config class is the one place defaults live.
"""

from __future__ import annotations

from hydra.core.object_type import ObjectType
from hydra.plugins.config_source import ConfigLoadError, ConfigResult, ConfigSource

from nemotron_kit.config.schemas import RECIPE_GROUP as GROUP


class RecipeConfigSource(ConfigSource):
    @staticmethod
    def scheme() -> str:
        return "nkrecipe"

    def available(self) -> bool:
        return True

    def is_group(self, config_path: str) -> bool:
        return config_path.strip("/") == GROUP

    def is_config(self, config_path: str) -> bool:
        # Any well-formed module.function: loading it says what is wrong with one that is not
        # there (a missing module, a function that is no @recipe) in one sentence.
        target = _target(config_path)
        return target is not None and all(p.isidentifier() for p in target.split("."))

    def load_config(self, config_path: str) -> ConfigResult:
        from nemotron_kit.errors import ConfigError
        from nemotron_kit.recipes.api import load_recipe

        target = _target(config_path)
        if target is None:
            raise ConfigLoadError(f"Not a recipe config: {config_path}")
        try:
            node = load_recipe(target).config_node()
        except ConfigError as exc:
            raise ConfigLoadError(str(exc)) from exc
        except Exception as exc:  # a config class OmegaConf cannot type
            raise ConfigLoadError(str(exc)) from ConfigError(
                f"The config class of recipe '{target}' cannot be a structured config "
                f"({type(exc).__name__}: {' '.join(str(exc).split())[:200]}): use fields of "
                "the types OmegaConf supports (int, float, str, bool, Enum, lists, dicts, "
                "dataclasses, Optional of those)."
            )
        return ConfigResult(
            config=node,
            path=f"{self.scheme()}://{self.path}",
            provider=self.provider,
            header={"package": "_global_"},
        )

    def list(self, config_path: str, results_filter: ObjectType | None) -> list[str]:
        # Nothing to list: every importable @recipe is an option, linked by its path; the
        # options users choose (recipe/NAME) are the YAML files that link them.
        return []


def _target(config_path: str) -> str | None:
    group, _, name = config_path.strip("/").partition("/")
    if group != GROUP or not name:
        return None
    return name.removesuffix(".yaml")
