"""A team's own recipe package, as a team would make and use it: `nemotron-kit new recipes`,
`pip install` into a fresh venv beside the nemotron-kit wheel (declared dependencies only), then
the recipes run, publish and show in lineage on every executor, and the package's own tests pass.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.conftest import needs, pip_install, venv_with_wheel

pytestmark = pytest.mark.slow

IMAGE = os.environ.get("NK_TEST_IMAGE", "localhost/nemotron-kit-test:latest")


@dataclass
class Installed:
    python: Path
    package: Path  # the scaffolded source tree

    def run(
        self, cwd: Path, *args: str, exe: str | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "NEMOTRON_KIT_CONFIG_PATH", "VIRTUAL_ENV")
        }
        env.update(NEMOTRON_KIT_HOME=str(cwd / "home"), OMP_NUM_THREADS="1", WANDB_MODE="offline")
        cmd = [str(self.python.parent / exe)] if exe else [str(self.python), "-m", "nemotron_kit"]
        cwd.mkdir(parents=True, exist_ok=True)
        return subprocess.run(
            [*cmd, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
        )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """nemotron-kit's wheel (with torch for torchrun, submitit for Slurm) in a fresh venv, a
    package scaffolded by that install's CLI, and the package installed beside it."""
    root = tmp_path_factory.mktemp("recipe-package")
    python = venv_with_wheel(root, "torch,slurm")
    kit = Installed(python, root / "nano3-recipes")
    made = kit.run(root, "new", "recipes", "nano3", exe="nemotron-kit")
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith(f"created {kit.package}\n")
    pip_install(python, f"{kit.package}[test]")
    return kit


def _runs(kit: Installed, work: Path) -> list[dict[str, object]]:
    listed = kit.run(work, "runs", "ls", "--json", exe="nemotron-kit")
    assert listed.returncode == 0, listed.stderr
    return list(json.loads(listed.stdout or "[]"))


def test_a_scaffolded_package_runs_publishes_and_shows_in_lineage(
    installed: Installed, tmp_path: Path
) -> None:
    kit, work = installed, tmp_path / "work"
    help_ = kit.run(work, "--help")
    assert help_.returncode == 0, help_.stderr
    assert "recipe/nano3: prepare, train" in help_.stdout
    assert "pipeline/nano3: full" in help_.stdout

    # Its config class is the option's schema: defaults shown, a bad value refused.
    cfg = kit.run(work, "+recipe=nano3/train", "--cfg", "job")
    assert cfg.returncode == 0, cfg.stderr
    composed = yaml.safe_load(cfg.stdout)
    assert composed["train"] == {"smoothing": 1.0, "validation_fraction": 0.1}
    assert composed["inputs"] == {"corpus": "art://nano3-corpus:latest"}
    assert composed["recipe"]["package"] == "nano3-recipes 0.1.0"
    bad = kit.run(work, "+recipe=nano3/train", "train.smoothing=-1")
    assert bad.returncode != 0
    assert bad.stderr.strip().splitlines() == [
        "Error: 'train.smoothing' is -1.0, but it must be > 0: fix the override or the config file."
    ]

    # Run before its input exists: one sentence naming the recipe that makes it.
    early = kit.run(work, "+recipe=nano3/train")
    assert early.returncode != 0
    assert "run `python -m nemotron_kit +recipe=nano3/prepare` first" in early.stderr

    for recipe, published in (("nano3/prepare", "nano3-corpus"), ("nano3/train", "nano3-model")):
        done = kit.run(work, f"+recipe={recipe}")
        assert done.returncode == 0, done.stderr[-3000:]
        assert done.stderr.strip().endswith(f"published art://{published}:v1"), done.stderr

    lineage = kit.run(work, "lineage", "art://nano3-model:v1", exe="nemotron-kit")
    assert lineage.returncode == 0, lineage.stderr
    assert "art://nano3-model:v1  bigrammodel" in lineage.stdout
    assert "nano3/train (nano3-recipes 0.1.0) run" in lineage.stdout
    assert "art://nano3-corpus:v1  corpus" in lineage.stdout
    assert "nano3/prepare (nano3-recipes 0.1.0) run" in lineage.stdout

    # The package's own tests pass against the installed nemotron-kit.
    tests = subprocess.run(
        [str(kit.python), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=kit.package,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": ""},
    )
    assert tests.returncode == 0, tests.stdout[-3000:]
    assert "3 passed" in tests.stdout


def test_a_wrong_input_type_is_refused_before_any_work(
    installed: Installed, tmp_path: Path
) -> None:
    kit, work = installed, tmp_path / "work"
    assert kit.run(work, "+pipeline=nano3/full").returncode == 0
    before = _runs(kit, work)
    wrong = kit.run(work, "+recipe=nano3/train", "inputs.corpus=art://nano3-model:v1")
    assert wrong.returncode != 0
    assert wrong.stderr.strip().splitlines() == [
        "Error: Input 'corpus' of recipe nano3/train expects a CorpusArtifact, but "
        "art://nano3-model:v1 is of type bigrammodel (BigramModelArtifact): pass an artifact "
        "of type corpus with 'inputs.corpus=art://NAME:VERSION'."
    ]
    assert wrong.stdout == ""  # the recipe never started
    assert _runs(kit, work) == before  # and no run record was written


def _published_on(kit: Installed, work: Path, *executor: str) -> dict[str, object]:
    assert kit.run(work, "+recipe=nano3/prepare").returncode == 0
    done = kit.run(work, "+recipe=nano3/train", *executor)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "published art://nano3-model:v1" in done.stderr, done.stderr[-2000:]
    (run,) = [r for r in _runs(kit, work) if r["recipe"] == "nano3/train"]
    assert run["status"] == "COMPLETED" and run["outputs"] == ["art://nano3-model:v1"]
    return run


def test_the_scaffolded_recipe_runs_under_torchrun(installed: Installed, tmp_path: Path) -> None:
    work = tmp_path / "work"
    _published_on(installed, work, "executor=torchrun", "executor.nproc_per_node=2")
    lineage = installed.run(work, "lineage", "art://nano3-model:v1", exe="nemotron-kit")
    assert "nano3/train (nano3-recipes 0.1.0) run" in lineage.stdout


@needs("slurm")
def test_the_scaffolded_recipe_runs_on_slurm(installed: Installed, tmp_path: Path) -> None:
    work = tmp_path / "work"
    run = _published_on(installed, work, "executor=slurm")
    shown = installed.run(work, "runs", "show", str(run["run_id"]), "--json", exe="nemotron-kit")
    assert shown.returncode == 0, shown.stderr
    record = json.loads(shown.stdout)
    assert record["slurm"]["job_id"]  # recorded inside the Slurm job
    assert record["recipe_package"] == "nano3-recipes 0.1.0"


@needs("podman")
def test_the_scaffolded_recipe_runs_in_a_container(installed: Installed, tmp_path: Path) -> None:
    """The image holds nemotron-kit but not the recipe package: the executor mounts it."""
    work = tmp_path / "work"
    _published_on(installed, work, "executor=container", f"executor.image={IMAGE}")
