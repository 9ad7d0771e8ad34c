"""Pipelines: steps in order, outputs wired as pinned inputs, unchanged steps skipped."""

from __future__ import annotations

import subprocess
from pathlib import Path

from nemotron_kit.registry import ArtifactRegistry
from tests.conftest import RunCli, registry_of, run_test_conf


def pipeline(run_cli: RunCli, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_test_conf(run_cli, cwd, "+pipeline=chain", *args)


def step_runs(registry: ArtifactRegistry) -> list[str]:
    return [
        r
        for r in registry.run_ids()
        if not str(registry.read_run(r).get("recipe")).startswith("pipeline:")
    ]


def test_pipeline_runs_in_order_then_hits_the_cache(
    run_cli: RunCli, nk_home: Path, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    first = pipeline(run_cli, work)
    assert first.returncode == 0, first.stderr
    registry = registry_of(nk_home)
    three = registry.resolve("art://p-three")
    assert three.record["inputs"] == ["art://p-two:v1"]
    assert registry.resolve("art://p-two").record["inputs"] == ["art://p-one:v1"]
    assert (
        "art://p-one:v1" in first.stderr and "produced by stage run" in first.stderr
    )  # lineage tree
    runs_before = step_runs(registry)
    assert len(runs_before) == 3

    again = pipeline(run_cli, work)
    assert again.returncode == 0, again.stderr
    assert again.stderr.count("cached:") == 3  # every step a cache hit
    assert "running" not in again.stderr
    assert step_runs(registry) == runs_before  # no step ran: no new run, no new version
    assert registry.resolve("art://p-three").version == 1

    forced = pipeline(run_cli, work, "pipeline.force=true")
    assert forced.returncode == 0 and "cached:" not in forced.stderr
    assert registry.resolve("art://p-three").version == 2


def test_a_changed_setting_reruns_only_what_depends_on_it(
    run_cli: RunCli, nk_home: Path, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    assert pipeline(run_cli, work).returncode == 0
    # Change step two's config: step one stays cached; two and three (its consumer) run again.
    changed = pipeline(
        run_cli,
        work,
        "pipeline.steps.1.overrides=['stage.name=two','output.name=p-two','stage.seed=7']",
    )
    assert changed.returncode == 0, changed.stderr
    assert "[one] cached" in changed.stderr
    assert "[two] running" in changed.stderr and "[three] running" in changed.stderr
    registry = registry_of(nk_home)
    assert registry.resolve("art://p-three").record["inputs"] == ["art://p-two:v2"]


def test_a_failing_step_stops_the_pipeline(run_cli: RunCli, nk_home: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    result = pipeline(
        run_cli,
        work,
        "pipeline.steps.1.overrides=['stage.name=two','output.name=p-two','stage.fail=true']",
    )
    assert result.returncode != 0
    errors = [
        line for line in result.stderr.splitlines() if line.startswith("Error: Pipeline step")
    ]
    assert len(errors) == 1 and "runs show" in errors[0]
    registry = registry_of(nk_home)
    assert [e.name for e in registry.list()] == ["p-one"]  # three never started
    assert "Traceback" not in result.stderr  # the step's error is its one sentence


def test_a_bad_value_in_any_step_is_refused_before_any_step_runs(
    run_cli: RunCli, nk_home: Path, tmp_path: Path
) -> None:
    """A typo in step two was found only after step one had run (for hours, with real work)."""
    bad = "pipeline.steps.1.overrides=['stage.name=two','output.name=p-two','stage.sed=1']"
    result = pipeline(run_cli, tmp_path / "work", bad)
    assert result.returncode == 1, result.stderr  # as `+recipe=stage stage.sed=1` exits
    assert "Traceback" not in result.stderr and "running" not in result.stderr
    (error,) = [line for line in result.stderr.splitlines() if "Error" in line]
    assert error.startswith("Error: Pipeline step 'two' cannot run, so no step was started: ")
    assert "'stage.sed'" in error
    # A range a typed recipe refuses: nemotron-kit's own check, exit 2 as for the recipe alone.
    steps = "pipeline.steps.3.overrides=['train.steps=-5']"
    tiny = run_cli("+pipeline=tiny", steps, cwd=tmp_path / "work")
    assert tiny.returncode == 2 and "running" not in tiny.stderr, tiny.stderr
    assert tiny.stderr.splitlines()[-1].startswith(
        "Error: Pipeline step 'sft' cannot run, so no step was started: 'train.steps' is -5"
    )
    assert step_runs(registry_of(nk_home)) == []


def test_a_step_that_requires_its_input_passes_the_check_and_runs(
    run_cli: RunCli, nk_home: Path, tmp_path: Path
) -> None:
    """A step whose input is ``???`` until its producer ends was refused by the check."""
    needs = "pipeline.steps.1.overrides=['stage.name=two','output.name=p-two','++inputs.data=???']"
    result = pipeline(run_cli, tmp_path / "work", needs)
    assert result.returncode == 0, result.stderr
    registry = registry_of(nk_home)
    assert registry.resolve("art://p-two").record["inputs"] == ["art://p-one:v1"]


def test_the_hydra_this_is_pinned_to_has_the_hook_errors_rely_on() -> None:
    """``run_reported`` tells Hydra to raise through ``_is_env_set`` (no variable a step
    would inherit); a Hydra without it falls back to the variable, and steps would print
    tracebacks again: a version bump must fail here first."""
    import inspect

    from hydra._internal import utils

    assert '_is_env_set("HYDRA_FULL_ERROR")' in inspect.getsource(utils.run_and_report)
