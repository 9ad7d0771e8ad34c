"""Container images squashed for pyxis/enroot, once per image, safely under concurrency.

pyxis starts a job's tasks from a squashfs file. Importing an image is slow and big, so the
file is made once per image and shared: its name is derived from the image reference, it is
written under a temporary name and renamed when complete (a half-written file is never used),
and a lock keeps two jobs from importing the same image at once. The import runs inside the
job's allocation (the batch script's setup step, on the compute node), not on the login node.

    python -m nemotron_kit.execution.squash IMAGE DIRECTORY   # prints the .sqsh path
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

from nemotron_kit.errors import NemotronKitError

SQUASHFS_MAGIC = b"hsqs"


class SquashError(NemotronKitError):
    """An image could not be imported into a squashfs file."""


def squash_path(image: str, directory: str | Path) -> Path:
    """The file for ``image``: readable, and unique per exact reference (tag or digest)."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "+", image.strip()).strip("+")[:80]
    digest = hashlib.sha256(image.strip().encode()).hexdigest()[:12]
    return Path(directory) / f"{readable}-{digest}.sqsh"


def is_complete(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == SQUASHFS_MAGIC
    except OSError:
        return False


def _source(image: str) -> str:
    return image if "://" in image else f"docker://{image}"


def ensure_squashed(image: str, directory: str | Path, enroot: str = "enroot") -> Path:
    """The squashed image, importing it first if no complete file exists yet."""
    target = squash_path(image, directory)
    if is_complete(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    lock_path = target.with_name(target.name + ".lock")
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the other job waits here, then finds the file done
        if is_complete(target):
            return target
        tmp = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex}")
        try:
            result = subprocess.run(
                [enroot, "import", "--output", str(tmp), _source(image)],
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0 or not is_complete(tmp):
                reason = (result.stderr or result.stdout).strip().splitlines()[-1:] or [
                    "no squashfs written"
                ]
                raise SquashError(
                    f"Importing container image '{image}' with enroot failed ({reason[0]}): check "
                    "the image name and the registry credentials (~/.config/enroot/.credentials)."
                )
            os.replace(tmp, target)  # complete, then visible under the final name
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
    return target


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m nemotron_kit.execution.squash IMAGE DIRECTORY", file=sys.stderr)
        return 2
    try:
        print(ensure_squashed(argv[0], argv[1], os.environ.get("ENROOT", "enroot")))
    except SquashError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
