"""executor=torchrun: real torch.distributed ranks (gloo on CPU) under torchrun --standalone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nemotron_kit.artifacts import Artifact
from tests.conftest import RunCli, registry_of, run_test_conf

pytestmark = pytest.mark.slow


def test_two_ranks_see_the_same_inputs_and_rank_zero_alone_publishes(
    run_cli: RunCli, nk_home: Path, tmp_path: Path
) -> None:
    registry = registry_of(nk_home)
    data = tmp_path / "data"
    data.mkdir()
    (data / "x.txt").write_text("x")
    registry.publish(Artifact(path=str(data)), name="data")
    registry.publish(Artifact(path=str(data)), name="data")
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    result = run_test_conf(
        run_cli,
        work,
        "+recipe=stage",
        "recipe._target_=tests.recipes_for_tests.distributed",
        "stage.name=dist",
        "output.name=dist",
        "executor=torchrun",
        "executor.nproc_per_node=2",
        "+inputs.data=art://data:latest",
    )
    assert result.returncode == 0, result.stderr
    (ranks_dir,) = work.glob("multirun/*/*/0/ranks")
    seen = [json.loads((ranks_dir / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [s["env_rank"] for s in seen] == ["0", "1"] and all(s["world"] == 2 for s in seen)
    assert all(s["all_reduce"] == 3.0 for s in seen)  # a real collective across both ranks
    assert seen[0]["inputs"] == seen[1]["inputs"] == {"data": "art://data:v2"}
    assert [v.version for v in registry.versions("dist")] == [1]  # one publish, from rank 0
    (run_id,) = registry.run_ids()  # one lineage run, from rank 0
    assert registry.read_run(run_id)["inputs"] == ["art://data:v2"]
    assert registry.consumers("art://data:v2") == [run_id]
    # The run ends like a local one: the last line names what it published.
    assert result.stderr.strip().splitlines()[-1] == "published art://dist:v1 (torchrun job)"


def test_a_recipe_output_is_not_published_when_another_rank_failed(
    run_cli: RunCli, nk_home: Path, tmp_path: Path
) -> None:
    """Rank 0 published what its recipe returned, then the run ended FAILED for rank 1."""
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    result = run_test_conf(
        run_cli, work, "+recipe=typed/ranks", "executor=torchrun", "executor.nproc_per_node=2"
    )
    assert result.returncode == 1, result.stderr
    said = "rank 1 failed: ValueError: rank 1 failed after rank 0 returned"
    assert said in result.stderr.strip().splitlines()[-1], result.stderr
    registry = registry_of(nk_home)
    assert [e.name for e in registry.list()] == []  # nothing published
    (run_id,) = registry.run_ids()
    assert registry.read_run(run_id)["status"] == "FAILED"
