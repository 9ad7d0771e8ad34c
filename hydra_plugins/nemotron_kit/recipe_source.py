"""Serves ``nk_recipe/MODULE.FUNCTION``: the structured config a ``@recipe`` declares.

A recipe option links to its function in one line (``- /nk_recipe@_global_: pkg.train.main``);
this source imports that module only when the option is composed, so ``--help`` and every other
option stay as cheap as before, and the config class is the one place defaults live.
"""

from __future__ import annotations

from hydra.core.object_type import ObjectType
from hydra.plugins.config_source import ConfigLoadError, ConfigResult, ConfigSource

GROUP = "nk_recipe"  # nemotron_kit.recipes.api.RECIPE_GROUP, without importing it at start


class RecipeConfigSource(ConfigSource):
    @staticmethod
    def scheme() -> str:
        return "nkrecipe"

    def available(self) -> bool:
        return True

    def is_group(self, config_path: str) -> bool:
        return config_path.strip("/") == GROUP

    def is_config(self, config_path: str) -> bool:
        target = _target(config_path)
        if target is None:
            return False
        import importlib.util

        module = target.rpartition(".")[0]
        try:
            return bool(module) and importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            return False

    def load_config(self, config_path: str) -> ConfigResult:
        from nemotron_kit.errors import ConfigError
        from nemotron_kit.recipes.api import load_recipe

        target = _target(config_path)
        if target is None:
            raise ConfigLoadError(f"Not a recipe config: {config_path}")
        try:
            node = load_recipe(target).config_node()
        except ConfigError as exc:
            raise ConfigLoadError(str(exc)) from None
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
