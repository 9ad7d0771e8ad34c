"""Turn a config into a typed object (a dataclass or a pydantic model), strictly.

Strict means: an unknown key, a missing required value and a value of the wrong type are each
an error naming the full key path, because a silently ignored typo in a training config costs a
cluster run.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import (
    ConfigKeyError,
    MissingMandatoryValue,
    OmegaConfBaseException,
    ValidationError,
)

from nemotron_kit.config._loading import load_omegaconf_yaml
from nemotron_kit.config._overrides import apply_hydra_overrides
from nemotron_kit.errors import ConfigValidationError

T = TypeVar("T")


def _is_pydantic_model(schema: type[Any]) -> bool:
    pydantic = sys.modules.get("pydantic")
    return (
        pydantic is not None and isinstance(schema, type) and issubclass(schema, pydantic.BaseModel)
    )


def _key_path(exc: OmegaConfBaseException) -> str:
    full_key = getattr(exc, "full_key", None)
    return str(full_key) if full_key else "<root>"


def _schema_error(
    exc: OmegaConfBaseException, schema: type[Any], source: str
) -> ConfigValidationError:
    key = _key_path(exc)
    name = schema.__name__
    if isinstance(exc, MissingMandatoryValue):
        return ConfigValidationError(
            f"'{key}' has no value{source}, but {name} requires one: set it in the config "
            f"or with '{key}=...'."
        )
    if isinstance(exc, ConfigKeyError):
        return ConfigValidationError(
            f"'{key}'{source} is not a field of {name}: remove it or fix the spelling."
        )
    if isinstance(exc, ValidationError):
        detail = str(exc).splitlines()[0].rstrip(".")
        return ConfigValidationError(
            f"'{key}'{source} has the wrong type for {name} ({detail}): give a value of the "
            "declared type."
        )
    detail = str(exc).splitlines()[0].rstrip(".")
    return ConfigValidationError(f"'{key}'{source} does not fit {name}: {detail}.")


def omegaconf_to_dataclass(
    cfg: DictConfig | dict[str, Any], schema: type[T], *, source: str = ""
) -> T:
    """Build ``schema`` (a dataclass or pydantic model) from ``cfg``, strict on keys and types."""
    if not isinstance(cfg, DictConfig):
        cfg = OmegaConf.create(cfg)
    where = f" in {source}" if source else ""
    if _is_pydantic_model(schema):
        return cast(T, _to_pydantic(cfg, schema, where))
    if not dataclasses.is_dataclass(schema):
        raise TypeError(f"{schema!r} is neither a dataclass nor a pydantic model")
    try:
        merged = OmegaConf.merge(OmegaConf.structured(schema), cfg)
        return cast(T, OmegaConf.to_object(merged))
    except OmegaConfBaseException as exc:
        raise _schema_error(exc, schema, where) from None


def _to_pydantic(cfg: DictConfig, schema: type[Any], where: str) -> Any:
    import pydantic

    try:
        data = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except OmegaConfBaseException as exc:
        raise _schema_error(exc, schema, where) from None
    # Unknown top-level keys are errors here even if the model tolerates extras elsewhere.
    config = {**schema.model_config, "extra": "forbid"}
    strict: Any = type(schema.__name__, (schema,), {"model_config": config})
    try:
        strict.model_validate(data)
        return schema.model_validate(data)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "<root>"
        name = schema.__name__
        if first["type"] == "missing":
            message = f"'{key}' has no value{where}, but {name} requires one: set it."
        elif first["type"] == "extra_forbidden":
            message = f"'{key}'{where} is not a field of {name}: remove it or fix the spelling."
        else:
            message = f"'{key}'{where} is invalid for {name} ({first['msg']}): fix the value."
        raise ConfigValidationError(message) from None


def parse_config_and_overrides(
    schema: type[T],
    config_file: str | Path | None = None,
    overrides: Sequence[str] | None = None,
) -> T:
    """Schema defaults, then ``config_file``, then ``overrides`` (Hydra grammar) -> a ``schema``.

    Made for plain training scripts (``torchrun train.py --config c.yaml lr=3e-4``) that want
    Hydra's override grammar and strict typing without ``@hydra.main``.
    """
    source = f"'{config_file}'" if config_file is not None else ""
    base: DictConfig
    if dataclasses.is_dataclass(schema):
        base = OmegaConf.structured(schema)
    else:
        base = OmegaConf.create({})
    if config_file is not None:
        loaded = load_omegaconf_yaml(config_file)
        try:
            base = cast(DictConfig, OmegaConf.merge(base, loaded))
        except OmegaConfBaseException as exc:
            raise _schema_error(exc, schema, f" in {source}") from None
    if overrides:
        # Typed nodes keep their schema: `+typo=1` is refused there, not silently dropped.
        apply_hydra_overrides(base, list(overrides))
    _pin_artifact_references(base)
    return omegaconf_to_dataclass(base, schema, source=source)


def _pin_artifact_references(cfg: DictConfig) -> None:
    """``${art:data}`` and ``art://data:latest`` become one concrete version each, as in a job,
    so two reads of the same reference can never see two versions."""
    if "art:" not in OmegaConf.to_yaml(cfg):
        return
    from nemotron_kit.registry.resolver import pin_config

    pin_config(cfg)
