"""A probe recipe for the container executor's tests (tests/test_container.py)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from omegaconf import DictConfig


def probe(cfg: DictConfig) -> str:
    """Record when the job ran and what it saw, then behave as ``probe.mode`` asks.

    Writes probe-<tag>.json (start/end times, host, whether ``probe.secret_var`` was set) to
    the working directory; mode ok | exit3 | oom | raise.
    """
    p = cfg.probe
    start = time.time()
    time.sleep(float(p.sleep))
    seen = {
        "tag": str(p.tag),
        "start": start,
        "end": time.time(),
        "host": os.uname().nodename,
        "secret_set": bool(p.secret_var and os.environ.get(str(p.secret_var))),
    }
    Path(f"probe-{p.tag}.json").write_text(json.dumps(seen))
    if p.mode == "exit3":
        os._exit(3)
    if p.mode == "oom":
        hog = [b"\1" * (16 << 20) for _ in range(int(p.alloc_mb) // 16)]  # touched pages
        return str(len(hog))
    if p.mode == "raise":
        raise RuntimeError(f"probe {p.tag} was asked to fail")
    return str(p.tag)
