"""Containers on this machine (podman or docker CLI): one container per job, a bounded pool.

Inside the container the job runs as on any other executor: the pickled job and its
``JobSpec`` (``python3 -m nemotron_kit.execution._payload PAYLOAD``), against the code snapshot,
the packaged configs and the registry mounted at their host paths, so lineage is recorded from
inside the container like from anywhere else. Secrets travel in a private ``--env-file``
deleted once the container has started, never as ``-e`` arguments (visible in ``ps``) and never
in logs or saved configs.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

from nemotron_kit.execution.base import DoneHandle, Executor, JobHandle, JobOutcome, JobStatus
from nemotron_kit.execution.container_run import (
    LABEL_PREFIX,
    ContainerRun,
    payload_path,
)
from nemotron_kit.execution.engine import (
    detect_engine,
    engine_env,
    failure_reason,
    inspect_state,
    labelled_containers,
    save_logs,
)
from nemotron_kit.execution.job import JobSpec
from nemotron_kit.execution.local import outcome_from_result

#: Credentials that do not look secret by name but travel with the secrets (env file only).
CREDENTIAL_ENV = ("AWS_ACCESS_KEY_ID",)


def _secret_env() -> dict[str, str]:
    from nemotron_kit.execution.slurm import _secret_env as secrets

    found = secrets()
    found.update({k: os.environ[k] for k in CREDENTIAL_ENV if k in os.environ})
    return found


def write_env_file(secrets: dict[str, str]) -> Path:
    """KEY=value lines in a fresh 0600 file in a private 0700 directory (not a mounted one)."""
    directory = Path(tempfile.mkdtemp(prefix="nk-env-"))
    path = directory / "env"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        for key, value in secrets.items():
            if "\n" in value or "\r" in value:
                print(
                    f"warning: {key} holds a line break; not passed to the container",
                    file=sys.stderr,
                )
                continue
            f.write(f"{key}={value}\n")
    return path


def remove_env_file(path: Path | None) -> None:
    if path is not None:
        path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            path.parent.rmdir()


class ContainerExecutor(Executor):
    """Each job in its own container from ``image``, at most ``max_parallel`` at a time."""

    name = "container"
    parallelism = "max_parallel"

    def __init__(
        self,
        engine: str = "auto",
        image: str | None = None,
        mounts: list[str] | None = None,
        env: dict[str, str] | None = None,
        workdir: str | None = None,
        cpus: float | None = None,
        memory: str | None = None,
        shm_size: str | None = None,
        gpus: Any = None,
        network: str = "none",
        max_parallel: int | None = 1,
        detach: bool = False,
        snapshot: bool = True,
        snapshot_untracked: bool = False,
        labels: dict[str, str] | None = None,
        python: str = "python3",
        extra_args: list[str] | None = None,
        keep: bool = False,
        dry_run: bool = False,
    ) -> None:
        self.engine = engine
        self.settings = ContainerRun(
            image=image,
            mounts=[str(m) for m in (mounts or [])],
            env={str(k): str(v) for k, v in (env or {}).items()},
            workdir=workdir,
            cpus=cpus,
            memory=memory,
            shm_size=shm_size,
            gpus=gpus,
            network=network,
            labels={str(k): str(v) for k, v in (labels or {}).items()},
            python=python,
            extra_args=[str(a) for a in (extra_args or [])],
        )
        self.max_parallel = max(1, int(max_parallel or 1))
        self.detach, self.snapshot, self.snapshot_untracked = detach, snapshot, snapshot_untracked
        self.keep, self.dry_run = keep, dry_run
        self._lock = threading.Lock()
        self._started: dict[str, JobSpec] = {}  # container id -> job, until it is removed
        self._cancelled: set[int] = set()  # jobs of the current submission
        self._removals: list[subprocess.Popen[bytes]] = []
        self._pool: ThreadPoolExecutor | None = None
        self._engine, self._sweep_dir = "podman", Path(".")

    def describe(self, specs: list[JobSpec], sweep_dir: Path) -> dict[str, Any]:
        engine = (
            self.engine
            if self.engine != "auto"
            else ("podman" if shutil.which("podman") else "docker")
        )
        paths = self.settings.host_paths(None, sweep_dir, "<snapshot>" if self.snapshot else None)
        return {
            "executor": self.name,
            "engine": engine,
            "image": self.settings.image,
            "max_parallel": self.max_parallel,
            "detach": self.detach,
            "commands": [
                shlex.join(
                    self.settings.command(
                        engine,
                        s,
                        sweep_dir,
                        paths,
                        "<snapshot>" if self.snapshot else None,
                        Path("<env-file>"),
                    )
                )
                for s in specs
            ],
            "secrets_passed_by_file": sorted(_secret_env()),
        }

    # -- run --------------------------------------------------------------------------------------
    def submit(
        self, job: Callable[[JobSpec], Any], specs: list[JobSpec], sweep_dir: Path
    ) -> list[JobHandle]:
        engine = detect_engine(self.engine)
        sweep_dir = sweep_dir.absolute()
        snapshot = specs[0].snapshot if specs else None  # the launcher's, shared by all jobs
        paths = self.settings.host_paths(job, sweep_dir, snapshot)
        self._cancelled = set()
        self._engine, self._sweep_dir = engine, sweep_dir
        if self.detach:
            outcomes = self._run_detached(engine, specs, sweep_dir, paths, snapshot, job)
            return [DoneHandle(o) for o in outcomes]
        self._pool = ThreadPoolExecutor(
            max_workers=self.max_parallel, thread_name_prefix="nk-container"
        )
        stream = len(specs) == 1
        return [
            _ContainerHandle(
                self,
                spec,
                self._pool.submit(
                    self._run_one, engine, spec, sweep_dir, paths, snapshot, job, stream
                ),
            )
            for spec in specs
        ]

    def _cancel(self, spec: JobSpec) -> None:
        """Keep the job from starting, or kill (and remove) its container."""
        with self._lock:
            self._cancelled.add(spec.num)
            mine = [c for c, s in self._started.items() if s.num == spec.num]
        if mine:
            self._stop(self._engine, mine)

    def close(self, handles: list[JobHandle]) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if self._cancelled:  # interrupted: also any container whose start overtook the cancel
            pool.shutdown(wait=False, cancel_futures=True)
            self._stop_all(self._engine, self._sweep_dir)
            return
        pool.shutdown(wait=True)
        for proc in self._removals:  # all containers gone before the launcher returns
            proc.wait()
        self._removals.clear()

    def _start(
        self,
        engine: str,
        spec: JobSpec,
        sweep_dir: Path,
        paths: dict[str, Any],
        snapshot: str | None,
        job: Any,
    ) -> str:
        write_payload(job, spec, sweep_dir)
        secrets = _secret_env()
        env_file = write_env_file(secrets) if secrets else None
        try:
            cmd = self.settings.command(engine, spec, sweep_dir, paths, snapshot, env_file)
            proc = subprocess.run(
                cmd, capture_output=True, text=True, env=engine_env(engine), check=False
            )
        finally:
            remove_env_file(env_file)  # the container has its environment now
        if proc.returncode != 0:
            raise ContainerStartError(
                f"{engine} could not start the container (exit {proc.returncode}): "
                + " ".join(proc.stderr.split())[:400]
            )
        container = proc.stdout.strip().splitlines()[-1]
        with self._lock:
            self._started[container] = spec
            cancelled = spec.num in self._cancelled
        if cancelled:  # cancelled while this one was starting: it goes too
            self._stop(engine, [container])
        return container

    def _run_one(
        self,
        engine: str,
        spec: JobSpec,
        sweep_dir: Path,
        paths: dict[str, Any],
        snapshot: str | None,
        job: Any,
        stream: bool,
    ) -> JobOutcome:
        working_dir = str(sweep_dir / str(spec.num))
        if spec.num in self._cancelled:
            return JobOutcome(spec, JobStatus.FAILED, "cancelled before it started")
        try:
            container = self._start(engine, spec, sweep_dir, paths, snapshot, job)
        except ContainerStartError as exc:
            return JobOutcome(spec, JobStatus.FAILED, str(exc), None, working_dir)
        short = container[:12]
        print(f"started container {short} for job {spec.num}", file=sys.stderr, flush=True)
        env = engine_env(engine)
        follower = None
        if stream:  # attached single job: its output as it is written
            follower = subprocess.Popen([engine, "logs", "-f", container], env=env)
        waiter = [engine, "wait", container]
        if Path(engine).name == "podman":
            waiter[2:2] = ["--interval", "50ms"]  # podman polls; its default is 250 ms
        subprocess.run(waiter, capture_output=True, text=True, env=env, check=False)
        if follower is not None:
            try:
                follower.wait(timeout=10)
            except subprocess.TimeoutExpired:
                follower.kill()
        state = inspect_state(engine, container, env)
        save_logs(engine, container, env, sweep_dir, spec)
        if not self.keep:
            self._remove(engine, container, env)
        with self._lock:
            self._started.pop(container, None)
        payload_path(sweep_dir, spec).unlink(missing_ok=True)
        code = state.get("ExitCode")
        recorded = outcome_from_result(spec, sweep_dir, "finished without a result", short)
        if code == 0 and not state.get("OOMKilled"):
            if recorded.status == JobStatus.COMPLETED:
                return recorded
            return JobOutcome(spec, JobStatus.COMPLETED, None, short, working_dir)
        if code == 1 and recorded.status == JobStatus.FAILED and recorded.reason:
            return recorded  # the task raised: its own error
        return JobOutcome(
            spec,
            JobStatus.FAILED,
            failure_reason(state, job, spec, container, self.settings.memory),
            short,
            working_dir,
        )

    def _remove(self, engine: str, container: str, env: dict[str, str]) -> None:
        """Remove a finished container without waiting for the engine to clean up."""
        proc = subprocess.Popen(
            [engine, "rm", "-f", container],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        with self._lock:
            self._removals.append(proc)

    def _run_detached(
        self,
        engine: str,
        specs: list[JobSpec],
        sweep_dir: Path,
        paths: dict[str, Any],
        snapshot: str | None,
        job: Any,
    ) -> list[JobOutcome]:
        outcomes = []
        for spec in specs:
            try:
                container = self._start(engine, spec, sweep_dir, paths, snapshot, job)
            except ContainerStartError as exc:
                outcomes.append(JobOutcome(spec, JobStatus.FAILED, str(exc)))
                continue
            with self._lock:
                self._started.pop(container, None)  # the user's now
            outcomes.append(
                JobOutcome(
                    spec,
                    JobStatus.SUBMITTED,
                    None,
                    container[:12],
                    str(sweep_dir / str(spec.num)),
                    {"container_id": container, "engine": engine, "detached": True},
                )
            )
        ids = " ".join(o.job_id or "" for o in outcomes if o.status == JobStatus.SUBMITTED)
        if ids:
            print(
                f"started containers {ids}: `{engine} wait ID` for the exit status, "
                f"`{engine} logs ID` for the output, `{engine} rm ID` when done",
                file=sys.stderr,
                flush=True,
            )
        return outcomes

    def _stop_all(self, engine: str, sweep_dir: Path | None = None) -> None:
        """Kill (and remove) every container of this launch: the ones recorded, and by the
        sweep's label any whose start the interrupt overtook."""
        with self._lock:
            started = list(self._started)
        if sweep_dir is not None:
            found = labelled_containers(engine, f"{LABEL_PREFIX}sweep-dir={sweep_dir}")
            started += [
                c for c in found if not any(c.startswith(s) or s.startswith(c) for s in started)
            ]
        if started:
            self._stop(engine, started)

    def _stop(self, engine: str, containers: list[str]) -> None:
        """Kill these containers, and remove them unless they are to be kept."""
        env = engine_env(engine)
        print(f"stopping {len(containers)} container(s)", file=sys.stderr, flush=True)
        subprocess.run([engine, "kill", *containers], capture_output=True, env=env, check=False)
        if not self.keep:
            subprocess.run(
                [engine, "rm", "-f", *containers], capture_output=True, env=env, check=False
            )
        with self._lock:
            for container in containers:
                self._started.pop(container, None)


class _ContainerHandle(JobHandle):
    def __init__(
        self, executor: ContainerExecutor, spec: JobSpec, future: Future[JobOutcome]
    ) -> None:
        self.executor, self.spec, self.future = executor, spec, future

    @property
    def job_id(self) -> str | None:
        with self.executor._lock:
            mine = [c for c, s in self.executor._started.items() if s.num == self.spec.num]
        return mine[0][:12] if mine else None

    def done(self) -> bool:
        return self.future.done()

    def outcome(self) -> JobOutcome:
        while True:  # in slices: Ctrl-C reaches the waiting thread at once
            try:
                return self.future.result(timeout=0.5)
            except FutureTimeout:
                continue
            except CancelledError:
                return JobOutcome(self.spec, JobStatus.FAILED, "cancelled before it started")

    def cancel(self) -> None:
        self.future.cancel()
        self.executor._cancel(self.spec)


class ContainerStartError(Exception):
    """The engine refused to start a container."""


def write_payload(job: Any, spec: JobSpec, sweep_dir: Path) -> None:
    """The pickled job and its spec, 0600, in the (mounted) sweep directory."""
    import cloudpickle

    # Other Hydra plugins installed here (their configs are in the pickled ConfigStore) may be
    # missing from the image: their modules travel by value, not as imports.
    for name, module in list(sys.modules.items()):
        if (
            name.startswith("hydra_plugins.")
            and not name.startswith("hydra_plugins.nemotron_kit")
            and module is not None
        ):
            with contextlib.suppress(ValueError):
                cloudpickle.register_pickle_by_value(module)
    path = payload_path(sweep_dir, spec)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(cloudpickle.dumps((job, spec)))
