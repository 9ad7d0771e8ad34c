"""What the CLI's ``--json`` and the web view show of versions and runs, built in one place.

Every function here reads through the registry's API and returns plain JSON-able data, so
``nemotron-kit artifacts show --json``, ``runs ls --json``, ``runs compare --json`` and the
pages of ``nemotron-kit ui`` agree on every field. Records come from storage and are untrusted:
nothing here assumes a field has the type it should.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from nemotron_kit.errors import ArtifactError, NotFoundError, StorageError

if TYPE_CHECKING:
    from nemotron_kit.registry.core import ArtifactRegistry
    from nemotron_kit.registry.versions import ArtifactEntry, ArtifactVersion

ABSENT = "<absent>"


def jsonable(value: Any) -> Any:
    """``value`` with NaN/inf floats as null, so the output is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def version_metrics(version: ArtifactVersion) -> dict[str, int | float]:
    """The numeric metadata as recorded (ints stay ints); bools and NaN/inf are left out."""
    out: dict[str, int | float] = {}
    for key, value in version.metadata.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            continue
        out[key] = value
    return out


def entry_info(entry: ArtifactEntry) -> dict[str, Any]:
    """A name of the registry: its newest version, aliases and that version's metrics."""
    return {
        "name": entry.name,
        "project": entry.project,
        "type": entry.type,
        "uri": entry.latest.uri,
        "latest_version": entry.latest.version,
        "num_versions": entry.num_versions,
        "aliases": {a: v for a, v in sorted(entry.aliases.items()) if a != "latest"},
        "created_at": entry.latest.created_at,
        "metrics": version_metrics(entry.latest),
    }


def version_row(version: ArtifactVersion, aliases: list[str]) -> dict[str, Any]:
    """One line of a name's version list."""
    return {
        "uri": version.uri,
        "version": version.version,
        "created_at": version.created_at,
        "digest": version.digest,
        "files": version.num_files,
        "bytes": version.total_bytes,
        "metrics": version_metrics(version),
        "aliases": aliases,
    }


def aliases_by_version(registry: ArtifactRegistry, name: str, project: str) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for alias, number in sorted(registry.aliases(name, project=project).items()):
        out.setdefault(number, []).append(alias)
    return out


def version_info(registry: ArtifactRegistry, version: ArtifactVersion) -> dict[str, Any]:
    """Everything ``artifacts show`` tells about one version."""
    storage = version.record.get("storage")
    storage = storage if isinstance(storage, dict) else {}
    pointing = aliases_by_version(registry, version.name, version.project).get(version.version)
    return {
        "uri": version.uri,
        "name": version.name,
        "project": version.project,
        "version": version.version,
        "type": version.type,
        "class": version.class_path,
        "created_at": version.created_at,
        "producer": version.producer,
        "host": version.record.get("host"),
        "description": version.fields.get("description") or "",
        "storage": {
            "mode": version.mode,
            **({"source": storage.get("source")} if version.mode == "reference" else {}),
        },
        "files": version.num_files,
        "bytes": version.total_bytes,
        "digest": version.digest,
        "metadata": version.metadata,
        "inputs": _uris(version.record.get("inputs"), version.project, registry.project),
        "aliases": pointing or [],
    }


# -- runs ---------------------------------------------------------------------------------
def read_run(registry: ArtifactRegistry, run_id: str) -> dict[str, Any] | None:
    """A run's record with its id; None for a directory without a start record (a version
    published by hand with an explicit ``producer``); ``UNREADABLE`` with the reason when the
    record cannot be read."""
    try:
        record = registry.read_run(run_id)
    except NotFoundError:
        return None
    except StorageError:
        raise  # the storage failed, not the record
    except ArtifactError as exc:
        record = {"status": "UNREADABLE", "error": str(exc)}
    record.setdefault("run_id", run_id)
    return record


def read_runs(registry: ArtifactRegistry) -> list[dict[str, Any]]:
    """Every run with a record, newest first (by start time, then id)."""
    records = [r for run_id in registry.run_ids() if (r := read_run(registry, run_id))]
    records.sort(key=lambda r: (str(r.get("started_at") or ""), str(r["run_id"])), reverse=True)
    return records


def run_summary(record: dict[str, Any], project: str | None = None) -> dict[str, Any]:
    """One line of the run list. Every field has its type whatever the record held, and input
    and output URIs name their project when it is not ``project`` (the viewer's)."""
    hydra = record.get("hydra")
    sweep = hydra.get("sweep_id") if isinstance(hydra, dict) else None
    status = record.get("status")
    duration = record.get("duration_s")
    written_in = run_project(record)
    return {
        "run_id": str(record["run_id"]),
        "recipe": _text(record.get("recipe")),
        "status": status if isinstance(status, str) else "UNKNOWN",
        "error": _text(record.get("error")),
        "started_at": _text(record.get("started_at")),
        "ended_at": _text(record.get("ended_at")),
        "duration_s": duration if _is_number(duration) else None,
        "sweep_id": _text(sweep),
        "inputs": _uris(record.get("inputs"), written_in, project),
        "outputs": _uris(record.get("outputs"), project, project),
    }


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def run_project(record: dict[str, Any]) -> str | None:
    """The project the run's registry used: its recorded input URIs leave that one out."""
    config = record.get("config")
    registry = config.get("registry") if isinstance(config, dict) else None
    project = registry.get("project") if isinstance(registry, dict) else None
    return project if isinstance(project, str) and project else None


def _uris(values: Any, written_in: str | None, viewer: str | None) -> list[str]:
    """Recorded URIs as links: the version itself (a sub-path dropped), its project named
    when it is not the viewer's. What does not parse is shown as recorded."""
    from nemotron_kit.errors import URIError
    from nemotron_kit.registry.uri import ArtURI, parse_uri

    out = []
    for value in values if isinstance(values, list) else []:
        try:
            uri = parse_uri(str(value))
        except URIError:
            out.append(str(value))
            continue
        project = uri.project or written_in
        out.append(ArtURI(uri.name, project, uri.version, uri.alias).format(viewer or project))
    return out


def metrics_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """How many steps a run logged, which names, and the last value of each."""
    last: dict[str, float] = {}
    for entry in rows:
        last.update(entry["values"])
    return {  # rows come one per step, in step order
        "points": len(rows),
        "steps": [rows[0]["step"], rows[-1]["step"]] if rows else [],
        "last": last,
    }


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """``{"train": {"lr": 1e-3}}`` -> ``{"train.lr": 1e-3}`` (lists stay whole values)."""
    if not isinstance(node, dict):
        return {prefix.rstrip("."): node}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def returned_metrics(record: dict[str, Any]) -> dict[str, float]:
    """The numbers a run returned (its end record's ``metrics``)."""
    metrics = record.get("metrics")
    return {
        str(k): float(v)
        for k, v in (metrics.items() if isinstance(metrics, dict) else ())
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    }


def compare_runs(
    registry: ArtifactRegistry, run_ids: list[str], *, every_key: bool = False
) -> dict[str, Any]:
    """Configs flattened to dotted keys, the ones that differ (``every_key``: all) side by
    side, and each run's metrics: what it returned and the last value of what it logged."""
    records = [registry.read_run(run_id) for run_id in run_ids]
    configs = [flatten(r.get("config") or {}) for r in records]
    keys = sorted({k for c in configs for k in c})
    config_rows = {
        key: [c.get(key, ABSENT) for c in configs]
        for key in keys
        if every_key or len({json.dumps(c.get(key, ABSENT), sort_keys=True) for c in configs}) > 1
    }
    metrics = []
    for run_id, record in zip(run_ids, records, strict=True):
        numbers = returned_metrics(record)
        numbers.update(metrics_summary(registry.read_metrics(run_id))["last"])
        metrics.append(numbers)
    names = sorted({k for m in metrics for k in m})
    return {
        "runs": run_ids,
        "status": [r.get("status") for r in records],
        "config": config_rows,
        "metrics": {name: [m.get(name) for m in metrics] for name in names},
    }
