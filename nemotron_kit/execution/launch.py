"""A sweep's launch: pin inputs, pick the executor, run every job, report every job."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from nemotron_kit.errors import NemotronKitError, NotFoundError
from nemotron_kit.execution.base import Executor, JobOutcome, JobStatus
from nemotron_kit.execution.job import HydraJob, JobSpec, result_path


class SweepJobFailed(NemotronKitError):
    """A job of the sweep failed; the summary table lists every job."""

    exit_code = 1


def build_executor(executor_cfg: Any, *, max_parallel: int | None = None) -> Executor:
    """The executor a composed ``executor`` node describes (through its ``_target_``).

    ``name`` is the option's name, not a setting of the class; ``max_parallel`` (the
    launcher's) sets the option that bounds the executor's concurrent jobs, if it has one.
    """
    from nemotron_kit.config import instantiate
    from nemotron_kit.errors import ConfigError

    node = (
        OmegaConf.to_container(executor_cfg, resolve=True)
        if OmegaConf.is_config(executor_cfg)
        else dict(executor_cfg)
    )
    assert isinstance(node, dict)
    if "_target_" not in node:
        raise ConfigError(
            f"Executor '{node.get('name', '?')}' has no _target_: extend a packaged executor "
            "(defaults: [slurm]) or name its class."
        )
    name = node.pop("name", None)
    executor = instantiate(node, _convert_="all")
    assert isinstance(executor, Executor)
    if name:
        executor.name = str(name)
    if max_parallel is not None and executor.parallelism is not None:
        setattr(executor, executor.parallelism, max(1, int(max_parallel)))
    return executor


def checked_job_config(job: HydraJob, overrides: Sequence[str]) -> DictConfig:
    """The job's composed config (without Hydra's node), checked: a bad value or a missing
    package is refused here, where the user typed the command, before anything is submitted."""
    from nemotron_kit.config import check_job_config

    job_cfg: DictConfig = job.compose(tuple(overrides))
    with open_dict(job_cfg):
        job_cfg.pop("hydra", None)
    check_job_config(job_cfg)
    return job_cfg


def pin_job(job_cfg: DictConfig) -> dict[str, str]:
    """Pin the job's artifact references at submission: every job of a sweep, and every rank
    of a job, reads the versions that were current when the user launched it. A ``@recipe``'s
    inputs are type-checked here too, so a wrong one fails before anything is submitted."""
    from nemotron_kit.errors import NotFoundError
    from nemotron_kit.recipes.api import recipe_of_config
    from nemotron_kit.registry.resolver import pin_config, registry_for

    pins: dict[str, str] = {}
    try:
        pin_config(job_cfg, pins=pins)
    except NotFoundError as exc:  # say which recipe makes a missing input
        from nemotron_kit.app import with_producer_hint

        raise with_producer_hint(exc) from None
    recipe = recipe_of_config(job_cfg)
    if recipe is not None:
        recipe.check_config(job_cfg)
        recipe.check_inputs(job_cfg, registry_for(job_cfg))
    return pins


def is_user_sweep(config: DictConfig) -> bool:
    """True for ``-m`` (an explicit ``hydra.mode=MULTIRUN``); False for a single run that goes
    through the launcher because it runs on another executor."""
    node = OmegaConf.select(config, "hydra.overrides.hydra")
    overrides = OmegaConf.to_container(node, resolve=False) if node is not None else []
    assert isinstance(overrides, list)
    return any(str(o).replace(" ", "") == "hydra.mode=MULTIRUN" for o in overrides)


def launch_sweep(
    *,
    hydra_context: Any,
    task_function: Any,
    config: DictConfig,
    job_overrides: Sequence[Sequence[str]],
    initial_job_idx: int,
    sweep_id: str | None,
    max_parallel: int | None = None,
    dry_run: bool = False,
) -> list[Any]:
    """Run one batch of a sweep (or a single remote run) and give every job its JobReturn.

    Every job's config is checked, then pinned, before anything is submitted; the JobSpecs
    (run id, pins, sweep id) are decided here, where the user typed the command. Any Hydra app
    can use this launcher: without nemotron-kit's ``executor`` and ``registry`` in its config,
    jobs run in a local pool and nothing is recorded.
    """
    from hydra.core.singleton import Singleton
    from hydra.core.utils import JobReturn, setup_globals
    from hydra.core.utils import JobStatus as HydraStatus

    from nemotron_kit.execution.job import BoundTask
    from nemotron_kit.execution.local import LocalExecutor
    from nemotron_kit.tracking.run import new_run_id

    setup_globals()
    executor_cfg = config.get("executor")
    executor = (
        build_executor(executor_cfg, max_parallel=max_parallel)
        if executor_cfg
        else LocalExecutor(max_parallel=max_parallel)
    )
    sweep_dir = Path(str(config.hydra.sweep.dir))
    # A caller that bound a spec to the task (reproduce, a pipeline step) chose the run id.
    requested = task_function.spec if isinstance(task_function, BoundTask) else None
    inner_task = task_function.task_function if requested is not None else task_function
    nemotron = config.get("registry") is not None

    # Every job is checked before any is pinned (pinning reads the registry) or submitted;
    # a forked worker inherits the composed template (HydraJob.compose) and composes no more.
    job = HydraJob(hydra_context, inner_task, config, None, str(sweep_dir))
    job_cfgs = [checked_job_config(job, o) for o in job_overrides]
    specs = []
    for offset, (overrides, job_cfg) in enumerate(zip(job_overrides, job_cfgs, strict=True)):
        run_id = requested.run_id if requested and len(job_overrides) == 1 else None
        specs.append(
            JobSpec(
                initial_job_idx + offset,
                tuple(overrides),
                pins=pin_job(job_cfg) if nemotron else {},
                run_id=run_id or new_run_id(),
                sweep_id=sweep_id,
            )
        )
    if dry_run or (executor_cfg is not None and bool(executor_cfg.get("dry_run", False))):
        plan = executor.describe(specs, sweep_dir)
        plan.setdefault("jobs", [list(s.overrides) for s in specs])
        plan["pinned_inputs"] = {str(s.num): s.pins for s in specs}
        print(json.dumps(plan, indent=2, default=str))
        return []
    sweep_dir.mkdir(parents=True, exist_ok=True)
    snapshot = requested.snapshot if requested is not None else None  # reproduce: the recorded
    snapshot = snapshot or snapshot_code(executor)
    if snapshot is not None:
        specs = [dataclasses.replace(s, snapshot=snapshot) for s in specs]
    if not executor.forks:  # a deep copy of Hydra's state; forked workers have it already
        job.singleton_state = Singleton.get_state()
    outcomes = executor.run(job, specs, sweep_dir)
    for spec in specs:  # read by now: the job pickles go (they may name secret overrides)
        result_path(sweep_dir, spec.num).unlink(missing_ok=True)
    registry = _registry(config) if nemotron else None
    if registry is not None:
        close_vanished_runs(registry, outcomes)
    outputs = [job_outputs(registry, o) for o in outcomes]
    single = len(outcomes) == 1 and sweep_id is None
    if single:
        print_single(executor, outcomes[0], outputs[0])
    else:
        print_summary(executor, outcomes, outputs)
    if registry is not None and sweep_id is not None:
        summarize_sweep(registry, config, sweep_id)
    returns = []
    for outcome in outcomes:
        succeeded = outcome.status in (JobStatus.COMPLETED, JobStatus.SUBMITTED)
        ret = JobReturn(
            overrides=list(outcome.spec.overrides),
            cfg=outcome.cfg,
            hydra_cfg=outcome.hydra_cfg,
            working_dir=outcome.working_dir,
            task_name=str(config.hydra.job.name),
            status=HydraStatus.COMPLETED if succeeded else HydraStatus.FAILED,
        )
        if succeeded:
            ret.return_value = outcome.return_value
        elif single:
            where = f" {outcome.job_id}" if outcome.job_id else ""
            ret.return_value = SweepJobFailed(
                f"The {executor.name} job{where} failed: {outcome.reason}."
            )
        else:
            ret.return_value = SweepJobFailed(
                f"Job {outcome.spec.num} ({outcome.spec.label}) failed: {outcome.reason}; "
                "see the sweep summary above for every job."
            )
        returns.append(ret)
    return returns


def snapshot_code(executor: Any) -> str | None:
    """The code every job of the launch runs from (and its run records): one immutable,
    content-addressed snapshot of the checkout, made once here for every executor (the executor
    option ``snapshot: false`` turns it off; outside a git repository there is none)."""
    from nemotron_kit.execution.snapshot import make_snapshot
    from nemotron_kit.paths import home

    if not getattr(executor, "snapshot", True):
        return None
    snap = make_snapshot(
        home() / "snapshots", include_untracked=bool(getattr(executor, "snapshot_untracked", False))
    )
    if snap is None:
        return None
    print(f"code snapshot {snap.digest[:16]} ({snap.files} files of {snap.repo})", file=sys.stderr)
    return str(snap.path)


def _registry(config: DictConfig) -> Any:
    from nemotron_kit.registry.api import registry_from_config

    return registry_from_config(config.registry)


def job_outputs(registry: Any, outcome: JobOutcome) -> list[str]:
    """What a finished job published: its run's outputs, else the URI its recipe returned."""
    if outcome.status != JobStatus.COMPLETED:
        return []
    found: list[str] = []
    if registry is not None and outcome.spec.run_id:
        try:
            found = registry.run_outputs(outcome.spec.run_id)
        except Exception:  # lineage problems are reported by the job itself
            found = []
    value = outcome.return_value
    if not found and isinstance(value, str) and value.startswith("art://"):
        found = [value]
    return found


def print_single(executor: Executor, outcome: JobOutcome, outputs: list[str]) -> None:
    """One run on another executor ends like a local one: the line naming what it published."""
    from nemotron_kit.app import published_line

    where = f"{executor.name} job {outcome.job_id}" if outcome.job_id else f"{executor.name} job"
    if outcome.status == JobStatus.SUBMITTED:
        line = f"submitted {where}: `nemotron-kit runs show {outcome.spec.run_id}` follows it"
    elif outcome.status == JobStatus.COMPLETED:
        line = f"{published_line(outputs or None, outcome.return_value)} ({where})"
    else:
        return  # the error sentence says it
    print(line, file=sys.stderr, flush=True)


def close_vanished_runs(registry: Any, outcomes: list[JobOutcome]) -> None:
    """A job killed before it could end its run leaves it open, or, killed before it could
    start it, leaves none: either way the executor's verdict is recorded, so every job of a
    sweep is in its lineage."""
    try:
        for o in outcomes:
            run_id = o.spec.run_id
            if o.status != JobStatus.FAILED or not run_id:
                continue
            if not registry.run_is_open(run_id):
                try:
                    registry.read_run(run_id)
                    continue  # it ended its run itself
                except NotFoundError:
                    registry.create_run(
                        run_id,
                        {
                            "format": "nemotron-kit/run/1",
                            "run_id": run_id,
                            "overrides": list(o.spec.overrides),
                            "hydra": {"job_num": o.spec.num, "sweep_id": o.spec.sweep_id},
                            "inputs": sorted(set(o.spec.pins.values())),
                        },
                    )
                    if o.spec.sweep_id:
                        registry.index_sweep_job(o.spec.sweep_id, run_id)
            registry.finish_run(
                run_id,
                {"status": "FAILED", "error": o.reason, "outputs": registry.run_outputs(run_id)},
            )
    except Exception as exc:  # the summary still tells the user; lineage is reported separately
        print(f"Error: could not record the failed jobs' status in lineage: {exc}", file=sys.stderr)


def summarize_sweep(registry: Any, config: DictConfig, sweep_id: str) -> dict[str, Any]:
    """Every job of the sweep so far (all its batches, from the registry's index): stored as
    the sweep's summary, and ``sweep.alias`` moved to the best of them all."""
    jobs = []
    for run_id in registry.sweep_jobs(sweep_id):
        record = registry.read_run(run_id)
        jobs.append(
            {
                "run_id": run_id,
                "job_num": (record.get("hydra") or {}).get("job_num"),
                "overrides": record.get("overrides", []),
                "status": record.get("status"),
                "error": record.get("error"),
                "outputs": record.get("outputs", []),
            }
        )
    jobs.sort(key=lambda j: (j["job_num"] is None, j["job_num"] or 0))
    summary = {"sweep_id": sweep_id, "sweep_dir": str(config.hydra.sweep.dir), "jobs": jobs}
    registry.write_sweep_summary(sweep_id, summary)
    outputs = sum(len(j["outputs"]) for j in jobs)
    print(
        f"lineage: {_count(len(jobs), 'run')} of {sweep_id} recorded, "
        f"{_count(outputs, 'version')} published (nemotron-kit runs ls)",
        file=sys.stderr,
        flush=True,
    )
    move_best_alias(
        registry, config, [u for j in jobs if j["status"] == "COMPLETED" for u in j["outputs"]]
    )
    return summary


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def move_best_alias(registry: Any, config: DictConfig, candidates: list[str]) -> None:
    """``sweep.alias=best sweep.metric=final_loss``: point the alias at the best version the
    sweep published so far (over all its batches, whatever the sweeper)."""
    sweep = config.get("sweep") or {}
    alias, metric = sweep.get("alias"), sweep.get("metric")
    if not alias or not metric:
        return
    scored = []
    for uri in candidates:
        value = registry.resolve(uri).metrics.get(str(metric))
        if value is not None:
            scored.append((value, uri))
    if not scored:
        print(
            f"sweep: no published version has metric '{metric}': alias '{alias}' not moved",
            file=sys.stderr,
        )
        return
    pick = min if str(sweep.get("mode", "min")) == "min" else max
    value, uri = pick(scored)
    registry.alias(uri, str(alias))
    print(f"sweep: {alias} -> {uri} ({metric}={value:g}, best of {len(scored)})", file=sys.stderr)


def print_summary(executor: Executor, outcomes: list[JobOutcome], outputs: list[list[str]]) -> None:
    """The sweep's table: every job with its status, id, overrides, outputs and reason."""
    from rich.console import Console
    from rich.table import Table

    failed = sum(o.status == JobStatus.FAILED for o in outcomes)
    # Show what differs between jobs; overrides shared by all are said once in the title.
    common = (
        set.intersection(*(set(o.spec.overrides) for o in outcomes)) if len(outcomes) > 1 else set()
    )
    submitted = sum(o.status == JobStatus.SUBMITTED for o in outcomes)
    title = (
        f"{executor.name}: {len(outcomes) - failed - submitted} of {len(outcomes)} jobs completed"
    )
    if submitted:
        title = f"{executor.name}: {submitted} jobs submitted (detached)"
    table = Table(title=title)
    for column in ("job", "status", "id", "overrides", "outputs", "reason"):
        table.add_column(column, overflow="fold")
    for o, published in zip(outcomes, outputs, strict=True):
        style = {"COMPLETED": "green", "SUBMITTED": "cyan"}.get(o.status.value, "red")
        varying = " ".join(x for x in o.spec.overrides if x not in common) or o.spec.label
        table.add_row(
            str(o.spec.num),
            f"[{style}]{o.status}[/]",
            o.job_id or "",
            varying,
            " ".join(published),
            o.reason or "",
        )
    if common:
        table.caption = "every job: " + " ".join(
            x for x in outcomes[0].spec.overrides if x in common
        )
    Console(stderr=True, width=max(120, Console(stderr=True).width), soft_wrap=False).print(table)
    sys.stderr.flush()
