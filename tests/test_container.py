"""executor=container with a real engine (podman), in the image scripts/build-test-image.sh makes.

scripts/test.sh runs scripts/podman-setup.sh and sets NK_TEST_CONTAINER=1 (and CONTAINERS_CONF);
without it the real-engine tests skip. The jobs import the test recipes through PYTHONPATH (the
checkout, mounted read-only at its host path), not from the image.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

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

IMAGE = os.environ.get("NK_TEST_IMAGE", "localhost/nemotron-kit-test:latest")
SENTINEL = "nk-sentinel-" + "7f3a9c1e5b"
pytestmark = [pytest.mark.slow]


def args(recipe: str, *rest: str) -> list[str]:
    return [
        f"+recipe={recipe}",
        "executor=container",
        f"executor.image={IMAGE}",
        "executor.snapshot=false",
        *rest,
    ]


def container(
    run_cli: RunCli, work: Path, recipe: str, *rest: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_test_conf(run_cli, work, *args(recipe, *rest), env=env)


def engine(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", *cmd], capture_output=True, text=True, check=False)


def probes(work: Path) -> list[dict[str, object]]:
    return [json.loads(p.read_text()) for p in sorted(work.glob("probe-*.json"))]


def test_dry_run_shows_the_commands_without_secrets(run_cli: RunCli, work: Path) -> None:
    result = container(
        run_cli, work, "stage", "executor.dry_run=true", env={"MY_API_TOKEN": SENTINEL}
    )
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout[result.stdout.index("{") :])
    assert plan["executor"] == "container" and "MY_API_TOKEN" in plan["secrets_passed_by_file"]
    (cmd,) = plan["commands"]
    assert "--init" in cmd and "--network=none" in cmd and "--env-file" in cmd
    assert SENTINEL not in result.stdout + result.stderr


@needs("podman")
def test_attached_run_publishes_with_lineage_from_inside(
    run_cli: RunCli, nk_home: Path, work: Path
) -> None:
    result = container(run_cli, work, "stage", "stage.name=one", "output.name=in-container")
    assert result.returncode == 0, result.stderr
    started = re.search(r"started container ([0-9a-f]{12})", result.stderr)
    assert started, result.stderr
    registry = registry_of(nk_home)
    version = registry.resolve("art://in-container")
    run = registry.read_run(version.producer or "")
    assert run["status"] == "COMPLETED"
    assert run["host"] == started.group(1)  # the run was recorded inside the container
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("published art://in-container:v1 (container job"), result.stderr
    assert engine("ps", "-a", "-q", "--filter", f"id={started.group(1)}").stdout.strip() == ""


@needs("podman")
def test_sweep_runs_four_containers_at_most_two_at_a_time(run_cli: RunCli, work: Path) -> None:
    result = container(
        run_cli,
        work,
        "container_probe",
        "-m",
        "probe.tag=a,b,c,d",
        "probe.barrier=2",  # the first two wait for each other: they pass only if run together
        "probe.sleep=1",  # and stay a while, so that a third one at once would be seen
        "executor.max_parallel=2",
    )
    assert result.returncode == 0, result.stderr
    assert "4 of 4 jobs completed" in result.stderr
    seen = probes(work)
    assert sorted(str(p["tag"]) for p in seen) == ["a", "b", "c", "d"]
    assert len({p["host"] for p in seen}) == 4  # four containers
    # in parallel, but never more than max_parallel at once
    assert max(int(str(p["running"])) for p in seen) == 2, seen


@needs("podman")
def test_exit_code_oom_and_raise_fail_with_their_reasons(
    run_cli: RunCli, nk_home: Path, work: Path
) -> None:
    result = container(
        run_cli,
        work,
        "container_probe",
        "-m",
        "probe.mode=ok,exit3,oom,raise",
        "probe.alloc_mb=400",
        "executor.memory=128m",
        "executor.max_parallel=2",
    )
    assert result.returncode != 0
    assert "1 of 4 jobs completed" in result.stderr, result.stderr
    registry = registry_of(nk_home)
    runs = {_mode(r): r for r in (registry.read_run(i) for i in registry.run_ids())}
    assert runs["ok"]["status"] == "COMPLETED"
    assert runs["exit3"]["status"] == "FAILED" and runs["exit3"]["error"] == "exited with code 3"
    assert runs["oom"]["status"] == "FAILED"
    assert "out of memory" in runs["oom"]["error"] and "128m" in runs["oom"]["error"]
    assert runs["raise"]["status"] == "FAILED"
    assert "RuntimeError: probe one was asked to fail" in runs["raise"]["error"]
    flat = " ".join(result.stderr.split())
    assert "exited with code 3" in flat and "out of memory" in flat


def _mode(run: dict[str, object]) -> str:
    overrides = run.get("overrides") or []
    assert isinstance(overrides, list)
    return next(str(o).split("=", 1)[1] for o in overrides if str(o).startswith("probe.mode="))


@needs("podman")
def test_secret_reaches_the_job_but_no_log_config_record_or_ps(
    nk_home: Path, work: Path, tmp_path: Path
) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    release = work / "release"  # the job waits for it: the test looks at ps while it runs
    cmd = cli_command(
        *args(
            "container_probe",
            f"+probe.hold={release}",
            "probe.secret_var=MY_API_TOKEN",
            "+executor.labels.nk-test=secret",
        )
    )
    ps_seen = []

    def ps() -> bytes:
        ps_seen.append(subprocess.run(["ps", "-eo", "args"], capture_output=True).stdout)
        return ps_seen[-1]

    with popen(cmd, work, cli_env(MY_API_TOKEN=SENTINEL, TMPDIR=str(tmp))) as proc:
        try:
            wait_for(lambda: ps() and held_marker(release).exists(), "the job to run", proc=proc)
            assert b"podman" in ps()  # the container is running now
        finally:
            release.touch()
        while proc.poll() is None:  # every process's command line, all through the run
            ps()
            time.sleep(0.05)
        out, err = proc.communicate()
    assert proc.returncode == 0, err
    assert probes(work)[0]["secret_set"] is True  # it did reach the job
    assert SENTINEL not in out + err
    assert not any(SENTINEL.encode() in ps for ps in ps_seen)
    assert any(b"podman" in ps for ps in ps_seen)
    for path in [*tmp_path.rglob("*")]:
        if path.is_file():
            assert SENTINEL.encode() not in path.read_bytes(), path
    assert list(tmp.iterdir()) == []  # the env file is gone


@needs("podman")
def test_detached_run_returns_and_the_container_can_be_waited_for(
    run_cli: RunCli, nk_home: Path, work: Path
) -> None:
    release = work / "release"  # the job waits for it, made once the CLI has returned
    result = container(
        run_cli,
        work,
        "stage",
        "stage.name=det",
        "output.name=detached",
        f"+stage.hold={release}",
        "executor.detach=true",
    )
    ids = re.search(r"started containers ([0-9a-f]{12})", result.stderr)
    assert ids, result.stderr
    cid = ids.group(1)
    try:
        assert result.returncode == 0, result.stderr
        with pytest.raises(NotFoundError):  # returned while the job could not have published
            registry_of(nk_home).resolve("art://detached")
        release.touch()
        assert engine("wait", cid).stdout.strip() == "0"
        assert engine("inspect", "--format", "{{.State.ExitCode}}", cid).stdout.strip() == "0"
    finally:
        release.touch()
        engine("rm", "-f", cid)
    assert registry_of(nk_home).resolve("art://detached").version == 1


@needs("podman")
def test_interrupt_stops_the_containers_it_started(work: Path, nk_home: Path) -> None:
    label = f"nk-test={uuid.uuid4().hex[:12]}"
    cmd = cli_command(
        *args(
            "container_probe",
            "-m",
            "probe.tag=x,y",
            f"+probe.hold={work / 'release'}",  # never made: the jobs cannot end by themselves
            "executor.max_parallel=2",
            f"+executor.labels.{label}",
        )
    )
    with popen(cmd, work) as proc:

        def both_running() -> bool:
            return len(engine("ps", "-q", "--filter", f"label={label}").stdout.split()) == 2

        wait_for(both_running, "two containers running", proc=proc)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert engine("ps", "-a", "-q", "--filter", f"label={label}").stdout.strip() == "", err
