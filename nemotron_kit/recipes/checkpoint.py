"""Training checkpoints: model, optimizer, RNG states and step, written atomically.

A checkpoint is ``step-NNNNNNNN.pt`` in the job's ``checkpoints/`` directory. It is written to
a temporary name and renamed, so a job killed mid-write leaves the previous checkpoint intact
and ``latest()`` never returns a partial file. Model weights are saved as plain CPU tensors in
a fixed key order, so equal weights give equal bytes.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch

CHECKPOINT = re.compile(r"^step-(\d{8})\.pt$")


def path_for(directory: str | os.PathLike[str], step: int) -> Path:
    return Path(directory) / f"step-{step:08d}.pt"


def latest(directory: str | os.PathLike[str]) -> Path | None:
    """The checkpoint with the highest step in ``directory`` (None if there is none)."""
    directory = Path(directory)
    if not directory.is_dir():
        return None
    found = sorted(p for p in directory.iterdir() if CHECKPOINT.match(p.name))
    return found[-1] if found else None


def cpu_state_dict(model: torch.nn.Module) -> OrderedDict[str, torch.Tensor]:
    """The model's tensors, detached and on CPU, in the module's own (fixed) order."""
    return OrderedDict(
        (name, tensor.detach().to("cpu", copy=True).contiguous())
        for name, tensor in model.state_dict().items()
    )


def weights_digest(state: dict[str, torch.Tensor]) -> str:
    """SHA-256 over names, dtypes, shapes and bytes of the tensors: equal iff the weights are."""
    h = hashlib.sha256()
    for name, tensor in state.items():
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}\n".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def atomic_save(obj: Any, path: str | os.PathLike[str]) -> None:
    """``torch.save`` to a temporary file in the same directory, fsync, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def canonical(obj: Any) -> Any:
    """A fresh copy of nested dicts, lists and tensors with interned keys.

    pickle shares repeated objects by identity, so an optimizer state loaded from a checkpoint
    would pickle to other bytes than the same state built in memory; a canonical copy does not.
    """
    if isinstance(obj, dict):
        return {sys.intern(k) if isinstance(k, str) else k: canonical(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(canonical(v) for v in obj)
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True).contiguous()
    return obj


def save(
    directory: str | os.PathLike[str], step: int, state: dict[str, Any], keep: int = 2
) -> Path:
    """Write the checkpoint of ``step``; keep the newest ``keep`` and delete older ones.

    Equal states give byte-identical files: a resumed run's checkpoints equal an uninterrupted
    run's.
    """
    directory = Path(directory)
    path = path_for(directory, step)
    atomic_save(canonical({"step": step, **state}), path)
    older = sorted(p for p in directory.iterdir() if CHECKPOINT.match(p.name) and p != path)
    for stale in older[: max(0, len(older) - (keep - 1))]:
        stale.unlink(missing_ok=True)
    return path


def load(path: str | os.PathLike[str]) -> dict[str, Any]:
    state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    return state
