"""Typed settings of the built-in recipes (the schemas of conf/recipe/*.yaml's sections).

The values and what each key means are in the YAML files; these classes say what is allowed,
so ``train.lr=abc``, ``train.steps=-5`` or ``+train.bogus=1`` is refused before any work.
"""

from dataclasses import dataclass
from typing import Any, Optional

from omegaconf import MISSING

from nemotron_kit.config._check import constrained

# ruff: noqa: UP045  (OmegaConf evaluates these annotations; see config/schemas.py)


@dataclass
class DataPrepDataConf:
    source: Any = MISSING  # "builtin" or a list of paths / art:// URIs
    num_documents: int = constrained(MISSING, ge=1)
    max_operand: int = constrained(MISSING, ge=1)
    text_key: str = MISSING
    seq_length: int = constrained(MISSING, ge=1)
    validation_fraction: float = constrained(MISSING, ge=0, lt=1)
    shard_tokens: int = constrained(MISSING, ge=1)
    seed: int = MISSING


@dataclass
class SFTDataConf:
    source: Any = MISSING
    num_examples: int = constrained(MISSING, ge=1)
    max_operand: int = constrained(MISSING, ge=1)
    pack_size: int = constrained(MISSING, ge=2)
    seed: int = MISSING


@dataclass
class ModelConf:
    vocab_size: int = constrained(MISSING, ge=1, le=256)
    d_model: int = constrained(MISSING, ge=1)
    n_layers: int = constrained(MISSING, ge=1)
    n_heads: int = constrained(MISSING, ge=1)
    context: int = constrained(MISSING, ge=1)

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
    steps: int = constrained(MISSING, ge=1)
    batch_size: int = constrained(MISSING, ge=1)
    lr: float = constrained(MISSING, gt=0)
    warmup_steps: int = constrained(MISSING, ge=0)
    min_lr_ratio: float = constrained(MISSING, ge=0, le=1)
    weight_decay: float = constrained(MISSING, ge=0)
    grad_clip: float = constrained(MISSING, ge=0)
    seed: int = MISSING
    checkpoint_every: int = constrained(MISSING, ge=1)
    keep_checkpoints: int = constrained(MISSING, ge=1)
    log_every: int = constrained(MISSING, ge=1)
    # Kill the process right after the checkpoint of this step (to try resuming); null: never.
    stop_after: Optional[int] = constrained(None, ge=1)


@dataclass
class EvalConf:
    num_examples: int = constrained(MISSING, ge=1)
    max_operand: int = constrained(MISSING, ge=1)
    max_new_tokens: int = constrained(MISSING, ge=1)
    seed: int = MISSING


SCHEMAS: dict[str, dict[str, type]] = {
    "recipe": {
        "data_prep_data": DataPrepDataConf,
        "sft_data_data": SFTDataConf,
        "model": ModelConf,
        "train": TrainConf,
        "eval": EvalConf,
    }
}
