"""Tiny recipes used by the tests (the built-in recipes train real models and are slower)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf


def consume(cfg: DictConfig) -> dict[str, Any]:
    """Write what the job saw of its (pinned) inputs to seen.json in the working directory."""
    seen = OmegaConf.to_container(cfg.get("inputs", {}), resolve=True)
    extra = OmegaConf.to_container(cfg.get("probe", {}), resolve=True)
    Path(cfg.get("seen_file", "seen.json")).write_text(json.dumps({"inputs": seen, "probe": extra}))
    return {"inputs": seen}
