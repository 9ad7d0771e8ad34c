"""Startup cost: `python -m nemotron_kit --cfg job` against a bare Hydra app with the same groups.

The bare app is a plain ``@hydra.main`` over a copy of our ``conf/`` (same groups, same options),
so the ratio isolates what nemotron-kit adds on top of Hydra. Both run interleaved, in the same
environment, from the same directory. Target: ratio <= 1.25.

    python benchmarks/startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

BARE_APP = """
import hydra

@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg):
    pass

if __name__ == "__main__":
    main()
"""


def time_once(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copytree(REPO / "conf", work / "conf")
        (work / "bare_app.py").write_text(BARE_APP)
        env = {**os.environ, "NEMOTRON_KIT_HOME": str(work / "home")}
        commands = {
            "nemotron_kit": [sys.executable, "-m", "nemotron_kit", "--cfg", "job"],
            "bare hydra": [sys.executable, "bare_app.py", "--cfg", "job"],
        }
        for cmd in commands.values():  # warm the page cache and .pyc files
            time_once(cmd, work, env)
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, cmd in commands.items():
                samples[name].append(time_once(cmd, work, env))

    medians = {name: statistics.median(values) for name, values in samples.items()}
    groups = sorted(p.name for p in (REPO / "conf").iterdir() if p.is_dir())
    print(f"--cfg job, {args.runs} interleaved runs each, {len(groups)} config groups:")
    print(f"  {', '.join(groups)}")
    for name, values in samples.items():
        print(
            f"  {name:<13} median {medians[name] * 1000:7.1f} ms   min {min(values) * 1000:7.1f} ms"
        )
    ratio = medians["nemotron_kit"] / medians["bare hydra"]
    print(f"ratio nemotron_kit / bare hydra = {ratio:.3f}  (target <= 1.25)")


if __name__ == "__main__":
    main()
