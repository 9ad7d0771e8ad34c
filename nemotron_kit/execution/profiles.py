"""Executor profiles from Python: ``load_run_profile("my-cluster")`` -> an executor config.

A profile is an option of the ``executor`` config group (packaged, or in your config
directories); loading it composes its defaults (``defaults: [slurm]``), exactly as
``executor=my-cluster`` does on the command line.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
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
    from hydra import compose

    with _hydra(config_dirs):
        return compose(config_name="config", overrides=list(overrides))


def group_options(group: str, config_dirs: Sequence[str | Path] = ()) -> list[str]:
    """The options of config group ``group`` (``recipe``) and of its subgroups, as
    ``nano3/train``: what ``group=OPTION`` may name on the command line."""
    from hydra.core.global_hydra import GlobalHydra

    with _hydra(config_dirs):
        loader = GlobalHydra.instance().config_loader()
        found: list[str] = []
        pending = [""]
        while pending:
            sub = pending.pop()
            where, prefix = (f"{group}/{sub}", f"{sub}/") if sub else (group, "")
            found += [prefix + option for option in loader.get_group_options(where)]
            pending += [prefix + child for child in loader.list_groups(where)]
    return sorted(set(found))


@contextlib.contextmanager
def _hydra(config_dirs: Sequence[str | Path]) -> Iterator[None]:
    """Hydra initialised on nemotron-kit's search path (the packaged configs, then
    ``config_dirs`` and $NEMOTRON_KIT_CONFIG_PATH, then installed recipe packages)."""
    from hydra import initialize_config_dir
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
            yield
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
        and a dict merges into the section it names, as ``key=value`` on the command line.
        Free-form sections (``env``, ``additional_parameters``) take new keys; a typed one
        refuses a key it does not have."""
        from omegaconf import OmegaConf
        from omegaconf.errors import OmegaConfBaseException

        from nemotron_kit.tracking._secrets import redact_text

        profile = load_run_profile(self.executor, self.config_dirs)
        for key, value in self.overrides.items():
            if not isinstance(key, str) or not key:
                raise ConfigError(
                    f"RunConfig override key {key!r} is not a setting name: give keys as "
                    "strings, e.g. 'time_min' or 'container.image'."
                )
            try:
                with _open_if_free_form(profile, key, value):
                    OmegaConf.update(profile, key, value, merge=True)
            except OmegaConfBaseException as exc:  # the value is left out: it may be a secret
                reason = redact_text(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
                raise ConfigError(
                    f"RunConfig override '{key}' does not fit executor '{self.executor}' "
                    f"({reason}): fix the key or the value."
                ) from None
        return profile

    def build(self) -> Any:
        from nemotron_kit.execution.launch import build_executor

        return build_executor(self.executor_config())


def _open_if_free_form(profile: DictConfig, key: str, value: Any) -> AbstractContextManager[Any]:
    """Lets ``key`` add to the section it changes (the one it names, if ``value`` is a dict
    merged into it; else its parent) when that section is a plain dict, not a typed one."""
    from omegaconf import OmegaConf, open_dict

    target = key if isinstance(value, Mapping) else key.rpartition(".")[0]
    node = OmegaConf.select(profile, target) if target else profile
    if isinstance(node, DictConfig) and not dataclasses.is_dataclass(OmegaConf.get_type(node)):
        return open_dict(node)
    return contextlib.nullcontext()
