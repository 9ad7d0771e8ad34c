"""What the registry stores, as strict pydantic models: version, alias, manifest and run records.

Everything read from storage is untrusted: anyone who can write to a shared bucket or NFS
directory can put bytes there. Each record is parsed by its model (unknown keys, wrong types,
unsafe names and paths refused), and :class:`CorruptRecordError` names the record and what is
wrong with it. The same models write the records, so what we write is what we accept.

The models themselves are in ``record_models`` and imported on first use (PEP 562): opening a
registry must not pay for pydantic, which a script that only loads a path never needs.
"""

from __future__ import annotations

import importlib
import json
import math
import re
from typing import TYPE_CHECKING, Any, Final, TypeVar

from nemotron_kit.errors import CorruptRecordError, URIError

if TYPE_CHECKING:
    from pydantic import BaseModel

    from nemotron_kit.registry.record_models import (
        AliasRecord,
        GcFenceRecord,
        ManifestFile,
        ManifestRecord,
        ManifestSummary,
        RetentionPolicy,
        RetentionRule,
        RunEndRecord,
        RunStartRecord,
        StorageInfo,
        TombstoneRecord,
        VersionRecord,
    )

__all__ = [
    "MAX_PATH",
    "RETENTION_FORMAT",
    "RUN_FORMAT",
    "VERSION_FORMAT",
    "AliasRecord",
    "GcFenceRecord",
    "ManifestFile",
    "ManifestRecord",
    "ManifestSummary",
    "RetentionPolicy",
    "RetentionRule",
    "RunEndRecord",
    "RunStartRecord",
    "StorageInfo",
    "TombstoneRecord",
    "VersionRecord",
    "check_digests",
    "check_relpaths",
    "dumps",
    "is_digest",
    "parse",
    "safe_relpath",
]
_MODELS = frozenset(name for name in __all__ if name[0].isupper() and not name.isupper())

VERSION_FORMAT: Final = "nemotron-kit/version/1"
RUN_FORMAT: Final = "nemotron-kit/run/1"
RETENTION_FORMAT: Final = "nemotron-kit/retention/1"
MAX_PATH = 4096
_CONTROL = re.compile(r"[\x00-\x1f\x7f\\]")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_GLOB = re.compile(r"(?=.{1,256}$)[\w.*?\[\]!-]+(/[\w.*?\[\]!-]+)?", re.ASCII)

R = TypeVar("R", bound="BaseModel")


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
    # Without empty, '.' and '..' segments a relative path is normalized (normpath keeps it);
    # the membership tests run in C, which matters for manifests of 100,000 files.
    parts = rel.split("/")
    if "" in parts or "." in parts or ".." in parts:
        raise ValueError("is not a normalized relative path (empty, '.' or '..' segments)")
    return rel


_HEX_DIGITS = b"0123456789abcdef"


def check_relpaths(rels: list[str]) -> None:
    """``safe_relpath`` over a manifest's paths at C speed (a Python call per path dominated
    loading a manifest of 20,000 files); the first bad path is named by its row.

    Joined by '/' between sentinels, every path's segments lie between two slashes, so an
    empty, '.' or '..' segment, an empty path and an absolute one all show as '//', '/./' or
    '/../', and no good path can make one.
    """
    if not rels:
        return
    joined = "/".join(["", *rels, ""])
    if (
        "//" in joined
        or "/./" in joined
        or "/../" in joined
        or _CONTROL.search(joined)
        or max(map(len, rels)) > MAX_PATH
    ):
        for i, rel in enumerate(rels):
            try:
                safe_relpath(rel)
            except ValueError as exc:
                raise ValueError(f"row {i}'s path {exc}") from None


def check_digests(digests: list[str]) -> None:
    """``_digest`` over many digests at C speed (a manifest's files, a gc fence's objects)."""
    try:
        hex_only = not "".join(digests).encode("ascii").translate(None, _HEX_DIGITS)
    except UnicodeEncodeError:
        hex_only = False
    if not hex_only or any(len(d) != 64 for d in digests):
        for i, value in enumerate(digests):
            if not _HEX64.fullmatch(value):
                raise ValueError(f"row {i} is not a 64-digit lowercase hex BLAKE3 digest")


def is_digest(value: str) -> bool:
    return bool(_HEX64.fullmatch(value))


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


def _glob(value: str) -> str:
    """A retention rule's pattern: a name or ``PROJECT/NAME``, with ``*``, ``?`` and ``[...]``
    (and only characters names have, so that it can match one)."""
    if not _GLOB.fullmatch(value):
        shown = f"'{value}'" if len(value) <= 64 and not _CONTROL.search(value) else "a pattern"
        raise ValueError(
            f"{shown} is not a name pattern such as '*-ckpt' or 'team/*' (letters, digits, "
            "'.', '_', '-', the wildcards '*?[]!' and at most one '/'; up to 256 characters)"
        )
    return value


def _printable(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("contains a control character or a backslash")
    return value


def _uri(value: str) -> str:
    from nemotron_kit.registry.uri import parse_uri

    try:
        parse_uri(value)
    except URIError as exc:
        raise ValueError(str(exc)) from None
    return value


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
    if getattr(data, "SORTED_JSON", False):  # see ManifestRecord
        return data.model_dump_json(by_alias=True).encode()  # type: ignore[no-any-return]
    dump = getattr(data, "model_dump", None)  # a model (pydantic is loaded if there is one)
    if dump is not None:
        data = dump(mode="json", by_alias=True)
    try:  # nearly always: nothing to replace, so no walk over (say) a manifest's 100,000 rows
        text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str, allow_nan=False)
    except ValueError:
        text = json.dumps(_finite(data), sort_keys=True, separators=(",", ":"), default=str)
    return text.encode()


def parse(
    model: type[R],
    raw: bytes,
    where: str,
    fix: str = "it was damaged or written by something else; restore it from a backup or remove it",
) -> R:
    """``raw`` as a ``model``; one sentence naming ``where``, the first problem and ``fix``
    otherwise."""
    from pydantic import ValidationError

    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        if first["type"] == "json_invalid":
            detail = f"not valid JSON: {message}"
        else:
            detail = f"{'.'.join(str(p) for p in first['loc']) or 'the record'}: {message}"
        raise CorruptRecordError(f"{where} is corrupted ({detail}): {fix}.") from None


def __getattr__(name: str) -> Any:
    if name not in _MODELS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module("nemotron_kit.registry.record_models"), name)
    globals()[name] = value
    return value
