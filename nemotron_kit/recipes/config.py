"""The built-in recipes' configs: the defaults ``--cfg job`` prints and what is allowed.

Each recipe declares one of the ``*Config`` classes below in its ``@recipe``; its fields are the
recipe's top-level sections (``train.lr=1e-3``). OmegaConf refuses a wrong type at composition
(``train.lr=abc``), :func:`nemotron_kit.config.check_config` an out-of-range value or an unknown
key (``train.steps=-5``, ``+train.bogus=1``) before any work. Only dataclasses here: composing a
recipe imports this module, never torch.
"""

from dataclasses import dataclass, field
from typing import Any, Optional

from nemotron_kit.config._check import constrained

# ruff: noqa: UP045  (OmegaConf evaluates these annotations; see config/schemas.py)


@dataclass
class DataPrepDataConf:
    # builtin: a procedural arithmetic corpus generated here (no downloads); or a list of
    # paths/art:// URIs of JSONL or text files.
    source: Any = "builtin"
    # builtin: how many lines ("3+5=8") to generate, with operands from 0 to max_operand.
    num_documents: int = constrained(20000, ge=1)
    max_operand: int = constrained(9, ge=1)
    # Your JSONL files: the field holding each document's text (a text file is one document).
    text_key: str = "text"
    # Training window length in tokens (bytes); pretrain needs model.context >= seq_length.
    seq_length: int = constrained(64, ge=1)
    # Share of the documents set aside as the validation split.
    validation_fraction: float = constrained(0.05, ge=0, lt=1)
    # Tokens per shard file (train-00000.bin, ...).
    shard_tokens: int = constrained(1_000_000, ge=1)
    # Seeds the generated corpus and the train/validation split.
    seed: int = 0


@dataclass
class SFTDataConf:
    # builtin: arithmetic questions ("Q: 3+5=\nA: 8"), leaving out the sums eval holds out;
    # or a list of paths/art:// URIs of JSONL files with `prompt` and `answer` fields.
    source: Any = "builtin"
    # builtin: how many questions, with operands from 0 to max_operand.
    num_examples: int = constrained(4000, ge=1)
    max_operand: int = constrained(9, ge=1)
    # Tokens per packed row (whole examples only, PAD after them); at most model.context + 1.
    pack_size: int = constrained(64, ge=2)
    seed: int = 1


@dataclass
class ModelConf:
    # Byte-level tokens: 256 ids.
    vocab_size: int = constrained(256, ge=1, le=256)
    # Width, depth and attention heads (d_model must be divisible by n_heads).
    d_model: int = constrained(64, ge=1)
    n_layers: int = constrained(2, ge=1)
    n_heads: int = constrained(4, ge=1)
    # Longest sequence the model sees (>= the data's seq_length).
    context: int = constrained(64, ge=1)

    @staticmethod
    def cross_check(node: Any) -> Optional[str]:
        if node.d_model % node.n_heads:
            return (
                f"model.d_model={node.d_model} is not divisible by model.n_heads={node.n_heads}: "
                "choose sizes that divide"
            )
        return None


@dataclass
class TrainConf:
    # Optimizer steps; each takes one global batch of `batch_size` windows (split across ranks
    # under torchrun, so the result does not depend on the number of ranks).
    steps: int = constrained(300, ge=1)
    batch_size: int = constrained(16, ge=1)
    # AdamW peak learning rate, reached after `warmup_steps`, then cosine decay to
    # lr * min_lr_ratio at the last step.
    lr: float = constrained(3e-3, gt=0)
    warmup_steps: int = constrained(20, ge=0)
    min_lr_ratio: float = constrained(0.1, ge=0, le=1)
    weight_decay: float = constrained(0.01, ge=0)
    # Gradient-norm clipping (0: off).
    grad_clip: float = constrained(1.0, ge=0)
    # Seeds the weights and the batch sampler: the same seed gives bit-identical weights.
    seed: int = 0
    # Save a checkpoint every this many steps (and at the end); keep the newest few.
    checkpoint_every: int = constrained(100, ge=1)
    keep_checkpoints: int = constrained(2, ge=1)
    # Print the loss (and append it to metrics.jsonl) every this many steps.
    log_every: int = constrained(50, ge=1)
    # Kill the process right after the checkpoint of this step (to try resuming); null: never.
    stop_after: Optional[int] = constrained(None, ge=1)


@dataclass
class EvalConf:
    # Questions drawn (with `seed`) from the held-out sums: those sft_data never asks.
    num_examples: int = constrained(500, ge=1)
    # Must match the max_operand the model was trained with (data_prep, sft_data).
    max_operand: int = constrained(9, ge=1)
    # Longest answer generated (greedy), stopping at a newline.
    max_new_tokens: int = constrained(4, ge=1)
    seed: int = 123


# -- one class per recipe: its top-level sections ---------------------------------------------
@dataclass
class DataPrepConfig:
    data: DataPrepDataConf = field(default_factory=DataPrepDataConf)


@dataclass
class SFTDataConfig:
    data: SFTDataConf = field(default_factory=SFTDataConf)


@dataclass
class PretrainConfig:
    model: ModelConf = field(default_factory=ModelConf)
    train: TrainConf = field(default_factory=TrainConf)


@dataclass
class SFTConfig:
    # The same keys as pretrain's `train`; the loss is taken on answer tokens only.
    train: TrainConf = field(default_factory=lambda: TrainConf(warmup_steps=10))


@dataclass
class EvalConfig:
    eval: EvalConf = field(default_factory=EvalConf)
