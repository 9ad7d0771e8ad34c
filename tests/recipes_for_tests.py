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


def produce(cfg: DictConfig) -> str:
    """Deterministic stage: hash the inputs' files and the `stage` settings into one output file.

    Publishes `cfg.output` (an artifact config with `_target_`) from a fresh directory; the
    output depends only on the config and the inputs, so reproducing it gives the same digest.
    """
    import hashlib
    import os

    from nemotron_kit.config import instantiate

    h = hashlib.sha256(
        json.dumps(OmegaConf.to_container(cfg.stage, resolve=True), sort_keys=True).encode()
    )
    for _, uri in sorted((cfg.get("inputs") or {}).items()):
        from nemotron_kit.registry import get_registry

        art = get_registry().load(uri)
        for path in (
            sorted(Path(art.path).rglob("*")) if Path(art.path).is_dir() else [Path(art.path)]
        ):
            if path.is_file():
                h.update(path.read_bytes())
    if cfg.stage.get("fail"):
        raise RuntimeError(f"stage {cfg.stage.name} was asked to fail")
    if cfg.stage.get("sleep"):
        import time

        time.sleep(float(cfg.stage.sleep))
    if cfg.stage.get("exit_code") is not None:
        os._exit(int(cfg.stage.exit_code))  # dies without a Python exception or a result
    if cfg.stage.get("print_secret"):
        print("token in config:", cfg.stage.print_secret)
    out = Path(os.getcwd()) / f"out-{cfg.stage.name}"
    out.mkdir(parents=True, exist_ok=True)
    (out / "result.txt").write_text(h.hexdigest())
    artifact = instantiate(cfg.output, path=str(out))
    return str(artifact.save(aliases=list(cfg.stage.get("aliases", []))))
