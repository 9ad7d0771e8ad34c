"""Shared test fixtures: run the CLI in a subprocess with a private NEMOTRON_KIT_HOME."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

# Before anything imports torch: 2 OpenMP threads on 2 shared cores run ~15x slower than 1.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("WANDB_MODE", "offline")

REPO = Path(__file__).resolve().parent.parent

RunCli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def nk_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "nk-home"
    home.mkdir()
    monkeypatch.setenv("NEMOTRON_KIT_HOME", str(home))
    monkeypatch.delenv("NEMOTRON_KIT_CONFIG_PATH", raising=False)
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    from nemotron_kit.registry import reset

    reset()  # the active registry is process-wide; each test starts without one
    yield home
    reset()


def registry_of(nk_home: Path) -> Any:
    """The registry the CLI in a test wrote to (the embedded one under NEMOTRON_KIT_HOME)."""
    from nemotron_kit.registry import ArtifactRegistry

    return ArtifactRegistry(nk_home / "registry", hash_cache=False)


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """The working directory run_cli uses (created by it)."""
    path = tmp_path / "work"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture
def run_cli(nk_home: Path, tmp_path: Path) -> RunCli:
    """Run ``python -m nemotron_kit ARGS`` from an unrelated directory; return the result."""
    workdir = tmp_path / "work"
    workdir.mkdir(exist_ok=True)

    def run(
        *args: str,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        python: str = sys.executable,
        module: Sequence[str] = ("-m", "nemotron_kit"),
    ) -> subprocess.CompletedProcess[str]:
        full_env = {**os.environ, **(env or {})}
        return subprocess.run(
            [python, *module, *args],
            cwd=cwd or workdir,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    return run


S3_ENV = {
    "AWS_ACCESS_KEY_ID": "nk-test-access",
    "AWS_SECRET_ACCESS_KEY": "nk-test-secret-key",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3-compatible server (moto's server mode) on loopback.

    scripts/test.sh starts it and exports NK_TEST_S3_ENDPOINT; run alone, the tests start it
    through the same script and stop it afterwards.
    """
    for key, value in S3_ENV.items():
        os.environ.setdefault(key, value)
    endpoint = os.environ.get("NK_TEST_S3_ENDPOINT")
    if endpoint:
        yield endpoint
        return
    script = REPO / "scripts" / "s3-server.sh"
    env = {**os.environ, "NK_S3_PORT": "5077", "NK_S3_DIR": "/tmp/nk-s3-pytest"}
    started = subprocess.run(
        ["bash", str(script), "start"], env=env, capture_output=True, text=True, check=True
    )
    try:
        yield started.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run(["bash", str(script), "stop"], env=env, check=False)


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> str:
    """A fresh, empty bucket for one test."""
    import uuid

    import boto3

    name = f"nk-{uuid.uuid4().hex[:20]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=name)
    return name
