"""The Hydra application behind ``python -m nemotron_kit`` and the ``nemotron-kit`` command.

The task function is defined here, in a regular module, so Hydra names the job after it and
finds configs through the search-path plugin rather than relative to ``__main__``.
"""

from __future__ import annotations

import contextlib
import re
import sys
import traceback
from typing import TYPE_CHECKING, Any

import hydra
from omegaconf import DictConfig, OmegaConf

from nemotron_kit.errors import NemotronKitError, NotFoundError

if TYPE_CHECKING:
    from nemotron_kit.execution.job import JobSpec
from nemotron_kit.paths import packaged_conf_dir
from nemotron_kit.registry.resolver import register as register_art_resolver

# ${art:...} must resolve wherever the config is read, including `--cfg job --resolve`.
register_art_resolver()


def _run_mode(executor_name: str, *, _root_: Any) -> str:
    """hydra.mode: a run for another executor goes through the launcher (a one-job sweep), so
    runs and sweeps share one path; a pipeline's driver runs here and sends its steps there.
    (``-m`` on the command line becomes an explicit ``hydra.mode=MULTIRUN``.)"""
    is_pipeline = _root_.get("pipeline") is not None and _root_.get("recipe") is None
    return "MULTIRUN" if executor_name != "local" and not is_pipeline else "RUN"


def _config_groups(parent: str = "") -> str:
    """``--help``'s list of config groups and options, as Hydra's, minus the schema groups
    (``nk_schema/...``) that option files name in their defaults lists."""
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.object_type import ObjectType

    from nemotron_kit.config.schemas import SCHEMA_GROUP

    loader = GlobalHydra.instance().config_loader()
    lines: list[str] = []

    def visit(prefix: str) -> None:
        for group in sorted(loader.list_groups(prefix)):
            name = f"{prefix}/{group}" if prefix else group
            if name in ("hydra", SCHEMA_GROUP):
                continue
            options = loader.get_group_options(name, ObjectType.CONFIG)
            if options:
                lines.append(f"{name}: {', '.join(sorted(options))}")
            visit(name)

    visit(parent)
    return "\n".join(lines)


if not OmegaConf.has_resolver("nk_mode"):
    OmegaConf.register_new_resolver("nk_mode", _run_mode)
if not OmegaConf.has_resolver("nk_config_groups"):
    OmegaConf.register_new_resolver("nk_config_groups", _config_groups)


class NothingToRunError(NemotronKitError):
    """The composed config names neither a recipe nor a pipeline."""


def run(cfg: DictConfig, spec: JobSpec | None = None) -> Any:
    """Run the composed job: open its ``JobContext``, call the recipe, close the run.

    ``spec`` is the job contract a launcher decided (run id, pinned inputs, sweep, snapshot);
    without one this is a plain run in this process, with a fresh run id. A ``@recipe`` gets
    its typed config, the context and its loaded inputs, and what it returns is published; a
    plain ``_target_`` is called with the config, and with the context too if it takes two
    arguments. With ``sweep.metric`` set, the job returns that metric (the objective an
    optimizing sweeper needs); otherwise what the recipe returned.
    """
    from nemotron_kit.config import instantiate
    from nemotron_kit.execution.context import JobContext, job_hydra_config
    from nemotron_kit.execution.job import JobSpec
    from nemotron_kit.recipes.api import declared

    is_pipeline = cfg.get("pipeline") is not None and cfg.get("recipe") is None
    if cfg.get("recipe") is None and not is_pipeline:
        raise NothingToRunError(
            "Nothing to run: choose a recipe with '+recipe=NAME' or a pipeline with "
            "'+pipeline=NAME' (see `--help`), or add '--cfg job' to print the composed config."
        )
    # Resolve the recipe before touching the registry: a typo fails without side effects.
    recipe_fn = (
        None if is_pipeline else instantiate({"_target_": cfg.recipe._target_, "_partial_": True})
    )
    recipe = declared(recipe_fn)
    launched = spec is not None
    spec = spec or JobSpec(0, (), run_id=None)
    try:
        ctx = JobContext.open(cfg, spec, job_hydra_config(), recipe)
    except NotFoundError as exc:
        raise with_producer_hint(exc) from None
    try:
        if is_pipeline:
            from nemotron_kit.pipeline import run_pipeline

            result: Any = [r.outputs for r in run_pipeline(cfg, ctx)]
        else:
            assert recipe_fn is not None
            if recipe is not None:  # @recipe: inputs loaded, output published for it
                result = recipe(cfg, ctx)
            else:
                result = recipe_fn(cfg, ctx) if _takes_context(recipe_fn) else recipe_fn(cfg)
    except Exception as exc:
        if ctx.run is not None:  # the traceback is printed after the run's end is stored
            ctx.run.console.add(traceback.format_exc())
        with contextlib.suppress(Exception):  # the job's own error is the one to report
            ctx.close("FAILED", f"{type(exc).__name__}: {exc}")
        raise
    except BaseException:
        # Interrupted or preempted (SystemExit, KeyboardInterrupt): the run stays open for a
        # requeued attempt to continue, and reads as LOST once its lease expires otherwise.
        if ctx.run is not None:
            ctx.run.stop_heartbeat()
        raise
    ctx.close("COMPLETED", None, result)
    if not launched and not is_pipeline:  # a launcher's job: the launcher says it
        outputs = ctx.outputs() if ctx.run is not None else None
        sys.stdout.flush()  # the job's own output first
        print(published_line(outputs, result), file=sys.stderr, flush=True)
    return objective(cfg, ctx, result)


run.takes_job_spec = True  # type: ignore[attr-defined]


def _takes_context(fn: Any) -> bool:
    """A recipe that declares a second parameter gets the JobContext."""
    import inspect

    target = fn.func if hasattr(fn, "func") else fn
    try:
        params = [
            p
            for p in inspect.signature(target).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):
        return False
    return len(params) >= 2


def objective(cfg: DictConfig, ctx: Any, result: Any) -> Any:
    """``sweep.metric`` of this job (from what the recipe returned, else from the metrics of
    what it published), so an optimizing sweeper (Optuna) gets a number; else ``result``."""
    sweep = cfg.get("sweep") or {}
    metric = sweep.get("metric") if hasattr(sweep, "get") else None
    if not metric:
        return result
    if isinstance(result, dict) and isinstance(result.get(metric), (int, float)):
        return float(result[metric])
    for uri in ctx.outputs():
        value = ctx.registry.resolve(uri).metrics.get(str(metric))
        if value is not None:
            return value
    raise NemotronKitError(
        f"sweep.metric={metric!r} is not a number the job returned or published: choose a "
        "numeric metadata field of its output (e.g. final_loss)."
    )


def published_line(outputs: list[str] | None, result: Any) -> str:
    """The line a run ends with: what it published (from its run record, else what the recipe
    returned), or its metrics when it publishes nothing (an eval)."""
    if outputs is None:
        outputs = [result] if isinstance(result, str) and result.startswith("art://") else []
    if outputs:
        return "published " + ", ".join(outputs)
    if isinstance(result, dict):
        numbers = [
            f"{k}={v:g}"
            for k, v in result.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)
        ]
        if numbers:
            return "published nothing; " + ", ".join(numbers)
    return "published nothing"


_MISSING_NAME = re.compile(r"^No artifact named '([^']+)'")


def with_producer_hint(exc: NemotronKitError) -> NemotronKitError:
    """'No artifact named pretrain-data' -> also say which recipe publishes it, to run first."""
    match = _MISSING_NAME.match(str(exc))
    if match is None:
        return exc
    from nemotron_kit.recipes.api import recipe_options

    name = match.group(1)
    for option, output_name in recipe_options():
        if output_name == name:
            return type(exc)(
                f"{str(exc).rstrip('.')}: run `python -m nemotron_kit +recipe={option}` "
                f"first, which publishes '{name}'."
            )
    return exc


# An absolute config_path: with None, Hydra would add the package itself (pkg://nemotron_kit)
# to the search path, and a wheel's nemotron_kit/conf would show up as a bogus 'conf' group.
def task(cfg: DictConfig, spec: JobSpec | None = None) -> Any:
    """Hydra's task function: this one is handed to the launcher too, which binds each job's
    spec to it (``takes_job_spec``)."""
    return run(cfg, spec)


task.takes_job_spec = True  # type: ignore[attr-defined]
hydra_app = hydra.main(
    version_base="1.3", config_path=str(packaged_conf_dir()), config_name="config"
)(task)
