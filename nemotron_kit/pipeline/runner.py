"""Run a pipeline: each step is a recipe run of its own (its own run record, on its executor),
started as soon as the steps it consumes have published; steps whose inputs are ready run at
the same time.

The driver runs where the user typed the command (also with ``executor=slurm``): it composes
each step, decides whether it is cached, and launches it with a ``LaunchRequest`` (the run id
it must record under) in a process of its own, which runs it on the step's executor (the
pipeline's, unless the step names another). A step's cache key covers the recipe, its resolved
config (without where it runs or how it is tracked), the content digests of its pinned inputs
and the code; it is the same on every executor. ``pipeline.force=true`` runs every step again.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import blake3
from omegaconf import DictConfig, OmegaConf

from nemotron_kit.errors import ConfigError, NemotronKitError, NotFoundError

# Keys that say where or how a step runs, not what it computes.
NON_SEMANTIC = ("hydra", "executor", "tracker", "pipeline")


# What a step's input from another step is while the steps are checked, before any ran.
PENDING_INPUT = "art://nk-pipeline-input-not-made-yet:v1"


class PipelineError(NemotronKitError):
    """A pipeline step failed or the pipeline is malformed."""

    exit_code = 1


@dataclass
class Step:
    name: str
    recipe: str
    inputs: dict[str, str] = field(default_factory=dict)  # input key -> producing step
    overrides: list[str] = field(default_factory=list)
    executor: str | None = None  # None: the pipeline's


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
            executor=str(raw["executor"]) if raw.get("executor") else None,
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


def run_pipeline(cfg: DictConfig, ctx: Any = None) -> list[StepResult]:
    """Run ``cfg.pipeline``'s steps, each as soon as its inputs are published (at most
    ``pipeline.max_parallel`` at once); print each step's result, the lineage, and a last line
    naming what the pipeline published and reused."""
    from nemotron_kit.registry import init_from_config
    from nemotron_kit.tracking._code import code_version

    registry = ctx.registry if ctx is not None else init_from_config(cfg.registry)
    steps = parse_steps(cfg.pipeline)
    force = bool(cfg.pipeline.get("force", False))
    limit = int(cfg.pipeline.get("max_parallel") or len(steps))
    base = _passthrough_overrides()
    code = code_version()
    outputs: dict[str, list[str]] = {}
    results: dict[str, StepResult] = {}
    _check_steps(steps, base)
    pending = list(steps)
    running: dict[str, _Running] = {}
    try:
        while pending or running:
            ready = [s for s in pending if all(p in results for p in s.inputs.values())]
            progressed = False
            for step in ready[: max(0, limit - len(running))]:
                progressed = True
                pending.remove(step)
                started = time.monotonic()
                overrides = _step_overrides(step, base, outputs)
                key = _cache_key(registry, overrides, code)
                entry = None if force else _cached_entry(registry, key)
                if entry is not None:
                    cached = [str(u) for u in entry.get("outputs", [])]
                    outputs[step.name] = cached
                    took = time.monotonic() - started
                    results[step.name] = StepResult(
                        step.name, cached, True, entry.get("run_id"), took
                    )
                    shown = ", ".join(cached) or "no output"
                    _say(
                        f"[{step.name}] cached: {shown} (unchanged recipe, config, inputs and code)"
                    )
                    continue
                _say(f"[{step.name}] running recipe '{step.recipe}'")
                running[step.name] = _Running.start(step, overrides, key, started)
            if not running:
                if progressed:
                    continue  # cached steps may have made others ready
                if pending:  # nothing runs and nothing can start: a step's producer failed
                    raise PipelineError(
                        f"Pipeline steps {', '.join(s.name for s in pending)} cannot start: "
                        "a step they consume published nothing."
                    )
                break
            done = _Running.wait_any(running.values())
            del running[done.step.name]
            made = done.finish(registry)
            outputs[done.step.name] = made
            results[done.step.name] = StepResult(
                done.step.name, made, False, done.run_id, time.monotonic() - done.started
            )
            took = time.monotonic() - done.started
            _say(f"[{done.step.name}] published {', '.join(made) or 'nothing'} in {took:.1f} s")
    finally:
        for other in running.values():  # interrupted, or another step failed: stop the rest
            other.stop()
    ordered = [results[s.name] for s in steps if s.name in results]
    _print_lineage(registry, ordered)
    _say(_final_line(str(cfg.pipeline.get("name", "pipeline")), ordered))
    return ordered


def _final_line(name: str, results: list[StepResult]) -> str:
    """The line a pipeline ends with: what its steps published, and what they reused."""
    made = [u for r in results if not r.cached for u in r.outputs]
    reused = [u for r in results if r.cached for u in r.outputs]
    parts = [f"published {', '.join(made)}" if made else "published nothing new"]
    if reused:
        parts.append(f"reused {', '.join(reused)} (cached)")
    return f"pipeline {name}: " + "; ".join(parts)


def _check_steps(steps: list[Step], base: list[str]) -> None:
    """Every step's config composed and checked (keys, types, ranges, the packages it needs)
    before any step runs: a typo in the last step fails the pipeline at once, not after the
    first steps have run for hours."""
    from nemotron_kit.cli import describe_error
    from nemotron_kit.config import check_job_config
    from nemotron_kit.execution.profiles import compose_config

    for step in steps:
        # An input from another step stands in as a version of a name no registry has: a
        # plain string, never resolved here, so `inputs: {data: ???}` is not taken for a gap.
        pending = {producer: [PENDING_INPUT] for producer in step.inputs.values()}
        try:
            check_job_config(compose_config(_step_overrides(step, base, pending)))
        except NotFoundError:  # an ${art:...} of a version an earlier step has yet to make
            continue
        except Exception as exc:
            error = PipelineError(
                f"Pipeline step '{step.name}' cannot run, so no step was started: "
                f"{describe_error(exc)}"
            )
            # As the step alone would exit: 2 for what nemotron-kit found, 1 for Hydra's.
            error.exit_code = exc.exit_code if isinstance(exc, NemotronKitError) else 1
            raise error from None


def _step_overrides(step: Step, base: list[str], outputs: dict[str, list[str]]) -> list[str]:
    wiring = []
    for key, producer in step.inputs.items():
        if not outputs.get(producer):
            raise PipelineError(
                f"Pipeline step '{step.name}' needs '{key}' from step '{producer}', which "
                "published nothing: check that recipe's output."
            )
        wiring.append(f"++inputs.{key}={outputs[producer][0]}")
    executor = [f"executor={step.executor}"] if step.executor else []
    return [f"+recipe={step.recipe}", *base, *executor, *step.overrides, *wiring]


def _cache_key(registry: Any, overrides: list[str], code: dict[str, Any]) -> str:
    """The step's cache key, from its config composed here (inputs pinned by digest)."""
    from nemotron_kit.execution.profiles import compose_config
    from nemotron_kit.registry.resolver import pin_config

    step_cfg = compose_config(overrides)
    pins: dict[str, str] = {}
    pin_config(step_cfg, pins=pins)
    digests = {ref: registry.resolve(uri).digest for ref, uri in sorted(pins.items())}
    return step_cache_key(step_cfg, digests, code)


@dataclass
class _Running:
    """A step launched in a process of its own; its output prefixed with the step's name."""

    step: Step
    key: str
    run_id: str
    started: float
    proc: subprocess.Popen[bytes]
    request: Path
    pump: threading.Thread

    @classmethod
    def start(cls, step: Step, overrides: list[str], key: str, started: float) -> _Running:
        import tempfile

        from nemotron_kit.execution.step import LaunchRequest
        from nemotron_kit.tracking.run import new_run_id

        run_id = new_run_id()
        fd, name = tempfile.mkstemp(prefix=f"nk-step-{step.name}-", suffix=".json")
        os.close(fd)
        request = LaunchRequest(overrides=overrides, run_id=run_id).write(Path(name))
        proc = subprocess.Popen(
            [sys.executable, "-m", "nemotron_kit.execution.step", str(request)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        pump = threading.Thread(target=_prefix_lines, args=(proc, step.name), daemon=True)
        pump.start()
        return cls(step, key, run_id, started, proc, request, pump)

    @staticmethod
    def wait_any(steps: Iterable[_Running]) -> _Running:
        candidates = list(steps)
        while True:
            for candidate in candidates:
                if candidate.proc.poll() is not None:
                    return candidate
            time.sleep(0.1)

    def finish(self, registry: Any) -> list[str]:
        self.pump.join()
        self.request.unlink(missing_ok=True)
        if self.proc.returncode != 0:
            try:  # a step refused before it started (a bad value) recorded no run
                registry.read_run(self.run_id)
                see = f"its output above and `nemotron-kit runs show {self.run_id}`"
            except NotFoundError:
                see = "its error above"
            error = PipelineError(
                f"Pipeline step '{self.step.name}' failed (exit {self.proc.returncode}): see "
                f"{see}; finished steps stay cached."
            )
            error.exit_code = self.proc.returncode if self.proc.returncode > 0 else 1
            raise error
        made: list[str] = registry.run_outputs(self.run_id)
        registry.put_cache_entry(
            self.key, {"step": self.step.name, "outputs": made, "run_id": self.run_id}
        )
        return made

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=30)
        self.request.unlink(missing_ok=True)


def _prefix_lines(proc: subprocess.Popen[bytes], name: str) -> None:
    """Copy a step's output to stderr, each line prefixed with ``[name]``."""
    assert proc.stdout is not None
    for raw in iter(proc.stdout.readline, b""):
        line = raw.decode(errors="replace").rstrip("\n")
        print(f"[{name}] {line}", file=sys.stderr, flush=True)


def _cached_entry(registry: Any, key: str) -> dict[str, Any] | None:
    """The cache entry for ``key`` if its outputs still exist (and its run completed)."""
    entry: dict[str, Any] | None = registry.cache_entry(key)
    if entry is None:
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


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _print_lineage(registry: Any, results: list[StepResult]) -> None:
    from rich.console import Console

    from nemotron_kit.lineage import lineage, to_rich_tree

    console = Console(stderr=True)
    final = next((r.outputs[0] for r in reversed(results) if r.outputs), None)
    if final is not None:
        console.print(to_rich_tree(lineage(registry, final, direction="upstream")))
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
