"""Every command in docs/tutorial.md runs, in order, and succeeds (the docs stay true)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow

TUTORIAL = REPO / "docs" / "tutorial.md"


def commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", TUTORIAL.read_text(), re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def test_tutorial_commands_run(nk_home: Path, tmp_path: Path) -> None:
    work = tmp_path / "tutorial"
    work.mkdir()
    venv_bin = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PATH": f"{venv_bin}{os.pathsep}{os.environ['PATH']}",
        "OMP_NUM_THREADS": "1",
    }
    ran = []
    for command in commands():
        if "needs Slurm" in command and os.environ.get("NK_TEST_SLURM") != "1":
            continue
        result = subprocess.run(
            ["bash", "-c", command], cwd=work, env=env, capture_output=True, text=True, timeout=600
        )
        assert result.returncode == 0, (
            f"`{command}` failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
        )
        ran.append((command, result))
    assert len(ran) >= 10
    pipeline_runs = [r for c, r in ran if c == "python -m nemotron_kit +pipeline=tiny"]
    assert len(pipeline_runs) == 2
    assert "cached:" not in pipeline_runs[0].stderr
    assert pipeline_runs[1].stderr.count("cached:") == 5  # the second time, every step is cached
    assert "accuracy" in pipeline_runs[0].stderr + pipeline_runs[0].stdout
    assert (work / "lineage.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    reproduce = next(r for c, r in ran if c.startswith("nemotron-kit reproduce"))
    assert "identical content" in reproduce.stdout
