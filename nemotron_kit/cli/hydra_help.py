"""``--help`` without Hydra's two group listings it does not show.

Hydra's ``get_help`` builds ``$HYDRA_CONFIG_GROUPS`` and ``$APP_CONFIG_GROUPS`` before it looks
at the template, re-reading the config repository for every group (2 of the 2.5 s `--help`
took here). Our template lists the groups itself (``${nk_config_groups:}``, without the schema
groups) and names neither, so each placeholder is now filled in only if the template uses it:
a user's own ``hydra.help.template`` and ``--hydra-help`` get what they did before.
"""

from __future__ import annotations

import contextlib
import string
from collections.abc import Callable, Iterator, Mapping
from typing import Any


class _OnDemand(Mapping[str, str]):
    """A template's values, each computed when the template asks for it."""

    def __init__(self, makers: dict[str, Callable[[], str]]) -> None:
        self._makers = makers

    def __getitem__(self, key: str) -> str:
        return self._makers[key]()

    def __iter__(self) -> Iterator[str]:
        return iter(self._makers)

    def __len__(self) -> int:
        return len(self._makers)


def _is_hydra_group(group: str) -> bool:
    return group == "hydra" or group.startswith("hydra/")


def _get_help(hydra: Any, help_cfg: Any, cfg: Any, args_parser: Any, resolve: bool) -> str:
    """Hydra 1.3's ``Hydra.get_help``, with the same placeholders, filled on demand."""
    from omegaconf import OmegaConf

    return string.Template(help_cfg.template).substitute(
        _OnDemand(
            {
                "FLAGS_HELP": lambda: hydra.format_args_help(args_parser),
                "HYDRA_CONFIG_GROUPS": lambda: hydra.format_config_groups(_is_hydra_group),
                "APP_CONFIG_GROUPS": lambda: hydra.format_config_groups(
                    lambda group: not _is_hydra_group(group)
                ),
                "CONFIG": lambda: OmegaConf.to_yaml(cfg, resolve=resolve),
            }
        )
    )


@contextlib.contextmanager
def help_on_demand() -> Iterator[None]:
    """Hydra's ``get_help`` replaced by ``_get_help`` while the app runs (this process only)."""
    from hydra._internal.hydra import Hydra

    original = Hydra.get_help
    Hydra.get_help = _get_help  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        Hydra.get_help = original  # type: ignore[method-assign]
