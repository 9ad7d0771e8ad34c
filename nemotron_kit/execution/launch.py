"""A sweep's launch: pin inputs, pick the executor, run every job, report every job."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from nemotron_kit.errors import NemotronKitError
from nemotron_kit.execution.base import Executor, JobOutcome
from nemotron_kit.execution.job import HydraJob, JobSpec, result_path
from nemotron_kit.tracking.run import MULTIRUN_ENV


class SweepJobFailed(NemotronKitError):
    """A job of the sweep failed; the summary table lists every job."""

    exit_code = 1


def build_executor(executor_cfg: Any, **extra: Any) -> Executor:
    """The executor a composed ``executor`` node describes (through its ``_target_``)."""
    from nemotron_kit.config import instantiate

    node = (
        OmegaConf.to_container(executor_cfg, resolve=True)
        if OmegaConf.is_config(executor_cfg)
        else dict(executor_cfg)
    )
    assert isinstance(node, dict)
    if "_target_" not in node:
        from nemotron_kit.errors import ConfigError

        raise ConfigError(
            f"Executor '{node.get('name', '?')}' has no _target_: extend a packaged executor "
            "(defaults: [slurm]) or name its class."
        )
    for key, value in extra.items():
        if value is not None:
            node[key] = value
    executor = instantiate(node, _convert_="all")
    assert isinstance(executor, Executor)
    return executor


def checked_job_config(
    hydra_context: Any, config: DictConfig, overrides: Sequence[str]
) -> DictConfig:
    """The job's composed config (without Hydra's node), checked: a bad value or a missing
    package is refused here, where the user typed the command, before anything is submitted."""
    from nemotron_kit.config import check_job_config

    job_cfg: DictConfig = hydra_context.config_loader.load_sweep_config(config, list(overrides))
    with open_dict(job_cfg):
        job_cfg.pop("hydra", None)
    check_job_config(job_cfg)
    return job_cfg


def pin_job(job_cfg: DictConfig) -> dict[str, str]:
    """Pin the job's artifact references at submission: every job of a sweep, and every rank
    of a job, reads the versions that were current when the user launched it."""
    from nemotron_kit.registry.resolver import pin_config

    pins: dict[str, str] = {}
    pin_config(job_cfg, pins=pins)
    return pins


def launch_sweep(
    *,
    hydra_context: Any,
    task_function: Any,
    config: DictConfig,
    job_overrides: Sequence[Sequence[str]],
    initial_job_idx: int,
    max_parallel: int | None = None,
    dry_run: bool = False,
) -> list[Any]:
    from hydra.core.singleton import Singleton
    from hydra.core.utils import JobReturn, JobStatus, setup_globals

    setup_globals()
    executor = build_executor(
        config.executor, **({"max_parallel": max_parallel} if max_parallel else {})
    )
    sweep_dir = Path(str(config.hydra.sweep.dir))
    from nemotron_kit.tracking.run import new_run_id

    # Every job is checked before any is pinned (pinning reads the registry) or submitted.
    job_cfgs = [checked_job_config(hydra_context, config, o) for o in job_overrides]
    specs = [
        JobSpec(initial_job_idx + offset, tuple(overrides), pin_job(job_cfg), new_run_id())
        for offset, (overrides, job_cfg) in enumerate(zip(job_overrides, job_cfgs, strict=True))
    ]
    if dry_run or bool(config.executor.get("dry_run", False)):
        plan = executor.describe(specs, sweep_dir)
        plan["pinned_inputs"] = {str(s.num): s.pins for s in specs}
        print(json.dumps(plan, indent=2, default=str))
        return []
    sweep_dir.mkdir(parents=True, exist_ok=True)
    state = None if executor.forks else Singleton.get_state()  # a deep copy; forks need none
    job = HydraJob(hydra_context, task_function, config, state, str(sweep_dir))
    outcomes = executor.run(job, specs, sweep_dir)
    for spec in specs:  # read by now: the job pickles go (they may name secret overrides)
        result_path(sweep_dir, spec.num).unlink(missing_ok=True)
    close_vanished_runs(config, outcomes)
    outputs = [job_outputs(config, o) for o in outcomes]
    single = len(outcomes) == 1 and not os.environ.get(MULTIRUN_ENV)
    if single:
        print_single(executor, outcomes[0], outputs[0])
    else:
        print_summary(executor, outcomes, outputs)
    move_best_alias(config, outcomes)
    returns = []
    for outcome in outcomes:
        succeeded = outcome.status in ("COMPLETED", "SUBMITTED")
        ret = JobReturn(
            overrides=list(outcome.spec.overrides),
            working_dir=outcome.working_dir,
            task_name=str(config.hydra.job.name),
            status=JobStatus.COMPLETED if succeeded else JobStatus.FAILED,
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


def job_outputs(config: DictConfig, outcome: JobOutcome) -> list[str]:
    """What a finished job published: its run's outputs, else the URI its recipe returned."""
    if outcome.status != "COMPLETED":
        return []
    found: list[str] = []
    if outcome.spec.run_id:
        try:
            from nemotron_kit.registry.api import registry_from_config

            found = registry_from_config(config.registry).run_outputs(outcome.spec.run_id)
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
    if outcome.status == "SUBMITTED":
        line = f"submitted {where}: `nemotron-kit runs show {outcome.spec.run_id}` follows it"
    elif outcome.status == "COMPLETED":
        line = f"{published_line(outputs or None, outcome.return_value)} ({where})"
    else:
        return  # the error sentence says it
    print(line, file=sys.stderr, flush=True)


def close_vanished_runs(config: DictConfig, outcomes: list[JobOutcome]) -> None:
    """A job killed before its end hook leaves its run RUNNING; record Slurm's verdict instead."""
    failed = [o for o in outcomes if o.status == "FAILED" and o.spec.run_id]
    if not failed:
        return
    try:
        from nemotron_kit.registry.api import registry_from_config

        registry = registry_from_config(config.registry)
        for o in failed:
            run_id = o.spec.run_id or ""
            if registry.storage.exists(f"runs/{run_id}/start.json") and not registry.storage.exists(
                f"runs/{run_id}/end.json"
            ):
                registry.finish_run(
                    run_id,
                    {
                        "status": "FAILED",
                        "error": o.reason,
                        "outputs": registry.run_outputs(run_id),
                    },
                )
    except Exception as exc:  # the summary still tells the user; lineage is reported separately
        print(f"Error: could not record the failed jobs' status in lineage: {exc}", file=sys.stderr)


def move_best_alias(config: DictConfig, outcomes: list[JobOutcome]) -> None:
    """``sweep.alias=best sweep.metric=final_loss``: point the alias at the best job's output."""
    sweep = config.get("sweep") or {}
    alias, metric = sweep.get("alias"), sweep.get("metric")
    if not alias or not metric:
        return
    from nemotron_kit.registry.api import registry_from_config

    registry = registry_from_config(config.registry)
    scored = []
    for o in outcomes:
        if o.status != "COMPLETED" or not o.spec.run_id:
            continue
        for uri in registry.run_outputs(o.spec.run_id):
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

    failed = sum(o.status == "FAILED" for o in outcomes)
    # Show what differs between jobs; overrides shared by all are said once in the title.
    common = (
        set.intersection(*(set(o.spec.overrides) for o in outcomes)) if len(outcomes) > 1 else set()
    )
    submitted = sum(o.status == "SUBMITTED" for o in outcomes)
    title = (
        f"{executor.name}: {len(outcomes) - failed - submitted} of {len(outcomes)} jobs completed"
    )
    if submitted:
        title = f"{executor.name}: {submitted} jobs submitted (detached)"
    table = Table(title=title)
    for column in ("job", "status", "id", "overrides", "outputs", "reason"):
        table.add_column(column, overflow="fold")
    for o, published in zip(outcomes, outputs, strict=True):
        style = {"COMPLETED": "green", "SUBMITTED": "cyan"}.get(o.status, "red")
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
