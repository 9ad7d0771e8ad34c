"""What a recipe needs from the job around it: its output directory and the one publish path."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf


def output_dir() -> Path:
    """The job's own output directory (the same again when a job is restarted or requeued)."""
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        return Path(HydraConfig.get().runtime.output_dir)
    return Path(os.getcwd())


def plain(node: DictConfig) -> dict[str, Any]:
    """A config section as a plain dict, interpolations resolved (e.g. ``cfg.train``)."""
    values = OmegaConf.to_container(node, resolve=True)
    assert isinstance(values, dict)
    return {str(k): v for k, v in values.items()}


def publish(output: DictConfig, path: Path, **fields: Any) -> str:
    """Publish ``path`` as the artifact ``output`` describes (``_target_``, ``name``).

    ``fields`` are the class's typed metadata; plain Python values only (no OmegaConf nodes),
    since Hydra merges them into the config before building the artifact.
    """
    from nemotron_kit.config import instantiate

    artifact = instantiate(output, path=str(path), **fields)
    # Copy, not reference: the job's directory may be reused (a rerun, a resume with more
    # steps), and a published version must never change underneath its readers.
    return str(artifact.save(mode="copy"))
