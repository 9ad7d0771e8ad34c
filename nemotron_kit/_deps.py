"""Optional packages: which extra installs each, and the check that names it before any work.

The heavy parts (torch, submitit, s3fs, adlfs, gcsfs, wandb, graphviz) are extras. An option
that needs one must say so in one sentence when the job is checked, not crash with
ModuleNotFoundError halfway through a run.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from nemotron_kit.errors import MissingDependencyError

#: importable module -> the nemotron-kit extra that installs it
EXTRAS = {
    "torch": "torch",
    "numpy": "torch",
    "submitit": "slurm",
    "s3fs": "s3",
    "boto3": "s3",
    "adlfs": "azure",
    "gcsfs": "gcs",
    "wandb": "wandb",
    "graphviz": "graph",
}


def missing(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is None
    except (ImportError, ValueError):
        return True


def require(module: str, needed_by: str) -> None:
    """Raise one sentence naming ``needed_by`` and the extra to install if ``module`` is absent."""
    if not missing(module):
        return
    extra = EXTRAS.get(module)
    how = f"pip install 'nemotron-kit[{extra}]'" if extra else f"pip install {module}"
    raise MissingDependencyError(f"{needed_by} needs {module}, which is not installed: {how}.")


def check_job_dependencies(cfg: Any) -> None:
    """Every optional package the composed job config needs (executor, recipe, registry,
    trackers) is installed here."""
    executor = cfg.get("executor") or {}
    name = executor.get("name")
    if name == "slurm" or str(executor.get("_target_", "")).endswith("SlurmExecutor"):
        require("submitit", f"executor={name}")
    elif name == "torchrun":
        require("torch", "executor=torchrun")
    recipe = cfg.get("recipe") or {}
    for module in recipe.get("requires") or []:
        require(str(module), f"+recipe={recipe.get('name')}")
    registry = cfg.get("registry") or {}
    root = str(registry.get("root") or "")
    if root.startswith(("s3://", "s3a://")):
        require("s3fs", "registry=s3")
    elif root.startswith(("az://", "abfs://")):
        require("adlfs", "registry=azure")
    elif root.startswith(("gs://", "gcs://")):
        require("gcsfs", "registry=gcs")
    trackers = cfg.get("tracker") or {}
    wandb = trackers.get("wandb") if hasattr(trackers, "get") else None
    if wandb is not None and wandb.get("enabled", True):
        require("wandb", "tracker=wandb")
