"""sft: fine-tune a ModelArtifact on packed SFT data (loss on answer tokens only); publish it.

    python -m nemotron_kit +recipe=sft inputs.model=art://tiny-gpt:v3

Checkpoints and resumes exactly like pretrain (see nemotron_kit/recipes/training.py); the new
ModelArtifact keeps the base model's architecture, and its lineage names both inputs.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from nemotron_kit.artifacts import ModelArtifact, SFTDataArtifact
from nemotron_kit.errors import ConfigError
from nemotron_kit.recipes import data
from nemotron_kit.recipes.api import ArtifactInput, ArtifactOutput, recipe
from nemotron_kit.recipes.config import SFTConfig
from nemotron_kit.recipes.data import SFT_FILE, require_file

if TYPE_CHECKING:
    import torch

    from nemotron_kit.execution.context import JobContext


@recipe(
    config=SFTConfig,
    inputs={
        "model": ArtifactInput(ModelArtifact, "tiny-gpt"),
        "data": ArtifactInput(SFTDataArtifact, "sft-data"),
    },
    output=ArtifactOutput(ModelArtifact, "tiny-gpt-sft"),
    requires=["torch"],
)
def main(
    cfg: SFTConfig, ctx: JobContext, model: ModelArtifact, data: SFTDataArtifact
) -> ModelArtifact | None:
    """Fine-tune a model on packed SFT data (loss on answer tokens only)."""
    from nemotron_kit.recipes import training
    from nemotron_kit.recipes.checkpoint import weights_digest
    from nemotron_kit.recipes.metrics import MetricLogger
    from nemotron_kit.recipes.model import load_pretrained, save_pretrained

    base, sft_data = model, data
    require_file(sft_data, "data", SFT_FILE, "+recipe=sft_data")
    settings = training.TrainSettings.from_cfg(asdict(cfg.train))
    gpt = load_pretrained(base.path)
    rows = PackedRows.load(Path(sft_data.path))
    if rows.tokens.shape[1] - 1 > gpt.config.context:
        raise ConfigError(
            f"{sft_data.uri} packs {rows.tokens.shape[1]} tokens a row, more than the context "
            f"of {base.uri} ({gpt.config.context}) + 1: pack with data.pack_size <= "
            f"{gpt.config.context + 1}."
        )

    group = training.init_distributed(ctx.dist_backend)
    out = group.shared_path(ctx.output_dir)  # rank 0's: checkpoints are shared
    log = MetricLogger(
        out / "metrics.jsonl", settings.log_every, enabled=group.rank == 0, sink=ctx.log_metrics
    )
    log.info(f"sft: {base.uri} on {sft_data.uri} ({rows.tokens.shape[0]:,} rows)")
    result = training.fit(gpt, rows, settings, out / "checkpoints", group, log)
    log.info(f"sft: loss {result.initial_loss:.4f} -> {result.final_loss:.4f}")
    artifact = None
    if group.rank == 0:
        save_pretrained(result.weights, gpt.config, out / "model")
        artifact = ModelArtifact(
            path=str(out / "model"),
            step=result.step,
            final_loss=result.final_loss,
            num_parameters=gpt.num_parameters(),
            architecture=gpt.config.to_dict(),
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
    return artifact


@dataclass
class PackedRows:
    """Packed SFT rows and their loss masks, ``(num_rows, pack_size)`` uint8 each."""

    tokens: torch.Tensor
    mask: torch.Tensor

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> PackedRows:
        import torch

        directory = Path(directory)

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
