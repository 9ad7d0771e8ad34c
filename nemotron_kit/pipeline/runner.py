"""Run a pipeline: each step is a recipe run of its own (its own run record, on the configured
executor), started only when the steps it consumes have published.

A step's cache key covers the recipe, its resolved config (without where it runs or how it is
tracked), the content digests of its pinned inputs and the code (git commit and uncommitted
changes, and the recipe package's source). When a published output carries the same key, the
step is skipped and that output reused; ``pipeline.force=true`` runs every step again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import blake3
from omegaconf import DictConfig, OmegaConf

from nemotron_kit.errors import ConfigError, NemotronKitError

# Keys that say where or how a step runs, not what it computes.
NON_SEMANTIC = ("hydra", "executor", "tracker", "pipeline")
CACHE_PREFIX = "pipeline-cache"


class PipelineError(NemotronKitError):
    """A pipeline step failed or the pipeline is malformed."""

    exit_code = 1


@dataclass
class Step:
    name: str
    recipe: str
    inputs: dict[str, str] = field(default_factory=dict)  # input key -> producing step
    overrides: list[str] = field(default_factory=list)


@dataclass
class StepResult:
    step: str
    outputs: list[str]
    cached: bool
    run_id: str | None
    seconds: float


def parse_steps(pipeline_cfg: DictConfig) -> list[Step]:
    steps = []
    seen: set[str] = set()
    for raw in pipeline_cfg.get("steps") or []:
        step = Step(
            name=str(raw["name"]),
            recipe=str(raw.get("recipe", raw["name"])),
            inputs={str(k): str(v) for k, v in (raw.get("inputs") or {}).items()},
            overrides=[str(o) for o in (raw.get("overrides") or [])],
        )
        for key, producer in step.inputs.items():
            if producer not in seen:
                raise ConfigError(
                    f"Pipeline step '{step.name}' takes '{key}' from '{producer}', which is not an "
                    "earlier step: list the producing step first, or fix the name."
                )
        seen.add(step.name)
        steps.append(step)
    if not steps:
        raise ConfigError("The pipeline has no steps: list them under pipeline.steps.")
    return steps


def _recipe_source_digest(target: str) -> str:
    """Digest of the source files of the recipe's package (e.g. nemotron_kit/recipes/*.py)."""
    import importlib.util

    module = target.rsplit(".", 1)[0]
    spec = importlib.util.find_spec(
        module.split(".")[0] if "." not in module else module.rsplit(".", 1)[0]
    )
    hasher = blake3.blake3()
    locations = list(spec.submodule_search_locations or []) if spec else []
    if spec and spec.origin and not locations:
        locations = [str(Path(spec.origin).parent)]
    for location in locations[:1]:
        for path in sorted(Path(location).rglob("*.py"))[:500]:
            hasher.update(path.name.encode() + b"\0" + path.read_bytes())
    return hasher.hexdigest()


def step_cache_key(
    step_cfg: DictConfig, input_digests: dict[str, str], code: dict[str, Any]
) -> str:
    """What a step's output depends on, as one digest."""
    semantic = {
        k: v
        for k, v in (OmegaConf.to_container(step_cfg, resolve=True) or {}).items()  # type: ignore[union-attr]
        if k not in NON_SEMANTIC
    }
    payload = {
        "config": semantic,
        "inputs": input_digests,
        "code": {k: code.get(k) for k in ("commit", "diff_digest")},
        "recipe_source": _recipe_source_digest(str(step_cfg.recipe._target_)),
    }
    return blake3.blake3(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def run_pipeline(cfg: DictConfig) -> list[StepResult]:
    """Run ``cfg.pipeline``'s steps in order; print each step's artifact and the lineage."""
    from nemotron_kit.execution.profiles import compose_config
    from nemotron_kit.registry import init_from_config
    from nemotron_kit.registry.resolver import pin_config
    from nemotron_kit.tracking._code import code_version
    from nemotron_kit.tracking.run import new_run_id

    registry = init_from_config(cfg.registry)
    steps = parse_steps(cfg.pipeline)
    force = bool(cfg.pipeline.get("force", False))
    base = _passthrough_overrides()
    code = code_version()
    outputs: dict[str, list[str]] = {}
    results: list[StepResult] = []
    for step in steps:
        started = time.monotonic()
        wiring = []
        for key, producer in step.inputs.items():
            if not outputs.get(producer):
                raise PipelineError(
                    f"Pipeline step '{step.name}' needs '{key}' from step '{producer}', which "
                    "published nothing: check that recipe's output."
                )
            wiring.append(f"++inputs.{key}={outputs[producer][0]}")
        overrides = [f"+recipe={step.recipe}", *base, *step.overrides, *wiring]
        step_cfg = compose_config(overrides)
        pins: dict[str, str] = {}
        pin_config(step_cfg, pins=pins)
        digests = {ref: registry.resolve(uri).digest for ref, uri in sorted(pins.items())}
        key = step_cache_key(step_cfg, digests, code)
        entry = None if force else _cached_entry(registry, key)
        if entry is not None:
            cached = [str(u) for u in entry.get("outputs", [])]
            outputs[step.name] = cached
            took = time.monotonic() - started
            results.append(StepResult(step.name, cached, True, entry.get("run_id"), took))
            shown = ", ".join(cached) or "no output"
            _say(f"[{step.name}] cached: {shown} (unchanged recipe, config, inputs and code)")
            continue
        _say(f"[{step.name}] running recipe '{step.recipe}'")
        run_id = new_run_id()
        _run_step(overrides, run_id)
        made = registry.run_outputs(run_id)
        registry.storage.replace(
            f"{CACHE_PREFIX}/{key}.json",
            json.dumps({"step": step.name, "outputs": made, "run_id": run_id}).encode(),
        )
        outputs[step.name] = made
        results.append(StepResult(step.name, made, False, run_id, time.monotonic() - started))
        took = time.monotonic() - started
        _say(f"[{step.name}] finished in {took:.1f} s")
    _print_lineage(registry, results)
    _say(_final_line(str(cfg.pipeline.get("name", "pipeline")), results))
    return results


def _final_line(name: str, results: list[StepResult]) -> str:
    """The line a pipeline ends with: what its steps published, and what they reused."""
    made = [u for r in results if not r.cached for u in r.outputs]
    reused = [u for r in results if r.cached for u in r.outputs]
    parts = [f"published {', '.join(made)}" if made else "published nothing new"]
    if reused:
        parts.append(f"reused {', '.join(reused)} (cached)")
    return f"pipeline {name}: " + "; ".join(parts)


def _cached_entry(registry: Any, key: str) -> dict[str, Any] | None:
    """The cache entry for ``key`` if its outputs still exist (and its run completed)."""
    try:
        entry: dict[str, Any] = json.loads(registry.storage.read(f"{CACHE_PREFIX}/{key}.json"))
    except (FileNotFoundError, ValueError):
        return None
    outs = [str(u) for u in entry.get("outputs", [])]
    try:
        for uri in outs:
            registry.resolve(uri)  # the cached output must still exist
    except NemotronKitError:
        return None
    if not outs and entry.get("run_id"):
        run = registry.read_run(entry["run_id"])
        if run.get("status") != "COMPLETED":
            return None
    return entry


def _passthrough_overrides() -> list[str]:
    """The command line's overrides that apply to every step (executor, registry, tracker...)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return []
    task = [str(o) for o in HydraConfig.get().overrides.task]
    return [o for o in task if not o.lstrip("+~").startswith(("pipeline", "hydra."))]


def _run_step(overrides: list[str], run_id: str) -> None:
    """One step = one `python -m nemotron_kit` run on the configured executor; waits for it."""
    from nemotron_kit.tracking.run import INSIDE_JOB_ENV, REQUESTED_RUN_ID_ENV

    env = {**os.environ, REQUESTED_RUN_ID_ENV: run_id}
    env.pop(INSIDE_JOB_ENV, None)
    result = subprocess.run(
        [sys.executable, "-m", "nemotron_kit", *overrides], env=env, check=False
    )
    if result.returncode != 0:
        raise PipelineError(
            f"Pipeline step with {' '.join(overrides)} failed (exit {result.returncode}): see its "
            f"output above and `nemotron-kit runs show {run_id}`; finished steps stay cached."
        )


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _print_lineage(registry: Any, results: list[StepResult]) -> None:
    from rich.console import Console

    from nemotron_kit.tracking.graph import lineage

    console = Console(stderr=True)
    final = next((r.outputs[0] for r in reversed(results) if r.outputs), None)
    if final is not None:
        console.print(lineage(registry, final, direction="upstream").to_rich_tree())
    for r in results:  # steps that publish nothing (an eval): their run and its metrics
        if r.outputs:
            continue
        run_id = r.run_id
        if run_id is None:
            continue
        run = registry.read_run(run_id)
        metrics = ", ".join(f"{k}={v:g}" for k, v in (run.get("metrics") or {}).items())
        used = ", ".join(run.get("inputs") or [])
        console.print(
            f"{r.step}: run {run_id} on {used or 'no inputs'}: {metrics or run.get('status')}"
        )
