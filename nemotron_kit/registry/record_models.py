"""The pydantic models of the registry's records (see ``records``, which imports them on first use
and holds the validators, the encoding and the parser)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveInt,
    field_validator,
)

from nemotron_kit.registry.records import (
    MAX_PATH,
    RETENTION_FORMAT,
    RUN_FORMAT,
    VERSION_FORMAT,
    _digest,
    _glob,
    _name,
    _printable,
    _uri,
    check_digests,
    check_relpaths,
    safe_relpath,
)

RelPath = Annotated[str, AfterValidator(safe_relpath)]
Digest = Annotated[str, AfterValidator(_digest)]
Name = Annotated[str, AfterValidator(_name)]
URI = Annotated[str, AfterValidator(_uri)]
Pattern = Annotated[str, AfterValidator(_glob)]
Printable = Annotated[str, AfterValidator(_printable)]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ManifestSummary(_Record):
    digest: Digest
    files: NonNegativeInt
    bytes: NonNegativeInt


class StorageInfo(_Record):
    mode: Literal["copy", "reference"]
    source: str = Field(max_length=MAX_PATH)
    single_file: RelPath | None = None
    follow_symlinks: bool = False
    #: Data referenced in object storage (``source`` a URL): each file's fingerprint then.
    fingerprints: dict[RelPath, str] | None = None


class VersionRecord(_Record):
    """A published version: immutable, created exclusively (the commit point of a publish)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)

    format: Literal["nemotron-kit/version/1"] = VERSION_FORMAT
    version: PositiveInt
    project: Name
    name: Name
    type: str = Field(max_length=128)
    class_path: str = Field(alias="class", max_length=512)
    fields: dict[str, Any]
    created_at: str = Field(max_length=64)
    producer: Name | None = None
    inputs: list[URI] = Field(default_factory=list)
    host: str = Field(default="", max_length=255)
    manifest: ManifestSummary
    storage: StorageInfo


class AliasRecord(_Record):
    version: PositiveInt
    updated_at: str = Field(default="", max_length=64)


class TombstoneRecord(_Record):
    """A deleted version: its record stays (the number is never reused, lineage keeps it)."""

    deleted_at: str = Field(max_length=64)
    reason: str | None = Field(default=None, max_length=1000)
    forced: bool = False


class RetentionRule(_Record):
    """Which versions of a name ``gc`` may delete: those beyond the newest ``keep_last`` (None:
    none), created more than ``older_than_s`` ago, and, with ``keep_aliased``, not aliased."""

    keep_last: PositiveInt | None = None
    older_than_s: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    keep_aliased: bool = True


class RetentionPolicy(_Record):
    """A registry's retention: the first rule whose glob matches a name (``NAME`` or
    ``PROJECT/NAME``) applies, else ``default``. Kept in the registry, so every user's and
    every scheduled ``gc`` applies the same one."""

    format: Literal["nemotron-kit/retention/1"] = RETENTION_FORMAT
    default: RetentionRule = RetentionRule()
    names: list[tuple[Pattern, RetentionRule]] = Field(default_factory=list, max_length=1000)
    updated_at: Printable = Field(default="", max_length=64)


class GcFenceRecord(_Record):
    """The digests (of objects and manifests) a gc in progress may delete."""

    format: Literal["nemotron-kit/gc/1"] = "nemotron-kit/gc/1"
    started_at: float = Field(ge=0, allow_inf_nan=False)
    digests: list[str]

    @field_validator("digests")
    @classmethod
    def _digests(cls, digests: list[str]) -> list[str]:
        check_digests(digests)  # in bulk: a fence can name 500,000
        return digests


class ManifestFile(_Record):
    rel: RelPath
    size: NonNegativeInt
    digest: Digest


class ManifestRecord(_Record):
    """Every file of an artifact (path, size, digest) and the tree digest over them."""

    #: Its fields are in sorted order and hold no mapping or float, so pydantic's own JSON is
    #: the sorted, compact JSON of ``records.dumps`` (but for non-ASCII paths, written as
    #: UTF-8), in a fifth of the time: a manifest can list 100,000 files.
    SORTED_JSON: ClassVar[bool] = True

    algorithm: Literal["blake3"] = "blake3"
    digest: Digest
    files: list[tuple[str, NonNegativeInt, str]]

    @field_validator("files")
    @classmethod
    def _files(cls, files: list[tuple[str, int, str]]) -> list[tuple[str, int, str]]:
        # As RelPath and Digest would, in bulk: per row they cost most of loading a manifest.
        check_relpaths([row[0] for row in files])
        check_digests([row[2] for row in files])
        return files


class RunStartRecord(BaseModel):
    """A run's start record. Its config and code are free-form, the rest is checked."""

    model_config = ConfigDict(extra="allow", frozen=True)

    format: Literal["nemotron-kit/run/1"] = RUN_FORMAT
    run_id: Name
    recipe: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    overrides: list[str] = Field(default_factory=list)
    inputs: list[URI] = Field(default_factory=list)
    started_at: str | None = None


class RunEndRecord(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    status: Literal["COMPLETED", "FAILED", "LOST"]
    error: str | None = None
    metrics: dict[str, float | None] = Field(default_factory=dict)
    outputs: list[URI] = Field(default_factory=list)
