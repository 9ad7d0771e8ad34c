"""Typed artifacts: a path plus validated metadata. No I/O here beyond (de)serialising.

Publishing and loading hand straight to the registry (``save`` / ``from_uri``).
"""

from nemotron_kit.artifacts._base import Artifact, InputDatasetInfo, artifact_class_path
from nemotron_kit.artifacts._types import (
    DataBlendsArtifact,
    ModelArtifact,
    PretrainBlendsArtifact,
    PretrainDataArtifact,
    SFTDataArtifact,
    SplitJsonlDataArtifact,
)

__all__ = [
    "Artifact",
    "DataBlendsArtifact",
    "InputDatasetInfo",
    "ModelArtifact",
    "PretrainBlendsArtifact",
    "PretrainDataArtifact",
    "SFTDataArtifact",
    "SplitJsonlDataArtifact",
    "artifact_class_path",
]
