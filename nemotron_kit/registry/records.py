"""What the registry stores, as strict pydantic models: version, alias, manifest and run records.

Everything read from storage is untrusted: anyone who can write to a shared bucket or NFS
directory can put bytes there. Each record is parsed by its model (unknown keys, wrong types,
unsafe names and paths refused), and :class:`CorruptRecordError` names the record and what is
wrong with it. The same models write the records, so what we write is what we accept.
"""

from __future__ import annotations

import json
import math
import posixpath
import re
from typing import Annotated, Any, Final, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveInt,
    ValidationError,
)

from nemotron_kit.errors import CorruptRecordError, URIError

VERSION_FORMAT: Final = "nemotron-kit/version/1"
RUN_FORMAT: Final = "nemotron-kit/run/1"
MAX_PATH = 4096
_CONTROL = re.compile(r"[\x00-\x1f\x7f\\]")
_HEX64 = re.compile(r"[0-9a-f]{64}")

R = TypeVar("R", bound=BaseModel)


def safe_relpath(rel: str) -> str:
    """A path inside an artifact: relative, normalized, no ``..``, no NUL, no backslash.

    Checked when a manifest is written and when it is read, so a crafted manifest cannot make
    a reader write or read outside the artifact's tree.
    """
    if not isinstance(rel, str) or not rel:
        raise ValueError("is empty")
    if len(rel) > MAX_PATH:
        raise ValueError(f"is longer than {MAX_PATH} characters")
    if _CONTROL.search(rel):
        raise ValueError("contains a control character or a backslash")
    if rel.startswith("/"):
        raise ValueError("is absolute")
    parts = rel.split("/")
    if any(p in ("", ".", "..") for p in parts) or posixpath.normpath(rel) != rel:
        raise ValueError("is not a normalized relative path (empty, '.' or '..' segments)")
    return rel


def _digest(value: str) -> str:
    if not _HEX64.fullmatch(value):
        raise ValueError("is not a 64-digit lowercase hex BLAKE3 digest")
    return value


def _name(value: str) -> str:
    from nemotron_kit.registry.uri import validate_name

    try:
        return validate_name(value)
    except URIError as exc:
        raise ValueError(str(exc)) from None


def _uri(value: str) -> str:
    from nemotron_kit.registry.uri import parse_uri

    try:
        parse_uri(value)
    except URIError as exc:
        raise ValueError(str(exc)) from None
    return value


RelPath = Annotated[str, AfterValidator(safe_relpath)]
Digest = Annotated[str, AfterValidator(_digest)]
Name = Annotated[str, AfterValidator(_name)]
URI = Annotated[str, AfterValidator(_uri)]


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


class ManifestFile(_Record):
    rel: RelPath
    size: NonNegativeInt
    digest: Digest


class ManifestRecord(_Record):
    """Every file of an artifact (path, size, digest) and the tree digest over them."""

    algorithm: Literal["blake3"] = "blake3"
    digest: Digest
    files: list[tuple[RelPath, NonNegativeInt, Digest]]


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


def _finite(data: Any) -> Any:
    """NaN and infinities become null: records stay valid JSON (a diverged loss is NaN)."""
    if isinstance(data, float) and not math.isfinite(data):
        return None
    if isinstance(data, dict):
        return {k: _finite(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_finite(v) for v in data]
    return data


def dumps(data: Any) -> bytes:
    """The one encoding of records: sorted, compact JSON, no NaN."""
    if isinstance(data, BaseModel):
        data = data.model_dump(mode="json", by_alias=True)
    return json.dumps(_finite(data), sort_keys=True, separators=(",", ":"), default=str).encode()


def parse(model: type[R], raw: bytes, where: str) -> R:
    """``raw`` as a ``model``; one sentence naming ``where`` and the first problem otherwise."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        if first["type"] == "json_invalid":
            detail = f"not valid JSON: {message}"
        else:
            detail = f"{'.'.join(str(p) for p in first['loc']) or 'the record'}: {message}"
        raise CorruptRecordError(
            f"{where} is corrupted ({detail}): it was damaged or written by something else; "
            "restore it from a backup or remove it."
        ) from None
