"""A probe recipe for the container executor's tests (tests/test_container.py)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from omegaconf import DictConfig

from tests.recipes_for_tests import hold


def probe(cfg: DictConfig) -> str:
    """Record what the job saw, then behave as ``probe.mode`` asks (ok | exit3 | oom | raise).

    Writes probe-<tag>.json (host, whether ``probe.secret_var`` was set, how many probe jobs
    were running at once) to the working directory, which the jobs of a sweep share. With
    ``probe.barrier: N`` a job waits until N jobs have started (a barrier only jobs that run
    at the same time pass); ``probe.sleep`` holds it a while longer before it ends, and
    ``probe.hold: PATH`` until the test makes PATH (tests.recipes_for_tests.hold).
    """
    p = cfg.probe
    here = Path.cwd()
    (here / f"started-{p.tag}").touch()
    deadline = time.monotonic() + 600  # only ends a job whose peers never come
    while len(list(here.glob("started-*"))) < int(p.barrier):
        if time.monotonic() > deadline:
            raise RuntimeError(f"probe {p.tag}: fewer than {p.barrier} jobs ever started")
        time.sleep(0.05)
    # Those started and not yet finished, this one included.
    running = len(list(here.glob("started-*"))) - len(list(here.glob("finished-*")))
    time.sleep(float(p.sleep))
    if p.get("hold"):
        hold(Path(p.hold))
    seen = {
        "tag": str(p.tag),
        "running": running,
        "host": os.uname().nodename,
        "secret_set": bool(p.secret_var and os.environ.get(str(p.secret_var))),
    }
    Path(f"probe-{p.tag}.json").write_text(json.dumps(seen))
    (here / f"finished-{p.tag}").touch()
    if p.mode == "exit3":
        os._exit(3)
    if p.mode == "oom":
        hog = [b"\1" * (16 << 20) for _ in range(int(p.alloc_mb) // 16)]  # touched pages
        return str(len(hog))
    if p.mode == "raise":
        raise RuntimeError(f"probe {p.tag} was asked to fail")
    return str(p.tag)
