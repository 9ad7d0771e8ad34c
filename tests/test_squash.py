"""Squashing container images for pyxis, tested with a stand-in `enroot`.

enroot (and pyxis) cannot be installed on this machine, so a small script on PATH plays
`enroot import --output FILE docker://IMAGE`: it writes a file that starts with the squashfs
magic, slowly, and logs each call. What is tested is our logic around it: one file per image,
written under a temporary name and renamed, one import at a time, half-written files ignored.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from nemotron_kit.execution.squash import SquashError, ensure_squashed, is_complete, squash_path

STAND_IN = """#!/bin/sh
# stand-in for `enroot import --output FILE URI` (the real enroot cannot be installed here)
echo "$@" >> "$ENROOT_LOG"
case "$4" in *does-not-exist*) echo "[ERROR] manifest unknown" >&2; exit 1;; esac
printf 'hsq' > "$3"; sleep 0.5; printf 's%s' "$4" >> "$3"
"""


@pytest.fixture
def enroot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "enroot"
    script.write_text(STAND_IN)
    script.chmod(0o755)
    log = tmp_path / "enroot.log"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("ENROOT_LOG", str(log))
    return log


def test_names_are_deterministic_per_image(tmp_path: Path) -> None:
    a = squash_path("nvcr.io/nvidia/pytorch:24.01-py3", tmp_path)
    assert a == squash_path("nvcr.io/nvidia/pytorch:24.01-py3", tmp_path)
    assert a != squash_path("nvcr.io/nvidia/pytorch:24.02-py3", tmp_path)
    assert a.name.startswith("nvcr.io+nvidia+pytorch+24.01-py3-") and a.suffix == ".sqsh"


def test_concurrent_jobs_import_an_image_once(tmp_path: Path, enroot: Path) -> None:
    cache = tmp_path / "squash"
    with ThreadPoolExecutor(4) as pool:
        # separate processes, as separate jobs would be
        results = list(
            pool.map(
                lambda _: subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "nemotron_kit.execution.squash",
                        "ubuntu:24.04",
                        str(cache),
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout.strip(),
                range(4),
            )
        )
    assert len(set(results)) == 1
    assert len(enroot.read_text().splitlines()) == 1
    path = Path(results[0])
    assert is_complete(path) and path.read_bytes() == b"hsqsdocker://ubuntu:24.04"
    assert [p.name for p in cache.iterdir() if p.name.startswith(".")] == []  # no temp left


def test_half_written_files_are_never_used(tmp_path: Path, enroot: Path) -> None:
    cache = tmp_path / "squash"
    cache.mkdir()
    target = squash_path("ubuntu:24.04", cache)
    (cache / f".{target.name}.tmp-dead").write_bytes(b"hs")  # a killed import's leftover
    target.write_bytes(b"")  # a truncated file under the final name (written by something else)
    assert ensure_squashed("ubuntu:24.04", cache) == target
    assert is_complete(target)
    assert len(enroot.read_text().splitlines()) == 1
    ensure_squashed("ubuntu:24.04", cache)  # complete now: reused, not imported again
    assert len(enroot.read_text().splitlines()) == 1


def test_failed_import_is_one_sentence_and_leaves_nothing(tmp_path: Path, enroot: Path) -> None:
    cache = tmp_path / "squash"
    with pytest.raises(SquashError, match=r"does-not-exist.*manifest unknown"):
        ensure_squashed("does-not-exist:1", cache)
    assert [p for p in cache.iterdir() if p.suffix != ".lock"] == []


def test_slurm_plan_uses_the_squashed_file(tmp_path: Path) -> None:
    from nemotron_kit.execution.slurm import SlurmExecutor

    executor = SlurmExecutor(
        container={
            "image": "ubuntu:24.04",
            "mounts": ["/data:/data:ro"],
            "squash": True,
            "squash_dir": str(tmp_path),
        }
    )
    params = executor.parameters("job")
    extra = params["slurm_additional_parameters"]
    assert extra["container_image"] == str(squash_path("ubuntu:24.04", tmp_path))
    assert extra["container_mounts"] == "/data:/data:ro"
    (setup,) = params["slurm_setup"]
    assert "nemotron_kit.execution.squash" in setup and "ubuntu:24.04" in setup
