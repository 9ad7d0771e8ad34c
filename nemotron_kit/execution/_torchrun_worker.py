"""The program each torchrun rank runs: unpickle the job and run it (rank 0 keeps the result)."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import cloudpickle

from nemotron_kit.execution.job import JobFailed
from nemotron_kit.execution.torchrun import rank


def main(payload: str) -> int:
    job, spec = cloudpickle.loads(Path(payload).read_bytes())
    if rank() != 0:
        # Other ranks run the same job, without writing Hydra's files or the job's result.
        spec = dataclasses.replace(spec, overrides=(*spec.overrides, "hydra.output_subdir=null"))
        job = dataclasses.replace(
            job, sweep_dir=str(Path(job.sweep_dir) / ".nemotron_kit" / f"rank{rank()}")
        )
    try:
        job(spec)
    except JobFailed:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
