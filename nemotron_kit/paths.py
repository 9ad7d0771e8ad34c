"""Where nemotron-kit keeps things: its home, the packaged configs, user config directories."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from nemotron_kit.environment import CONFIG_PATH_ENV, HOME_ENV

#: Entry-point group of recipe packages: ``NAMESPACE = "python_package"``, whose ``conf/``
#: (recipes, pipelines, executors, artifact types) joins every run's config search path.
RECIPE_PACKAGES_GROUP = "nemotron_kit.recipes"


def home() -> Path:
    """``$NEMOTRON_KIT_HOME``, else ``~/.nemotron_kit``; the embedded registry lives below it."""
    value = os.environ.get(HOME_ENV)
    return Path(value).expanduser() if value else Path.home() / ".nemotron_kit"


def packaged_conf_dir() -> Path:
    """The config groups shipped with the package.

    A wheel carries them as ``nemotron_kit/conf``; a source checkout or editable install keeps
    them in the top-level ``conf/`` beside the package.
    """
    package_dir = Path(__file__).resolve().parent
    for candidate in (package_dir / "conf", package_dir.parent / "conf"):
        if (candidate / "config.yaml").is_file():
            return candidate
    raise FileNotFoundError(
        f"nemotron-kit's packaged configs are missing (looked in {package_dir / 'conf'} and "
        f"{package_dir.parent / 'conf'}): reinstall the package."
    )


def user_config_dirs() -> list[Path]:
    """Directories named by ``$NEMOTRON_KIT_CONFIG_PATH`` (``os.pathsep``-separated), in order.

    A named directory that does not exist is an error, not silently skipped: a typo there would
    otherwise quietly run with the packaged defaults.
    """
    from nemotron_kit.errors import ConfigError

    dirs = []
    for raw in os.environ.get(CONFIG_PATH_ENV, "").split(os.pathsep):
        if not raw.strip():
            continue
        directory = Path(raw).expanduser().resolve()
        if not directory.is_dir():
            raise ConfigError(
                f"{CONFIG_PATH_ENV} names '{raw}', which is not a directory: "
                "create it or remove it from the variable."
            )
        dirs.append(directory)
    return dirs


@dataclass(frozen=True)
class RecipePackage:
    """An installed recipe package, as its entry point declares it (nothing imported)."""

    name: str  # the entry point's name: the namespace of its options (nano3)
    module: str  # the top-level Python package holding conf/
    distribution: str | None  # the distribution that declares it, and its version
    version: str | None


def recipe_packages() -> list[RecipePackage]:
    """Every ``nemotron_kit.recipes`` entry point, by name; a value that is not a top-level
    package is one sentence (its conf/ could not be found without importing it)."""
    from importlib.metadata import entry_points

    from nemotron_kit.errors import ConfigError

    found = []
    for ep in sorted(entry_points(group=RECIPE_PACKAGES_GROUP), key=lambda e: e.name):
        module = ep.value.split(":", 1)[0].strip()
        if not module.isidentifier():
            raise ConfigError(
                f"The recipe package '{ep.name}' names {ep.value!r} in its entry point (group "
                f"{RECIPE_PACKAGES_GROUP}): name a top-level package, whose conf/ holds the "
                'options, e.g. nano3 = "nano3_recipes".'
            )
        dist = ep.dist
        found.append(
            RecipePackage(
                ep.name, module, dist.name if dist else None, dist.version if dist else None
            )
        )
    return found


def recipe_package_conf_dirs() -> list[tuple[str, Path]]:
    """``(entry point, conf dir)`` of every installed recipe package, found without importing
    the packages (Hydra builds its search path at every start, ``--help`` included)."""
    import importlib.util

    from nemotron_kit.errors import ConfigError

    found = []
    for package in recipe_packages():
        try:
            spec = importlib.util.find_spec(package.module)
        except (ImportError, ValueError):
            spec = None
        locations = list(spec.submodule_search_locations or []) if spec is not None else []
        conf = Path(locations[0]) / "conf" if locations else None
        if conf is None or not conf.is_dir():
            raise ConfigError(
                f"The recipe package '{package.name}' (package {package.module!r}, entry point "
                f"group {RECIPE_PACKAGES_GROUP}) has no conf/ directory inside an importable "
                "package: reinstall it, or uninstall the distribution that declares it."
            )
        found.append((package.name, conf.resolve()))
    return found
