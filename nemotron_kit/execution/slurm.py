"""Slurm through submitit: one job, or a sweep as one job array.

Fixes what Hydra's submitit launcher gets wrong: a task that raises fails its Slurm job (not
COMPLETED); a job that vanishes (scancel, out of memory, time limit, node failure) becomes a
FAILED result with Slurm's reason while the other jobs' results are kept; jobs run against an
immutable code snapshot; secrets travel in a private file, not through sbatch's environment.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from nemotron_kit.errors import ConfigError
from nemotron_kit.execution.base import DoneHandle, Executor, JobHandle, JobOutcome, JobStatus
from nemotron_kit.execution.job import JobSpec, failed_rank, for_rank
from nemotron_kit.execution.local import outcome_from_result


def _home() -> Path:
    from nemotron_kit.paths import home

    return home()


def _secret_env() -> dict[str, str]:
    from nemotron_kit.tracking._secrets import secret_env

    return secret_env()


@contextlib.contextmanager
def _without(names: list[str]) -> Iterator[None]:
    """Hide variables from child processes (sbatch copies the environment into Slurm)."""
    saved = {k: os.environ.pop(k) for k in names if k in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def max_array_size() -> int:
    """The cluster's MaxArraySize (``scontrol show config``; Slurm's default is 1001): a job
    array's indices must stay below it."""
    try:
        out = subprocess.run(
            ["scontrol", "show", "config"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        out = ""
    for line in out.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "MaxArraySize" and value.strip().isdigit():
            return max(1, int(value.strip()))
    return 1001


def write_secret_file(directory: Path, secrets: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(directory, 0o700)
    path = directory / f"{uuid.uuid4().hex}.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(secrets, f)
    return path


class SlurmEntry:
    """What a Slurm task runs: load secrets, put the snapshot first on sys.path, run the job.

    submitit calls ``checkpoint`` when the job is preempted or hits its time limit; returning
    the same call requeues it, and the job resumes from its own checkpoints.
    """

    def __init__(
        self, job: Callable[[JobSpec], Any], spec: JobSpec, secret_file: str | None
    ) -> None:
        self.job, self.spec, self.secret_file = job, spec, secret_file

    def __call__(self) -> Any:
        if self.secret_file:
            with open(self.secret_file) as f:
                os.environ.update(json.load(f))
        if self.spec.snapshot:
            sys.path.insert(0, self.spec.snapshot)  # before the live checkout (cwd)
        job, spec = self.job, self.spec
        if int(os.environ.get("SLURM_NTASKS", "1")) > 1:
            # Several tasks: torchrun-style ranks (RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR).
            import submitit

            submitit.helpers.TorchDistributedEnvironment().export()
            job, spec = for_rank(job, spec, int(os.environ["RANK"]))
        return job(spec)  # spec.run_id: a requeued attempt continues the same run

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        import submitit

        return submitit.helpers.DelayedSubmission(self)


class _SlurmHandle(JobHandle):
    """A submitit job of ours: its outcome is the job's own result file, or Slurm's account."""

    def __init__(
        self,
        executor: SlurmExecutor,
        spec: JobSpec,
        job: Any,
        sweep_dir: Path,
        secret_file: Path | None,
    ) -> None:
        self.executor, self.spec, self.job, self.sweep_dir = executor, spec, job, sweep_dir
        self.secret_file = secret_file
        self._result: JobOutcome | None = None
        self.cancelled = False

    @property
    def job_id(self) -> str | None:
        return str(self.job.job_id)

    def done(self) -> bool:
        return bool(self.job.done())

    def outcome(self) -> JobOutcome:
        if self._result is None:
            self._result = self.executor._outcome(self.spec, self.job, self.sweep_dir)
        return self._result

    def cancel(self) -> None:
        self.cancelled = True  # scancel'ed: it never runs (or requeues) again
        with contextlib.suppress(Exception):
            self.job.cancel(check=False)


class SlurmExecutor(Executor):
    """Submit jobs with sbatch through submitit and wait for them (or detach)."""

    name = "slurm"
    parallelism = "array_parallelism"

    def __init__(
        self,
        partition: str | None = None,
        account: str | None = None,
        qos: str | None = None,
        nodes: int = 1,
        tasks_per_node: int = 1,
        gpus_per_node: int = 0,
        cpus_per_task: int = 1,
        mem_gb: float | None = None,
        time_min: int = 60,
        constraint: str | None = None,
        exclusive: bool = False,
        additional_parameters: dict[str, Any] | None = None,
        setup: list[str] | None = None,
        env: dict[str, str] | None = None,
        max_requeue: int = 3,
        array_parallelism: int = 256,
        detach: bool = False,
        container: dict[str, Any] | None = None,
        snapshot: bool = True,
        snapshot_untracked: bool = False,
        dry_run: bool = False,
        poll_interval_s: float = 1.0,
    ) -> None:
        self.partition, self.account, self.qos = partition, account, qos
        self.nodes, self.tasks_per_node, self.gpus_per_node = nodes, tasks_per_node, gpus_per_node
        self.cpus_per_task, self.mem_gb, self.time_min = cpus_per_task, mem_gb, time_min
        self.constraint, self.exclusive = constraint, exclusive
        self.additional_parameters = dict(additional_parameters or {})
        self.setup = list(setup or [])
        self.env = {str(k): str(v) for k, v in (env or {}).items()}
        self.max_requeue, self.array_parallelism, self.detach = (
            max_requeue,
            array_parallelism,
            detach,
        )
        self.container = dict(container or {})  # image, mounts, squash, squash_dir
        self.snapshot, self.snapshot_untracked, self.dry_run = snapshot, snapshot_untracked, dry_run
        self.poll_interval_s = poll_interval_s

    # -- parameters ---------------------------------------------------------------------------
    def parameters(self, name: str) -> dict[str, Any]:
        """submitit parameters (each maps to an sbatch option)."""
        extra = dict(self.additional_parameters)
        setup = list(self.setup)
        image = self.container.get("image")
        if image:
            # pyxis: run the job's tasks inside the image, with the requested mounts.
            extra["container_image"] = str(image)
            if self.container.get("squash", True):
                # Import once per image into a shared .sqsh, on the compute node, before srun.
                from nemotron_kit.execution.squash import squash_path

                directory = self.container.get("squash_dir") or str(_home() / "squash")
                extra["container_image"] = str(squash_path(str(image), directory))
                setup.append(
                    f"{shlex.quote(sys.executable)} -m nemotron_kit.execution.squash "
                    f"{shlex.quote(str(image))} {shlex.quote(directory)} >/dev/null || exit 1"
                )
            if self.container.get("mounts"):
                extra["container_mounts"] = ",".join(self.container["mounts"])
        if self.env:
            extra.setdefault("export", "ALL," + ",".join(f"{k}={v}" for k, v in self.env.items()))
        params: dict[str, Any] = {
            "name": name,
            "timeout_min": int(self.time_min),
            "nodes": int(self.nodes),
            "tasks_per_node": int(self.tasks_per_node),
            "cpus_per_task": int(self.cpus_per_task),
            "slurm_array_parallelism": int(self.array_parallelism),
            "slurm_additional_parameters": extra,
            "slurm_setup": setup,
        }
        if self.gpus_per_node:
            params["gpus_per_node"] = int(self.gpus_per_node)
        if self.mem_gb is not None:
            params["mem_gb"] = self.mem_gb
        for key in ("partition", "account", "qos", "constraint"):
            value = getattr(self, key)
            if value:
                params[f"slurm_{key}"] = value
        if self.exclusive:
            params["slurm_exclusive"] = True
        if int(self.nodes) * int(self.tasks_per_node) > 1:
            # A task that dies stops the others, as torchrun does: rank 0 would otherwise wait
            # for a verdict the dead one never leaves (Slurm's default is to let them run).
            params["slurm_srun_args"] = ["--kill-on-bad-exit=1"]
        return params

    def describe(self, specs: list[JobSpec], sweep_dir: Path) -> dict[str, Any]:
        from nemotron_kit.execution.snapshot import repo_root, snapshot_files
        from nemotron_kit.registry import hashing

        plan: dict[str, Any] = {
            "executor": self.name,
            "array": len(specs) > 1,
            "jobs": [list(s.overrides) for s in specs],
            "submitit_parameters": self.parameters("nemotron_kit"),
            "max_requeue": self.max_requeue,
            "detach": self.detach,
        }
        repo = repo_root() if self.snapshot else None
        if repo is not None:
            files = snapshot_files(repo, self.snapshot_untracked)
            plan["snapshot"] = {
                "repo": str(repo),
                "files": len(files),
                "digest": hashing.hash_files(files, cache=None).digest,
            }
        plan["secrets_passed_by_file"] = sorted(_secret_env())
        return plan

    # -- run ------------------------------------------------------------------------------------
    def submit(
        self, job: Callable[[JobSpec], Any], specs: list[JobSpec], sweep_dir: Path
    ) -> list[JobHandle]:
        if shutil.which("sbatch") is None:
            raise ConfigError(
                "executor=slurm needs Slurm's sbatch on PATH, which is missing here: run on a "
                "Slurm login node, or try scripts/local-slurm.sh for a single-node cluster."
            )
        import submitit

        from nemotron_kit.paths import home

        sweep_dir = sweep_dir.absolute()
        secrets = _secret_env()
        secret_file = write_secret_file(home() / "secrets", secrets) if secrets else None
        executor = submitit.AutoExecutor(
            folder=str(sweep_dir / ".submitit" / "%j"),
            cluster="slurm",
            slurm_max_num_timeout=int(self.max_requeue),
        )
        executor.update_parameters(**self.parameters(name="nemotron_kit"))
        entries = [
            SlurmEntry(job, spec, str(secret_file) if secret_file else None) for spec in specs
        ]
        jobs: list[Any] = []
        try:
            with _without(list(secrets)):
                if len(entries) == 1:
                    jobs = [executor.submit(entries[0])]
                else:
                    # A sweep is one job array, or several when it is larger than the
                    # cluster's MaxArraySize (sbatch refuses indices at or above it).
                    size = max_array_size()
                    for start in range(0, len(entries), size):
                        with executor.batch():
                            batch = [executor.submit(e) for e in entries[start : start + size]]
                        jobs += batch
        except BaseException as exc:  # refused, or interrupted: no job of this sweep stays
            for j in jobs:
                with contextlib.suppress(Exception):
                    j.cancel(check=False)
            if secret_file is not None:
                secret_file.unlink(missing_ok=True)
            if not isinstance(exc, submitit.core.utils.FailedJobError):
                raise
            said = " ".join(str(exc).split())[:300]
            raise ConfigError(
                f"Slurm refused the submission ({said}): check `sinfo`, and the executor's "
                "partition, account and resource settings."
            ) from None
        ids = [j.job_id for j in jobs]
        print(
            f"submitted Slurm job{'s' if len(ids) > 1 else ''} {', '.join(ids)}",
            file=sys.stderr,
            flush=True,
        )
        if self.detach:  # the secret file stays for the jobs (and their requeues)
            return [
                DoneHandle(
                    JobOutcome(
                        spec,
                        JobStatus.SUBMITTED,
                        None,
                        j.job_id,
                        None,
                        {"slurm_job_id": j.job_id, "detached": True},
                    )
                )
                for spec, j in zip(specs, jobs, strict=True)
            ]
        return [
            _SlurmHandle(self, spec, j, sweep_dir, secret_file)
            for spec, j in zip(specs, jobs, strict=True)
        ]

    def collect(self, handles: list[JobHandle]) -> list[JobOutcome]:
        slurm = [h for h in handles if isinstance(h, _SlurmHandle)]
        if len(slurm) == 1:
            self._stream(slurm[0].job)
        else:
            self._wait([h.job for h in slurm])
        return [h.outcome() for h in handles]

    def close(self, handles: list[JobHandle]) -> None:
        """The secret file goes once no job of it can run again (an attached run): each is
        done, or was cancelled (Ctrl-C, a refused sweep)."""
        slurm = [h for h in handles if isinstance(h, _SlurmHandle)]
        files = {h.secret_file for h in slurm if h.secret_file is not None}
        if files and all(h.cancelled or h.job.done() for h in slurm):
            for path in files:
                path.unlink(missing_ok=True)

    def _wait(self, jobs: list[Any]) -> None:
        """Until every job is done. submitit's own wait sleeps a whole second between looks;
        short jobs end sooner, so look every 0.1 s for a minute (a stat per job), then every
        poll_interval_s."""
        start = time.monotonic()
        pending = list(jobs)
        while pending:
            pending = [j for j in pending if not j.done()]
            if pending:
                time.sleep(self._poll_delay(start))

    def _poll_delay(self, start: float) -> float:
        return 0.1 if time.monotonic() - start < 60 else max(0.1, self.poll_interval_s)

    def _stream(self, job: Any) -> None:
        """Attached single job: echo its output as it is written, until it ends."""
        offset = 0
        start = time.monotonic()
        while True:
            done = job.done()
            try:
                with open(job.paths.stdout, "rb") as f:
                    f.seek(offset)
                    chunk = f.read()
                    offset += len(chunk)
                    if chunk:
                        sys.stdout.write(chunk.decode(errors="replace"))
                        sys.stdout.flush()
            except FileNotFoundError:
                pass
            if done:
                return
            time.sleep(self._poll_delay(start))

    def _outcome(self, spec: JobSpec, job: Any, sweep_dir: Path) -> JobOutcome:
        from submitit.core.utils import FailedJobError, UncompletedJobError

        peer = failed_rank(sweep_dir, spec)  # another task's own error, if one failed
        if _on_local_filesystem(Path(job.paths.folder)):
            # submitit waits 15 s for a missing result pickle, for a network filesystem to
            # show it; on a local one a job that died without one (killed, out of memory)
            # never writes it, and that wait would only delay its failure.
            job._results_timeout_s = 0
        try:
            ret = job.results()[0]  # task 0 (rank 0) holds the job's result
        except FailedJobError:
            reason = _slurm_reason(job)
            outcome = outcome_from_result(spec, sweep_dir, reason, job.job_id)
            # Rank 0 left no result, or ended before another task failed: that task says why.
            if peer is not None and outcome.reason in (reason, None):
                outcome.status, outcome.reason = (
                    JobStatus.FAILED,
                    f"rank {peer[0]} failed: {peer[1]}",
                )
            elif outcome.status == JobStatus.COMPLETED:
                outcome.status, outcome.reason = JobStatus.FAILED, reason
            return outcome
        except UncompletedJobError:
            outcome = outcome_from_result(spec, sweep_dir, _slurm_reason(job), job.job_id)
            if outcome.status == JobStatus.COMPLETED:  # finished, then lost: trust Slurm
                outcome.status, outcome.reason = JobStatus.FAILED, _slurm_reason(job)
            return outcome
        outcome = outcome_from_result(spec, sweep_dir, "finished without a result", job.job_id)
        if outcome.status == JobStatus.COMPLETED and outcome.return_value is None:
            outcome.return_value = getattr(ret, "_return_value", None)
        return outcome


#: Filesystems that show a file to every reader as soon as it is written (one machine's).
_LOCAL_FILESYSTEMS = frozenset({"ext2", "ext3", "ext4", "xfs", "btrfs", "tmpfs", "overlay", "zfs"})


def _on_local_filesystem(path: Path) -> bool:
    """Whether ``path`` is on one of ``_LOCAL_FILESYSTEMS``; False when it cannot tell."""
    try:
        mountinfo = Path("/proc/self/mountinfo").read_text()
    except OSError:
        return False
    return filesystem_type(os.path.realpath(path), mountinfo) in _LOCAL_FILESYSTEMS


def filesystem_type(path: str, mountinfo: str) -> str:
    """The type of the filesystem ``path`` (absolute, resolved) is on: that of the mount with
    the longest mount point holding it, in ``mountinfo`` (/proc/self/mountinfo's format)."""
    best, kind = "", ""
    for line in mountinfo.splitlines():
        fields = line.split()
        if " - " not in line or len(fields) < 5:
            continue
        # The mount point is the fifth field, with octal escapes (\040 for a space).
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), fields[4])
        inside = path == point or path.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, line.split(" - ", 1)[1].split()[0]
    return kind


def _slurm_reason(job: Any) -> str:
    """Slurm's account of a job that ended without a result: state and exit code."""
    try:
        out = (
            subprocess.run(
                [
                    "sacct",
                    "-j",
                    str(job.job_id),
                    "-X",
                    "-n",
                    "-P",
                    "-o",
                    "State,ExitCode,Elapsed",
                ],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            .stdout.strip()
            .splitlines()
        )
    except (OSError, subprocess.TimeoutExpired):
        out = []
    if out:
        state, exit_code, elapsed = [*out[-1].split("|"), "", "", ""][:3]
        return f"Slurm job {job.job_id} ended {state} (exit code {exit_code}, after {elapsed})"
    return f"Slurm job {job.job_id} ended {job.state} without a result"
