"""``hydra/sweeper=nemotron_kit``: Hydra's grid sweep, minus composing every job twice.

Hydra's basic sweeper composes every job's config before launching, only to check it, and the
launcher composes it again where the job runs: for a 20-job sweep that is 20 compositions spent
before the first job starts. This sweeper checks the first job of each batch (which catches a
typo shared by all jobs) and leaves the rest to the jobs themselves, each of which fails alone
and visibly if its own config is bad; with nemotron-kit's launcher, which checks every job
before submitting any, it checks none itself. (No ``from __future__ import annotations``: see
launcher.py.)
"""

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn
from hydra.errors import HydraException
from hydra.plugins.launcher import Launcher
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf


@dataclass
class NemotronKitSweeperConf:
    _target_: str = "hydra_plugins.nemotron_kit.sweeper.NemotronKitSweeper"
    # Jobs handed to the launcher at once (null: all of them, e.g. one Slurm job array).
    max_batch_size: int | None = None
    # Sweep definitions kept in the config, e.g. {train.lr: "1e-3,3e-4"}.
    params: dict[str, str] = field(default_factory=dict)


ConfigStore.instance().store(
    group="hydra/sweeper", name="nemotron_kit", node=NemotronKitSweeperConf, provider="nemotron_kit"
)


def expand(overrides: list[Any]) -> list[list[str]]:
    """The cartesian product of the sweep overrides, as one override list per job."""
    axes = []
    for override in overrides:
        key = override.get_key_element()
        if override.is_sweep_override():
            if not override.is_discrete_sweep():
                raise HydraException(
                    f"'{override.input_line}' is a {override.value_type.name} sweep, which the "
                    "grid sweeper cannot enumerate: list the values, e.g. a=1,2,3 or range(1,4)."
                )
            axes.append([f"{key}={value}" for value in override.sweep_string_iterator()])
        else:
            axes.append([f"{key}={override.get_value_element_as_str()}"])
    return [list(job) for job in itertools.product(*axes)]


class NemotronKitSweeper(Sweeper):
    def __init__(
        self, max_batch_size: int | None = None, params: dict[str, str] | None = None
    ) -> None:
        self.max_batch_size = max_batch_size
        self.params = dict(params or {})
        self.hydra_context: HydraContext | None = None
        self.config: DictConfig | None = None
        self.launcher: Launcher | None = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        from hydra.core.plugins import Plugins

        self.hydra_context = hydra_context
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> Any:
        assert (
            self.config is not None and self.launcher is not None and self.hydra_context is not None
        )
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        lines = [f"{k}={v}" for k, v in self.params.items()] + list(arguments)
        jobs = expand(parser.parse_overrides(lines))
        size = (
            self.max_batch_size
            if self.max_batch_size and self.max_batch_size > 0
            else len(jobs) or 1
        )
        batches = [jobs[i : i + size] for i in range(0, len(jobs), size)]

        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        # Hydra's record of the sweep, without secret values (see nemotron_kit's _secrets).
        from nemotron_kit.tracking._secrets import redact

        saved = redact(OmegaConf.to_container(self.config, resolve=False))
        OmegaConf.save(OmegaConf.create(saved), sweep_dir / "multirun.yaml")

        returns: list[Sequence[JobReturn]] = []
        first_failure: JobReturn | None = None
        index = 0
        for batch in batches:
            if batch and not getattr(self.launcher, "checks_every_job", False):
                self.validate_batch_is_legal(batch[:1])
            results = self.launcher.launch(batch, initial_job_idx=index)
            index += len(batch)
            returns.append(results)
            first_failure = first_failure or next(
                (r for r in results if r.status.name == "FAILED"), None
            )
            if first_failure is not None:
                break  # like Hydra: no new batch after a failure; the summary lists every job
        if first_failure is not None:
            # The job's error for the command line (JobReturn.return_value would also print
            # "Error executing job ..." first: the summary table already said which job).
            error = first_failure._return_value
            raise error if isinstance(error, BaseException) else HydraException(str(error))
        return returns
