"""sft: fine-tune a ModelArtifact on packed SFT data (loss on answer tokens only); publish it.

    python -m nemotron_kit +recipe=sft inputs.model=art://tiny-gpt:v3

Checkpoints and resumes exactly like pretrain (see nemotron_kit/recipes/training.py); the new
ModelArtifact keeps the base model's architecture, and its lineage names both inputs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from omegaconf import DictConfig

from nemotron_kit.artifacts import ModelArtifact, SFTDataArtifact
from nemotron_kit.errors import ConfigError
from nemotron_kit.recipes import data, job

if TYPE_CHECKING:
    import torch

    from nemotron_kit.execution.context import JobContext
    from nemotron_kit.registry.core import ArtifactRegistry


def main(cfg: DictConfig, ctx: JobContext | None = None) -> str | None:
    # Wrong input types fail here, in one sentence, before torch is even imported.
    base = _registry(ctx).load(cfg.inputs.model, expected=ModelArtifact)
    sft_data = _registry(ctx).load(cfg.inputs.data, expected=SFTDataArtifact)

    from nemotron_kit.recipes import training
    from nemotron_kit.recipes.checkpoint import weights_digest
    from nemotron_kit.recipes.metrics import MetricLogger
    from nemotron_kit.recipes.model import load_pretrained, save_pretrained

    settings = training.TrainSettings.from_cfg(job.plain(cfg.train))
    model = load_pretrained(base.path)
    rows = PackedRows.load(Path(sft_data.path))
    if rows.tokens.shape[1] - 1 > model.config.context:
        raise ConfigError(
            f"{sft_data.uri} packs {rows.tokens.shape[1]} tokens a row, more than the context "
            f"of {base.uri} ({model.config.context}) + 1: pack with data.pack_size <= "
            f"{model.config.context + 1}."
        )

    group = training.init_distributed(ctx.dist_backend if ctx else "auto")
    out = group.shared_path(job.output_dir())  # rank 0's: checkpoints are shared
    log = MetricLogger(out / "metrics.jsonl", settings.log_every, enabled=group.rank == 0)
    log.info(f"sft: {base.uri} on {sft_data.uri} ({rows.tokens.shape[0]:,} rows)")
    result = training.fit(model, rows, settings, out / "checkpoints", group, log)
    log.info(f"sft: loss {result.initial_loss:.4f} -> {result.final_loss:.4f}")
    uri = None
    if group.rank == 0:
        save_pretrained(result.weights, model.config, out / "model")
        uri = job.publish(
            cfg.output,
            out / "model",
            step=result.step,
            final_loss=result.final_loss,
            num_parameters=model.num_parameters(),
            architecture=model.config.to_dict(),
            metadata={
                "initial_loss": result.initial_loss,
                "weights_digest": weights_digest(result.weights),
                "resumed_from_step": result.resumed_from,
                "base_model": base.uri,
                "base_model_step": base.step,
                "world_size": group.world,
            },
        )
    training.close_distributed(group)
    return uri


@dataclass
class PackedRows:
    """Packed SFT rows and their loss masks, ``(num_rows, pack_size)`` uint8 each."""

    tokens: torch.Tensor
    mask: torch.Tensor

    @classmethod
    def load(cls, directory: Path) -> PackedRows:
        import torch

        meta = json.loads((directory / data.SFT_FILE).read_text())
        shape = (int(meta["num_rows"]), int(meta["pack_size"]))

        def read(name: str) -> torch.Tensor:
            raw = bytearray((directory / name).read_bytes())
            return torch.frombuffer(raw, dtype=torch.uint8).view(shape)

        return cls(read("tokens.bin"), read("loss_mask.bin"))

    def batch(
        self, generator: torch.Generator, size: int, rank: int, world: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        import torch

        picks = torch.randint(0, self.tokens.shape[0], (size,), generator=generator)
        share = size // world
        mine = picks[rank * share : (rank + 1) * share]
        rows, mask = self.tokens[mine].long(), self.mask[mine]
        # Position i predicts token i+1: the mask of the target decides whether it counts.
        return rows[:, :-1], rows[:, 1:], mask[:, 1:]


def _registry(ctx: JobContext | None) -> ArtifactRegistry:
    """The job's registry (the process's active one when called outside a job)."""
    from nemotron_kit.registry import get_registry

    return ctx.registry if ctx is not None else get_registry()
