"""The training loop shared by pretrain and sft: AdamW, a deterministic sampler, checkpoints.

Reads top to bottom: resume from the latest checkpoint if there is one, then for each step
sample a batch, take a gradient step, log, and checkpoint every ``checkpoint_every`` steps.
The run is a function of the seed: the sampler's generator and torch's RNG are checkpointed
with the weights and optimizer, so a run killed at step k and restarted ends with the same
weights, bit for bit, as one that was never interrupted. Under torchrun the same loop runs as
DDP; every rank draws the same global batch and trains on its own slice of it.
"""

from __future__ import annotations

import math
import os
import signal
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.distributed as dist
import torch.nn.functional as F

from nemotron_kit.errors import ConfigError
from nemotron_kit.recipes import checkpoint
from nemotron_kit.recipes.metrics import MetricLogger


@dataclass(frozen=True)
class TrainSettings:
    """``cfg.train`` (see TrainConf in nemotron_kit/recipes/config.py for what each key means)."""

    steps: int
    batch_size: int
    lr: float
    seed: int = 0
    weight_decay: float = 0.0
    warmup_steps: int = 0
    min_lr_ratio: float = 0.1
    grad_clip: float = 1.0
    checkpoint_every: int = 100
    keep_checkpoints: int = 2
    log_every: int = 50
    # Test-only: SIGKILL this process right after the checkpoint of this step is written.
    stop_after: int | None = None

    @classmethod
    def from_cfg(cls, train: Mapping[str, Any]) -> TrainSettings:
        known = cls.__dataclass_fields__
        unknown = sorted(set(train) - set(known))
        if unknown:
            raise ConfigError(
                f"Unknown train settings {unknown}: fix the spelling (known: "
                f"{', '.join(sorted(known))})."
            )
        return cls(**{str(k): v for k, v in train.items()})

    def lr_at(self, step: int) -> float:
        """Linear warmup to ``lr``, then cosine decay to ``lr * min_lr_ratio`` at ``steps``."""
        if step <= self.warmup_steps:
            return self.lr * step / max(1, self.warmup_steps)
        progress = (step - self.warmup_steps) / max(1, self.steps - self.warmup_steps)
        floor = self.lr * self.min_lr_ratio
        return floor + (self.lr - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


class Batches(Protocol):
    """A dataset the loop can draw from: rank ``rank``'s slice of a global batch."""

    def batch(
        self, generator: torch.Generator, size: int, rank: int, world: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(inputs, targets, loss mask or None), each ``(size // world, length)``."""
        ...


@dataclass(frozen=True)
class Distributed:
    rank: int = 0
    world: int = 1

    def mean(self, value: torch.Tensor) -> float:
        """``value`` averaged over ranks."""
        if self.world > 1:
            value = value.detach().clone()
            dist.all_reduce(value)
            value /= self.world
        return float(value.detach())

    def shared_path(self, path: Path) -> Path:
        """Rank 0's ``path`` on every rank (other ranks get their own Hydra output dirs)."""
        if self.world == 1:
            return path
        box: list[Any] = [str(path)]
        dist.broadcast_object_list(box, src=0)
        return Path(box[0])


def init_distributed(backend_choice: str = "auto") -> Distributed:
    """Join the process group when running under torchrun; a no-op in a plain process.

    ``backend_choice`` is the executor's (``ctx.dist_backend``): gloo, nccl, or auto (nccl
    with CUDA, else gloo)."""
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world == 1:
        return Distributed()
    from nemotron_kit.execution.torchrun import backend

    if not dist.is_initialized():
        dist.init_process_group(backend(backend_choice))
    return Distributed(rank=dist.get_rank(), world=dist.get_world_size())


def close_distributed(group: Distributed) -> None:
    """Leave the process group once every rank is done (rank 0 publishes before it comes)."""
    if group.world > 1 and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def cross_entropy(
    logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor | None
) -> torch.Tensor:
    """Mean next-token loss; with ``mask``, over the masked-in positions only."""
    losses = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="none")
    if mask is None:
        return losses.mean()
    weights = mask.flatten().to(losses.dtype)
    return (losses * weights).sum() / weights.sum().clamp(min=1.0)


@dataclass
class TrainResult:
    step: int
    initial_loss: float
    final_loss: float
    weights: OrderedDict[str, torch.Tensor]
    resumed_from: int | None


def fit(
    model: torch.nn.Module,
    data: Batches,
    settings: TrainSettings,
    checkpoint_dir: Path,
    group: Distributed,
    log: MetricLogger,
) -> TrainResult:
    """Train ``model`` for ``settings.steps`` steps, resuming from ``checkpoint_dir``."""
    if settings.batch_size % group.world:
        raise ConfigError(
            f"train.batch_size={settings.batch_size} is not divisible by the {group.world} "
            "ranks: choose a multiple."
        )
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(settings.seed)  # torch seeds itself randomly per process otherwise
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=settings.lr, betas=(0.9, 0.95), weight_decay=settings.weight_decay
    )
    sampler = torch.Generator().manual_seed(settings.seed)
    step, initial_loss, loss, resumed_from = 0, math.nan, math.nan, None

    latest = checkpoint.latest(checkpoint_dir)
    if latest is not None:
        state = checkpoint.load(latest)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        sampler.set_state(state["rng"]["sampler"])
        torch.set_rng_state(state["rng"]["torch"])
        step, initial_loss, loss = state["step"], state["initial_loss"], state["loss"]
        resumed_from = step
        log.info(f"resuming from {latest} (step {step})")

    ddp: torch.nn.Module = model
    if group.world > 1:
        ddp = torch.nn.parallel.DistributedDataParallel(model)
    model.train()
    log.start(step)
    while step < settings.steps:
        step += 1
        lr = settings.lr_at(step)
        for param_group in optimizer.param_groups:
            param_group["lr"] = lr

        inputs, targets, mask = data.batch(sampler, settings.batch_size, group.rank, group.world)
        step_loss = cross_entropy(ddp(inputs), targets, mask)
        optimizer.zero_grad(set_to_none=True)
        step_loss.backward()  # type: ignore[no-untyped-call]
        if settings.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
        optimizer.step()

        loss = group.mean(step_loss)
        if step == 1:
            initial_loss = loss
        log.step(step, settings.steps, force=step == settings.steps, loss=loss, lr=lr)

        if step % settings.checkpoint_every == 0 or step == settings.steps:
            if group.rank == 0:
                state = {
                    "model": checkpoint.cpu_state_dict(model),
                    "optimizer": optimizer.state_dict(),
                    "rng": {"sampler": sampler.get_state(), "torch": torch.get_rng_state()},
                    "initial_loss": initial_loss,
                    "loss": loss,
                }
                checkpoint.save(checkpoint_dir, step, state, keep=settings.keep_checkpoints)
            if step == settings.stop_after:
                log.info(f"train.stop_after={step}: killing this process (test setting)")
                os.kill(os.getpid(), signal.SIGKILL)

    return TrainResult(
        step=step,
        initial_loss=initial_loss,
        final_loss=loss,
        weights=checkpoint.cpu_state_dict(model),
        resumed_from=resumed_from,
    )
