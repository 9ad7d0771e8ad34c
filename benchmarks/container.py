"""Overhead of executor=container: a trivial job in a container vs the local executor.

Both run the same test recipe (tests/conf/recipe/stage.yaml: hash a config, publish a tiny
artifact) through the full CLI, interleaved, from the same directory, with a private
NEMOTRON_KIT_HOME. The difference of the medians is what a container adds per job
(engine start, mounts, wait, inspect, logs, removal). Target: under 1 s extra per job.

Needs podman (scripts/podman-setup.sh, which also builds the test image) or docker:

    CONTAINERS_CONF=/tmp/nk-podman/containers.conf python benchmarks/container.py [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
IMAGE = os.environ.get("NK_TEST_IMAGE", "localhost/nemotron-kit-test:latest")


def time_once(args: list[str], cwd: Path, env: dict[str, str]) -> float:
    cmd = [sys.executable, "-m", "nemotron_kit", "--config-dir", str(REPO / "tests" / "conf")]
    start = time.perf_counter()
    proc = subprocess.run([*cmd, *args], cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"job failed ({' '.join(args)}):\n{proc.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--image", default=IMAGE)
    opts = parser.parse_args()
    from nemotron_kit.execution.engine import detect_engine, engine_env

    engine = detect_engine("auto")
    probe = subprocess.run(
        [engine, "image", "exists", opts.image]
        if engine.endswith("podman")
        else [engine, "image", "inspect", opts.image],
        capture_output=True,
        env=engine_env(engine),
    )
    if probe.returncode != 0:
        sys.exit(f"image {opts.image} is missing: run scripts/build-test-image.sh first")
    with tempfile.TemporaryDirectory(prefix="nk-bench-container-") as tmp:
        work = Path(tmp)
        env = {
            **engine_env(engine),
            "NEMOTRON_KIT_HOME": str(work / "home"),
            "PYTHONPATH": str(REPO),
            "OMP_NUM_THREADS": "1",
        }
        common = ["+recipe=stage", "stage.name=bench", "output.name=bench"]
        kinds = {
            "local": [*common, "executor=local"],
            "container": [
                *common,
                "executor=container",
                f"executor.image={opts.image}",
                "executor.snapshot=false",
            ],
        }
        for args in kinds.values():  # warm caches (page cache, image layers)
            time_once(args, work, env)
        times: dict[str, list[float]] = {k: [] for k in kinds}
        for _ in range(opts.runs):
            for kind, args in kinds.items():
                times[kind].append(time_once(args, work, env))
    local, boxed = (statistics.median(times[k]) for k in ("local", "container"))
    print(f"trivial job, median of {opts.runs} runs each (engine: {engine}, image: {opts.image})")
    print(f"{'executor':<10} {'median s':>9} {'min s':>7} {'max s':>7}")
    for kind, values in times.items():
        print(
            f"{kind:<10} {statistics.median(values):>9.2f} {min(values):>7.2f} {max(values):>7.2f}"
        )
    extra = boxed - local
    verdict = "OK" if extra < 1.0 else "OVER TARGET"
    print(f"container overhead per job: {extra:+.2f} s (target < 1 s: {verdict})")


if __name__ == "__main__":
    main()
