"""Check a composed config against its typed nodes before any work starts.

OmegaConf checks types when a value is set, but not ranges, and Hydra's ``+key=value`` adds a
key even to a typed node. ``check_config`` closes both gaps: every node backed by a dataclass
may hold only that dataclass's fields, and each field's constraints (declared with
:func:`constrained`) hold. A violation is one sentence naming the key, the value and what is
allowed.
"""

from __future__ import annotations

import dataclasses
import math
import operator
from collections.abc import Callable, Sequence
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from nemotron_kit.errors import ConfigValidationError, NemotronKitError

#: metadata key of a field's constraints
CONSTRAINTS = "nemotron_kit"
Checker = Callable[[Any], "str | None"]


def constrained(
    default: Any = dataclasses.MISSING,
    *,
    default_factory: Any = dataclasses.MISSING,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    choices: Sequence[Any] | None = None,
    check: Checker | None = None,
) -> Any:
    """A dataclass field whose value must satisfy the given bounds, choices or ``check``.

    ``check(value)`` returns None when the value is fine, else what is wrong with it (a clause
    such as "must name an importable module").
    """
    rules = {"ge": ge, "gt": gt, "le": le, "lt": lt, "choices": choices, "check": check}
    metadata = {CONSTRAINTS: {k: v for k, v in rules.items() if v is not None}}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


_BOUNDS = {
    "ge": (">=", operator.ge),
    "gt": (">", operator.gt),
    "le": ("<=", operator.le),
    "lt": ("<", operator.lt),
}


def _violation(value: Any, rules: dict[str, Any]) -> str | None:
    if value is None:
        return None  # Optional fields: None means "not set", bounds apply to real values
    if "choices" in rules and value not in rules["choices"]:
        return "must be one of " + ", ".join(str(c) for c in rules["choices"])
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            return "must be a finite number"
        for name, (sign, holds) in _BOUNDS.items():
            limit = rules.get(name)
            if limit is not None and not holds(value, limit):
                return f"must be {sign} {limit:g}"
    if "check" in rules:
        problem: str | None = rules["check"](value)
        return problem
    return None


def check_config(cfg: DictConfig | ListConfig, *, where: str = "") -> None:
    """Raise :class:`ConfigValidationError` for the first key that breaks its node's schema."""
    if isinstance(cfg, ListConfig):
        for index in range(len(cfg)):
            child = cfg._get_node(index)
            if isinstance(child, (DictConfig, ListConfig)):
                check_config(child, where=f"{where}{index}.")
        return
    schema = OmegaConf.get_type(cfg)
    fields = (
        {f.name: f for f in dataclasses.fields(schema)}
        if isinstance(schema, type) and dataclasses.is_dataclass(schema)
        else None
    )
    for key in [str(k) for k in cfg]:
        full = f"{where}{key}"
        if fields is not None and key not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigValidationError(
                f"'{full}' is not a setting here (the keys of '{where.rstrip('.') or 'the config'}'"
                f" are {known}): remove it or fix the spelling."
            )
        child = cfg._get_node(key)
        if child is not None and child._is_missing():
            raise ConfigValidationError(
                f"'{full}' has no value (???): set it with '{full}=...' or in your config file."
            )
        if isinstance(child, (DictConfig, ListConfig)):
            if not child._is_missing() and not child._is_none():
                check_config(child, where=f"{full}.")
            continue
        rules = fields[str(key)].metadata.get(CONSTRAINTS) if fields is not None else None
        if not rules:
            continue
        try:
            value = cfg[key]
        except NemotronKitError:
            raise
        except OmegaConfBaseException as exc:
            detail = str(exc).splitlines()[0].rstrip(".")
            raise ConfigValidationError(f"'{full}' cannot be read ({detail}): fix it.") from None
        problem = _violation(value, rules)
        if problem:
            raise ConfigValidationError(
                f"'{full}' is {value!r}, but it {problem}: fix the override or the config file."
            )
    # Rules that span several keys of the node (d_model divisible by n_heads, ...).
    cross_check = getattr(schema, "cross_check", None)
    if callable(cross_check):
        problem = cross_check(cfg)
        if problem:
            raise ConfigValidationError(f"{problem}.")


def check_job_config(cfg: DictConfig) -> None:
    """Everything that can be known wrong about a job before it starts: keys, types, ranges
    and names (:func:`check_config`), and optional packages its options need."""
    from nemotron_kit._deps import check_job_dependencies

    for key in list(cfg):
        if key == "hydra":
            continue
        node = cfg._get_node(key)
        if isinstance(node, (DictConfig, ListConfig)) and not node._is_none():
            check_config(node, where=f"{key}.")
    check_job_dependencies(cfg)
