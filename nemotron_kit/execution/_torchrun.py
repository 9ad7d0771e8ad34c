"""``python -m nemotron_kit.execution._torchrun ARGS``: torchrun, whose failure is told once.

torchrun's own entry point prints a traceback and a summary when a rank fails; the launcher
then reports the failing rank's error itself (``torchrun.failed_rank``), in one line. The
exit status is torchrun's: 0, or 1 if a rank failed.
"""

from __future__ import annotations

import sys
from typing import Any


def main(argv: list[str]) -> int:
    import torch.distributed.run
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    torchrun: Any = torch.distributed.run  # untyped: its own main() is parse_args, then run
    try:
        torchrun.run(torchrun.parse_args(argv))
    except ChildFailedError:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
