"""The local pool: every job gets a result, a dying job fails alone, workers are replaced."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import RunCli, registry_of, run_test_conf


def test_pool_reports_every_job_and_survives_dying_workers(
    run_cli: RunCli, nk_home: Path, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    result = run_test_conf(
        run_cli,
        work,
        "-m",
        "+recipe=stage",
        "stage.name=s",
        "output.name=pool",
        "+stage.exit_code=null,3",
        "stage.fail=false,true",
        "stage.seed=1,2",
        "executor.max_parallel=2",
    )
    assert result.returncode != 0
    assert "2 of 8 jobs completed" in result.stderr
    registry = registry_of(nk_home)
    assert [v.version for v in registry.versions("pool")] == [1, 2]  # the good jobs' results kept
    runs = [registry.read_run(r) for r in registry.run_ids()]
    statuses = sorted(
        str(r["status"]) for r in runs if not str(r.get("recipe", "")).startswith("pipeline")
    )
    # the two os._exit jobs never ran their end hook: the launcher closed their runs as FAILED
    assert statuses == ["COMPLETED"] * 2 + ["FAILED"] * 6
    errors = sorted(str(r.get("error")) for r in runs if r["status"] == "FAILED")
    assert errors.count("exited with code 3 before recording a result") == 2  # os._exit(3)
    assert errors.count("RuntimeError: stage s was asked to fail") == 4
