"""``python -m nemotron_kit.execution._payload PAYLOAD``: run a pickled job where it landed.

The payload is ``(HydraJob, JobSpec)``, written 0600 by the executor (torchrun, containers);
the job's code comes from ``sys.path`` (the snapshot first, through PYTHONPATH). Under torchrun
each rank runs it: ranks other than 0 run the same job without writing Hydra's files or the
job's result. Exit status 1 means the job's task raised (its error is in the result file).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import cloudpickle

from nemotron_kit.execution.job import JobFailed, for_rank


def main(payload: str) -> int:
    job, spec = cloudpickle.loads(Path(payload).read_bytes())
    job, spec = for_rank(job, spec, int(os.environ.get("RANK", "0") or 0))
    try:
        job(spec)
    except JobFailed:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
