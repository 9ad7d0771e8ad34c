"""Mirror runs and published versions to Weights & Biases (``tracker=[file,wandb]``).

The registry stays the source of truth. W&B gets one run per job (id and name = our run id)
with the redacted, pinned config, and each published version as a *reference* artifact of the
same name: no bytes are uploaded, and the entries point at the registry's own files. W&B numbers
versions itself (v0, v1, ...), so our version N is the alias ``nk-vN`` beside the version's
aliases and ``latest``.

Offline (``WANDB_MODE=offline``), W&B refuses to declare artifact inputs (``use_artifact``), so
the pinned inputs are only in the config (``nemotron_kit.inputs``); ``wandb sync`` uploads the
run later. ``wandb`` is imported only when a run starts: ``--help`` never pays for it.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nemotron_kit.errors import ConfigError
from nemotron_kit.tracking._secrets import redact, redact_override

if TYPE_CHECKING:
    from nemotron_kit.registry.core import ArtifactVersion
    from nemotron_kit.tracking.run import ActiveRun

MODES = ("online", "offline", "disabled", "shared")
CONSOLE = ("off", "auto", "wrap", "redirect", "wrap_raw", "wrap_emu")
OPTIONS = ("enabled", "project", "entity", "mode", "tags", "group", "console", "timeout_s")
# Our version N as a W&B alias; a user alias of that shape would break the mapping, so it is
# never mirrored.
VERSION_ALIAS = "nk-v{}"
_VERSION_ALIAS_RE = re.compile(r"nk-v[0-9]+")


def version_alias(version: int) -> str:
    return VERSION_ALIAS.format(version)


@dataclass
class WandbTracker:
    """The ``wandb`` tracker. Holds only settings until a run starts (it may be pickled)."""

    project: str | None = "nemotron-kit"
    entity: str | None = None
    mode: str | None = None
    tags: list[str] = field(default_factory=list)
    group: str | None = None
    # W&B's capture of the job's stdout/stderr: off by default, because printed text can hold
    # secrets that redaction never sees (+tracker.wandb.console=wrap turns it on).
    console: str = "off"
    # Seconds wandb.init may take (a W&B server that does not answer must not hold the job).
    timeout_s: float = 30.0
    records_lineage: bool = True
    #: A mirror: its failures are warnings, never the job's (the registry holds the lineage).
    mirror: bool = True
    _run: Any = field(default=None, init=False, repr=False, compare=False)
    _run_id: str | None = field(default=None, init=False, repr=False, compare=False)
    _outputs: list[str] = field(default_factory=list, init=False, repr=False, compare=False)

    @classmethod
    def from_config(cls, options: Any) -> WandbTracker:
        """Build from the ``tracker.wandb`` node (a DictConfig or a plain mapping)."""
        from omegaconf import DictConfig, OmegaConf

        raw: Any = options
        if isinstance(options, DictConfig):
            raw = OmegaConf.to_container(options, resolve=True)
        data: dict[str, Any] = {str(k): v for k, v in dict(raw or {}).items()}
        unknown = sorted(set(data) - set(OPTIONS))
        if unknown:
            raise ConfigError(
                f"Unknown tracker.wandb option(s) {', '.join(unknown)}: use {', '.join(OPTIONS)}."
            )
        mode = data.get("mode") or os.environ.get("WANDB_MODE") or None
        if mode is not None and mode not in MODES:
            raise ConfigError(
                f"tracker.wandb.mode={mode!r} is not a W&B mode: use online, offline or disabled."
            )
        console = str(data.get("console") or "off")
        if console not in CONSOLE:
            raise ConfigError(
                f"tracker.wandb.console={console!r} is not a W&B console mode: use off or wrap."
            )
        tags = data.get("tags") or []
        if isinstance(tags, str):
            tags = [tags]
        return cls(
            project=_opt_str(data.get("project", "nemotron-kit")),
            entity=_opt_str(data.get("entity")),
            mode=mode,
            tags=[str(t) for t in tags],
            group=_opt_str(data.get("group")),
            console=console,
            timeout_s=float(data.get("timeout_s") or 30.0),
        )

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_run"] = None  # a live W&B run never travels
        state["_run_id"] = None
        state["_outputs"] = []
        return state

    # -- the tracker protocol ---------------------------------------------------------------
    def start_run(self, run: ActiveRun) -> None:
        import wandb

        from nemotron_kit.tracking.run import LineageError

        config = {
            **run.config,
            "nemotron_kit": redact(
                {
                    "run_id": run.run_id,
                    "inputs": list(run.inputs),
                    "overrides": redact_overrides(run.overrides),
                    "code": run.code,
                }
            ),
        }
        # W&B records sys.argv in its run metadata: show it the redacted command line.
        argv = sys.argv
        sys.argv = [argv[0], *redact_overrides(argv[1:])] if argv else argv
        try:
            wb_run = wandb.init(
                project=self.project,
                entity=self.entity,
                mode=self.mode,  # type: ignore[arg-type]
                name=run.run_id,
                id=run.run_id,
                group=self.group or run.hydra.get("sweep_id"),  # a sweep's jobs group together
                job_type=run.recipe,
                tags=self.tags or None,
                config=config,
                dir=run_dir(run),
                reinit="finish_previous",
                settings=wandb.Settings(
                    console=self.console,  # type: ignore[arg-type]
                    init_timeout=self.timeout_s,
                ),
            )
        except Exception as exc:
            raise LineageError(
                f"The W&B run could not start ({type(exc).__name__}: {exc}): check WANDB_API_KEY "
                "and the network, or use tracker.wandb.mode=offline (then `wandb sync`)."
            ) from exc
        finally:
            sys.argv = argv
        self._run, self._run_id, self._outputs = wb_run, run.run_id, []
        if not (wb_run.offline or wb_run.disabled):
            self._use_inputs(run, wb_run)

    def _use_inputs(self, run: ActiveRun, wb_run: Any) -> None:
        """Declare the pinned inputs that were mirrored to W&B (online only)."""
        from nemotron_kit.registry.uri import parse_uri

        refs: dict[str, str] = {}  # W&B ref -> our URI; a file inside an input is the input
        for uri in run.inputs:
            parsed = parse_uri(uri)
            refs.setdefault(f"{parsed.name}:{version_alias(parsed.version or 0)}", uri)
        for ref, uri in refs.items():
            try:
                wb_run.use_artifact(ref)
            except Exception as exc:
                if _is_missing(exc):  # published without the wandb tracker: nothing to link
                    print(
                        f"Note: W&B has no mirror of {uri} ({ref}); it is recorded in the run's "
                        "config (nemotron_kit.inputs) only.",
                        file=sys.stderr,
                        flush=True,
                    )
                else:
                    run.report_tracker_error(self, f"use_artifact({ref})", exc)

    def log_output(self, run: ActiveRun, version: ArtifactVersion, aliases: list[str]) -> None:
        import wandb

        wb_run = self._active(run)
        metadata = redact(
            {**version.metadata, "nemotron_kit_uri": version.uri, "digest": version.digest}
        )
        art = wandb.Artifact(name=version.name, type=version.type, metadata=metadata)
        for rel, url in reference_urls(run, version):
            art.add_reference(url, name=rel, checksum=False)
        mirrored = [a for a in aliases if not _VERSION_ALIAS_RE.fullmatch(a)]
        wb_aliases = list(dict.fromkeys([*mirrored, "latest", version_alias(version.version)]))
        wb_run.log_artifact(art, aliases=wb_aliases)
        wb_run.summary.update({f"{version.name}/{k}": v for k, v in version.metrics.items()})
        self._outputs.append(version.uri)
        wb_run.summary["nemotron_kit/outputs"] = list(self._outputs)

    def log_metrics(self, run: ActiveRun, step: int, values: dict[str, float]) -> None:
        """A row of the run's history: W&B draws one curve per name over ``step``."""
        self._active(run).log(values, step=step)

    def end_run(self, run: ActiveRun, status: str, error: str | None) -> None:
        if self._run is None or self._run_id != run.run_id:
            return
        wb_run, self._run, self._run_id = self._run, None, None
        if getattr(wb_run, "_is_finished", False):  # the recipe called finish_wandb() itself
            return
        wb_run.summary["nemotron_kit/status"] = status
        if error:
            wb_run.summary["nemotron_kit/error"] = redact(error)
        wb_run.finish(exit_code=0 if status == "COMPLETED" else 1)

    def _active(self, run: ActiveRun) -> Any:
        if self._run is None or self._run_id != run.run_id:
            raise RuntimeError(f"no W&B run is active for run {run.run_id}")
        return self._run


def run_dir(run: ActiveRun) -> str:
    """Where wandb writes its files: WANDB_DIR, else the job's Hydra output dir, else cwd."""
    chosen = os.environ.get("WANDB_DIR") or run.hydra.get("output_dir") or os.getcwd()
    os.makedirs(chosen, exist_ok=True)
    return str(chosen)


def reference_urls(run: ActiveRun, version: ArtifactVersion) -> list[tuple[str, str]]:
    """``(path inside the artifact, URL)`` for each file of ``version``, without reading data.

    Reference mode points at the published source; copy mode at the content-addressed objects
    (``file://`` for a local registry, ``s3://`` for S3). A registry W&B cannot reach (memory://)
    or another registry than the run's gives no entries: the metadata still has the URI.
    """
    from pathlib import Path

    from nemotron_kit.registry.storage import S3Storage

    registry = run.registry
    storage = version.record["storage"]
    manifest = registry.manifest(version)
    if storage.get("fingerprints") is not None:  # data in object storage: its own URLs
        url = str(storage["source"]).rstrip("/")
        if storage.get("single_file"):
            return [(f.rel, url) for f in manifest.files]
        return [(f.rel, f"{url}/{f.rel}") for f in manifest.files]
    if storage["mode"] == "reference":
        source = Path(storage["source"])
        if storage.get("single_file"):
            return [(f.rel, source.as_uri()) for f in manifest.files]
        return [(f.rel, (source / f.rel).as_uri()) for f in manifest.files]
    try:
        same = registry.resolve(version.uri).digest == version.digest
    except Exception:
        same = False
    if not same:
        return []
    out = []
    for f in manifest.files:
        key = registry._object_key(f.digest)
        local = registry.storage.local_path(key)
        if local is not None:
            out.append((f.rel, local.resolve().as_uri()))
        elif isinstance(registry.storage, S3Storage):
            out.append((f.rel, f"s3://{registry.storage.base}/{key}"))
    return out


def redact_overrides(args: list[str]) -> list[str]:
    """Command-line overrides with secret values hidden (see ``redact_override``)."""
    return [redact_override(a) for a in args]


def _is_missing(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(s in text for s in ("not found", "does not exist", "could not find"))


def _opt_str(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


# -- helpers for recipes ----------------------------------------------------------------------
def add_wandb_tags(*tags: str) -> bool:
    """Add ``tags`` to the active W&B run; False (and nothing done) if no run is active."""
    wandb = sys.modules.get("wandb")  # no run can be active if wandb was never imported
    run = getattr(wandb, "run", None) if wandb is not None else None
    if run is None:
        return False
    run.tags = tuple(dict.fromkeys([*(run.tags or ()), *map(str, tags)]))
    return True


def finish_wandb(exit_code: int = 0) -> bool:
    """Finish the active W&B run; False if none was active.

    Inside a nemotron-kit job the tracker finishes the run itself (with the job's status);
    finishing it earlier means the status and later outputs are not mirrored.
    """
    wandb = sys.modules.get("wandb")
    run = getattr(wandb, "run", None) if wandb is not None else None
    if run is None:
        return False
    run.finish(exit_code=exit_code)
    return True
