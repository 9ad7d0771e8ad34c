"""Every command in docs/tutorial.md runs, in order, and succeeds (the docs stay true).

Commands that need a real component (Slurm, marked `# needs Slurm` on the page; Graphviz, for a
picture written with `--output`) run in their own tests after the others, skipped visibly where
the component is missing (a failure under CI=true).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, Shell, needs, succeeded

pytestmark = pytest.mark.slow

TUTORIAL = REPO / "docs" / "tutorial.md"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", TUTORIAL.read_text(), re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def component_of(command: str) -> str | None:
    """The real component a tutorial command needs, if any."""
    if "needs Slurm" in command:
        return "slurm"
    if re.search(r"--output \S+\.(png|svg)\b", command):
        return "graphviz"
    return None


@pytest.fixture(scope="module")
def tutorial(tmp_path_factory: pytest.TempPathFactory) -> Shell:
    """The tutorial's commands that need nothing but this package, run in order until one fails
    (once for the module, in a fresh home and working directory)."""
    base = tmp_path_factory.mktemp("tutorial")
    (base / "work").mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("HYDRA_FULL_ERROR", "NEMOTRON_KIT_CONFIG_PATH")
    }
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        OMP_NUM_THREADS="1",
        NEMOTRON_KIT_HOME=str(base / "home"),
    )
    tutorial = Shell(base / "work", env)
    for command in commands():
        if component_of(command) is None:
            tutorial.ran.append((command, tutorial.run(command)))
            if tutorial.ran[-1][1].returncode != 0:
                break
    return tutorial


def test_tutorial_commands_run(tutorial: Shell) -> None:
    for command, result in tutorial.ran:
        succeeded(command, result)
    assert [c for c, _ in tutorial.ran] == [c for c in commands() if component_of(c) is None]
    ran = tutorial.ran
    pipeline_runs = [r for c, r in ran if c == "python -m nemotron_kit +pipeline=tiny"]
    assert len(pipeline_runs) == 2
    assert "cached:" not in pipeline_runs[0].stderr
    assert pipeline_runs[1].stderr.count("cached:") == 5  # the second time, every step is cached
    assert "accuracy" in pipeline_runs[0].stderr + pipeline_runs[0].stdout
    reproduce = next(r for c, r in ran if c.startswith("nemotron-kit reproduce"))
    assert "identical content" in reproduce.stdout


@pytest.mark.parametrize(
    "component", [pytest.param(c, marks=needs(c)) for c in ("graphviz", "slurm")]
)
def test_tutorial_commands_that_need_a_real_component_run(tutorial: Shell, component: str) -> None:
    steps = [c for c in commands() if component_of(c) == component]
    assert steps, f"the tutorial has no step that needs {component} any more: drop this case"
    for command, result in tutorial.ran:  # what these steps build on
        succeeded(command, result)
    for command in steps:
        succeeded(command, tutorial.run(command))
        for picture in re.findall(r"--output (\S+\.png)\b", command):
            assert (tutorial.work / picture).read_bytes()[:8] == PNG_MAGIC
