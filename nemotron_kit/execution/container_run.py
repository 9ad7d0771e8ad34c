"""The ``podman run``/``docker run`` command of one job: what is mounted where, its environment,
limits and labels. Kept apart from the executor, which decides when containers start and stop.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nemotron_kit.environment import CONFIG_PATH_ENV, HOME_ENV
from nemotron_kit.errors import ConfigError
from nemotron_kit.execution.job import JobSpec

#: Host variables copied into the container as they are (non-secret settings).
PASSTHROUGH_ENV = (
    "WANDB_MODE",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_ENDPOINT_URL",
    "HYDRA_FULL_ERROR",
)
LABEL_PREFIX = "nk."
#: Where installed recipe packages are importable inside the container (on its PYTHONPATH).
PACKAGES_DIR = "/opt/nemotron-kit/recipe-packages"


@dataclass
class ContainerRun:
    """The settings of ``executor=container`` that shape each job's run command."""

    image: str | None = None
    mounts: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    workdir: str | None = None
    cpus: float | None = None
    memory: str | None = None
    shm_size: str | None = None
    gpus: Any = None
    network: str = "none"
    labels: dict[str, str] = field(default_factory=dict)
    python: str = "python3"
    extra_args: list[str] = field(default_factory=list)

    # -- the command ----------------------------------------------------------------------------
    def host_paths(self, job: Any, sweep_dir: Path, snapshot: str | None) -> dict[str, Any]:
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
        cmd += self.gpu_args(engine)
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

    def gpu_args(self, engine: str) -> list[str]:
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


def payload_path(sweep_dir: Path, spec: JobSpec) -> Path:
    return sweep_dir / ".nemotron_kit" / f"payload-{spec.num}.pkl"


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
