"""Shared test fixtures: run the CLI in a subprocess with a private NEMOTRON_KIT_HOME."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

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
    yield home


@pytest.fixture
def run_cli(nk_home: Path, tmp_path: Path) -> RunCli:
    """Run ``python -m nemotron_kit ARGS`` from an unrelated directory; return the result."""
    workdir = tmp_path / "work"
    workdir.mkdir()

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
