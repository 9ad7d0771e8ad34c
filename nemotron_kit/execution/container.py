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
import json
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

from nemotron_kit.environment import CONFIG_PATH_ENV, HOME_ENV
from nemotron_kit.errors import ConfigError
from nemotron_kit.execution.base import DoneHandle, Executor, JobHandle, JobOutcome, JobStatus
from nemotron_kit.execution.job import JobSpec
from nemotron_kit.execution.local import outcome_from_result

#: Where scripts/podman-setup.sh writes its containers.conf (used when CONTAINERS_CONF is unset).
DEFAULT_PODMAN_DIR = "/tmp/nk-podman"
#: Host variables copied into the container as they are (non-secret settings).
PASSTHROUGH_ENV = (
    "WANDB_MODE",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_ENDPOINT_URL",
    "HYDRA_FULL_ERROR",
)
#: Credentials that do not look secret by name but travel with the secrets (env file only).
CREDENTIAL_ENV = ("AWS_ACCESS_KEY_ID",)
LABEL_PREFIX = "nk."
#: Where installed recipe packages are importable inside the container (on its PYTHONPATH).
PACKAGES_DIR = "/opt/nemotron-kit/recipe-packages"


def _secret_env() -> dict[str, str]:
    from nemotron_kit.execution.slurm import _secret_env as secrets

    found = secrets()
    found.update({k: os.environ[k] for k in CREDENTIAL_ENV if k in os.environ})
    return found


def detect_engine(engine: str = "auto") -> str:
    """``podman`` or ``docker``: the one asked for, else the first found (podman preferred)."""
    if engine and engine != "auto":
        if shutil.which(engine) is None:
            raise ConfigError(f"executor=container: engine '{engine}' is not on PATH; install it.")
        return engine
    for candidate in ("podman", "docker"):
        if shutil.which(candidate):
            return candidate
    raise ConfigError(
        "executor=container needs podman or docker on PATH, and neither is installed: "
        "run scripts/podman-setup.sh (as root) or install one."
    )


def engine_env(engine: str) -> dict[str, str]:
    """The environment for engine commands: podman gets scripts/podman-setup.sh's
    containers.conf when the user set no CONTAINERS_CONF."""
    env = dict(os.environ)
    if Path(engine).name == "podman" and not env.get("CONTAINERS_CONF"):
        conf = Path(env.get("NK_PODMAN_DIR", DEFAULT_PODMAN_DIR)) / "containers.conf"
        if conf.is_file():
            env["CONTAINERS_CONF"] = str(conf)
    return env


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
        self.engine, self.image = engine, image
        self.mounts = [str(m) for m in (mounts or [])]
        self.env = {str(k): str(v) for k, v in (env or {}).items()}
        self.workdir, self.cpus, self.memory, self.shm_size = workdir, cpus, memory, shm_size
        self.gpus, self.network = gpus, network
        self.max_parallel = max(1, int(max_parallel or 1))
        self.detach, self.snapshot, self.snapshot_untracked = detach, snapshot, snapshot_untracked
        self.labels = {str(k): str(v) for k, v in (labels or {}).items()}
        self.python, self.extra_args = python, [str(a) for a in (extra_args or [])]
        self.keep, self.dry_run = keep, dry_run
        self._lock = threading.Lock()
        self._started: dict[str, JobSpec] = {}  # container id -> job, until it is removed
        self._cancelled: set[int] = set()  # jobs of the current submission
        self._removals: list[subprocess.Popen[bytes]] = []
        self._pool: ThreadPoolExecutor | None = None
        self._engine, self._sweep_dir = "podman", Path(".")

    # -- the command ----------------------------------------------------------------------------
    def _host_paths(self, job: Any, sweep_dir: Path, snapshot: str | None) -> dict[str, Any]:
        """Host paths the job needs, mounted at the same absolute paths."""
        from nemotron_kit.paths import (
            home,
            packaged_conf_dir,
            recipe_package_conf_dirs,
            user_config_dirs,
        )

        rw = [sweep_dir.absolute()]
        nk_home = home().absolute()
        rw.append(nk_home)
        registry_root = _local_registry_root(job)
        if registry_root is not None:
            rw.append(registry_root)
        ro = [Path(snapshot)] if snapshot else []
        pythonpath = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        ro += [Path(p).absolute() for p in pythonpath if Path(p).exists()]
        config_dirs = user_config_dirs()
        ro += [*config_dirs, packaged_conf_dir()]  # the pickled job composes from these
        # Installed recipe packages travel with the job: each package directory is mounted at
        # its host path (its conf/ is on the search path) and importable from PACKAGES_DIR.
        packages = [conf.parent for _, conf in recipe_package_conf_dirs()]
        ro += packages
        loader = getattr(getattr(job, "hydra_context", None), "config_loader", None)
        if loader is not None:  # and from its primary config directory (reproduce: a temp one)
            for entry in loader.get_search_path().get_path():
                where = entry.path or ""
                if where.startswith("file://") or where.startswith("/"):
                    ro.append(Path(where.removeprefix("file://")))
        cwd = Path.cwd().absolute()
        if self.workdir is None and cwd != Path("/"):
            rw.append(cwd)
        return {
            "rw": rw,
            "ro": ro,
            "home": nk_home,
            "pythonpath": [
                *([snapshot] if snapshot else []),
                *[str(Path(p).absolute()) for p in pythonpath],
                *([PACKAGES_DIR] if packages else []),
            ],
            "packages": packages,
            "config_path": [str(d) for d in config_dirs],
            "workdir": self.workdir or (str(cwd) if cwd != Path("/") else str(sweep_dir)),
        }

    def command(
        self,
        engine: str,
        spec: JobSpec,
        sweep_dir: Path,
        paths: dict[str, Any],
        snapshot: str | None,
        env_file: Path | None,
    ) -> list[str]:
        if not self.image:
            raise ConfigError(
                "executor=container needs an image: executor.image=REF (for a local test image, "
                "run scripts/build-test-image.sh and use localhost/nemotron-kit-test:latest)."
            )
        sweep_dir = sweep_dir.absolute()
        name = f"nk-{spec.run_id}-{spec.num}" if spec.run_id else None
        cmd = [engine, "run", "-d", "--init", f"--network={self.network}"]
        if name:
            cmd += ["--name", name]
        if Path(engine).name == "docker" and os.getuid() != 0:
            # A root docker daemon would leave root-owned artifacts in the user's registry;
            # rootless podman already maps the container's root to the user.
            cmd += ["--user", f"{os.getuid()}:{os.getgid()}"]
        labels = {
            f"{LABEL_PREFIX}executor": "container",
            f"{LABEL_PREFIX}run-id": spec.run_id or "",
            f"{LABEL_PREFIX}job-num": str(spec.num),
            f"{LABEL_PREFIX}sweep-dir": str(sweep_dir),
            **self.labels,
        }
        if spec.sweep_id:
            labels[f"{LABEL_PREFIX}sweep-id"] = spec.sweep_id
        for key, value in labels.items():
            cmd += ["--label", f"{key}={value}"]
        mounted: set[str] = set()
        for path in paths["rw"]:
            path.mkdir(parents=True, exist_ok=True)
        for path, mode in [*((p, "rw") for p in paths["rw"]), *((p, "ro") for p in paths["ro"])]:
            if str(path) in mounted:
                continue
            mounted.add(str(path))
            cmd += ["-v", f"{path}:{path}:{mode}"]
        for package in paths.get("packages", []):
            cmd += ["-v", f"{package}:{PACKAGES_DIR}/{package.name}:ro"]
        for mount in self.mounts:
            cmd += ["-v", mount]
        cmd += ["-w", str(paths["workdir"])]
        if self.cpus:
            cmd += ["--cpus", str(self.cpus)]
        if self.memory:
            cmd += ["--memory", str(self.memory)]
        if self.shm_size:
            cmd += ["--shm-size", str(self.shm_size)]
        cmd += self._gpu_args(engine)
        env = {
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
            **{k: os.environ[k] for k in PASSTHROUGH_ENV if os.environ.get(k)},
            HOME_ENV: str(paths["home"]),
            "PYTHONDONTWRITEBYTECODE": "1",
            **self.env,
        }
        if paths["pythonpath"]:
            env["PYTHONPATH"] = os.pathsep.join(paths["pythonpath"])
        if paths["config_path"]:
            env[CONFIG_PATH_ENV] = os.pathsep.join(paths["config_path"])
        for key, value in env.items():
            cmd += ["-e", f"{key}={value}"]
        if env_file is not None:
            cmd += ["--env-file", str(env_file)]
        cmd += self.extra_args
        cmd += [
            str(self.image),
            self.python,
            "-m",
            "nemotron_kit.execution._payload",
            str(payload_path(sweep_dir, spec)),
        ]
        return cmd

    def _gpu_args(self, engine: str) -> list[str]:
        if self.gpus in (None, 0, "0", "", False):
            return []
        if Path(engine).name == "docker":
            return ["--gpus", str(self.gpus)]
        # podman 4: NVIDIA's CDI specification (nvidia-ctk cdi generate) names the devices.
        if str(self.gpus) == "all":
            return ["--device", "nvidia.com/gpu=all"]
        if str(self.gpus).isdigit():
            return [a for i in range(int(self.gpus)) for a in ("--device", f"nvidia.com/gpu={i}")]
        return [a for g in str(self.gpus).split(",") for a in ("--device", f"nvidia.com/gpu={g}")]

    def describe(self, specs: list[JobSpec], sweep_dir: Path) -> dict[str, Any]:
        engine = (
            self.engine
            if self.engine != "auto"
            else ("podman" if shutil.which("podman") else "docker")
        )
        paths = self._host_paths(None, sweep_dir, "<snapshot>" if self.snapshot else None)
        return {
            "executor": self.name,
            "engine": engine,
            "image": self.image,
            "max_parallel": self.max_parallel,
            "detach": self.detach,
            "commands": [
                shlex.join(
                    self.command(
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
        paths = self._host_paths(job, sweep_dir, snapshot)
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
            cmd = self.command(engine, spec, sweep_dir, paths, snapshot, env_file)
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
        state = self._inspect(engine, container, env)
        self._save_logs(engine, container, env, sweep_dir, spec)
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
            spec, JobStatus.FAILED, self._reason(state, job, spec, container), short, working_dir
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

    def _inspect(self, engine: str, container: str, env: dict[str, str]) -> dict[str, Any]:
        proc = subprocess.run(
            [engine, "inspect", "--format", "{{json .State}}", container],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        try:
            state: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[0])
        except (json.JSONDecodeError, IndexError):
            return {"ExitCode": None, "Error": " ".join(proc.stderr.split())[:200]}
        return state

    def _save_logs(
        self, engine: str, container: str, env: dict[str, str], sweep_dir: Path, spec: JobSpec
    ) -> None:
        log = sweep_dir / ".nemotron_kit" / f"container-{spec.num}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "wb") as f:
            subprocess.run(
                [engine, "logs", container],
                stdout=f,
                stderr=subprocess.STDOUT,
                env=env,
                check=False,
            )

    def _reason(self, state: dict[str, Any], job: Any, spec: JobSpec, container: str) -> str:
        code = state.get("ExitCode")
        limit = f" (memory limit {self.memory})" if self.memory else ""
        if state.get("OOMKilled") or (code == 137 and _kernel_oom(container)):
            return f"out of memory{limit}: the kernel's OOM killer ended the job"
        error = _run_error(job, spec)
        if error:
            return error
        if code is None:
            return f"container state unknown: {state.get('Error') or 'inspect failed'}"
        if code == 137 and self.memory:
            # podman 4 on cgroup v1 never sets OOMKilled; without the kernel log, say both.
            return f"killed (SIGKILL, exit code 137), probably out of memory{limit}"
        if code == 137:
            return "killed (SIGKILL, exit code 137)"
        if code == 143:
            return "terminated (SIGTERM, exit code 143)"
        return f"exited with code {code}"

    def _stop_all(self, engine: str, sweep_dir: Path | None = None) -> None:
        """Kill (and remove) every container of this launch: the ones recorded, and by the
        sweep's label any whose start the interrupt overtook."""
        env = engine_env(engine)
        with self._lock:
            started = list(self._started)
        if sweep_dir is not None:
            found = subprocess.run(
                [
                    engine,
                    "ps",
                    "-a",
                    "-q",
                    "--no-trunc",
                    "--filter",
                    f"label={LABEL_PREFIX}sweep-dir={sweep_dir}",
                ],
                capture_output=True,
                text=True,
                env=env,
                check=False,
                timeout=60,
            ).stdout.split()
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


def _local_registry_root(job: Any) -> Path | None:
    config = getattr(job, "config", None)
    if config is None:
        return None
    try:
        root = str(config.registry.root)
    except Exception:
        return None
    from nemotron_kit.registry.storage import local_root

    return local_root(root)  # None: S3 and friends, reached over the network


def _kernel_oom(container: str) -> bool:
    """Whether the kernel log names the container's memory cgroup in an OOM kill (podman 4
    with cgroup v1 does not report it; reading the log needs root or dmesg_restrict=0)."""
    try:
        log = subprocess.run(
            ["dmesg"], capture_output=True, text=True, timeout=5, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return any(container in line and "oom" in line.lower() for line in log.splitlines())


def _run_error(job: Any, spec: JobSpec) -> str | None:
    """The error the job's run record holds (a task that raised), if any."""
    config = getattr(job, "config", None)
    if config is None or not spec.run_id:
        return None
    try:
        from nemotron_kit.registry.api import registry_from_config

        run = registry_from_config(config.registry).read_run(spec.run_id)
    except Exception:
        return None
    error = run.get("error") if isinstance(run, dict) else None
    return str(error) if error else None


def payload_path(sweep_dir: Path, spec: JobSpec) -> Path:
    return sweep_dir / ".nemotron_kit" / f"payload-{spec.num}.pkl"


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
