"""Apply Hydra's override grammar to any config, without ``@hydra.main``.

Parsing is Hydra's own (``OverridesParser``), so quoting, lists, dicts, ``+``, ``++`` and ``~``
mean exactly what they mean on a Hydra command line.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

from nemotron_kit.errors import OverrideError

_ABSENT = object()


def _parse(overrides: Sequence[str]) -> list[Any]:
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    parser = OverridesParser.create()
    parsed = []
    for line in overrides:
        try:
            (override,) = parser.parse_overrides([line])
        except OverrideParseException as exc:
            reason = str(exc).splitlines()[1:2] or ["syntax error"]
            raise OverrideError(
                f"Override '{line}' is malformed ({reason[0].strip()}): write it as key=value, "
                "+key=value, ++key=value or ~key."
            ) from None
        if override.is_sweep_override():
            raise OverrideError(
                f"Override '{line}' is a sweep, which a single config cannot hold: "
                "give one value (sweeps need `-m` on the nemotron-kit command line)."
            )
        if override.package is not None:
            raise OverrideError(
                f"Override '{line}' names a package ('@{override.package}'), which only config "
                "groups have: drop the '@...' part."
            )
        parsed.append(override)
    return parsed


def _select(cfg: DictConfig, key: str) -> Any:
    """The value at ``key``; ``_ABSENT`` if there is no such key (a ``???`` value exists)."""
    try:
        return OmegaConf.select(cfg, key, default=_ABSENT, throw_on_missing=True)
    except MissingMandatoryValue:
        return "???"


def apply_hydra_overrides(cfg: DictConfig, overrides: Sequence[str]) -> DictConfig:
    """Apply ``overrides`` to ``cfg`` in place and return it.

    ``a.b=1`` changes an existing key, ``+a.b=1`` adds a new one, ``++a.b=1`` adds or changes,
    ``~a.b`` (or ``~a.b=value``) deletes. Nothing is changed unless every override applies.
    """
    parsed = _parse(overrides)
    # Rehearse on a copy first: a bad override must leave the caller's config untouched.
    rehearsal = copy.deepcopy(cfg)
    for override in parsed:
        _apply_one(rehearsal, override)
    for override in parsed:
        _apply_one(cfg, override)
    return cfg


def _outside_schema(cfg: DictConfig, key: str) -> str | None:
    """Why ``key`` cannot exist: it names no field of a typed (dataclass-backed) node on its
    way. ``+key`` adds keys to plain nodes only; a typed node's fields are its schema."""
    node: Any = cfg
    parts = key.split(".")
    for depth, part in enumerate(parts):
        if not isinstance(node, DictConfig):
            return None
        schema = OmegaConf.get_type(node)
        if part not in node:
            if not (isinstance(schema, type) and dataclasses.is_dataclass(schema)):
                return None
            fields = ", ".join(f.name for f in dataclasses.fields(schema))
            return (
                f"'{'.'.join(parts[: depth + 1])}' is not a field of {schema.__name__} "
                f"(its fields: {fields})"
            )
        node = node._get_node(part)
    return None


def _apply_one(cfg: DictConfig, override: Any) -> None:
    key: str = override.key_or_group
    line: str = override.input_line
    value = override.value()
    current = _select(cfg, key)
    if current is _ABSENT and not override.is_delete():
        problem = _outside_schema(cfg, key)
        if problem:
            raise OverrideError(
                f"Override '{line}' cannot be applied: {problem}; fix the spelling."
            )
    try:
        if override.is_delete():
            if current is _ABSENT:
                raise OverrideError(
                    f"Override '{line}' deletes '{key}', which is not in the config."
                )
            if value is not None and value != current:
                raise OverrideError(
                    f"Override '{line}' deletes '{key}' only if it equals {value!r}, "
                    f"but it is {current!r}: drop the '={value}' or fix it."
                )
            parent_key, _, leaf = key.rpartition(".")
            parent = OmegaConf.select(cfg, parent_key) if parent_key else cfg
            with open_dict(cfg):
                del parent[leaf]
        elif override.is_add():
            if current is not _ABSENT and not isinstance(value, (dict, list)):
                raise OverrideError(
                    f"Override '{line}' adds '{key}', which is already in the config: "
                    f"write '{line[1:]}' to change it or '+{line}' to add or change."
                )
            OmegaConf.update(cfg, key, value, merge=True, force_add=True)
        elif override.is_force_add():
            OmegaConf.update(cfg, key, value, merge=True, force_add=True)
        else:
            if current is _ABSENT:
                raise OverrideError(
                    f"Override '{line}' changes '{key}', which is not in the config: "
                    f"write '+{line}' to add it, or check the spelling."
                )
            OmegaConf.update(cfg, key, value, merge=True)
    except OmegaConfBaseException as exc:
        message = str(exc).splitlines()[0].rstrip(".")
        raise OverrideError(f"Override '{line}' cannot be applied to '{key}': {message}.") from exc
