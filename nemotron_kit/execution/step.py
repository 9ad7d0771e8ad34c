"""``python -m nemotron_kit.execution.step REQUEST.json``: one ``launch`` in a fresh process.

A pipeline's steps and ``nemotron-kit reproduce`` run this way: the request is the one place
the caller's choices travel (overrides, the run id the run must record under, and the config
to start from), read once here, and the result is the process's exit code and its run record.
Errors are reported as the command line reports them: one sentence, a non-zero exit.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class LaunchRequest:
    overrides: list[str] = field(default_factory=list)
    run_id: str | None = None
    config_name: str = "config"
    config_dir: str | None = None
    snapshot: str | None = None  # the code to run from (reproduce: the recorded snapshot)

    def write(self, path: Path) -> Path:
        path.write_text(json.dumps(asdict(self)))
        return path

    @classmethod
    def read(cls, path: Path) -> LaunchRequest:
        return cls(**json.loads(path.read_text()))


def main(argv: list[str]) -> int:
    from nemotron_kit.cli import run_reported
    from nemotron_kit.execution.api import launch

    request = LaunchRequest.read(Path(argv[0]))
    return run_reported(
        lambda: launch(
            request.overrides,
            run_id=request.run_id,
            config_name=request.config_name,
            config_dir=request.config_dir,
            snapshot=request.snapshot,
        )
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
