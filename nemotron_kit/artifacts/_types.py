"""The built-in artifact types of the training pipeline."""

from __future__ import annotations

from typing import Any

from pydantic import Field, NonNegativeInt, PositiveInt

from nemotron_kit.artifacts._base import Artifact, InputDatasetInfo


class DataBlendsArtifact(Artifact):
    """A weighted blend of source datasets: which data went in, and how much of each."""

    artifact_type = "data_blends"
    source_datasets: list[InputDatasetInfo] = Field(default_factory=list)


class PretrainBlendsArtifact(DataBlendsArtifact):
    """Tokenized pretraining shards plus ``blend.json``."""

    artifact_type = "pretrain_blends"
    total_tokens: NonNegativeInt = 0
    num_shards: NonNegativeInt = 0
    seq_length: PositiveInt | None = None
    tokenizer: str = "bytes"


class PretrainDataArtifact(Artifact):
    """Raw pretraining data files (JSONL or text), before tokenization."""

    artifact_type = "pretrain_data"
    num_documents: NonNegativeInt | None = None
    total_tokens: NonNegativeInt | None = None
    format: str = "jsonl"


class SFTDataArtifact(Artifact):
    """Packed supervised fine-tuning examples."""

    artifact_type = "sft_data"
    num_examples: NonNegativeInt = 0
    pack_size: PositiveInt = 1
    total_tokens: NonNegativeInt | None = None
    source_datasets: list[InputDatasetInfo] = Field(default_factory=list)


class SplitJsonlDataArtifact(Artifact):
    """JSONL data split into named files (``train.jsonl``, ``validation.jsonl``, ...)."""

    artifact_type = "split_jsonl"
    splits: dict[str, NonNegativeInt] = Field(default_factory=dict, description="rows per split")


class ModelArtifact(Artifact):
    """A model checkpoint directory: weights, the step reached, architecture and loss."""

    artifact_type = "model"
    step: NonNegativeInt = 0
    final_loss: float | None = None
    num_parameters: NonNegativeInt | None = None
    architecture: dict[str, Any] = Field(default_factory=dict)
