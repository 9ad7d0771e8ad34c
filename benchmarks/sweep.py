"""Sweeps: our launcher against Hydra's own, side by side in one run.

1. A 20-job local sweep of a trivial task: hydra/launcher=nemotron_kit (forked pool, one job
   composed from one template) vs Hydra's basic launcher and sweeper. Target: ratio <= 0.35.
2. A Slurm sweep: executor=slurm (job arrays through submitit) vs hydra-submitit-launcher's
   submitit_slurm on the same cluster. Target: ratio <= 0.8. The sweep has as many jobs as
   the cluster's MaxArraySize allows (at most 8; the test cluster's is 4): submitit_slurm
   sends one array and sbatch refuses a larger one, while ours splits it.
   Needs a running Slurm (scripts/local-slurm.sh start); skipped otherwise.

Both sides run the same nemotron_kit app (same config, callbacks, tracker=noop), so the
ratio isolates the launcher. Commands alternate; medians are reported, with each run's time.
A Slurm sweep starts once the jobs of the one before have left the queue.

    python benchmarks/sweep.py [--runs 5] [--slurm-runs 3]
"""

from __future__ import annotations

import argparse
import getpass
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

TASK = "def main(cfg):\n    return int(cfg.seed)\n"
RECIPE = "# @package _global_\nrecipe: {name: trivial, _target_: bench_task.main}\nseed: 0\n"


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"benchmark command failed: {' '.join(cmd)}\n{result.stderr[-2000:]}")
    return elapsed


def compare(
    name: str,
    commands: dict[str, list[str]],
    runs: int,
    cwd: Path,
    env: dict[str, str],
    settle: Callable[[], None] = lambda: None,
) -> float:
    """Median time of each command, run in turn; ``settle`` (untimed) runs before each."""
    samples: dict[str, list[float]] = {k: [] for k in commands}
    for cmd in commands.values():  # warm-up
        settle()
        timed(cmd, cwd, env)
    for _ in range(runs):
        for key, cmd in commands.items():
            settle()
            samples[key].append(timed(cmd, cwd, env))
    (ours, theirs) = commands
    print(f"{name}: median of {runs} runs each")
    for key, values in samples.items():
        each = " ".join(f"{v:.2f}" for v in values)
        print(f"  {key:<28} median {statistics.median(values):6.2f} s   each: {each}")
    ratio = statistics.median(samples[ours]) / statistics.median(samples[theirs])
    return ratio


def own_jobs_gone(work: Path, timeout: float = 120.0) -> None:
    """Until none of this user's jobs started from ``work`` is left in the queue (still
    completing, say): a sweep then never waits on the cluster for the one before it."""
    user = getpass.getuser()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = subprocess.run(
                ["squeue", "-h", "-u", user, "-o", "%Z"], capture_output=True, text=True, timeout=30
            )
        except subprocess.TimeoutExpired:
            continue  # a busy controller: ask again
        if result.returncode == 0 and not any(
            line.strip().startswith(str(work)) for line in result.stdout.splitlines()
        ):
            return
        time.sleep(0.2)
    raise SystemExit(
        f"after {timeout:.0f} s, squeue still lists jobs started from {work} (or fails): "
        f"look at `squeue -u {user}`"
    )


def max_array_size() -> int:
    """The cluster's MaxArraySize: submitit_slurm cannot send a larger sweep."""
    out = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "MaxArraySize" and value.strip().isdigit():
            return int(value.strip())
    return 1001


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--slurm-runs", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "conf" / "recipe").mkdir(parents=True)
        (work / "conf" / "recipe" / "trivial.yaml").write_text(RECIPE)
        (work / "bench_task.py").write_text(TASK)
        env = {
            **os.environ,
            "PYTHONPATH": str(work),
            "NEMOTRON_KIT_HOME": str(work / "home"),
            "OMP_NUM_THREADS": "1",
        }
        base = [
            sys.executable,
            "-m",
            "nemotron_kit",
            "-m",
            "--config-dir",
            str(work / "conf"),
            "+recipe=trivial",
            "tracker=noop",
        ]
        local = compare(
            "20-job local sweep of a trivial task",
            {
                "nemotron_kit launcher": [*base, "seed=range(20)"],
                "hydra basic launcher": [
                    *base,
                    "seed=range(20)",
                    "hydra/launcher=basic",
                    "hydra/sweeper=basic",
                ],
            },
            args.runs,
            work,
            env,
        )
        print(f"ratio nemotron_kit / basic = {local:.2f}  (target <= 0.35)")

        if (
            shutil.which("sbatch") is None
            or subprocess.run(["sinfo"], capture_output=True).returncode != 0
        ):
            print("Slurm sweep: skipped (no Slurm here; scripts/local-slurm.sh start)")
            return
        jobs = min(8, max_array_size())
        slurm = compare(
            f"{jobs}-job Slurm sweep",
            {
                "nemotron_kit executor=slurm": [
                    *base,
                    f"seed=range({jobs})",
                    "executor=slurm",
                    "executor.time_min=5",
                ],
                "submitit_slurm launcher": [
                    *base,
                    f"seed=range({jobs})",
                    "hydra/launcher=submitit_slurm",
                    "hydra/sweeper=basic",
                    "hydra.launcher.timeout_min=5",
                    "hydra.launcher.partition=debug",
                ],
            },
            args.slurm_runs,
            work,
            env,
            settle=lambda: own_jobs_gone(work),
        )
        print(f"ratio nemotron_kit / submitit_slurm = {slurm:.2f}  (target <= 0.8)")


if __name__ == "__main__":
    main()
