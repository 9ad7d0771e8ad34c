"""Executor profiles from Python: ``load_run_profile("my-cluster")`` -> an executor config.

A profile is an option of the ``executor`` config group (packaged, or in your config
directories); loading it composes its defaults (``defaults: [slurm]``), exactly as
``executor=my-cluster`` does on the command line.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from nemotron_kit.environment import CONFIG_PATH_ENV
from nemotron_kit.errors import ConfigError
from nemotron_kit.paths import packaged_conf_dir


def compose_config(
    overrides: Sequence[str] = (), config_dirs: Sequence[str | Path] = ()
) -> DictConfig:
    """nemotron-kit's composed config, without running anything (Hydra's compose API)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    import nemotron_kit.app  # noqa: F401  (registers the resolvers the config uses)

    saved = os.environ.get(CONFIG_PATH_ENV)
    extra = [str(Path(d).expanduser().resolve()) for d in config_dirs]
    if extra:
        os.environ[CONFIG_PATH_ENV] = os.pathsep.join([*extra, *([saved] if saved else [])])
    previous = GlobalHydra.instance().hydra if GlobalHydra.instance().is_initialized() else None
    try:
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(packaged_conf_dir()), version_base="1.3"):
            return compose(config_name="config", overrides=list(overrides))
    finally:
        if previous is not None:  # called from inside a running app: give its state back
            GlobalHydra.instance().initialize(previous)
        if saved is None:
            os.environ.pop(CONFIG_PATH_ENV, None)
        else:
            os.environ[CONFIG_PATH_ENV] = saved


def load_run_profile(name: str, config_dirs: Sequence[str | Path] = ()) -> DictConfig:
    """The executor config called ``name``, e.g. a cluster profile extending ``slurm``."""
    profile: DictConfig = compose_config([f"executor={name}"], config_dirs).executor
    return profile


@dataclass
class RunConfig:
    """Where and how to run: an executor profile plus overrides for its fields."""

    executor: str = "local"
    overrides: dict[str, Any] = field(default_factory=dict)
    config_dirs: list[str | Path] = field(default_factory=list)

    def executor_config(self) -> DictConfig:
        """The profile with ``overrides`` applied: a key may be dotted (``container.image``)
        and a dict merges into the section it names, as ``key=value`` on the command line."""
        from omegaconf import OmegaConf
        from omegaconf.errors import OmegaConfBaseException

        profile = load_run_profile(self.executor, self.config_dirs)
        for key, value in self.overrides.items():
            try:
                OmegaConf.update(profile, key, value, merge=True)
            except OmegaConfBaseException as exc:
                reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise ConfigError(
                    f"RunConfig override {key}={value!r} does not fit executor "
                    f"'{self.executor}' ({reason}): fix the key or the value."
                ) from None
        return profile

    def build(self) -> Any:
        from nemotron_kit.execution.launch import build_executor

        return build_executor(self.executor_config())
