"""The job side of the contract: a ``JobSpec`` read once into the ``JobContext`` a recipe gets.

Opening the context checks the job's config (before anything is written), selects the
registry, pins the job's artifact references (the spec's pins when the launcher decided them),
rewrites Hydra's saved config with the pinned versions and without secrets, and starts the run
in its trackers. Closing it ends the run with the job's status. Everything the job needs from
the framework is an attribute here: ``ctx.registry``, ``ctx.run``, ``ctx.spec``, ``ctx.inputs``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from omegaconf import DictConfig, OmegaConf

from nemotron_kit.errors import RankFailedError
from nemotron_kit.execution.job import JobSpec, peer_results
from nemotron_kit.execution.torchrun import rank
from nemotron_kit.tracking import run as runs

if TYPE_CHECKING:
    from nemotron_kit.recipes.api import Recipe
    from nemotron_kit.registry.core import ArtifactRegistry
    from nemotron_kit.tracking.run import ActiveRun


@dataclass
class JobContext:
    """What a running job has: its contract, registry, run (None without lineage) and inputs."""

    spec: JobSpec
    config: DictConfig
    registry: ArtifactRegistry
    run: ActiveRun | None = None
    inputs: list[str] = field(default_factory=list)
    # On rank 0 of a distributed job: where the other ranks leave their verdicts, read
    # before the run ends (a run is COMPLETED only if every rank completed).
    peers: list[tuple[int, Path]] = field(default_factory=list)

    @property
    def run_id(self) -> str | None:
        return self.run.run_id if self.run is not None else None

    @property
    def rank(self) -> int:
        """This process's global rank (0 outside distributed jobs; only rank 0 publishes)."""
        return rank()

    @property
    def output_dir(self) -> Path:
        """The job's own output directory (the same again when a job is restarted or requeued)."""
        from hydra.core.hydra_config import HydraConfig

        if HydraConfig.initialized():
            return Path(HydraConfig.get().runtime.output_dir)
        return Path(os.getcwd())

    def log_metrics(self, values: dict[str, Any], step: int | None = None) -> None:
        """Log a row of numbers (loss, learning rate, throughput) at ``step``: kept with the
        run in the registry and mirrored to every tracker (W&B's step curves). Only rank 0
        logs; elsewhere, and in a run without lineage, this does nothing."""
        if self.run is not None and self.rank == 0:
            self.run.log_metrics(values, step)

    @property
    def dist_backend(self) -> str:
        """The torch.distributed backend the executor chose (``auto``: nccl with CUDA)."""
        return self.spec.options.get("dist_backend", "auto")

    @classmethod
    def open(
        cls,
        cfg: DictConfig,
        spec: JobSpec,
        hydra_cfg: DictConfig | None,
        recipe: Recipe | None = None,
    ) -> JobContext:
        """Check, pin and start the job described by ``cfg`` and ``spec``; a declared
        ``recipe``'s inputs are type-checked before the run record exists."""
        from nemotron_kit.config import check_job_config
        from nemotron_kit.registry import init_from_config
        from nemotron_kit.registry.core import RunContext
        from nemotron_kit.registry.resolver import pin_config

        if spec.snapshot is None and rank() == 0:
            spec = dataclasses.replace(spec, snapshot=_snapshot_here())
        saved = _saved_config_dir(hydra_cfg)
        if saved is not None:
            redact_saved_files(saved)  # before anything else can fail and leave them
        check_job_config(cfg)
        registry = init_from_config(cfg.registry)
        pins = dict(spec.pins)
        inputs = pin_config(cfg, pins=pins)
        if recipe is not None:
            recipe.check_config(cfg)
            recipe.check_inputs(cfg, registry)
        if saved is not None and inputs:  # the saved file still says `latest`: the pinned one
            OmegaConf.save(cfg, saved / "config.yaml")
            redact_saved_files(saved)
        run = runs.start_run(
            cfg,
            hydra_cfg,
            registry=registry,
            run_id=spec.run_id or runs.new_run_id(),
            inputs=inputs,
            pins=pins,
            sweep_id=spec.sweep_id,
            snapshot=spec.snapshot,
        )
        if run is not None:
            registry.run_context = RunContext(
                run.run_id, list(inputs), [run.notify_output], metrics=run.log_metrics
            )
        peers = []
        if rank() == 0 and hydra_cfg is not None and hydra_cfg.get("sweep") is not None:
            # Against the command's directory: Hydra may have moved into the job's by now.
            sweep = Path(str(hydra_cfg.runtime.cwd), str(hydra_cfg.sweep.dir))
            peers = peer_results(sweep, spec)
        return cls(spec=spec, config=cfg, registry=registry, run=run, inputs=inputs, peers=peers)

    def close(self, status: str, error: str | None = None, result: Any = None) -> None:
        """End the run; a tracker that could not record the end makes this raise, and so
        does another rank of the job that failed (the run then ends FAILED with its error)."""
        self.registry.run_context = None
        peer = self.failed_peer() if status == "COMPLETED" and self.peers else None
        if peer is not None:
            status, error = "FAILED", peer
        if self.run is not None:
            runs.end_run(self.run, status, error, result)
            if self.run.tracker_errors:
                raise runs.LineageError(
                    f"The job {status.lower()}, but its lineage could not be fully recorded "
                    f"({self.run.tracker_errors[0]}): see the error above."
                )
        if peer is not None:
            raise RankFailedError(f"The job failed on another rank: {peer}")

    def failed_peer(self, patience_s: float = 600.0) -> str | None:
        """Wait for the other ranks' verdicts: the error of the first that failed, or None.

        They end when the work does (its last collective); a rank that died without one is
        stopped with the others by torchrun or Slurm, this one included. One that has not
        ended ``patience_s`` after this one is left out, and said to be.
        """
        import time

        from nemotron_kit.execution.job import load_result

        start = time.monotonic()
        waiting, told = dict(self.peers), False
        self.peers = []  # asked once: the answer stands (publish, then the run's end)
        while waiting:
            for peer, path in list(waiting.items()):
                result = load_result(path) if path.exists() else None
                if result is None:
                    continue
                del waiting[peer]
                if result.get("status") == "FAILED":
                    return f"rank {peer} failed: {result.get('error')}"
            waited = time.monotonic() - start
            if waiting and waited > patience_s:
                left = ", ".join(map(str, sorted(waiting)))
                print(
                    f"rank 0 recorded the run without the verdict of rank {left}, which had "
                    f"not ended {patience_s:.0f} s after it",
                    file=sys.stderr,
                    flush=True,
                )
                return None
            if waiting and waited > 10 and not told:
                print("rank 0 waits for the other ranks to end", file=sys.stderr, flush=True)
                told = True
            if waiting:
                time.sleep(0.05 if waited < 2 else 0.5)
        return None

    def outputs(self) -> list[str]:
        """What the job's run published so far."""
        return self.registry.run_outputs(self.run.run_id) if self.run is not None else []


def redact_saved_files(hydra_dir: Path) -> None:
    """Hydra saved the job's config and overrides before the job started: a value under a
    secret key, or a secret's value anywhere, must not stay in those files."""
    from nemotron_kit.tracking._secrets import config_secrets, redact, secret_values

    loaded: dict[Path, Any] = {}
    for name in ("config.yaml", "hydra.yaml", "overrides.yaml"):
        with contextlib.suppress(FileNotFoundError):
            loaded[hydra_dir / name] = load_plain_yaml((hydra_dir / name).read_text())
    found = {*secret_values()}
    for data in loaded.values():
        found.update(config_secrets(data))
    secrets = sorted(found, key=len, reverse=True)
    for path, data in loaded.items():
        cleaned = redact(data, secrets)
        if cleaned != data:
            OmegaConf.save(OmegaConf.create(cleaned), path)


@functools.cache
def _plain_loader() -> Any:
    import yaml

    base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Loader(base):  # type: ignore[misc]
        """YAML as OmegaConf reads it (no timestamps, ``pathlib`` paths), parsed in C when
        libyaml is there."""

    Loader.yaml_implicit_resolvers = {
        first: [r for r in resolvers if r[0] != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in base.yaml_implicit_resolvers.items()
    }
    # OmegaConf writes a config's Path values with these tags (a recipe's ``Path`` field;
    # the class's module is ``pathlib._local`` from Python 3.13): read back as paths, as
    # OmegaConf's own loader does, and nothing else of Python's.
    for module in ("pathlib", "pathlib._local"):
        for name in ("Path", "PosixPath", "WindowsPath"):
            Loader.add_constructor(
                f"tag:yaml.org,2002:python/object/apply:{module}.{name}",
                lambda loader, node: Path(*loader.construct_sequence(node)),
            )
    return Loader


def load_plain_yaml(text: str) -> Any:
    """A saved config as plain data, a tenth of the cost of ``OmegaConf.load``."""
    import yaml

    return yaml.load(text, Loader=_plain_loader())


def _snapshot_here() -> str | None:
    """The code of a run in this process, recorded (and kept, by digest) like a launched one's:
    what ``reproduce`` runs again. None outside a git repository."""
    from nemotron_kit.execution.snapshot import make_snapshot
    from nemotron_kit.paths import home

    snap = make_snapshot(home() / "snapshots")
    return str(snap.path) if snap is not None else None


def _saved_config_dir(hydra_cfg: DictConfig | None) -> Path | None:
    if hydra_cfg is None or hydra_cfg.get("output_subdir") is None:
        return None
    path = Path(str(hydra_cfg.runtime.output_dir)) / str(hydra_cfg.output_subdir)
    return path if path.is_dir() else None


def job_hydra_config() -> DictConfig | None:
    """The running job's Hydra config (None outside a Hydra job)."""
    from hydra.core.hydra_config import HydraConfig

    return cast(DictConfig, HydraConfig.get()) if HydraConfig.initialized() else None
