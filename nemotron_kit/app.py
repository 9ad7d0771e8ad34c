"""The Hydra application behind ``python -m nemotron_kit`` and the ``nemotron-kit`` command.

The task function is defined here, in a regular module, so Hydra names the job after it and
finds configs through the search-path plugin rather than relative to ``__main__``.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from nemotron_kit.errors import (
    ConfigError,
    NemotronKitError,
    NotFoundError,
    StorageError,
    URIError,
)
from nemotron_kit.paths import packaged_conf_dir
from nemotron_kit.registry.resolver import register as register_art_resolver

# ${art:...} must resolve wherever the config is read, including `--cfg job --resolve`.
register_art_resolver()


def _run_mode(executor_name: str) -> str:
    """hydra.mode: a job for another executor goes through the launcher, unless it is the job."""
    from nemotron_kit.tracking.run import INSIDE_JOB_ENV, MULTIRUN_ENV

    if os.environ.get(MULTIRUN_ENV) and not os.environ.get(INSIDE_JOB_ENV):
        return "MULTIRUN"  # -m on the command line
    if executor_name != "local" and not os.environ.get(INSIDE_JOB_ENV):
        return "MULTIRUN"
    return "RUN"


def _config_groups(parent: str = "") -> str:
    """``--help``'s list of config groups and options, as Hydra's, minus the schema groups
    (``nk_schema/...``) that option files name in their defaults lists."""
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.object_type import ObjectType

    from nemotron_kit.config.schemas import SCHEMA_GROUP

    loader = GlobalHydra.instance().config_loader()
    lines: list[str] = []

    def visit(prefix: str) -> None:
        for group in sorted(loader.list_groups(prefix)):
            name = f"{prefix}/{group}" if prefix else group
            if name in ("hydra", SCHEMA_GROUP):
                continue
            options = loader.get_group_options(name, ObjectType.CONFIG)
            if options:
                lines.append(f"{name}: {', '.join(sorted(options))}")
            visit(name)

    visit(parent)
    return "\n".join(lines)


if not OmegaConf.has_resolver("nk_mode"):
    OmegaConf.register_new_resolver("nk_mode", _run_mode)
if not OmegaConf.has_resolver("nk_config_groups"):
    OmegaConf.register_new_resolver("nk_config_groups", _config_groups)


class NothingToRunError(NemotronKitError):
    """The composed config names neither a recipe nor a pipeline."""


def run(cfg: DictConfig) -> Any:
    """Run the composed job: the recipe's ``_target_`` called with the whole config."""
    from nemotron_kit.config import check_job_config, instantiate
    from nemotron_kit.tracking import run as runs

    problem = runs.start_exception()
    if isinstance(problem, (ConfigError, StorageError)):
        raise problem  # a bad config, or an unreachable registry: nothing ran
    check_job_config(cfg)  # also when the lineage callback is not configured
    if cfg.get("pipeline") is not None and cfg.get("recipe") is None:
        from nemotron_kit.pipeline import run_pipeline

        return [r.outputs for r in run_pipeline(cfg)]
    if cfg.get("recipe") is None:
        raise NothingToRunError(
            "Nothing to run: choose a recipe with '+recipe=NAME' or a pipeline with "
            "'+pipeline=NAME' (see `--help`), or add '--cfg job' to print the composed config."
        )
    failure = runs.start_error()
    if isinstance(problem, (NotFoundError, URIError)):
        raise with_producer_hint(problem)  # a missing or malformed input, not a lineage fault
    if failure is not None:
        raise runs.LineageError(
            f"Lineage could not be recorded ({failure}): the job did not run; fix the registry "
            "or tracker settings, or run with tracker=noop."
        )
    # Resolve the recipe before touching the registry: a typo fails without side effects.
    recipe_fn = instantiate({"_target_": cfg.recipe._target_, "_partial_": True})
    current = runs.current_run()
    try:
        prepare_job(cfg, pins=current.pins if current else None)
    except NotFoundError as exc:
        raise with_producer_hint(exc) from None
    result = recipe_fn(cfg)
    if not os.environ.get(runs.INSIDE_JOB_ENV):  # a launcher's job: the launcher says it
        outputs = current.registry.run_outputs(current.run_id) if current else None
        sys.stdout.flush()  # the job's own output first
        print(published_line(outputs, result), file=sys.stderr, flush=True)
    return result


def published_line(outputs: list[str] | None, result: Any) -> str:
    """The line a run ends with: what it published (from its run record, else what the recipe
    returned), or its metrics when it publishes nothing (an eval)."""
    if outputs is None:
        outputs = [result] if isinstance(result, str) and result.startswith("art://") else []
    if outputs:
        return "published " + ", ".join(outputs)
    if isinstance(result, dict):
        numbers = [
            f"{k}={v:g}"
            for k, v in result.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)
        ]
        if numbers:
            return "published nothing; " + ", ".join(numbers)
    return "published nothing"


_MISSING_NAME = re.compile(r"^No artifact named '([^']+)'")


def with_producer_hint(exc: NemotronKitError) -> NemotronKitError:
    """'No artifact named pretrain-data' -> also say which recipe publishes it, to run first."""
    match = _MISSING_NAME.match(str(exc))
    if match is None:
        return exc
    import yaml

    from nemotron_kit.paths import user_config_dirs

    name = match.group(1)
    for directory in [*user_config_dirs(), packaged_conf_dir()]:
        for option in sorted((directory / "recipe").glob("*.yaml")):
            try:
                node = yaml.safe_load(option.read_text()) or {}
            except yaml.YAMLError:
                continue
            if (node.get("output") or {}).get("name") == name:
                return type(exc)(
                    f"{str(exc).rstrip('.')}: run `python -m nemotron_kit +recipe={option.stem}` "
                    f"first, which publishes '{name}'."
                )
    return exc


def prepare_job(cfg: DictConfig, pins: dict[str, str] | None = None) -> list[str]:
    """Select the job's registry, pin its artifact references, and save the pinned config.

    Returns the pinned input URIs. Hydra saved ``.hydra/config.yaml`` before the job started,
    with ``latest`` and ``${art:...}`` still floating; it is rewritten with the versions used.
    ``pins`` are the lineage callback's, so the job reads exactly what its run record names.
    """
    from omegaconf import OmegaConf

    from nemotron_kit.registry import init_from_config
    from nemotron_kit.registry.resolver import pin_config

    init_from_config(cfg.registry)
    pinned = pin_config(cfg, pins=pins)
    saved = _saved_config_path()
    if saved is not None and saved.exists():
        if pinned:  # the saved file still says `latest` / ${art:NAME}: write the pinned config
            OmegaConf.save(cfg, saved)
        redact_saved_files(saved.parent)
    return pinned


def redact_saved_files(hydra_dir: Path) -> None:
    """Hydra saved the job's config and overrides before the job started: a value under a
    secret key, or a secret's value anywhere, must not stay in those files."""
    from nemotron_kit.tracking._secrets import config_secrets, redact, secret_values

    files = [hydra_dir / n for n in ("config.yaml", "hydra.yaml", "overrides.yaml")]
    loaded = {f: OmegaConf.to_container(OmegaConf.load(f)) for f in files if f.exists()}
    found = {*secret_values()}
    for data in loaded.values():
        found.update(config_secrets(data))
    secrets = sorted(found, key=len, reverse=True)
    for path, data in loaded.items():
        cleaned = redact(data, secrets)
        if cleaned != data:
            OmegaConf.save(OmegaConf.create(cleaned), path)


def _saved_config_path() -> Path | None:
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.output_subdir is None:
        return None
    return Path(hydra_cfg.runtime.output_dir) / hydra_cfg.output_subdir / "config.yaml"


# An absolute config_path: with None, Hydra would add the package itself (pkg://nemotron_kit)
# to the search path, and a wheel's nemotron_kit/conf would show up as a bogus 'conf' group.
@hydra.main(version_base="1.3", config_path=str(packaged_conf_dir()), config_name="config")
def hydra_app(cfg: DictConfig) -> Any:
    return run(cfg)
