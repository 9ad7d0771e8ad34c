"""Immutable code snapshots: what a remote job runs, whatever happens to the checkout later.

A snapshot holds the git repository's tracked files as they are on disk (uncommitted edits
included) and, on request, untracked files that git does not ignore. Secret-looking files
(.env, keys, credentials) never go in. Snapshots are stored by content digest, so an unchanged
tree is not copied again, and the digest is what lineage records.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from nemotron_kit.errors import NemotronKitError
from nemotron_kit.registry import hashing, home_cache

SECRET_PATTERNS = (
    ".env",
    ".env.*",
    "*.env",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "id_rsa*",
    "id_ed25519*",
    "id_ecdsa*",
    "*credentials*",
    ".netrc",
    ".pypirc",
    ".npmrc",
    "*secret*",
    "*.kdbx",
)


class SnapshotError(NemotronKitError):
    """The code snapshot could not be made."""


@dataclass(frozen=True)
class Snapshot:
    digest: str
    path: Path
    repo: Path
    files: int

    def to_json(self) -> dict[str, object]:
        return {
            "digest": self.digest,
            "path": str(self.path),
            "repo": str(self.repo),
            "files": self.files,
        }


def is_secret_file(rel: str) -> bool:
    name = rel.rsplit("/", 1)[-1].lower()
    return any(fnmatch.fnmatch(name, pattern) for pattern in SECRET_PATTERNS)


def _git_files(repo: Path, *args: str) -> list[str]:
    out = subprocess.run(
        ["git", "-C", str(repo), *args, "-z"], capture_output=True, check=True
    ).stdout
    return [p for p in out.decode().split("\0") if p]


def repo_root(cwd: Path | None = None) -> Path | None:
    """The git repository around ``cwd``; None outside one (or where git is not installed)."""
    try:
        result = subprocess.run(
            ["git", "-C", str(cwd or Path.cwd()), "rev-parse", "--show-toplevel"],
            capture_output=True,
            check=False,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return Path(result.stdout.decode().strip()) if result.returncode == 0 else None


def snapshot_files(repo: Path, include_untracked: bool = False) -> list[hashing.FileStat]:
    rels = set(_git_files(repo, "ls-files", "--cached"))
    if include_untracked:
        rels |= set(_git_files(repo, "ls-files", "--others", "--exclude-standard"))
    files = []
    for rel in sorted(rels):
        path = repo / rel
        if is_secret_file(rel) or not path.is_file() or path.is_symlink():
            continue  # deleted in the working tree, a submodule, a link, or a secret
        st = path.stat()
        files.append(
            hashing.FileStat(rel, str(path), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
        )
    return files


def make_snapshot(
    store: Path, cwd: Path | None = None, include_untracked: bool = False
) -> Snapshot | None:
    """Snapshot the repository around ``cwd`` into ``store``; None outside a git repository."""
    repo = repo_root(cwd)
    if repo is None:
        return None
    files = snapshot_files(repo, include_untracked)
    manifest = hashing.hash_files(files, cache=None)
    target = store / manifest.digest
    if target.exists():  # same code, same digest: nothing to copy; its age restarts
        home_cache.touch(target)
    else:
        tmp = store / f".tmp-{uuid.uuid4().hex}"
        try:
            by_rel = {f.rel: f for f in files}
            for entry in manifest.files:
                dst = tmp / entry.rel
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(by_rel[entry.rel].path, dst)
            # Verify what was copied: a file edited while copying must not slip in unrecorded.
            copied = (
                hashing.hash_files(hashing.scan(tmp), cache=None) if manifest.files else manifest
            )
            if copied.digest != manifest.digest:
                raise SnapshotError(
                    f"Files in {repo} changed while they were snapshotted: submit again once "
                    "they are saved."
                )
            os.chmod(tmp, 0o755)
            tmp.rename(target)
        except FileExistsError:
            pass
        except OSError as exc:
            if not target.exists():
                raise SnapshotError(
                    f"Cannot write the code snapshot to {store} ({exc}): check the directory."
                ) from exc
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return Snapshot(manifest.digest, target, repo, len(manifest.files))
