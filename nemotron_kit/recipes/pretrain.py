"""pretrain: train a small GPT from scratch on a PretrainBlendsArtifact; publish a ModelArtifact.

    python -m nemotron_kit +recipe=pretrain train.steps=300
    python -m nemotron_kit +recipe=pretrain executor=torchrun executor.nproc_per_node=2

Checkpoints go to ``<job output dir>/checkpoints/`` every ``train.checkpoint_every`` steps; a
job restarted in the same directory resumes from the latest one and ends with the same weights
as an uninterrupted run. Only rank 0 writes checkpoints and publishes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nemotron_kit.artifacts import ModelArtifact, PretrainBlendsArtifact
from nemotron_kit.errors import ConfigError
from nemotron_kit.recipes import data
from nemotron_kit.recipes.api import ArtifactInput, ArtifactOutput, recipe
from nemotron_kit.recipes.config import PretrainConfig
from nemotron_kit.recipes.data import BLEND_FILE, require_file

if TYPE_CHECKING:
    from collections.abc import Callable

    import torch

    from nemotron_kit.execution.context import JobContext
    from nemotron_kit.recipes.model import GPTConfig
    from nemotron_kit.recipes.training import Distributed, TrainResult


@recipe(
    config=PretrainConfig,
    inputs={"data": ArtifactInput(PretrainBlendsArtifact, "pretrain-data")},
    output=ArtifactOutput(ModelArtifact, "tiny-gpt"),
    requires=["torch"],
)
def main(
    cfg: PretrainConfig, ctx: JobContext, data: PretrainBlendsArtifact
) -> ModelArtifact | None:
    """Train a small GPT from scratch on prepared shards."""
    from nemotron_kit.recipes import training
    from nemotron_kit.recipes.checkpoint import weights_digest
    from nemotron_kit.recipes.model import save_pretrained

    require_file(data, "data", BLEND_FILE, "+recipe=data_prep")
    group = training.init_distributed(ctx.dist_backend)
    out = group.shared_path(ctx.output_dir)  # rank 0's: checkpoints are shared
    architecture = model_config(cfg)
    result = train(cfg, Path(data.path), out, group, sink=ctx.log_metrics)
    artifact = None
    if group.rank == 0:
        save_pretrained(result.weights, architecture, out / "model")
        artifact = ModelArtifact(
            path=str(out / "model"),
            step=result.step,
            final_loss=result.final_loss,
            num_parameters=sum(t.numel() for t in result.weights.values()),
            architecture=architecture.to_dict(),
            metadata={
                "initial_loss": result.initial_loss,
                "weights_digest": weights_digest(result.weights),
                "resumed_from_step": result.resumed_from,
                "world_size": group.world,
            },
        )
    training.close_distributed(group)
    return artifact


def model_config(cfg: PretrainConfig) -> GPTConfig:
    from nemotron_kit.recipes.model import GPTConfig

    return GPTConfig.from_mapping(asdict(cfg.model))


@dataclass
class TokenWindows:
    """Random windows of ``length + 1`` tokens from one token stream (inputs, shifted targets)."""

    tokens: torch.Tensor  # uint8, 1-D
    length: int

    def batch(
        self, generator: torch.Generator, size: int, rank: int, world: int
    ) -> tuple[torch.Tensor, torch.Tensor, None]:
        import torch

        starts = torch.randint(0, len(self.tokens) - self.length, (size,), generator=generator)
        share = size // world
        mine = starts[rank * share : (rank + 1) * share]
        windows = self.tokens[mine[:, None] + torch.arange(self.length + 1)].long()
        return windows[:, :-1], windows[:, 1:], None


def train(
    cfg: PretrainConfig,
    blends_dir: Path,
    out_dir: Path,
    group: Distributed | None = None,
    sink: Callable[[dict[str, Any], int], None] | None = None,
) -> TrainResult:
    """Build the model from ``cfg.model`` and train it on the blend's train split; every
    step's loss, learning rate and throughput go to ``sink`` (the run's metrics)."""
    import torch

    from nemotron_kit.recipes import training
    from nemotron_kit.recipes.metrics import MetricLogger
    from nemotron_kit.recipes.model import GPT

    group = group or training.Distributed()
    settings = training.TrainSettings.from_cfg(asdict(cfg.train))
    architecture = model_config(cfg)
    seq_length = int(data.read_blend(blends_dir)["seq_length"])
    if seq_length > architecture.context:
        raise ConfigError(
            f"The blend's seq_length={seq_length} exceeds model.context={architecture.context}: "
            "raise model.context or prepare data with a shorter data.seq_length."
        )
    stream = torch.frombuffer(bytearray(data.read_split(blends_dir, "train")), dtype=torch.uint8)
    if len(stream) <= seq_length:
        raise ConfigError(
            f"The train split of {blends_dir} has only {len(stream)} tokens, fewer than one "
            f"window of {seq_length + 1}: prepare more data."
        )

    model = GPT(architecture, seed=settings.seed)
    log = MetricLogger(
        out_dir / "metrics.jsonl", settings.log_every, enabled=group.rank == 0, sink=sink
    )
    log.info(f"pretrain: {model.num_parameters():,} parameters, {len(stream):,} train tokens")
    result = training.fit(
        model, TokenWindows(stream, seq_length), settings, out_dir / "checkpoints", group, log
    )
    log.info(f"pretrain: loss {result.initial_loss:.4f} -> {result.final_loss:.4f}")
    return result
