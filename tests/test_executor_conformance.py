"""The executor conformance suite (nemotron_kit.execution.testing) on every executor: local,
torchrun, Slurm (the test cluster) and containers (podman, the test image)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from nemotron_kit.execution.testing import ExecutorSuite, Probe
from tests.conftest import needs

IMAGE = "localhost/nemotron-kit-test:latest"


class TestLocal(ExecutorSuite):
    overrides = (
        "executor=local",
        "executor.max_parallel=2",
    )
    parallel_jobs = 2


@pytest.mark.slow
class TestTorchrun(ExecutorSuite):
    overrides = (
        "executor=torchrun",
        "executor.nproc_per_node=2",
    )
    two_ranks = ()  # every job is two ranks already


@needs("slurm")
class TestSlurm(ExecutorSuite):
    overrides = ("executor=slurm",)
    parallel_jobs = 2
    two_ranks = ("executor.tasks_per_node=2",)

    def assert_nothing_left(self, probe: Probe, hold_dir: Path) -> None:
        super().assert_nothing_left(probe, hold_dir)

        def mine() -> list[str]:
            queue = subprocess.run(
                ["squeue", "-h", "-o", "%i %T %Z"], capture_output=True, text=True, check=True
            ).stdout
            return [line for line in queue.splitlines() if str(probe.work) in line]

        # A cancelled job stays in the queue, COMPLETING, while slurmd cleans up after it (for
        # seconds on a busy node); one still queued a minute later was never cancelled.
        left, deadline = mine(), time.monotonic() + 60
        while left and time.monotonic() < deadline:
            time.sleep(0.5)
            left = mine()
        assert left == [], left


@needs("podman")
class TestContainer(ExecutorSuite):
    overrides = (
        "executor=container",
        f"executor.image={IMAGE}",
        "executor.max_parallel=2",
    )
    parallel_jobs = 2

    def assert_nothing_left(self, probe: Probe, hold_dir: Path) -> None:
        # The pids the probes wrote are the containers' own: ask the engine instead.
        left = subprocess.run(
            ["podman", "ps", "-a", "-q", "--filter", "label=nk.sweep-dir"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
        running = [
            c
            for c in left
            if str(probe.work)
            in subprocess.run(
                ["podman", "inspect", "--format", '{{index .Config.Labels "nk.sweep-dir"}}', c],
                capture_output=True,
                text=True,
                check=False,
            ).stdout
        ]
        assert running == [], running
