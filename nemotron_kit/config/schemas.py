"""Typed schemas behind the packaged config groups (executor, tracker, registry, sweep, ...).

Each option file in ``conf/`` names its schema in its defaults list
(``- /nk_schema/executor@_here_: slurm``), so Hydra refuses a wrong type or an unknown key while
composing, and :func:`nemotron_kit.config.check_config` refuses out-of-range values before any
work starts. The values and their comments stay in the YAML files; these classes say what is
allowed. Only dataclasses and the standard library here: Hydra imports this at every start.
"""

import importlib.util
from dataclasses import dataclass, field
from typing import Any, Optional

from omegaconf import MISSING

from nemotron_kit.config._check import constrained

# OmegaConf reads the annotations at runtime: Optional[...] and typing generics, not `X | None`
# (which Python 3.10 cannot evaluate from strings inside OmegaConf).
# ruff: noqa: UP045

SCHEMA_GROUP = "nk_schema"
#: The group whose options are ``@recipe`` configs, served by hydra_plugins' recipe source.
RECIPE_GROUP = "nk_recipe"


def valid_name(value: Any) -> str | None:
    """A registry name (artifact, project) that cannot leave the registry root."""
    from nemotron_kit.errors import URIError
    from nemotron_kit.registry.uri import validate_name

    try:
        validate_name(str(value))
    except URIError:
        return "is not a valid name (use 1-128 letters, digits, '.', '_' or '-', no '..' or '/')"
    return None


def importable(value: Any) -> str | None:
    """A ``module.attr`` path whose module can be found (not imported: that may be heavy)."""
    module = str(value).rpartition(".")[0]
    try:
        found = importlib.util.find_spec(module) if module else None
    except (ImportError, ValueError):
        found = None
    return None if found else "must name a class or function in an importable module"


# -- executors --------------------------------------------------------------------------------
@dataclass
class LocalExecutorConf:
    _target_: str = MISSING
    name: str = MISSING
    max_parallel: Optional[int] = constrained(MISSING, ge=1)
    env: dict[str, str] = MISSING


@dataclass
class TorchrunExecutorConf:
    _target_: str = MISSING
    name: str = MISSING
    nproc_per_node: int = constrained(MISSING, ge=1)
    backend: str = constrained(MISSING, choices=("auto", "gloo", "nccl"))
    max_restarts: int = constrained(MISSING, ge=0)
    env: dict[str, str] = MISSING


@dataclass
class SlurmContainerConf:
    image: Optional[str] = MISSING
    mounts: list[str] = MISSING
    squash: bool = MISSING
    squash_dir: Optional[str] = MISSING


@dataclass
class SlurmExecutorConf:
    _target_: str = MISSING
    name: str = MISSING
    partition: Optional[str] = MISSING
    account: Optional[str] = MISSING
    qos: Optional[str] = MISSING
    nodes: int = constrained(MISSING, ge=1)
    tasks_per_node: int = constrained(MISSING, ge=1)
    gpus_per_node: int = constrained(MISSING, ge=0)
    cpus_per_task: int = constrained(MISSING, ge=1)
    mem_gb: Optional[float] = constrained(MISSING, gt=0)
    time_min: int = constrained(MISSING, ge=1)
    constraint: Optional[str] = MISSING
    exclusive: bool = MISSING
    additional_parameters: dict[str, Any] = MISSING
    setup: list[str] = MISSING
    env: dict[str, str] = MISSING
    max_requeue: int = constrained(MISSING, ge=0)
    array_parallelism: int = constrained(MISSING, ge=1)
    detach: bool = MISSING
    snapshot: bool = MISSING
    snapshot_untracked: bool = MISSING
    dry_run: bool = MISSING
    container: SlurmContainerConf = field(default_factory=SlurmContainerConf)


@dataclass
class ContainerExecutorConf:
    _target_: str = MISSING
    name: str = MISSING
    engine: str = constrained(MISSING, choices=("auto", "podman", "docker"))
    image: Optional[str] = MISSING
    mounts: list[str] = MISSING
    env: dict[str, str] = MISSING
    workdir: Optional[str] = MISSING
    cpus: Optional[float] = constrained(MISSING, gt=0)
    memory: Optional[str] = MISSING
    shm_size: Optional[str] = MISSING
    gpus: Any = MISSING  # all, a count, or device ids "0,1"
    network: str = MISSING
    max_parallel: int = constrained(MISSING, ge=1)
    detach: bool = MISSING
    snapshot: bool = MISSING
    snapshot_untracked: bool = MISSING
    labels: dict[str, str] = MISSING
    python: str = MISSING
    extra_args: list[str] = MISSING
    keep: bool = MISSING
    dry_run: bool = MISSING


# -- trackers ---------------------------------------------------------------------------------
@dataclass
class FileTrackerConf:
    enabled: bool = MISSING


@dataclass
class NoopTrackerConf:
    enabled: bool = MISSING


@dataclass
class WandbTrackerConf:
    enabled: bool = MISSING
    project: str = MISSING
    entity: Optional[str] = MISSING
    mode: str = constrained(MISSING, choices=("online", "offline", "disabled", "shared"))
    tags: list[str] = MISSING
    group: Optional[str] = MISSING
    # W&B's capture of the job's output (off: printed text may hold secrets redaction misses).
    console: str = constrained(
        "off", choices=("off", "auto", "wrap", "redirect", "wrap_raw", "wrap_emu")
    )
    timeout_s: float = constrained(30.0, gt=0)


# -- registries -------------------------------------------------------------------------------
@dataclass
class LocalRegistryConf:
    backend: str = constrained(MISSING, choices=("fsspec", "local"))
    root: str = MISSING
    project: str = constrained(MISSING, check=valid_name)


@dataclass
class RemoteRegistryConf:
    """What every object-store registry has: a prefix in a bucket or container, timeouts."""

    backend: str = constrained(MISSING, choices=("fsspec",))
    prefix: str = MISSING
    root: str = MISSING
    project: str = constrained(MISSING, check=valid_name)
    timeout_s: float = constrained(MISSING, gt=0)
    attempts: int = constrained(MISSING, ge=1)


@dataclass
class S3RegistryConf(RemoteRegistryConf):
    bucket: str = MISSING
    endpoint_url: Optional[str] = MISSING


@dataclass
class AzureRegistryConf(RemoteRegistryConf):
    container: str = MISSING


@dataclass
class GCSRegistryConf(RemoteRegistryConf):
    bucket: str = MISSING
    endpoint_url: Optional[str] = MISSING


# -- the primary config, recipes' common parts and pipelines ---------------------------------
@dataclass
class SweepConf:
    alias: Optional[str] = MISSING
    metric: Optional[str] = MISSING
    mode: str = constrained(MISSING, choices=("min", "max"))


@dataclass
class RecipeRefConf:
    """``recipe:`` of a recipe option: its name, the function to call, what it imports."""

    name: str = MISSING
    _target_: str = constrained(MISSING, check=importable)
    # Optional packages the recipe needs (torch ...): missing ones are named before any work.
    requires: list[str] = field(default_factory=list)
    # The installed distribution the recipe comes from, as composed ("nano3-recipes 0.2.0"):
    # lineage names it, and a new version of it invalidates a pipeline step's cache.
    package: Optional[str] = None


@dataclass
class OutputConf:
    """``output:`` of a recipe: the artifact class to publish and the registry name."""

    _target_: str = constrained(MISSING, check=importable)
    name: str = constrained(MISSING, check=valid_name)


@dataclass
class PipelineStepConf:
    name: str = MISSING
    recipe: str = MISSING
    inputs: dict[str, str] = field(default_factory=dict)
    overrides: list[str] = field(default_factory=list)
    # An executor option for this step alone (null: the pipeline's executor).
    executor: Optional[str] = None


@dataclass
class PipelineConf:
    name: str = MISSING
    force: bool = MISSING
    steps: list[PipelineStepConf] = MISSING
    # Steps whose inputs are ready run at the same time, at most this many (null: all).
    max_parallel: Optional[int] = constrained(None, ge=1)


SCHEMAS: dict[str, dict[str, type]] = {
    "executor": {
        "local": LocalExecutorConf,
        "torchrun": TorchrunExecutorConf,
        "slurm": SlurmExecutorConf,
        "container": ContainerExecutorConf,
    },
    "tracker": {"file": FileTrackerConf, "noop": NoopTrackerConf, "wandb": WandbTrackerConf},
    "registry": {
        "local": LocalRegistryConf,
        "s3": S3RegistryConf,
        "azure": AzureRegistryConf,
        "gcs": GCSRegistryConf,
    },
    "sweep": {"sweep": SweepConf},
    "pipeline": {"pipeline": PipelineConf},
}


def register() -> None:
    """Store every schema in Hydra's ConfigStore under ``nk_schema/GROUP/NAME``."""
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    for group, options in SCHEMAS.items():
        for name, node in options.items():
            store.store(
                group=f"{SCHEMA_GROUP}/{group}", name=name, node=node, provider="nemotron_kit"
            )
