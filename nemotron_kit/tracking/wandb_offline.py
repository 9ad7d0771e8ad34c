"""Read an offline W&B run back: its config, summary, tags, exit code and logged artifacts.

Offline, wandb writes everything into one ``run-ID.wandb`` file (no ``config.yaml`` or
``wandb-summary.json``). The file uses LevelDB's log framing: a 7-byte file header (``:W&B``,
a 2-byte magic, a version byte), then 32 KiB blocks of chunks, each with a 7-byte header
(CRC-32, length, type) where a record is one FULL chunk or FIRST, MIDDLE..., LAST. Every record
is a ``wandb.proto.wandb_internal_pb2.Record``: the SDK's own schema decodes the payloads.
"""

from __future__ import annotations

import gzip
import json
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HEADER_IDENT = b":W&B"
HEADER_LEN = 7  # both the file header and each chunk header
BLOCK_LEN = 32768
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


class OfflineRunError(ValueError):
    """The path is not a readable offline W&B run."""


def find_run_file(run_dir: str | Path) -> Path:
    """The ``.wandb`` file of a run directory (``.../offline-run-DATE-ID``), or the file itself."""
    path = Path(run_dir)
    if path.is_file():
        return path
    found = sorted(path.glob("*.wandb"))
    if len(found) != 1:
        raise OfflineRunError(f"{path} holds {len(found)} .wandb files, expected one.")
    return found[0]


def iter_chunks(data: bytes) -> Iterator[bytes]:
    """The records' payloads, reassembled from LevelDB-log chunks; a torn tail is dropped."""
    if len(data) < HEADER_LEN or data[:4] != HEADER_IDENT:
        raise OfflineRunError("not a W&B run file (no ':W&B' header)")
    pos = HEADER_LEN
    pending: list[bytes] = []
    while pos + HEADER_LEN <= len(data):
        room = BLOCK_LEN - pos % BLOCK_LEN
        if room < HEADER_LEN:  # the block's tail is padding
            pos += room
            continue
        crc, length, kind = struct.unpack_from("<IHB", data, pos)
        start = pos + HEADER_LEN
        payload = data[start : start + length]
        if kind == 0 and length == 0:  # zero padding (a preallocated or torn tail)
            pos += room
            continue
        if len(payload) < length:
            break  # the writer died mid-record
        if zlib.crc32(payload, zlib.crc32(bytes([kind]))) & 0xFFFFFFFF != crc:
            raise OfflineRunError(f"corrupted chunk at byte {pos} (CRC mismatch)")
        pos = start + length
        if kind == FULL:
            pending = []
            yield payload
        elif kind == FIRST:
            pending = [payload]
        elif kind == MIDDLE:
            pending.append(payload)
        elif kind == LAST:
            yield b"".join([*pending, payload])
            pending = []
        else:
            raise OfflineRunError(f"unknown chunk type {kind} at byte {pos}")


def iter_records(run_dir: str | Path) -> Iterator[Any]:
    """Every ``Record`` of the run, in the order wandb wrote them."""
    from wandb.proto import wandb_internal_pb2

    for payload in iter_chunks(find_run_file(run_dir).read_bytes()):
        record = wandb_internal_pb2.Record()  # type: ignore[attr-defined]  # version-picked module
        record.ParseFromString(payload)
        yield record


def _apply(target: dict[str, Any], update: Any, remove: Any) -> None:
    """Apply a ConfigRecord or SummaryRecord (items with key or nested_key and JSON values)."""
    for item in update:
        keys = [item.key] if item.key else list(item.nested_key)
        node = target
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = json.loads(item.value_json)
    for item in remove:
        keys = [item.key] if item.key else list(item.nested_key)
        node = target
        for key in keys[:-1]:
            node = node.get(key, {})
        node.pop(keys[-1], None)


def _manifest_entries(manifest: Any) -> list[dict[str, Any]]:
    if manifest.manifest_file_path:  # large manifests are written to a gzipped JSON-lines file
        path = Path(manifest.manifest_file_path)
        if not path.exists():
            return []
        with gzip.open(path, "rt") as f:
            return [json.loads(line) for line in f if line.strip()]
    return [
        {
            "path": entry.path,
            "ref": entry.ref or None,
            "digest": entry.digest,
            "size": entry.size or None,
        }
        for entry in manifest.contents
    ]


def read_offline_run(run_dir: str | Path) -> dict[str, Any]:
    """What an offline run recorded, as plain data.

    Returns ``run_id``, ``project``, ``entity``, ``name``, ``group``, ``job_type``, ``tags``,
    ``config`` (without W&B's own ``_wandb`` key), ``summary``, ``exit_code`` (None if the run
    never finished) and ``artifacts`` (each with ``name``, ``type``, ``aliases``, ``metadata``,
    ``digest`` and ``manifest_entries``) and ``history`` (the logged rows, each a dict with
    W&B's ``_step``).
    """
    out: dict[str, Any] = {
        "run_id": None,
        "project": None,
        "entity": None,
        "name": None,
        "group": None,
        "job_type": None,
        "tags": [],
        "config": {},
        "summary": {},
        "exit_code": None,
        "artifacts": [],
        "history": [],
    }
    for record in iter_records(run_dir):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run = record.run
            out.update(
                run_id=run.run_id,
                project=run.project or None,
                entity=run.entity or None,
                name=run.display_name or None,
                group=run.run_group or None,
                job_type=run.job_type or None,
                tags=list(run.tags),
            )
            _apply(out["config"], run.config.update, run.config.remove)
            _apply(out["summary"], run.summary.update, run.summary.remove)
        elif kind == "config":
            _apply(out["config"], record.config.update, record.config.remove)
        elif kind == "summary":
            _apply(out["summary"], record.summary.update, record.summary.remove)
        elif kind == "artifact":
            art = record.artifact
            out["artifacts"].append(
                {
                    "name": art.name,
                    "type": art.type,
                    "aliases": list(art.aliases),
                    "metadata": json.loads(art.metadata) if art.metadata else {},
                    "digest": art.digest,
                    "manifest_entries": _manifest_entries(art.manifest),
                }
            )
        elif kind == "history":
            row = {
                item.key or "/".join(item.nested_key): json.loads(item.value_json)
                for item in record.history.item
            }
            out["history"].append(row)
        elif kind == "exit":
            out["exit_code"] = record.exit.exit_code
    out["config"].pop("_wandb", None)
    out["summary"].pop("_wandb", None)
    return out
