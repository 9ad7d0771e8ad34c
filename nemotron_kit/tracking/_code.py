"""What code a run ran: git commit, a digest of uncommitted changes, package versions."""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
from pathlib import Path
from typing import Any

import blake3

PACKAGES = (
    "nemotron-kit",
    "hydra-core",
    "omegaconf",
    "torch",
    "wandb",
    "submitit",
    "fsspec",
    "pydantic",
)


def _git(cwd: Path, *args: str) -> str | None:
    try:
        result = subprocess.run(
            ["git", "-C", str(cwd), *args], capture_output=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.decode(errors="replace").strip() if result.returncode == 0 else None


def code_version(cwd: Path | None = None) -> dict[str, Any]:
    """The git state of the working directory's repository (empty outside a repository)."""
    return code_state(cwd)[0]


def code_state(cwd: Path | None = None) -> tuple[dict[str, Any], str | None]:
    """The git state of the working directory's repository and the text of its uncommitted
    changes (``git diff HEAD`` and the untracked files' names; None when clean).

    ``diff_digest`` covers tracked changes (staged or not) and the content of untracked files
    that are not ignored, so two runs with the same digest ran the same code.
    """
    where = Path.cwd() if cwd is None else cwd
    top = _git(where, "rev-parse", "--show-toplevel")
    if top is None:
        return {}, None
    commit = _git(where, "rev-parse", "HEAD")
    hasher = blake3.blake3()
    try:
        diff = subprocess.run(
            ["git", "-C", top, "diff", "HEAD", "--binary"],
            capture_output=True,
            timeout=60,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        diff = b""
    hasher.update(diff)
    untracked = (_git(Path(top), "ls-files", "--others", "--exclude-standard", "-z") or "").split(
        "\0"
    )
    listed = []
    for rel in sorted(u for u in untracked if u):
        path = Path(top) / rel
        hasher.update(rel.encode() + b"\0")
        size = path.stat().st_size if path.is_file() else 0
        if path.is_file() and size < (64 << 20):
            hasher.update(path.read_bytes())
        listed.append(f"  {rel} ({size} bytes)")
    dirty = bool(diff) or bool(listed)
    text = diff.decode("utf-8", "replace")
    if listed:
        text += "Untracked files (in the digest, not shown):\n" + "\n".join(listed) + "\n"
    record = {
        "repo": top,
        "commit": commit,
        "dirty": dirty,
        "diff_digest": hasher.hexdigest() if dirty else None,
    }
    return record, text if dirty else None


def package_versions() -> dict[str, str]:
    """Versions of the packages that shape a run (read from metadata: nothing is imported)."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out
