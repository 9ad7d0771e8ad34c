"""The container engine's command line (podman or docker): finding it, its environment, and
the questions the executor asks it about a finished container (state, logs, why it failed).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from nemotron_kit.errors import ConfigError
from nemotron_kit.execution.job import JobSpec

#: Where scripts/podman-setup.sh writes its containers.conf (used when CONTAINERS_CONF is unset).
DEFAULT_PODMAN_DIR = "/tmp/nk-podman"


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


def inspect_state(engine: str, container: str, env: dict[str, str]) -> dict[str, Any]:
    """The finished container's state (ExitCode, OOMKilled, Error)."""
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


def labelled_containers(engine: str, label: str) -> list[str]:
    """Ids of every container (running or not) with ``label`` (``key=value``)."""
    found = subprocess.run(
        [engine, "ps", "-a", "-q", "--no-trunc", "--filter", f"label={label}"],
        capture_output=True,
        text=True,
        env=engine_env(engine),
        check=False,
        timeout=60,
    )
    return found.stdout.split()


def save_logs(
    engine: str, container: str, env: dict[str, str], sweep_dir: Path, spec: JobSpec
) -> None:
    """The container's output, kept in the sweep directory after the container is removed."""
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


def failure_reason(
    state: dict[str, Any], job: Any, spec: JobSpec, container: str, memory: str | None
) -> str:
    """Why a job's container failed, in words: OOM, the task's own error, a signal, a code."""
    code = state.get("ExitCode")
    limit = f" (memory limit {memory})" if memory else ""
    if state.get("OOMKilled") or (code == 137 and _kernel_oom(container)):
        return f"out of memory{limit}: the kernel's OOM killer ended the job"
    error = _run_error(job, spec)
    if error:
        return error
    if code is None:
        return f"container state unknown: {state.get('Error') or 'inspect failed'}"
    if code == 137 and memory:
        # podman 4 on cgroup v1 never sets OOMKilled; without the kernel log, say both.
        return f"killed (SIGKILL, exit code 137), probably out of memory{limit}"
    if code == 137:
        return "killed (SIGKILL, exit code 137)"
    if code == 143:
        return "terminated (SIGTERM, exit code 143)"
    return f"exited with code {code}"


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
