"""Puts nemotron-kit's packaged config groups and the user's directories on Hydra's search path,
and stores the typed schemas those groups' options name (``nk_schema/...``) in the ConfigStore.

Hydra imports this module at every start of every Hydra app in the environment, so it imports
nothing beyond Hydra, ``nemotron_kit.paths`` and the schemas' dataclasses.
"""

from __future__ import annotations

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin

from nemotron_kit.config import schemas
from nemotron_kit.environment import CONFIG_PATH_ENV
from nemotron_kit.paths import packaged_conf_dir, recipe_package_conf_dirs, user_config_dirs

schemas.register()

PROVIDER = "nemotron-kit"


class NemotronKitSearchPathPlugin(SearchPathPlugin):
    """User directories (env var, ``--config-dir``) first, so they shadow the packaged
    ``conf/``; installed recipe packages' ``conf/`` after it; then the ``@recipe`` configs."""

    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        packaged = str(packaged_conf_dir())
        present = {
            entry.path.removeprefix("file://") for entry in search_path.get_path() if entry.path
        }
        if packaged not in present:
            search_path.append(provider=PROVIDER, path=f"file://{packaged}")
        # Recipe packages after the packaged groups: a package adds options (best namespaced,
        # recipe/nano3/...) and never replaces a built-in one.
        for name, conf in recipe_package_conf_dirs():
            if str(conf) not in present:
                search_path.append(provider=f"{PROVIDER}:{name}", path=f"file://{conf}")
        if not any(entry.path == "nkrecipe://" for entry in search_path.get_path()):
            search_path.append(provider=PROVIDER, path="nkrecipe://")
        # Prepend in reverse so the first directory of the variable ends up first (wins).
        for directory in reversed(user_config_dirs()):
            search_path.prepend(
                provider=f"{PROVIDER}:{CONFIG_PATH_ENV}", path=f"file://{directory}"
            )
