"""Every error a user can meet, in one place.

Each class carries one sentence that names the culprit and how to fix it; the CLI prints that
sentence alone (no traceback unless HYDRA_FULL_ERROR=1) and exits non-zero.
"""

from __future__ import annotations


class NemotronKitError(Exception):
    """Base class: ``str(err)`` is the one sentence shown to the user."""

    exit_code: int = 2


class ConfigError(NemotronKitError):
    """A configuration could not be loaded, overridden or validated."""


class ConfigFileNotFoundError(ConfigError, FileNotFoundError):
    """A config file named by the user does not exist."""


class ConfigParseError(ConfigError):
    """A YAML, TOML or JSON file is malformed."""


class OverrideError(ConfigError):
    """An override is malformed or cannot be applied."""


class ConfigValidationError(ConfigError):
    """A config does not match its schema (unknown key, missing value, wrong type)."""


class UnknownConfigOptionError(ConfigError):
    """A config group was asked for an option that no search-path directory provides."""


class InstantiationError(ConfigError):
    """A ``_target_`` could not be located, was refused, or raised while being built."""
