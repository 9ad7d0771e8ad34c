"""The built-in recipes on every executor: an optimizing sweeper drives a real search, and the
tiny pipeline runs cold, then entirely from its cache, and its model reproduces.

Real parts only: hydra-optuna-sweeper over real CPU training; the test Slurm cluster; torchrun
with gloo; podman with the test image that holds torch (scripts/build-test-image.sh --torch).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
import yaml

from nemotron_kit.registry import ArtifactRegistry
from tests.conftest import RunCli, needs, registry_of

pytestmark = [pytest.mark.slow]

TORCH_IMAGE = os.environ.get("NK_TEST_TORCH_IMAGE", "localhost/nemotron-kit-test-torch:latest")
EXECUTORS = {
    "local": [],
    "torchrun": ["executor=torchrun", "executor.nproc_per_node=2"],
    "slurm": ["executor=slurm", "executor.time_min=10"],
    "container": ["executor=container", f"executor.image={TORCH_IMAGE}"],
}
NEEDS = {"slurm": needs("slurm"), "container": needs("podman")}


def on(name: str) -> object:
    """A test parameter for executor ``name``, marked with the component it needs."""
    marks = [NEEDS[name]] if name in NEEDS else []
    return pytest.param(name, marks=marks, id=name)


def versions(registry: ArtifactRegistry, name: str) -> list[int]:
    return sorted(v.version for v in registry.versions(name))


@pytest.mark.parametrize("executor", [on("local"), on("slurm")])
def test_optuna_searches_the_learning_rate_and_best_is_the_lowest_loss(
    run_cli: RunCli, nk_home: Path, work: Path, executor: str
) -> None:
    prep = run_cli("+recipe=data_prep", "data.num_documents=2000", cwd=work)
    assert prep.returncode == 0, prep.stderr[-2000:]
    result = run_cli(
        "-m",
        "+recipe=pretrain",
        *EXECUTORS[executor],
        "hydra/sweeper=optuna",
        "hydra.sweeper.n_trials=3",
        "hydra.sweeper.n_jobs=2",  # two batches: the best is still over all three trials
        "hydra.sweeper.sampler.seed=11",
        "train.lr=tag(log, interval(1e-4, 3e-2))",
        "train.steps=60",
        "sweep.metric=final_loss",
        "sweep.alias=best",
        cwd=work,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    registry = registry_of(nk_home)
    trials = [registry.resolve(f"art://tiny-gpt:v{v}") for v in versions(registry, "tiny-gpt")]
    assert len(trials) == 3
    lrs = {registry.read_run(t.record["producer"])["config"]["train"]["lr"] for t in trials}
    assert len(lrs) == 3  # the sampler chose three learning rates
    losses = {t.version: t.metrics["final_loss"] for t in trials}
    best = registry.resolve("art://tiny-gpt:best")
    assert best.version == min(losses, key=losses.__getitem__)
    # Optuna was told the same objective: its best value is the loss the alias points at.
    (found,) = work.glob("multirun/*/*/optimization_results.yaml")
    optuna = yaml.safe_load(found.read_text())
    assert math.isclose(optuna["best_value"], best.metrics["final_loss"], rel_tol=1e-9)
    if executor == "slurm":
        ran = [registry.read_run(t.record["producer"]) for t in trials]
        assert all(r.get("slurm") for r in ran), "every trial ran as a Slurm job"


# A short pretrain and SFT: the pipeline's steps, wiring and cache are what is tested here.
SHORT = [
    'pipeline.steps.1.overrides=["train.steps=40"]',
    'pipeline.steps.3.overrides=["train.steps=20"]',
]


@pytest.mark.parametrize("executor", [on("torchrun"), on("slurm"), on("container")])
def test_the_tiny_pipeline_runs_then_hits_the_cache_then_reproduces(
    run_cli: RunCli, nk_home: Path, work: Path, executor: str
) -> None:
    placement = EXECUTORS[executor]
    first = run_cli("+pipeline=tiny", *SHORT, *placement, cwd=work)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "cached:" not in first.stderr
    registry = registry_of(nk_home)
    for name in ("pretrain-data", "tiny-gpt", "sft-data", "tiny-gpt-sft"):
        assert versions(registry, name) == [1], name
    runs = set(registry.run_ids())

    again = run_cli("+pipeline=tiny", *SHORT, *placement, cwd=work)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stderr.count("cached:") == 5  # all five steps, eval included
    assert "published nothing new" in again.stderr
    new_runs = set(registry.run_ids()) - runs
    assert all(str(registry.read_run(r)["recipe"]).startswith("pipeline:") for r in new_runs)

    repro = run_cli("reproduce", "art://tiny-gpt:v1", "--json", *placement, cwd=work)
    assert repro.returncode == 0, repro.stderr[-3000:]
    report = json.loads(repro.stdout)
    assert report["reproduced"] == "art://tiny-gpt:v2" and report["identical"] is True
    model = registry.resolve("art://tiny-gpt:v2")
    run = registry.read_run(model.record["producer"])
    if executor == "slurm":
        assert run.get("slurm"), "the reproduction ran as a Slurm job"
    if executor == "torchrun":
        assert model.metrics["world_size"] == 2.0
