"""The job contract: what the launcher hands a job, and the Hydra job that carries it.

``JobSpec`` is decided once, where the user typed the command: the job's number and overrides,
its run id, the pinned input versions, the sweep it belongs to, the code snapshot it runs from
and the executor's settings for it. It travels with the job however the job travels (pickled
by submitit or our pool, in a torchrun or container payload, or as JSON for a pipeline step),
and the job reads it once into its ``JobContext``. Nothing else crosses: no module globals,
no environment variables for control.

``HydraJob`` is the launcher's unit of work, pickled with Hydra's context and global state like
Hydra's own launchers do; calling it where the job runs composes the job's config there and runs
it through Hydra's ``run_job`` with the spec bound to the task function (``BoundTask``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class JobSpec:
    """One job: decided at submission, unchanged across requeues."""

    num: int
    overrides: tuple[str, ...]
    # art:// reference -> pinned URI, decided when the sweep was submitted.
    pins: dict[str, str] = field(default_factory=dict)
    # The lineage run id the job records under (chosen at submission, kept across requeues).
    run_id: str | None = None
    # The sweep the job belongs to (None: a single run).
    sweep_id: str | None = None
    # The code snapshot the job runs from (a directory put first on sys.path), if any.
    snapshot: str | None = None
    # Settings of the executor for the job itself, e.g. {"dist_backend": "gloo"} (torchrun).
    options: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return " ".join(self.overrides) or "(no overrides)"

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> JobSpec:
        data = json.loads(text)
        data["overrides"] = tuple(data["overrides"])
        return cls(**data)


class JobFailed(Exception):
    """The job's task raised; raised again on the worker so its process (and Slurm job) fails.
    ``ret`` is Hydra's JobReturn of the job."""

    def __init__(self, message: str, ret: Any = None) -> None:
        super().__init__(message)
        self.ret = ret


@dataclass
class BoundTask:
    """Hydra's task function with the job's spec bound: nemotron-kit's task (which declares
    ``takes_job_spec``) gets it; any other Hydra task is called as Hydra would call it."""

    task_function: Any
    spec: JobSpec

    def __call__(self, cfg: Any) -> Any:
        if getattr(self.task_function, "takes_job_spec", False):
            return self.task_function(cfg, spec=self.spec)
        return self.task_function(cfg)


@dataclass
class HydraJob:
    hydra_context: Any
    task_function: Any
    config: Any
    singleton_state: dict[Any, Any] | None
    sweep_dir: str
    # The first job composed in full (its overrides and config), kept by a worker and
    # shipped with a submitted job so that it composes no more: see ``compose``.
    _template: tuple[tuple[str, ...], Any] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def __call__(self, spec: JobSpec) -> Any:
        from hydra.core.singleton import Singleton
        from hydra.core.utils import JobStatus, run_job, setup_globals
        from omegaconf import open_dict

        if self.singleton_state is not None:  # None: a forked worker already has our state
            Singleton.set_state(self.singleton_state)
        setup_globals()
        sweep_config = self.compose(spec.overrides)
        with open_dict(sweep_config.hydra.job):
            sweep_config.hydra.job.id = os.environ.get("SLURM_JOB_ID") or f"job{spec.num}"
            sweep_config.hydra.job.num = spec.num
        ret = run_job(
            hydra_context=self.hydra_context,
            task_function=BoundTask(self.task_function, spec),
            config=sweep_config,
            job_dir_key="hydra.sweep.dir",
            job_subdir_key="hydra.sweep.subdir",
        )
        save_result(ret, result_path(self.sweep_dir, spec.num))
        if ret.status == JobStatus.FAILED:
            raise JobFailed(describe(ret._return_value), ret)
        return ret

    def compose(self, overrides: tuple[str, ...]) -> Any:
        """The job's config, as Hydra's ``load_sweep_config`` composes it.

        A worker composes its first job in full and keeps it as a template; a later job whose
        overrides differ from the template's only in plain values (not config groups, Hydra
        settings, dicts or lists) is the template with those values set, which is what Hydra's
        composition would give, without reading and merging every YAML file again (half a
        trivial job's cost). Anything else is composed in full.
        """
        import copy

        from omegaconf import OmegaConf

        loader = self.hydra_context.config_loader
        if self._template is not None:
            cfg = _from_template(self._template, overrides, self.config)
            if cfg is not None:
                return cfg
        cfg = loader.load_sweep_config(self.config, list(overrides))
        self._template = (overrides, copy.deepcopy(cfg))
        OmegaConf.copy_cache(from_config=self.config, to_config=self._template[1])
        return cfg


def _from_template(
    template: tuple[tuple[str, ...], Any], overrides: tuple[str, ...], master: Any
) -> Any:
    """``template``'s config with the values of ``overrides`` set, or None when the two
    differ in anything but plain values of the job's own keys."""
    import copy

    from hydra._internal.config_loader_impl import get_overrides_dirname
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf, open_dict, read_write

    old_overrides, old_cfg = template
    if len(old_overrides) != len(overrides):
        return None
    parser = OverridesParser.create()
    try:
        old = parser.parse_overrides(list(old_overrides))
        new = parser.parse_overrides(list(overrides))
    except Exception:
        return None
    groups = old_cfg.hydra.runtime.choices
    changed = []
    for before, after in zip(old, new, strict=True):
        if before.input_line == after.input_line:
            continue
        key = after.key_or_group
        if (
            key != before.key_or_group
            or after.type != before.type
            or after.package is not None
            or after.is_delete()
            or after.is_hydra_override()
            or key in groups
            or "/" in key
        ):
            return None
        if any(isinstance(o.value(), (dict, list)) for o in (before, after)):
            return None
        changed.append(after)
    cfg = copy.deepcopy(old_cfg)
    try:
        for o in changed:  # as Hydra applies a value override
            force = o.is_add() or o.is_force_add()
            OmegaConf.update(cfg, o.key_or_group, o.value(), merge=True, force_add=force)
        app = [o for o in new if not o.is_hydra_override()]
        job = cfg.hydra.job
        with read_write(cfg.hydra), open_dict(cfg.hydra):
            cfg.hydra.overrides.task = [o.input_line for o in app]
            job.override_dirname = get_overrides_dirname(
                overrides=app,
                kv_sep=job.config.override_dirname.kv_sep,
                item_sep=job.config.override_dirname.item_sep,
                exclude_keys=list(job.config.override_dirname.exclude_keys),
            )
    except Exception:  # a value the config refuses: composing in full says why
        return None
    OmegaConf.copy_cache(from_config=master, to_config=cfg)
    return cfg


def describe(exc: Any) -> str:
    if isinstance(exc, BaseException):
        return f"{type(exc).__name__}: {exc}"
    return str(exc)


def result_path(sweep_dir: str | Path, num: int) -> Path:
    """Where job ``num`` of a sweep leaves its result (a shared filesystem on clusters)."""
    return Path(sweep_dir) / ".nemotron_kit" / f"job-{num}.pkl"


def slim_result(ret: Any, *, redacted: bool) -> dict[str, Any]:
    """What the launcher needs of a JobReturn: status, error, return value, and the job's
    configs (Hydra's sweepers read ``cfg`` and ``hydra_cfg``). ``redacted`` for what is
    written to a file: the configs then lose secret values (and are plain containers, which
    ``load_result`` turns back into configs)."""
    from omegaconf import OmegaConf

    from nemotron_kit.tracking._secrets import redact, redact_text

    failed = ret.status.name == "FAILED"
    error = describe(ret._return_value) if failed else None

    def config(node: Any) -> Any:
        if node is None or not redacted:
            return node
        # enum_to_str: a plugin's enum (loaded by Hydra's plugin scanner) does not pickle.
        return redact(OmegaConf.to_container(node, resolve=False, enum_to_str=True))

    return {
        "status": ret.status.name,
        "error": redact_text(error) if (error and redacted) else error,
        "overrides": redact(list(ret.overrides or [])) if redacted else list(ret.overrides or []),
        "working_dir": ret.working_dir,
        "return_value": None if failed else _picklable(ret._return_value),
        "cfg": config(ret.cfg),
        "hydra_cfg": config(ret.hydra_cfg),
    }


def save_result(ret: Any, path: Path) -> None:
    """Keep a slim JobReturn where the launcher can read it, whatever happens to the process."""
    slim = slim_result(ret, redacted=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    # Private to the user, and removed by the launcher once it has read it.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pickle.dumps(slim))
    os.replace(tmp, path)


def _picklable(value: Any) -> Any:
    try:
        pickle.dumps(value)
    except Exception:
        return repr(value)
    return value


def load_result(path: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = pickle.loads(path.read_bytes())
    except (FileNotFoundError, EOFError, pickle.UnpicklingError):
        return None
    from omegaconf import OmegaConf

    for key in ("cfg", "hydra_cfg"):
        if isinstance(data.get(key), dict):
            data[key] = OmegaConf.create(data[key])
    return data


def for_rank(job: Any, spec: JobSpec, rank: int) -> tuple[Any, JobSpec]:
    """The job as rank ``rank`` runs it: ranks other than 0 run the same job without writing
    Hydra's files, and leave their result (their verdict) in a directory of their own, where
    rank 0 reads it before it ends the run (``peer_results``) and the launcher after."""
    import dataclasses

    world = os.environ.get("WORLD_SIZE") or "1"
    spec = dataclasses.replace(spec, options={**spec.options, "world_size": world})
    if rank == 0:
        return job, spec
    spec = dataclasses.replace(spec, overrides=(*spec.overrides, "hydra.output_subdir=null"))
    job = dataclasses.replace(job, sweep_dir=str(rank_dir(job.sweep_dir, rank, spec)))
    return job, spec


def rank_dir(sweep_dir: str | Path, rank: int, spec: JobSpec, attempt: str | None = None) -> Path:
    """Rank ``rank``'s directory in this run and attempt of job ``spec`` (a restarted
    torchrun, a requeued Slurm job or a sweep directory used again never reads an old
    verdict as a new one)."""
    if attempt is None:
        attempt = (
            os.environ.get("TORCHELASTIC_RESTART_COUNT")
            or os.environ.get("SLURM_RESTART_COUNT")
            or "0"
        )
    return Path(sweep_dir) / ".nemotron_kit" / f"rank{rank}-{_run_part(spec)}-attempt{attempt}"


def _run_part(spec: JobSpec) -> str:
    return spec.run_id or f"job{spec.num}"


def peer_results(sweep_dir: str | Path, spec: JobSpec) -> list[tuple[int, Path]]:
    """Where the other ranks of rank 0's distributed job leave their results (none for a
    job of one process)."""
    world = int(spec.options.get("world_size", "1") or 1)
    return [(r, result_path(rank_dir(sweep_dir, r, spec), spec.num)) for r in range(1, world)]


_RANK_DIR = re.compile(r"^rank(\d+)-.*-attempt(\d+)$")


def failed_rank(sweep_dir: str | Path, spec: JobSpec) -> tuple[int, str] | None:
    """The first rank (other than 0) of job ``spec`` whose last attempt left a failed
    result, and its error; the ranks' result files are removed (the launcher has read them)."""
    pattern = f"rank*-{_run_part(spec)}-attempt*/.nemotron_kit/job-{spec.num}.pkl"
    paths = list((Path(sweep_dir) / ".nemotron_kit").glob(pattern))
    latest: dict[int, tuple[int, Path]] = {}
    for path in paths:
        match = _RANK_DIR.match(path.parent.parent.name)
        if match is None:
            continue
        rank, attempt = int(match.group(1)), int(match.group(2))
        if rank not in latest or attempt > latest[rank][0]:
            latest[rank] = (attempt, path)
    failure = None
    for rank in sorted(latest):
        result = load_result(latest[rank][1])
        if failure is None and result is not None and result.get("status") == "FAILED":
            failure = (rank, str(result.get("error")))
    for path in paths:
        path.unlink(missing_ok=True)
    return failure
