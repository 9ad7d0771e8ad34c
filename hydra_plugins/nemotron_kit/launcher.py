"""``hydra/launcher=nemotron_kit``: runs a sweep's jobs on the configured executor.

A local pool, torchrun, or one Slurm job array; every job gets a result, a failed or vanished
job does not hide the others, and a summary table closes the sweep. This module only registers
the config and forwards to ``nemotron_kit.execution.launch``: Hydra imports it at every start.
(No ``from __future__ import annotations``: Hydra's plugin scanner loads this module outside
``sys.modules``, where dataclasses cannot resolve string annotations.)
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


@dataclass
class NemotronKitLauncherConf:
    _target_: str = "hydra_plugins.nemotron_kit.launcher.NemotronKitLauncher"
    # Local sweeps: at most this many jobs at once (null: one per CPU core).
    max_parallel: int | None = None
    # Print what would be submitted (executor parameters, snapshot, pinned inputs); run nothing.
    dry_run: bool = False


ConfigStore.instance().store(
    group="hydra/launcher",
    name="nemotron_kit",
    node=NemotronKitLauncherConf,
    provider="nemotron_kit",
)


class NemotronKitLauncher(Launcher):
    # Every job's config is composed and checked before any is submitted (launch_sweep), so
    # a sweeper need not compose one first to check it.
    checks_every_job = True

    def __init__(self, max_parallel: int | None = None, dry_run: bool = False) -> None:
        self.max_parallel = max_parallel
        self.dry_run = dry_run
        self.hydra_context: HydraContext | None = None
        self.task_function: TaskFunction | None = None
        self.config: DictConfig | None = None
        # One id for every batch of a -m sweep (a sweeper may launch several batches).
        self.sweep_id: str | None = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.hydra_context = hydra_context
        self.task_function = task_function
        self.config = config

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        from nemotron_kit.execution.launch import is_user_sweep, launch_sweep
        from nemotron_kit.tracking.run import new_sweep_id

        assert (
            self.hydra_context is not None
            and self.task_function is not None
            and self.config is not None
        )
        if self.sweep_id is None and is_user_sweep(self.config):
            self.sweep_id = new_sweep_id()
        return launch_sweep(
            hydra_context=self.hydra_context,
            task_function=self.task_function,
            config=self.config,
            job_overrides=job_overrides,
            initial_job_idx=initial_job_idx,
            sweep_id=self.sweep_id,
            max_parallel=self.max_parallel,
            dry_run=self.dry_run,
        )

    def __getstate__(self) -> dict[str, Any]:
        return dict(self.__dict__)
