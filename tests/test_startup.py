"""--help and --cfg job stay light: no torch, wandb, submitit, s3fs, adlfs or gcsfs is imported."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

HEAVY = ("torch", "wandb", "submitit", "s3fs", "adlfs", "gcsfs")

PROBE = (
    """
import json, sys
sys.argv = ["nemotron-kit", *json.loads(sys.argv[1])]
from nemotron_kit.cli import main
try:
    main()
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "heavy": [m for m in HEAVY if m in sys.modules]}), file=sys.stderr)
"""
).replace("HEAVY", repr(HEAVY))


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["--cfg", "job"],
        [
            "--cfg",
            "job",
            "+recipe=pretrain",
            "executor=slurm",
            "tracker=[file,wandb]",
            "registry=s3",
        ],
        ["--cfg", "job", "registry=azure", "registry.container=c"],
        ["--cfg", "job", "registry=gcs", "registry.bucket=b"],
    ],
)
def test_no_heavy_imports(args: list[str], tmp_path: object) -> None:
    # The check only means something where the heavy packages are installed.
    missing = [m for m in HEAVY if importlib.util.find_spec(m) is None]
    assert not missing, f"install the test environment with scripts/setup.sh (missing {missing})"
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=str(tmp_path),
    )
    report = json.loads(result.stderr.strip().splitlines()[-1])
    assert report["code"] == 0, result.stderr
    assert report["heavy"] == []


def test_opening_the_default_registry_imports_no_pydantic(tmp_path: object) -> None:
    """What every script pays before its first publish or load (benchmarks/hashing.py times it):
    no pydantic (the records' models load on first use), no scan of the installed packages'
    metadata (a built-in protocol needs no plugin), no fsspec for a local registry."""
    probe = (
        "import json, sys, nemotron_kit\n"
        "nemotron_kit.get_registry()\n"
        "print(json.dumps([m for m in ('pydantic', 'importlib.metadata', 'fsspec') "
        "if m in sys.modules]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=str(tmp_path),
        env={**os.environ, "NEMOTRON_KIT_HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
