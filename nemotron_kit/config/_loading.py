"""Load a config file into OmegaConf, choosing the parser by extension (YAML, TOML, JSON)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from nemotron_kit.errors import ConfigFileNotFoundError, ConfigParseError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

_YAML = {".yaml", ".yml"}
_TOML = {".toml"}
_JSON = {".json"}


def load_omegaconf_yaml(path: str | Path) -> DictConfig:
    """Load YAML, TOML or JSON (by extension) as a ``DictConfig``.

    The name is the seed API's; all three formats yield the same config for the same content, so
    a team can keep whichever its tooling prefers.
    """
    file = Path(path).expanduser()
    suffix = file.suffix.lower()
    if suffix not in _YAML | _TOML | _JSON:
        raise ConfigParseError(
            f"Config file '{file}' has an unknown extension '{suffix or '(none)'}': "
            "use .yaml, .yml, .toml or .json."
        )
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigFileNotFoundError(
            f"Config file '{file}' does not exist: check the path (relative paths start at "
            f"{Path.cwd()})."
        ) from None
    except IsADirectoryError:
        raise ConfigFileNotFoundError(
            f"Config path '{file}' is a directory: pass the config file inside it."
        ) from None
    data = _parse(file, suffix, text)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigParseError(
            f"Config file '{file}' holds a {type(data).__name__}, not a mapping: "
            "its top level must be key: value pairs."
        )
    try:
        return OmegaConf.create(data)
    except Exception as exc:  # omegaconf rejects e.g. non-string keys
        raise ConfigParseError(f"Config file '{file}' cannot be used as a config: {exc}.") from exc


def _parse(file: Path, suffix: str, text: str) -> Any:
    if suffix in _TOML:
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigParseError(
                f"Config file '{file}' is not valid TOML ({exc}): fix the syntax there."
            ) from exc
    if suffix in _JSON:
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigParseError(
                f"Config file '{file}' is not valid JSON ({exc.msg} at line {exc.lineno}, "
                f"column {exc.colno}): fix the syntax there."
            ) from exc
    import yaml

    try:
        # safe_load only to see the top-level shape (OmegaConf turns a bare scalar into a key);
        # the values come from OmegaConf's own loader, whose float rules match Hydra's files.
        top = yaml.safe_load(text)
        if not isinstance(top, dict):
            return top
        return OmegaConf.to_container(OmegaConf.create(text))
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigParseError(
            f"Config file '{file}' is not valid YAML ({problem}{where}): fix the syntax there."
        ) from exc
