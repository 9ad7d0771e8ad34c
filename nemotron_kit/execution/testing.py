"""The executor conformance suite: every executor proves itself against the same tests.

Like Hydra's ``launcher_common_tests``, this ships in the package. A test module subclasses
``ExecutorSuite`` and sets ``overrides`` (what selects the executor), and may override
``assert_nothing_left`` (how to tell that no job of the executor is still running):

    class TestSlurm(ExecutorSuite):
        overrides = ["executor=slurm"]

Each test runs ``python -m nemotron_kit`` as a user would, with a private home and a config
directory holding the probe recipe (``recipe/nk_probe.yaml``: it publishes a small artifact,
raises, exits, kills itself or holds, as asked) and a two-step probe pipeline. The suite
checks what every executor owes its user: a run publishes and says so; a sweep reports every
job (one that succeeds, raises, exits non-zero or is SIGKILLed) and hides none; a dry run
submits and writes nothing and shows no secret; Ctrl-C stops every job it started; a pipeline
runs cold, then entirely from the cache; ``reproduce`` gives an equal digest; the best alias is
decided over the whole sweep, whatever the sweeper's batches.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from nemotron_kit.environment import HOME_ENV

PROBE_RECIPE = """\
# @package _global_
# The conformance suite's probe (nemotron_kit.execution.testing.probe).
defaults:
  - /artifact@output: data_blends
  - _self_
recipe:
  name: nk_probe
  _target_: nemotron_kit.execution.testing.probe
probe:
  mode: ok        # ok | raise | exit | kill | hold | late_rank
  tag: a
  score: 1.0
  hold_dir: null  # hold: write <hold_dir>/<tag>.pid, then wait to be stopped
inputs: {}
output:
  name: nk-probe
"""
PROBE_PIPELINE = """\
# @package _global_
pipeline:
  name: nk_probe
  force: false
  max_parallel: null
  steps:
    - name: first
      recipe: nk_probe
      overrides: [probe.tag=first, output.name=nk-probe-first]
    - name: second
      recipe: nk_probe
      inputs: {data: first}
      overrides: [probe.tag=second, output.name=nk-probe-second]
"""


def probe(cfg: Any) -> dict[str, float]:
    """The probe recipe: publish ``probe.tag`` and ``probe.score`` (and the input's digest, if
    any) as an artifact, unless ``probe.mode`` asks it to fail or to hold."""
    import tempfile

    from nemotron_kit.artifacts import DataBlendsArtifact
    from nemotron_kit.execution.torchrun import is_rank_zero

    settings = cfg.probe
    mode = str(settings.mode)
    print(f"probe {settings.tag} starts in mode {mode}", flush=True)
    if mode == "raise":
        raise ValueError(f"probe {settings.tag} raised as asked")
    if mode == "exit":
        sys.stdout.flush()
        os._exit(3)
    if mode == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == "hold":
        Path(str(settings.hold_dir), f"{settings.tag}.pid").write_text(str(os.getpid()))
        deadline = time.monotonic() + 600  # only bounds a test that died holding it
        while time.monotonic() < deadline:
            time.sleep(0.1)
        raise TimeoutError("the probe was never stopped")
    score = float(settings.score)
    if not is_rank_zero():
        if mode == "late_rank":  # fail once rank 0 is done: it may not see it coming
            done = Path(str(settings.hold_dir), f"{settings.tag}.rank0-done")
            deadline = time.monotonic() + 600
            while not done.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            raise ValueError(f"probe {settings.tag} failed on rank {os.environ.get('RANK')}")
        return {"score": score}
    inputs = {str(k): str(v) for k, v in (cfg.get("inputs") or {}).items()}
    with tempfile.TemporaryDirectory(prefix="nk-probe-") as tmp:
        path = Path(tmp) / "probe.json"
        path.write_text(json.dumps({"tag": str(settings.tag), "score": score, "inputs": inputs}))
        artifact = DataBlendsArtifact(path=tmp, metadata={"score": score})
        artifact.save(name=str(cfg.output.name), mode="copy")
    if mode == "late_rank":
        Path(str(settings.hold_dir), f"{settings.tag}.rank0-done").write_text("done")
    return {"score": score}


SUBCOMMANDS = frozenset({"reproduce", "runs", "artifacts", "lineage"})


@dataclass
class Probe:
    """A private home and config directory, and the command line in them."""

    home: Path
    work: Path
    conf: Path
    overrides: list[str]

    def command(self, *args: str) -> list[str]:
        """``python -m nemotron_kit ARGS`` with the probe configs and the executor's overrides
        (a subcommand, like ``reproduce`` or ``runs``, gets ARGS alone)."""
        if args and args[0] in SUBCOMMANDS:
            return [sys.executable, "-m", "nemotron_kit", *args]
        return [
            sys.executable,
            "-m",
            "nemotron_kit",
            "--config-dir",
            str(self.conf),
            *args,
            *self.overrides,
        ]

    def env(self, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            HOME_ENV: str(self.home),
            "OMP_NUM_THREADS": "1",
            "WANDB_MODE": "offline",
            **extra,
        }

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args),
            cwd=self.work,
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=1200,
        )

    def registry(self) -> Any:
        from nemotron_kit.registry import ArtifactRegistry

        return ArtifactRegistry(self.home / "registry", hash_cache=False)


class ExecutorSuite:
    """Subclass, set ``overrides``; every test here must pass for the executor."""

    overrides: ClassVar[tuple[str, ...]] = ()
    #: Jobs of a sweep that run at the same time (the Ctrl-C test waits for this many).
    parallel_jobs: ClassVar[int] = 1
    #: Overrides that run a job as two ranks (None: the executor runs one process a job,
    #: and the suite has no test of ranks for it).
    two_ranks: ClassVar[tuple[str, ...] | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.two_ranks is None:  # not a skipped test: no test (a skip fails CI's runs)
            cls.test_a_rank_that_fails_fails_the_job_and_its_run = None  # type: ignore[assignment,method-assign]

    def probe(self, tmp_path: Path) -> Probe:
        conf = tmp_path / "conf"
        (conf / "recipe").mkdir(parents=True)
        (conf / "pipeline").mkdir()
        (conf / "recipe" / "nk_probe.yaml").write_text(PROBE_RECIPE)
        (conf / "pipeline" / "nk_probe.yaml").write_text(PROBE_PIPELINE)
        work = tmp_path / f"work-{uuid.uuid4().hex[:8]}"
        work.mkdir()
        return Probe(tmp_path / "home", work, conf, list(self.overrides))

    def assert_nothing_left(self, probe: Probe, hold_dir: Path) -> None:
        """No process of a held job is alive (they wrote their pids)."""
        for pid_file in hold_dir.glob("*.pid"):
            pid = int(pid_file.read_text())
            deadline = time.monotonic() + 60  # the executor's own grace for stopping jobs
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not _alive(pid), f"job process {pid} ({pid_file.stem}) is still running"

    # -- the tests ----------------------------------------------------------------------------
    def test_a_run_publishes_and_says_so(self, tmp_path: Path) -> None:
        probe = self.probe(tmp_path)
        result = probe.run("+recipe=nk_probe", "probe.tag=single")
        assert result.returncode == 0, result.stderr[-3000:]
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("published art://nk-probe:v1"), result.stderr[-3000:]
        registry = probe.registry()
        version = registry.resolve("art://nk-probe:v1")
        assert version.metadata["score"] == 1.0
        assert registry.read_run(version.producer or "")["status"] == "COMPLETED"
        # What the job printed is kept with its run, wherever it ran.
        console = registry.read_run_text(version.producer or "", "console") or ""
        assert "probe single starts in mode ok" in console, console[-2000:]

    def test_a_rank_that_fails_fails_the_job_and_its_run(self, tmp_path: Path) -> None:
        """A job is COMPLETED only if every rank is: rank 1 fails after rank 0 published
        and returned; the run ends FAILED with rank 1's own error, which the command says."""
        assert self.two_ranks is not None
        probe = self.probe(tmp_path)
        hold_dir = tmp_path / "hold"
        hold_dir.mkdir()
        args = ["probe.mode=late_rank", "probe.tag=late", f"probe.hold_dir={hold_dir}"]
        args.append("hydra.job.chdir=true")  # rank 0 then runs in the job's own directory
        result = probe.run("+recipe=nk_probe", *args, *self.two_ranks)
        said = "rank 1 failed: ValueError: probe late failed on rank 1"
        assert result.returncode == 1, result.stderr[-3000:]
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("Error: ") and said in last, result.stderr[-3000:]
        registry = probe.registry()
        (run_id,) = registry.run_ids()
        record = registry.read_run(run_id)
        assert record["status"] == "FAILED" and said in record["error"], record
        left = [p for p in probe.work.rglob("*.pkl") if ".nemotron_kit" in p.parts]
        assert not left, left  # every rank's result was read and removed

    def test_a_sweep_reports_every_job_and_hides_none(self, tmp_path: Path) -> None:
        probe = self.probe(tmp_path)
        result = probe.run("-m", "+recipe=nk_probe", "probe.mode=ok,raise,exit,kill")
        assert result.returncode != 0, "a sweep with failed jobs must exit non-zero"
        for mode in ("ok", "raise", "exit", "kill"):
            assert f"probe.mode={mode}" in result.stderr, (mode, result.stderr[-3000:])
        registry = probe.registry()
        runs: dict[str, Any] = {}
        for run_id in registry.run_ids():
            record = registry.read_run(run_id)
            for override in record.get("overrides", []):
                if override.startswith("probe.mode="):
                    runs[override.split("=", 1)[1]] = record
        assert runs["ok"]["status"] == "COMPLETED" and runs["ok"]["outputs"]
        assert runs["raise"]["status"] == "FAILED"
        assert "raised as asked" in str(runs["raise"]["error"])
        for mode in ("exit", "kill"):  # died without ending its run: the launcher says so
            assert runs[mode]["status"] in ("FAILED", "LOST"), (mode, runs[mode])
        assert [v.uri for v in registry.versions("nk-probe")] == ["art://nk-probe:v1"]

    def test_a_dry_run_submits_and_writes_nothing(self, tmp_path: Path) -> None:
        probe = self.probe(tmp_path)
        secret = f"NKSECRET{uuid.uuid4().hex}"
        result = probe.run(
            "-m", "+recipe=nk_probe", "hydra.launcher.dry_run=true", MY_API_TOKEN=secret
        )
        assert result.returncode == 0, result.stderr[-3000:]
        plan = json.loads(result.stdout[result.stdout.index("{") :])
        assert plan["executor"] and plan["jobs"]
        assert secret not in result.stdout + result.stderr
        assert not (probe.home / "registry").exists()

    def test_ctrl_c_stops_every_job(self, tmp_path: Path) -> None:
        probe = self.probe(tmp_path)
        hold_dir = probe.work / "held"  # the working directory: mounted into containers too
        hold_dir.mkdir()
        tags = ",".join(f"h{i}" for i in range(max(2, self.parallel_jobs)))
        proc = subprocess.Popen(
            probe.command(
                "-m",
                "+recipe=nk_probe",
                "probe.mode=hold",
                f"probe.tag={tags}",
                f"probe.hold_dir={hold_dir}",
            ),
            cwd=probe.work,
            env=probe.env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=as_at_a_terminal,
        )
        try:
            deadline = time.monotonic() + 600
            while len(list(hold_dir.glob("*.pid"))) < self.parallel_jobs:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "the held jobs never started"
                time.sleep(0.1)
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc.stderr is not None:
                proc.stderr.close()
        assert proc.returncode != 0
        self.assert_nothing_left(probe, hold_dir)

    def test_a_pipeline_runs_cold_then_from_the_cache(self, tmp_path: Path) -> None:
        probe = self.probe(tmp_path)
        first = probe.run("+pipeline=nk_probe")
        assert first.returncode == 0, first.stderr[-3000:]
        assert "cached:" not in first.stderr
        second = probe.run("+pipeline=nk_probe")
        assert second.returncode == 0, second.stderr[-3000:]
        assert second.stderr.count("cached:") == 2, second.stderr[-3000:]
        registry = probe.registry()
        made = registry.resolve("art://nk-probe-second:v1")
        assert made.record["inputs"] == ["art://nk-probe-first:v1"]

    def test_reproduce_gives_an_equal_digest(self, tmp_path: Path) -> None:
        probe = self.probe(tmp_path)
        assert probe.run("+recipe=nk_probe", "probe.tag=again").returncode == 0
        result = probe.run("reproduce", "art://nk-probe:v1", "--json", *probe.overrides)
        assert result.returncode == 0, result.stderr[-3000:]
        report = json.loads(result.stdout)
        assert report["identical"] is True and report["reproduced"] == "art://nk-probe:v2"

    def test_the_best_alias_is_decided_over_the_whole_sweep(self, tmp_path: Path) -> None:
        probe = self.probe(tmp_path)
        result = probe.run(
            "-m",
            "+recipe=nk_probe",
            "probe.score=3,1,2",
            "sweep.alias=best",
            "sweep.metric=score",
            "hydra.sweeper.max_batch_size=1",  # three batches: the best is still over all
        )
        assert result.returncode == 0, result.stderr[-3000:]
        registry = probe.registry()
        best = registry.resolve("art://nk-probe:best")
        assert best.metadata["score"] == 1.0


def as_at_a_terminal() -> None:
    """For a child that is to get Ctrl-C: SIGINT as a terminal's foreground job has it.

    A command started with ``&`` from a script (a CI runner, ``nohup``-style wrappers) inherits
    SIGINT ignored, and then Python installs no KeyboardInterrupt handler at all: the test
    would prove nothing about the executor."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped) is not running
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][:1]
    except (OSError, IndexError):
        return True
    return state != "Z"
