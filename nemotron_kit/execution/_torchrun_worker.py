"""The program each torchrun rank runs: unpickle the job and run it (rank 0 keeps the result)."""

from __future__ import annotations

import sys
from pathlib import Path

import cloudpickle

from nemotron_kit.execution.job import JobFailed, for_rank
from nemotron_kit.execution.torchrun import rank


def main(payload: str) -> int:
    job, spec = cloudpickle.loads(Path(payload).read_bytes())
    job, spec = for_rank(job, spec, rank())
    try:
        job(spec)
    except JobFailed:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
