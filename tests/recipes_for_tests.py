"""Tiny recipes used by the tests (the built-in recipes train real models and are slower)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf


def held_marker(release: Path) -> Path:
    """The file a job held by ``hold(release)`` writes once it waits."""
    return release.with_name(release.name + ".held")


def hold(release: Path, timeout: float = 600.0) -> None:
    """A test's barrier: say so in ``held_marker(release)``, then wait until ``release`` exists.

    The test waits for the marker, acts (cancels the job, signals it, checks that the
    launcher has returned) and then makes ``release`` (or never does). The timeout only ends a
    job whose test died, so that it does not wait forever.
    """
    import time

    held_marker(release).write_text(str(os.getpid()))
    deadline = time.monotonic() + timeout
    while not release.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{release} was never made: the test that held this job is gone")
        time.sleep(0.05)


def consume(cfg: DictConfig) -> dict[str, Any]:
    """Write what the job saw of its (pinned) inputs to seen.json in the working directory."""
    seen = OmegaConf.to_container(cfg.get("inputs", {}), resolve=True)
    extra = OmegaConf.to_container(cfg.get("probe", {}), resolve=True)
    Path(cfg.get("seen_file", "seen.json")).write_text(json.dumps({"inputs": seen, "probe": extra}))
    return {"inputs": seen}


def produce(cfg: DictConfig) -> str:
    """Deterministic stage: hash the inputs' files and the `stage` settings into one output file.

    Publishes `cfg.output` (an artifact config with `_target_`) from a fresh directory; the
    output depends only on the config and the inputs, so reproducing it gives the same digest.
    """
    import hashlib

    from nemotron_kit.config import instantiate

    h = hashlib.sha256(
        json.dumps(OmegaConf.to_container(cfg.stage, resolve=True), sort_keys=True).encode()
    )
    for _, uri in sorted((cfg.get("inputs") or {}).items()):
        from nemotron_kit.registry import get_registry

        art = get_registry().load(uri)
        for path in (
            sorted(Path(art.path).rglob("*")) if Path(art.path).is_dir() else [Path(art.path)]
        ):
            if path.is_file():
                h.update(path.read_bytes())
    if cfg.stage.get("say"):
        print(cfg.stage.say, flush=True)
        logging.getLogger(__name__).info("logged: %s", cfg.stage.say)
    if cfg.stage.get("fail"):
        raise RuntimeError(f"stage {cfg.stage.name} was asked to fail")
    if cfg.stage.get("sleep"):
        import time

        time.sleep(float(cfg.stage.sleep))
    if cfg.stage.get("hold"):
        hold(Path(cfg.stage.hold))
    if cfg.stage.get("exit_code") is not None:
        os._exit(int(cfg.stage.exit_code))  # dies without a Python exception or a result
    if cfg.stage.get("print_secret"):
        print("token in config:", cfg.stage.print_secret)
    out = Path(os.getcwd()) / f"out-{cfg.stage.name}"
    out.mkdir(parents=True, exist_ok=True)
    (out / "result.txt").write_text(h.hexdigest())
    artifact = instantiate(cfg.output, path=str(out), metadata={"score": float(cfg.stage.seed)})
    return str(artifact.save(aliases=list(cfg.stage.get("aliases", []))))


def checkpointed(cfg: DictConfig) -> str:
    """Count to `stage.steps`, one step a `stage.step_s`, saving progress after every step.

    Restarted (a requeued Slurm job), it resumes from the saved step: the log records where
    each attempt started, so a test can see the resume. With `stage.hold_at`, an attempt that
    started from scratch stops after that step until the test makes `out-NAME/release` (or
    signals the job): a test can requeue it at a known step.
    """
    import time

    from hydra.core.hydra_config import HydraConfig

    from nemotron_kit.config import instantiate

    # The job's own output directory: the same path again when a requeued job restarts.
    out = Path(HydraConfig.get().runtime.output_dir) / f"out-{cfg.stage.name}"
    out.mkdir(parents=True, exist_ok=True)
    state = out / "checkpoint.json"
    step = started = json.loads(state.read_text())["step"] if state.exists() else 0
    with open(out / "attempts.log", "a") as log:
        log.write(f"start {step} job={os.environ.get('SLURM_JOB_ID')}\n")
    while step < int(cfg.stage.steps):
        time.sleep(float(cfg.stage.step_s))
        step += 1
        tmp = state.with_suffix(".tmp")
        tmp.write_text(json.dumps({"step": step}))
        os.replace(tmp, state)
        if step == cfg.stage.get("hold_at") and started == 0:
            hold(out / "release")
    (out / "result.txt").write_text(f"finished at {step}")
    return str(instantiate(cfg.output, path=str(out)).save())


def secret_probe(cfg: DictConfig) -> str:
    """Publish a digest of the secret the job received (never the secret itself)."""
    import hashlib

    from nemotron_kit.config import instantiate

    out = Path(os.getcwd()) / f"out-{cfg.stage.name}"
    out.mkdir(parents=True, exist_ok=True)
    value = os.environ.get("WANDB_API_KEY", "")
    (out / "digest.txt").write_text(hashlib.sha256(value.encode()).hexdigest())
    return str(instantiate(cfg.output, path=str(out)).save())


def distributed(cfg: DictConfig) -> str | None:
    """Under torchrun: every rank writes what it saw; rank 0 publishes after a barrier."""

    import torch
    import torch.distributed as dist
    from hydra.core.hydra_config import HydraConfig

    from nemotron_kit.config import instantiate
    from nemotron_kit.execution import is_rank_zero
    from nemotron_kit.execution.torchrun import backend

    dist.init_process_group(backend())
    rank, world = dist.get_rank(), dist.get_world_size()
    total = torch.tensor([rank + 1.0])
    dist.all_reduce(total)
    out = Path(HydraConfig.get().runtime.output_dir) / "ranks"
    out.mkdir(parents=True, exist_ok=True)
    seen = {
        "rank": rank,
        "world": world,
        "env_rank": os.environ["RANK"],
        "local_rank": os.environ["LOCAL_RANK"],
        "inputs": OmegaConf.to_container(cfg.get("inputs", {}), resolve=True),
        "all_reduce": total.item(),
    }
    (out / f"rank{rank}.json").write_text(json.dumps(seen))
    dist.barrier()
    uri = None
    if is_rank_zero():
        uri = str(instantiate(cfg.output, path=str(out)).save())
    dist.barrier()
    dist.destroy_process_group()
    return uri
