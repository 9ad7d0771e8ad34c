"""A small GPT over byte tokens: embeddings, pre-norm causal attention blocks, a linear head.

Initialisation draws from its own seeded generator, so the same seed gives the same weights
whatever else used the global RNG before.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nemotron_kit.errors import ConfigError


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int = 256
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    context: int = 64

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> GPTConfig:
        """From ``cfg.model`` or a ModelArtifact's ``architecture`` (unknown keys are errors)."""
        unknown = sorted(set(values) - set(cls.__dataclass_fields__))
        if unknown:
            raise ConfigError(
                f"Unknown model settings {unknown}: the GPT takes "
                f"{', '.join(cls.__dataclass_fields__)}."
            )
        config = cls(**{str(k): int(v) for k, v in values.items()})
        if config.d_model % config.n_heads:
            raise ConfigError(
                f"model.d_model={config.d_model} is not divisible by "
                f"model.n_heads={config.n_heads}: choose sizes that divide."
            )
        return config

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


class Block(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.n_heads = config.n_heads
        self.ln_attn = nn.LayerNorm(config.d_model)
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model)
        self.proj = nn.Linear(config.d_model, config.d_model)
        self.ln_mlp = nn.LayerNorm(config.d_model)
        self.fc = nn.Linear(config.d_model, 4 * config.d_model)
        self.fc_out = nn.Linear(4 * config.d_model, config.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, width = x.shape
        q, k, v = self.qkv(self.ln_attn(x)).split(width, dim=2)
        heads = (batch, length, self.n_heads, width // self.n_heads)
        q, k, v = (t.view(heads).transpose(1, 2) for t in (q, k, v))
        attn = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(attn.transpose(1, 2).reshape(batch, length, width))
        out: torch.Tensor = x + self.fc_out(F.gelu(self.fc(self.ln_mlp(x))))
        return out


class GPT(nn.Module):
    def __init__(self, config: GPTConfig, seed: int = 0) -> None:
        super().__init__()
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.d_model)
        self.pos_emb = nn.Embedding(config.context, config.d_model)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layers))
        self.ln_f = nn.LayerNorm(config.d_model)
        self.head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.reset_parameters(seed)

    @torch.no_grad()
    def reset_parameters(self, seed: int) -> None:
        """GPT-2 style: N(0, 0.02) weights, residual projections scaled by depth, zero biases."""
        generator = torch.Generator().manual_seed(seed)
        residual_std = 0.02 / (2 * self.config.n_layers) ** 0.5
        for name, param in self.named_parameters():  # registration order: fixed
            if name.endswith("bias"):
                param.zero_()
            elif ".ln_" in name or name.startswith("ln_"):
                param.fill_(1.0)
            else:
                std = residual_std if name.endswith(("proj.weight", "fc_out.weight")) else 0.02
                param.normal_(0.0, std, generator=generator)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Logits ``(batch, length, vocab)`` for token ids ``(batch, length)``."""
        length = idx.shape[1]
        if length > self.config.context:
            raise ValueError(
                f"a sequence of {length} tokens exceeds the model's context of "
                f"{self.config.context}"
            )
        positions = torch.arange(length, device=idx.device)
        x = self.tok_emb(idx) + self.pos_emb(positions)
        for block in self.blocks:
            x = block(x)
        logits: torch.Tensor = self.head(self.ln_f(x))
        return logits

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


WEIGHTS_FILE = "model.pt"
CONFIG_FILE = "config.json"


def save_pretrained(
    weights: Mapping[str, torch.Tensor], config: GPTConfig, directory: str | os.PathLike[str]
) -> None:
    """``model.pt`` (a state_dict of CPU tensors) and ``config.json`` (the architecture).

    ``torch.save`` of the same tensors in the same order writes the same bytes, so equal
    weights publish as equal artifacts.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    torch.save(dict(weights), directory / WEIGHTS_FILE)
    info = {"architecture": config.to_dict(), "tokenizer": "bytes", "weights": WEIGHTS_FILE}
    (directory / CONFIG_FILE).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")


def load_pretrained(directory: str | os.PathLike[str]) -> GPT:
    """The model a ``save_pretrained`` directory (a ModelArtifact's path) holds."""
    directory = Path(directory)
    info = json.loads((directory / CONFIG_FILE).read_text())
    model = GPT(GPTConfig.from_mapping(info["architecture"]))
    weights = torch.load(directory / info.get("weights", WEIGHTS_FILE), weights_only=True)
    model.load_state_dict(weights)
    return model


@torch.no_grad()
def generate_greedy(
    model: GPT, prompts: list[list[int]], max_new_tokens: int, stop: int
) -> list[list[int]]:
    """Greedy continuations of ``prompts`` (batched by length), each ending at ``stop``."""
    model.eval()
    outputs: list[list[int]] = [[] for _ in prompts]
    by_length: dict[int, list[int]] = {}
    for i, prompt in enumerate(prompts):
        by_length.setdefault(len(prompt), []).append(i)
    for indices in by_length.values():
        idx = torch.tensor([prompts[i] for i in indices], dtype=torch.long)
        done = torch.zeros(len(indices), dtype=torch.bool)
        for _ in range(max_new_tokens):
            logits = model(idx[:, -model.config.context :])
            next_token = logits[:, -1].argmax(dim=-1)
            for row, i in enumerate(indices):
                if not done[row]:
                    outputs[i].append(int(next_token[row]))
            done |= next_token == stop
            if bool(done.all()):
                break
            idx = torch.cat([idx, next_token[:, None]], dim=1)
    return outputs
