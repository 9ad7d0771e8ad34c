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


class ArtifactError(NemotronKitError):
    """An artifact or registry operation failed."""


class MetadataError(ArtifactError):
    """Artifact metadata has the wrong type or an invalid value."""


class URIError(ArtifactError):
    """An ``art://`` URI or an artifact name is malformed or unsafe."""


class NotFoundError(ArtifactError, LookupError):
    """An artifact name, version or alias does not exist in the registry."""


class LiveDownstreamError(ArtifactError):
    """A version cannot be deleted: live versions were made from it (``downstream``)."""

    def __init__(self, downstream: list[str], message: str) -> None:
        super().__init__(message)
        self.downstream = downstream


class CorruptRecordError(ArtifactError):
    """A registry record cannot be read back (truncated, edited or not ours)."""


class IntegrityError(ArtifactError):
    """An artifact's files do not match the hashes recorded when it was published."""


class StorageError(ArtifactError):
    """The registry's storage is unreachable or refused an operation."""


class LineageQueryError(NemotronKitError):
    """A lineage query or rendering was asked for something it cannot do (a direction, a
    depth, a file type); recording lineage fails with ``tracking.run.LineageError`` instead."""


class MissingDependencyError(ConfigError):
    """An option needs an optional package that is not installed (an extra to install)."""


class RankFailedError(NemotronKitError):
    """Another rank of a distributed job failed: the job (and its run) failed with it."""
