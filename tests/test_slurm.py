"""Executor=slurm on a real single-node Slurm (scripts/local-slurm.sh, with slurmdbd for sacct).

scripts/test.sh starts the cluster and sets NK_TEST_SLURM=1; without it these tests skip (and
fail under CI=true). Each test knows its own jobs (the ids the CLI printed, or the test's own
working directory, which Slurm records as the job's WorkDir) and never looks at anyone else's.
Tests wait for events (a job held at a known point by tests/recipes_for_tests.py:hold), never
for durations; their timeouts only bound a hang.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from nemotron_kit.artifacts import Artifact
from nemotron_kit.errors import NotFoundError
from tests.conftest import (
    RunCli,
    cli_command,
    cli_env,
    needs,
    popen,
    registry_of,
    run_test_conf,
    wait_for,
)
from tests.recipes_for_tests import held_marker

pytestmark = [pytest.mark.slow, needs("slurm")]

JOB_IDS = re.compile(r"submitted Slurm jobs? ([0-9_, ]+)")
UNFINISHED = ("PENDING", "RUNNING", "REQUEUED", "COMPLETING", "SUSPENDED")


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """The test's own directory, from which it submits: its jobs are those with this WorkDir.

    Unique beyond this session, because Slurm's accounting outlives /tmp and pytest reuses
    the names of its temporary directories.
    """
    path = tmp_path / f"work-{uuid.uuid4().hex[:12]}"
    path.mkdir()
    return path


def slurm(
    run_cli: RunCli, cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The stage test recipe on Slurm, from ``cwd``."""
    stage = ("+recipe=stage", "executor=slurm", "executor.time_min=5", "executor.snapshot=false")
    return run_test_conf(run_cli, cwd, *stage, *args, env=env)


def slurm_cmd(*args: str) -> list[str]:
    """The CLI command of a Slurm run, for tests that must act while it runs (Popen)."""
    return cli_command("executor=slurm", "executor.snapshot=false", *args)


def job_ids(output: str) -> list[str]:
    """The ids the CLI said it submitted ('submitted Slurm job 12' / 'jobs 13_0, 13_1')."""
    match = JOB_IDS.search(output)
    assert match, output
    return [j.strip() for j in match.group(1).split(",")]


def submitted(proc: subprocess.Popen[str]) -> tuple[list[str], str]:
    """Read a running CLI's stderr up to the line naming what it submitted: those job ids, and
    the stderr read so far."""
    assert proc.stderr is not None
    seen = ""
    for line in proc.stderr:
        seen += line
        if JOB_IDS.search(line):
            return job_ids(line), seen
    raise AssertionError("the CLI ended without submitting:\n" + seen)


def jobs_submitted_from(directory: Path) -> set[str]:
    """Every Slurm job, queued or accounted, whose working directory is ``directory``."""
    queued = subprocess.run(
        ["squeue", "-h", "-t", "all", "-o", "%i|%Z"], capture_output=True, text=True, check=True
    ).stdout
    accounted = subprocess.run(
        ["sacct", "-n", "-X", "-P", "-S", "now-7days", "-o", "JobID,WorkDir"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = (line.split("|", 1) for line in (queued + accounted).splitlines() if "|" in line)
    return {job for job, workdir in rows if Path(workdir.strip()) == directory}


def sacct(job: str, expect: int = 1) -> list[tuple[str, str]]:
    """Slurm's final state of ``job`` (each task of an array), once accounting has them all."""

    def final() -> list[tuple[str, str]] | None:
        out = subprocess.run(
            ["sacct", "-j", job, "-n", "-P", "-X", "-o", "JobID,State"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        rows = [(a, b) for a, _, b in (line.partition("|") for line in out.splitlines() if line)]
        done = len(rows) >= expect and all(s not in UNFINISHED for _, s in rows)
        return rows if done else None

    # accounting records reach slurmdbd asynchronously
    return wait_for(final, f"the final state of Slurm job {job} in sacct")


def release_requeued(job: str) -> None:
    """Slurm holds a requeued job for about two minutes (BeginTime); a busy cluster would start
    it later anyway. Release it once its first attempt has left the node (too early, the node
    refuses it: 'Job credential revoked'), so the test does not sit idle."""

    def requeued() -> str | None:
        shown = subprocess.run(
            ["scontrol", "-o", "show", "job", job], capture_output=True, text=True
        ).stdout
        if re.search(r"\bRestarts=0\b", shown) or "JobState=COMPLETING" in shown:
            return None  # not requeued yet, or its first attempt is still ending
        if "JobState=PENDING" not in shown:
            return "started"  # Slurm has started it again by itself: nothing to release
        listed = subprocess.run(["scontrol", "listpids", job], capture_output=True, text=True)
        if "Reason=BeginTime" in shown and listed.returncode != 0:  # no process of it is left
            return "held"
        return None

    if wait_for(requeued, f"Slurm job {job} requeued, its first attempt gone") == "held":
        # The node refuses a credential made in the same second (Slurm counts whole seconds) as
        # the first attempt's revocation, which happened before its processes ended.
        second = int(time.time())
        wait_for(lambda: int(time.time()) > second, "the next second on the clock")
        # (if Slurm starts it meanwhile, the update fails harmlessly)
        subprocess.run(["scontrol", "update", f"jobid={job}", "StartTime=now"], check=False)


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
    assert jobs_submitted_from(work) == {job}  # what the dry-run test relies on
    # It ends like a local run: one line naming what it published.
    assert (
        result.stderr.strip().splitlines()[-1] == f"published art://on-slurm:v1 (slurm job {job})"
    )


def test_single_run_detached_returns_before_the_job_ends(
    run_cli: RunCli, nk_home: Path, work: Path
) -> None:
    release = work / "release"  # the job waits for this file, made once the CLI has returned
    try:
        result = slurm(
            run_cli,
            work,
            "stage.name=det",
            "output.name=detached",
            f"+stage.hold={release}",
            "executor.detach=true",
        )
        assert result.returncode == 0, result.stderr
        (job,) = job_ids(result.stderr)
        assert f"submitted slurm job {job}: `nemotron-kit runs show " in result.stderr
        with pytest.raises(NotFoundError):  # returned while the job could not have published
            registry_of(nk_home).resolve("art://detached")
    finally:
        release.touch()
    assert sacct(job) == [(job, "COMPLETED")]
    assert registry_of(nk_home).resolve("art://detached").version == 1


def test_a_sweep_larger_than_max_array_size_goes_out_as_several_arrays(
    run_cli: RunCli, nk_home: Path, work: Path
) -> None:
    """The test cluster's MaxArraySize is 4 (scripts/local-slurm.sh): 10 jobs are 3 arrays."""
    limit = subprocess.run(
        ["scontrol", "show", "config"], capture_output=True, text=True, check=True
    ).stdout
    assert re.search(r"MaxArraySize\s*=\s*4\b", limit), "the test cluster must cap arrays at 4"
    result = slurm(run_cli, work, "-m", "stage.name=arr", "output.name=arr", "stage.seed=range(10)")
    assert result.returncode == 0, result.stderr
    ids = job_ids(result.stderr)
    arrays = sorted({j.split("_")[0] for j in ids}, key=int)
    assert len(arrays) == 3 and len(ids) == 10, ids
    rows = [
        row
        for array in arrays
        for row in sacct(array, expect=sum(j.startswith(f"{array}_") for j in ids))
    ]
    assert sorted(r[0] for r in rows) == sorted(ids)
    assert {state for _, state in rows} == {"COMPLETED"}
    assert [v.version for v in registry_of(nk_home).versions("arr")] == list(range(1, 11))


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
    assert "1 of 4 jobs completed" in result.stderr
    registry = registry_of(nk_home)
    assert registry.resolve("art://mix").version == 1  # the good job's result is kept
    runs = [registry.read_run(r) for r in registry.run_ids()]
    assert sorted(r["status"] for r in runs) == ["COMPLETED", "FAILED", "FAILED", "FAILED"]
    # The job that died without a Python exception is explained by Slurm's verdict, in its run
    # record and in the summary table (whose cells wrap: compare the words).
    (died,) = [
        r
        for r in runs
        if "+stage.exit_code=3" in r["overrides"] and "stage.fail=False" in r["overrides"]
    ]
    assert re.search(rf"Slurm job {array}_2 ended FAILED \(exit code 3:0", died["error"])
    assert {"(exit", "code", "3:0,"} <= set(result.stderr.split())


def test_scancelled_job_is_reported_failed(nk_home: Path, work: Path) -> None:
    release = work / "release"  # never made: the job cannot end by itself
    cmd = slurm_cmd(
        "+recipe=stage", "stage.name=c", "output.name=cancelled", f"+stage.hold={release}"
    )
    with popen(cmd, work) as proc:
        (job,), err = submitted(proc)
        # The job runs its recipe, so its lineage run has begun.
        wait_for(held_marker(release).exists, "the job to start its recipe", proc=proc)
        subprocess.run(["scancel", job], check=True)
        err += proc.communicate(timeout=300)[1]  # the timeout bounds a hang only
    assert proc.returncode != 0
    assert "CANCELLED" in err, err  # the user is told why it failed
    runs = [registry_of(nk_home).read_run(r) for r in registry_of(nk_home).run_ids()]
    assert [r["status"] for r in runs] == ["FAILED"] and "CANCELLED" in runs[0]["error"]
    assert sacct(job)[0][1].startswith("CANCELLED")


def test_ctrl_c_on_an_attached_run_leaves_no_secret_file(nk_home: Path, work: Path) -> None:
    """The 0600 file that carries secrets to the job goes when the job is cancelled too."""
    release = work / "release"  # never made: only Ctrl-C ends the job
    cmd = slurm_cmd(
        "+recipe=stage", "stage.name=s", "output.name=interrupted", f"+stage.hold={release}"
    )
    with popen(cmd, work, env=cli_env(WANDB_API_KEY=SENTINEL)) as proc:
        submitted(proc)
        wait_for(held_marker(release).exists, "the job to start its recipe", proc=proc)
        assert list((nk_home / "secrets").iterdir())  # the job's secrets, while it runs
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=300)
    assert proc.returncode != 0
    assert list((nk_home / "secrets").iterdir()) == []


def test_requeued_job_resumes_from_its_checkpoint(nk_home: Path, work: Path) -> None:
    cmd = slurm_cmd(
        "+recipe=stage",
        "recipe._target_=tests.recipes_for_tests.checkpointed",
        "stage.name=ck",
        "output.name=resumed",
        "+stage.steps=8",
        "+stage.step_s=0.1",
        "+stage.hold_at=3",  # the first attempt waits after step 3 for the signal below
    )
    with popen(cmd, work) as proc:
        (job,), _ = submitted(proc)

        def holding() -> Path | None:
            return next(work.glob("multirun/*/*/0/out-ck/release.held"), None)

        out = wait_for(holding, "the job to reach step 3", proc=proc).parent
        # What Slurm sends before preemption or the time limit: submitit checkpoints and requeues.
        subprocess.run(["scancel", "--signal=USR2", job], check=True)
        release_requeued(job)
        _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    log = (out / "attempts.log").read_text().splitlines()
    assert [line.split()[:2] for line in log] == [["start", "0"], ["start", "3"]]
    assert (out / "result.txt").read_text() == "finished at 8"
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
    assert "submitted Slurm job" not in result.stderr
    assert jobs_submitted_from(work) == set()


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
    with popen(cmd, repo) as proc:
        submitted(proc)  # the snapshot is made: edit the checkout under the waiting job
        recipe.write_text(recipe.read_text().replace("'uncommitted-edit'", "'edited-after-submit'"))
        _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    registry = registry_of(nk_home)
    version = registry.load("art://code", expected=Artifact)
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
    with popen(cmd, work) as proc:
        (job,), _ = submitted(proc)

        def first_checkpoint() -> bool:
            return any(work.glob("multirun/*/*/0/checkpoints/step-00000050.pt"))

        wait_for(first_checkpoint, "the Slurm job's first checkpoint", proc=proc)
        # As before a preemption. (Signalled at once: the job has 550 steps left to train.)
        subprocess.run(["scancel", "--signal=USR2", job], check=True)
        release_requeued(job)
        _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    registry = registry_of(nk_home)
    local, on_slurm = (registry.resolve(f"art://tiny-gpt:v{v}") for v in (1, 2))
    assert (on_slurm.metadata.get("resumed_from_step") or 0) >= 50  # it really was requeued
    assert on_slurm.metadata["weights_digest"] == local.metadata["weights_digest"]
