"""docs/recipes.md, done as a reader would: every `bash` command in order, in a fresh venv that
holds the nemotron-kit wheel and nothing else of this checkout; its code blocks are what the
scaffold writes. Commands marked `# needs Slurm` run in their own test, skipped visibly (a
failure under CI=true) where the cluster is missing.
"""

from __future__ import annotations

import os
import re

import pytest

from tests.conftest import REPO, Shell, needs, succeeded, venv_with_wheel

pytestmark = pytest.mark.slow

PAGE = REPO / "docs" / "recipes.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", PAGE.read_text(), re.S)


def commands() -> list[str]:
    return [line.strip() for block in blocks("bash") for line in block.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def reader(tmp_path_factory: pytest.TempPathFactory) -> Shell:
    base = tmp_path_factory.mktemp("recipes-doc")
    venv = venv_with_wheel(base, "torch,slurm").parent.parent
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("HYDRA_FULL_ERROR", "NEMOTRON_KIT_CONFIG_PATH", "PYTHONPATH", "VIRTUAL_ENV")
    }
    env.update(
        PATH=f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
        VIRTUAL_ENV=str(venv),
        # The page's `pip install` keeps torch at the CI pin (its CPU build).
        PIP_CONSTRAINT=str(REPO / "constraints" / "ci.txt"),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        OMP_NUM_THREADS="1",
        WANDB_MODE="offline",
        NEMOTRON_KIT_HOME=str(base / "home"),
    )
    (base / "work").mkdir()
    done = Shell(base / "work", env)
    for command in commands():
        if "needs Slurm" not in command:
            done.ran.append((command, done.run(command)))
            if done.ran[-1][1].returncode != 0:
                break
    return done


def test_every_command_on_the_page_runs(reader: Shell) -> None:
    for command, result in reader.ran:
        succeeded(command, result)
    assert [c for c, _ in reader.ran] == [c for c in commands() if "needs Slurm" not in c]
    said = {command: result for command, result in reader.ran}
    assert "3 passed" in said["python -m pytest -q nano3-recipes"].stdout
    help_ = said["python -m nemotron_kit --help"].stdout
    assert "recipe/nano3: prepare, train" in help_ and "pipeline/nano3: full" in help_
    composed = said["python -m nemotron_kit +recipe=nano3/train --cfg job"].stdout
    assert "  smoothing: 1.0\n" in composed
    lineage = said["nemotron-kit lineage art://nano3-model:latest"].stdout
    assert "nano3/train (nano3-recipes 0.1.0) run" in lineage
    assert "art://nano3-corpus:v1  corpus" in lineage
    torchrun = said[next(c for c in said if "executor=torchrun" in c)]
    assert "published art://nano3-model:v" in torchrun.stderr


def test_the_code_on_the_page_is_what_the_scaffold_writes(reader: Shell) -> None:
    written = "\n".join(
        path.read_text() for path in (reader.work / "nano3-recipes").rglob("*") if path.is_file()
    )
    shown = [*blocks("python"), *blocks("yaml")]
    assert len(shown) == 3
    for block in shown:
        assert block.strip() in written, block


@needs("slurm")
def test_the_slurm_command_on_the_page_runs(reader: Shell) -> None:
    steps = [c for c in commands() if "needs Slurm" in c]
    assert steps, "the page has no Slurm step any more: drop this test"
    for command, result in reader.ran:
        succeeded(command, result)
    for command in steps:
        result = reader.run(command)
        succeeded(command, result)
        assert re.search(r"published art://nano3-model:v\d+ \(slurm job \d+\)", result.stderr)
