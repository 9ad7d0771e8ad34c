"""Executor=slurm on a real single-node Slurm (scripts/local-slurm.sh, with slurmdbd for sacct).

scripts/test.sh starts the cluster and sets NK_TEST_SLURM=1; without it these tests skip.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, RunCli, registry_of

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("NK_TEST_SLURM") != "1",
        reason="needs the test Slurm cluster: run through scripts/test.sh (NK_TEST_SLURM=1)",
    ),
]

TEST_CONF = REPO / "tests" / "conf"
JOB_IDS = re.compile(r"submitted Slurm jobs? ([0-9_, ]+)")


def slurm(
    run_cli: RunCli, cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    flags = [a for a in args if a in ("-m", "--multirun")]
    rest = [a for a in args if a not in flags]
    return run_cli(
        *flags,
        "--config-dir",
        str(TEST_CONF),
        "+recipe=stage",
        "executor=slurm",
        "executor.time_min=5",
        "executor.snapshot=false",
        *rest,
        cwd=cwd,
        env={"PYTHONPATH": str(REPO), **(env or {})},
    )


def job_ids(output: str) -> list[str]:
    match = JOB_IDS.search(output)
    assert match, output
    return [j.strip() for j in match.group(1).split(",")]


def slurm_cmd(*args: str) -> list[str]:
    """The CLI command of a Slurm run, for tests that must act while it runs (Popen)."""
    return [
        sys.executable,
        "-m",
        "nemotron_kit",
        "--config-dir",
        str(TEST_CONF),
        "executor=slurm",
        "executor.snapshot=false",
        *args,
    ]


def release_requeued(job: str) -> None:
    """Slurm holds a requeued job for about two minutes (BeginTime); a busy cluster would start
    it later anyway. Release it once the first attempt has torn down (too early, the node
    refuses it: 'Job credential revoked'), so the test does not sit idle."""
    for _ in range(120):
        state = subprocess.run(
            ["squeue", "-h", "-j", job, "-o", "%r"], capture_output=True, text=True
        ).stdout
        if "BeginTime" in state:
            time.sleep(2)
            subprocess.run(["scontrol", "update", f"jobid={job}", "StartTime=now"], check=True)
            return
        time.sleep(0.25)


def sacct(job: str, expect: int = 1) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for _ in range(60):  # accounting records reach slurmdbd asynchronously
        out = subprocess.run(
            ["sacct", "-j", job, "-n", "-P", "-X", "-o", "JobID,State"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        rows = [
            (a, b) for a, _, b in (line.partition("|") for line in out.strip().splitlines() if line)
        ]
        if len(rows) >= expect and all(
            s not in ("PENDING", "RUNNING", "REQUEUED") for _, s in rows
        ):
            return rows
        time.sleep(0.5)
    return rows


def test_single_run_attached_records_lineage_inside_the_job(
    run_cli: RunCli, nk_home: Path, work: Path
) -> None:
    result = slurm(run_cli, work, "stage.name=one", "output.name=on-slurm")
    assert result.returncode == 0, result.stderr
    (job,) = job_ids(result.stderr)
    assert "Job completed successfully" in result.stdout  # the job's log was streamed
    registry = registry_of(nk_home)
    version = registry.resolve("art://on-slurm")
    run = registry.read_run(version.producer or "")
    assert run["status"] == "COMPLETED"
    assert run["slurm"]["job_id"] == job  # recorded from inside the Slurm job
    assert sacct(job) == [(job, "COMPLETED")]


def test_single_run_detached_returns_at_once(run_cli: RunCli, nk_home: Path, work: Path) -> None:
    start = time.monotonic()
    result = slurm(
        run_cli,
        work,
        "stage.name=det",
        "output.name=detached",
        "+stage.sleep=3",
        "executor.detach=true",
    )
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - start < 15
    (job,) = job_ids(result.stderr)
    assert ": SUBMITTED" in result.stderr
    assert sacct(job) == [(job, "COMPLETED")]
    assert registry_of(nk_home).resolve("art://detached").version == 1


def test_eight_job_sweep_is_one_array(run_cli: RunCli, nk_home: Path, work: Path) -> None:
    result = slurm(run_cli, work, "-m", "stage.name=arr", "output.name=arr", "stage.seed=range(8)")
    assert result.returncode == 0, result.stderr
    (array,) = {j.split("_")[0] for j in job_ids(result.stderr)}
    rows = sacct(array, expect=8)
    assert sorted(r[0] for r in rows) == sorted(f"{array}_{i}" for i in range(8))
    assert {state for _, state in rows} == {"COMPLETED"}
    assert [v.version for v in registry_of(nk_home).versions("arr")] == list(range(1, 9))


def test_failures_are_reported_and_other_results_kept(
    run_cli: RunCli, nk_home: Path, work: Path
) -> None:
    result = slurm(
        run_cli,
        work,
        "-m",
        "stage.name=mix",
        "output.name=mix",
        "+stage.exit_code=null,3",
        "stage.fail=false,true",
    )
    assert result.returncode != 0
    (array,) = {j.split("_")[0] for j in job_ids(result.stderr)}
    states = dict(sacct(array, expect=4))
    # job 0 ok; 1 raises; 2 os._exit(3); 3 raises (before it would exit)
    assert states[f"{array}_0"] == "COMPLETED"
    assert states[f"{array}_1"] == "FAILED"  # a raising task fails its Slurm job too
    assert states[f"{array}_2"] == "FAILED"
    assert "RuntimeError: stage mix was asked to fail" in result.stderr
    assert re.search(r"ended FAILED \(exit code 3:0", result.stderr)
    assert "1 of 4 jobs completed" in result.stderr
    registry = registry_of(nk_home)
    assert registry.resolve("art://mix").version == 1  # the good job's result is kept
    runs = [registry.read_run(r) for r in registry.run_ids()]
    assert sorted(r["status"] for r in runs) == ["COMPLETED", "FAILED", "FAILED", "FAILED"]


def test_scancelled_job_is_failed_within_30_seconds(
    run_cli: RunCli, nk_home: Path, work: Path
) -> None:
    cmd = slurm_cmd("+recipe=stage", "stage.name=c", "output.name=cancelled", "+stage.sleep=120")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with subprocess.Popen(
        cmd, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        job = None
        for _ in range(240):  # wait until the job runs and has begun its lineage run
            out = subprocess.run(
                ["squeue", "-h", "-t", "R", "-o", "%i %j"], capture_output=True, text=True
            ).stdout
            running = [line.split()[0] for line in out.splitlines() if "nemotron" in line]
            if running and (nk_home / "registry" / "runs").is_dir():
                job = running[0]
                break
            time.sleep(0.25)
        assert job, "the job never started"
        cancelled_at = time.monotonic()
        subprocess.run(["scancel", job], check=True)
        _, err = proc.communicate(timeout=120)
        elapsed = time.monotonic() - cancelled_at
    assert proc.returncode != 0
    assert "CANCELLED" in err and "FAILED" in err
    assert elapsed < 30, f"reported {elapsed:.0f} s after scancel"
    runs = [registry_of(nk_home).read_run(r) for r in registry_of(nk_home).run_ids()]
    assert [r["status"] for r in runs] == ["FAILED"] and "CANCELLED" in runs[0]["error"]


def test_requeued_job_resumes_from_its_checkpoint(
    run_cli: RunCli, nk_home: Path, work: Path
) -> None:
    cmd = slurm_cmd(
        "+recipe=stage",
        "recipe._target_=tests.recipes_for_tests.checkpointed",
        "stage.name=ck",
        "output.name=resumed",
        "+stage.steps=8",
        "+stage.step_s=1",
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with subprocess.Popen(
        cmd, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        checkpoint = None
        for _ in range(200):
            found = list(work.glob("multirun/*/*/0/out-ck/checkpoint.json"))
            if found and json.loads(found[0].read_text() or "{}").get("step", 0) >= 3:
                checkpoint = found[0]
                break
            time.sleep(0.25)
        assert checkpoint, "the job never reached step 3"
        job = subprocess.run(
            ["squeue", "-h", "-o", "%i"], capture_output=True, text=True
        ).stdout.split()[0]
        # What Slurm sends before preemption or the time limit: submitit checkpoints and requeues.
        subprocess.run(["scancel", "--signal=USR2", job], check=True)
        release_requeued(job)
        _, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err
    log = (checkpoint.parent / "attempts.log").read_text().splitlines()
    assert len(log) == 2 and log[0].startswith("start 0") and int(log[1].split()[1]) >= 3
    assert (checkpoint.parent / "result.txt").read_text() == "finished at 8"
    registry = registry_of(nk_home)
    run_id = registry.resolve("art://resumed").producer or ""
    assert registry.read_run(run_id)["status"] == "COMPLETED"
    assert registry.run_attempts(run_id) == 2  # one logical run, two attempts


def test_two_tasks_run_as_torch_ranks(run_cli: RunCli, nk_home: Path, work: Path) -> None:
    result = slurm(
        run_cli,
        work,
        "recipe._target_=tests.recipes_for_tests.distributed",
        "stage.name=d",
        "output.name=two-tasks",
        "executor.tasks_per_node=2",
    )
    assert result.returncode == 0, result.stderr
    (ranks,) = work.glob("multirun/*/*/0/ranks")
    seen = [json.loads((ranks / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [s["world"] for s in seen] == [2, 2] and all(s["all_reduce"] == 3.0 for s in seen)
    registry = registry_of(nk_home)
    assert [v.version for v in registry.versions("two-tasks")] == [1]
    assert len(registry.run_ids()) == 1


def test_dry_run_shows_the_plan_and_submits_nothing(
    run_cli: RunCli, nk_home: Path, work: Path
) -> None:
    before = subprocess.run(
        ["sacct", "-n", "-X", "-o", "JobID"], capture_output=True, text=True
    ).stdout
    result = slurm(
        run_cli,
        work,
        "-m",
        "stage.name=d",
        "output.name=d",
        "stage.seed=1,2",
        "executor.dry_run=true",
        "executor.partition=debug",
        "executor.container.image=nvcr.io/nvidia/pytorch:24.01-py3",
    )
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout[result.stdout.index("{") :])
    params = plan["submitit_parameters"]
    assert params["slurm_partition"] == "debug" and params["timeout_min"] == 5
    # pyxis starts from the squashed image, which the batch script's setup step makes first
    image = params["slurm_additional_parameters"]["container_image"]
    assert image.endswith(".sqsh") and "nvcr.io+nvidia+pytorch+24.01-py3" in image
    assert any("nemotron_kit.execution.squash" in line for line in params["slurm_setup"])
    assert plan["array"] is True and len(plan["jobs"]) == 2
    assert (
        subprocess.run(["sacct", "-n", "-X", "-o", "JobID"], capture_output=True, text=True).stdout
        == before
    )


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.email=t@t", "-c", "user.name=t", *args],
        check=True,
        capture_output=True,
    )


def test_job_runs_the_snapshot_not_the_live_checkout(
    run_cli: RunCli, nk_home: Path, tmp_path: Path
) -> None:
    repo = tmp_path / "project"
    (repo / "conf" / "recipe").mkdir(parents=True)
    (repo / "myproj").mkdir()
    (repo / "myproj" / "__init__.py").write_text("")
    recipe = repo / "myproj" / "recipe.py"
    recipe.write_text(
        "import os, time\nfrom pathlib import Path\n"
        "VERSION = 'committed'\n"
        "def main(cfg):\n"
        "    from nemotron_kit.config import instantiate\n"
        "    out = Path(os.getcwd()) / 'code-out'\n    out.mkdir(exist_ok=True)\n"
        "    (out / 'version.txt').write_text(VERSION)\n"
        "    return instantiate(cfg.output, path=str(out)).save()\n"
    )
    (repo / "conf" / "recipe" / "mine.yaml").write_text(
        "# @package _global_\ndefaults:\n  - /artifact@output: data_blends\n"
        "recipe: {name: mine, _target_: myproj.recipe.main}\noutput: {name: code}\n"
    )
    (repo / ".env").write_text("SECRET=do-not-ship\n")
    _git(repo, "init", "-q")
    _git(repo, "add", "conf", "myproj")
    _git(repo, "commit", "-qm", "init")
    recipe.write_text(
        recipe.read_text().replace("'committed'", "'uncommitted-edit'")
    )  # not committed

    cmd = [
        sys.executable,
        "-m",
        "nemotron_kit",
        "--config-dir",
        str(repo / "conf"),
        "+recipe=mine",
        "executor=slurm",
        "+stage.sleep=0",
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with subprocess.Popen(
        cmd, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stderr is not None
        lines = []
        for line in proc.stderr:
            lines.append(line)
            if line.startswith("submitted Slurm job"):
                break
        recipe.write_text(recipe.read_text().replace("'uncommitted-edit'", "'edited-after-submit'"))
        _, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, "".join(lines) + err
    registry = registry_of(nk_home)
    version = registry.load("art://code")
    assert (Path(version.path) / "version.txt").read_text() == "uncommitted-edit"
    run = registry.read_run(version.producer or "")
    digest = run["code"]["snapshot"]["digest"]
    snapshot = nk_home / "snapshots" / digest
    assert (snapshot / "myproj" / "recipe.py").read_text().count("uncommitted-edit") == 1
    assert not (snapshot / ".env").exists()
    assert run["code"]["dirty"] is True


SENTINEL = "sentinel-wandb-key-71c3e9a2d4"


def test_secrets_reach_the_job_but_nothing_written(
    run_cli: RunCli, nk_home: Path, work: Path
) -> None:
    result = slurm(
        run_cli,
        work,
        "recipe._target_=tests.recipes_for_tests.secret_probe",
        "stage.name=sec",
        "output.name=sec",
        env={"WANDB_API_KEY": SENTINEL},
    )
    assert result.returncode == 0, result.stderr
    registry = registry_of(nk_home)
    received = (Path(registry.load("art://sec").path) / "digest.txt").read_text()
    assert received == hashlib.sha256(SENTINEL.encode()).hexdigest()  # the job got the secret
    places = [work, nk_home, Path(os.environ.get("SLURM_DIR", "/tmp/slurm"))]
    for place in places:
        for path in place.rglob("*"):
            if path.is_file() and not path.is_symlink():
                try:
                    data = path.read_bytes()
                except OSError:
                    continue
                assert SENTINEL.encode() not in data, f"the secret leaked into {path}"
    assert SENTINEL not in result.stdout + result.stderr


def test_pretrain_requeued_on_slurm_resumes_to_the_same_weights(
    run_cli: RunCli, nk_home: Path, work: Path
) -> None:
    budget = ["train.steps=600", "train.checkpoint_every=50", "train.seed=3"]
    assert run_cli("+recipe=data_prep", "data.num_documents=5000", cwd=work).returncode == 0
    straight = run_cli("+recipe=pretrain", *budget, f"hydra.run.dir={work / 'straight'}", cwd=work)
    assert straight.returncode == 0, straight.stderr[-2000:]

    cmd = slurm_cmd("+recipe=pretrain", *budget)
    with subprocess.Popen(
        cmd, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        for _ in range(600):
            if list(work.glob("multirun/*/*/0/checkpoints/step-00000050.pt")):
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the Slurm job never wrote its first checkpoint")
        job = subprocess.run(
            ["squeue", "-h", "-o", "%i"], capture_output=True, text=True
        ).stdout.split()[0]
        subprocess.run(["scancel", "--signal=USR2", job], check=True)  # as before a preemption
        release_requeued(job)
        _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    registry = registry_of(nk_home)
    local, on_slurm = (registry.resolve(f"art://tiny-gpt:v{v}") for v in (1, 2))
    assert (on_slurm.metadata.get("resumed_from_step") or 0) >= 50  # it really was requeued
    assert on_slurm.metadata["weights_digest"] == local.metadata["weights_digest"]
