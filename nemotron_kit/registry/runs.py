"""Runs and lineage indexes: run records (started, heartbeat, ended), sweep indexes, pipeline
cache entries and each version's consumers; every record read back is untrusted input.
"""

from __future__ import annotations

import builtins
import json
import math
import os
import time
from typing import Any, Literal

from nemotron_kit.errors import (
    ArtifactError,
    CorruptRecordError,
    NotFoundError,
)
from nemotron_kit.registry import layout, records
from nemotron_kit.registry.base import (
    _storage_errors,
    _timestamp,
    _valid_name,
)
from nemotron_kit.registry.publishing import PublishLayer
from nemotron_kit.registry.uri import ArtURI, validate_name
from nemotron_kit.registry.versions import ArtifactVersion


class RunLayer(PublishLayer):
    # -- runs and the lineage index ---------------------------------------------------------
    @_storage_errors
    def create_run(self, run_id: str, record: dict[str, Any]) -> None:
        """Write a run's start record (once: run ids are never reused)."""
        validate_name(run_id, "run id")
        if self.storage.create(layout.run_start(run_id), records.dumps(record)):
            return
        if self.storage.exists(layout.run_end(run_id)):
            raise ArtifactError(
                f"Run '{run_id}' already exists in {self.root}: run ids are unique."
            )
        # The same run again: a requeued Slurm job (preemption, time limit) is another attempt.
        attempt = len(self.storage.list(layout.run_attempts(run_id))) + 2
        self.storage.create(layout.run_attempt(run_id, attempt), records.dumps(record))

    @_storage_errors
    def finish_run(self, run_id: str, record: dict[str, Any]) -> None:
        """Write a run's end record (once)."""
        validate_name(run_id, "run id")
        self.storage.create(layout.run_end(run_id), records.dumps(record))

    @_storage_errors
    def read_run(self, run_id: str, *, lease_s: float = 120.0) -> dict[str, Any]:
        """A run's start record merged with its end record (if it ended) and its outputs.

        A run without an end record is RUNNING while its heartbeat is younger than
        ``lease_s`` (and, on this host, its process lives), else LOST."""
        validate_name(run_id, "run id")
        key = layout.run_start(run_id)
        try:
            raw = self.storage.read(key)
        except FileNotFoundError:
            raise NotFoundError(
                f"No run '{run_id}' in {self.root}: list runs with `nemotron-kit runs ls`."
            ) from None
        start = records.parse(records.RunStartRecord, raw, f"The record of run '{run_id}' ({key})")
        if start.run_id != run_id:
            raise CorruptRecordError(
                f"The record of run '{run_id}' ({key}) names run '{start.run_id}': it was "
                "copied or edited; restore it from a backup or remove it."
            )
        record: dict[str, Any] = start.model_dump(mode="json")
        end_key = layout.run_end(run_id)
        try:
            end = records.parse(records.RunEndRecord, self.storage.read(end_key), end_key)
            record.update(end.model_dump(mode="json"))
        except FileNotFoundError:
            record.setdefault("status", "RUNNING")
            if self.run_lease_expired(run_id, record, lease_s):
                record["status"] = "LOST"
                record["error"] = (
                    "the job's process ended without recording its end (killed, out of "
                    "memory, or its node lost)"
                )
        except CorruptRecordError as exc:
            record["status"], record["error"] = "UNKNOWN", str(exc)
        record["outputs"] = self.run_outputs(run_id)
        return record

    @_storage_errors
    def heartbeat(self, run_id: str) -> None:
        """Refresh the lease of a running run (see ``run_state``)."""
        validate_name(run_id, "run id")
        self.storage.replace(layout.run_heartbeat(run_id), records.dumps({"at": time.time()}))

    @_storage_errors
    def put_run_text(self, run_id: str, kind: RunText, text: str) -> None:
        """Store a run's console tail or code diff (replaced whole: the console tail is
        rewritten while the job runs). At most ``MAX_RUN_TEXT`` bytes: a console keeps its
        end, a diff its beginning."""
        validate_name(run_id, "run id")
        data = text.encode("utf-8", "replace")
        if len(data) > MAX_RUN_TEXT:
            note = f"\n[... {len(data) - MAX_RUN_TEXT} bytes left out ...]\n".encode()
            keep = MAX_RUN_TEXT - len(note)
            data = note + data[-keep:] if kind == "console" else data[:keep] + note
        self.storage.replace(layout.run_text(run_id, kind), data)

    @_storage_errors
    def read_run_text(self, run_id: str, kind: RunText) -> str | None:
        """A run's console tail or code diff, if it has one (untrusted: a text over
        ``MAX_RUN_TEXT`` bytes is cut, bytes that are not UTF-8 are replaced)."""
        validate_name(run_id, "run id")
        try:
            with self.storage.open(layout.run_text(run_id, kind)) as stream:
                data = stream.read(MAX_RUN_TEXT)  # a huge planted file is not read whole
        except FileNotFoundError:
            return None
        return data.decode("utf-8", "replace")

    @_storage_errors
    def run_is_open(self, run_id: str) -> bool:
        """The run started and has no end record."""
        validate_name(run_id, "run id")
        return self.storage.exists(layout.run_start(run_id)) and not self.storage.exists(
            layout.run_end(run_id)
        )

    def run_lease_expired(self, run_id: str, record: dict[str, Any], lease_s: float) -> bool:
        """A RUNNING run whose process is gone: no heartbeat for ``lease_s`` seconds, or (on
        this very host) its process no longer exists."""
        if record.get("host") == os.uname().nodename and isinstance(record.get("pid"), int):
            pid = int(record["pid"])
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            except PermissionError:
                pass
        try:
            beat = json.loads(self.storage.read(layout.run_heartbeat(run_id)))
            last = float(beat["at"])
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            last = _timestamp(record.get("started_at"))
        return last > 0 and time.time() - last > lease_s

    @_storage_errors
    def index_sweep_job(self, sweep_id: str, run_id: str) -> None:
        """Index that ``run_id`` is a job of the sweep ``sweep_id``."""
        validate_name(sweep_id, "sweep id")
        validate_name(run_id, "run id")
        self.storage.create(layout.sweep_job(sweep_id, run_id), b"")

    @_storage_errors
    def sweep_jobs(self, sweep_id: str) -> builtins.list[str]:
        """The run ids of a sweep's jobs."""
        validate_name(sweep_id, "sweep id")
        return [r for r in self.storage.list(layout.sweep_jobs(sweep_id)) if _valid_name(r)]

    @_storage_errors
    def write_sweep_summary(self, sweep_id: str, summary: dict[str, Any]) -> None:
        validate_name(sweep_id, "sweep id")
        self.storage.replace(layout.sweep_summary(sweep_id), records.dumps(summary))

    @_storage_errors
    def read_sweep_summary(self, sweep_id: str) -> dict[str, Any] | None:
        validate_name(sweep_id, "sweep id")
        return self._json_object(layout.sweep_summary(sweep_id))

    @_storage_errors
    def cache_entry(self, key: str) -> dict[str, Any] | None:
        """The pipeline-cache entry under ``key`` (a hex digest), if any."""
        if not key.isalnum():
            raise ArtifactError(f"Pipeline cache key {key!r} is not a digest.")
        return self._json_object(layout.pipeline_cache(key))

    def _json_object(self, key: str) -> dict[str, Any] | None:
        """A JSON object stored at ``key``; None if absent or not an object (untrusted)."""
        try:
            data = json.loads(self.storage.read(key))
        except (FileNotFoundError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    @_storage_errors
    def put_cache_entry(self, key: str, entry: dict[str, Any]) -> None:
        if not key.isalnum():
            raise ArtifactError(f"Pipeline cache key {key!r} is not a digest.")
        self.storage.replace(layout.pipeline_cache(key), records.dumps(entry))

    @_storage_errors
    def run_attempts(self, run_id: str) -> int:
        """How many times the run started (a requeued Slurm job starts it again)."""
        validate_name(run_id, "run id")
        return 1 + len(self.storage.list(layout.run_attempts(run_id)))

    @_storage_errors
    def run_ids(self) -> builtins.list[str]:
        return [r for r in self.storage.list(layout.RUNS) if _valid_name(r)]

    @_storage_errors
    def run_outputs(self, run_id: str) -> builtins.list[str]:
        """The versions a run published, from its index (entries that are not a well-formed
        PROJECT/NAME/VERSION are not ours and are skipped). A pending entry with no entry
        beside it (the publish was killed after its commit, or before) counts if the version
        record exists and names this run as its producer."""
        validate_name(run_id, "run id")
        done: set[tuple[str, str, int]] = set()
        pending: set[tuple[str, str, int]] = set()
        for key, _ in self.storage.walk(layout.run_outputs(run_id)):
            parsed = layout.parse_run_output(run_id, key)
            if parsed is None or not (_valid_name(parsed[0]) and _valid_name(parsed[1])):
                continue
            (pending if parsed[3] else done).add(parsed[:3])
        done.update(v for v in pending - done if self._made_by(run_id, *v))
        return sorted(ArtURI(n, p, v).format(self.project) for p, n, v in done)

    def _settle_pending_output(self, key: str) -> None:
        """Before gc removes a publish's mark from a run's index of outputs: the entry it
        stood for, if that version was committed and names the run."""
        run_id = key.split("/")[1]
        parsed = layout.parse_run_output(run_id, key) if _valid_name(run_id) else None
        if parsed is None or not (_valid_name(parsed[0]) and _valid_name(parsed[1])):
            return
        project, name, version, _ = parsed
        if self._made_by(run_id, project, name, version):
            self.storage.create(layout.run_output(run_id, project, name, version), b"")

    def _made_by(self, run_id: str, project: str, name: str, version: int) -> bool:
        """The version exists and its record names ``run_id`` as its producer."""
        try:
            producer = self._read_record(project, name, version).record["producer"]
        except (NotFoundError, CorruptRecordError):
            return False
        return bool(producer == run_id)

    @_storage_errors
    def append_metrics(self, run_id: str, rows: builtins.list[dict[str, Any]]) -> None:
        """Add logged metric rows (``{"step", "time", "values"}``) to the run's stream: one new
        chunk object per call, never a rewrite, so appending costs the same on S3."""
        validate_name(run_id, "run id")
        if not rows:
            return
        chunk = f"{time.time_ns():020d}-{os.getpid()}-{os.urandom(4).hex()}"
        data = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows).encode()
        self.storage.create(layout.run_metrics_chunk(run_id, chunk), data)

    @_storage_errors
    def read_metrics(self, run_id: str) -> builtins.list[dict[str, Any]]:
        """The run's logged metrics, one row per step in step order. A step logged twice (a
        requeued job resumed from an earlier checkpoint) keeps the row written last. Read
        from storage, so untrusted: a row that is not ``{step: int >= 0, values: {name:
        number}}`` is skipped, as are non-finite values and chunks over ``MAX_CHUNK`` bytes."""
        validate_name(run_id, "run id")
        by_step: dict[int, dict[str, Any]] = {}
        for key, _ in sorted(self.storage.walk(layout.run_metrics(run_id))):
            name = key.rpartition("/")[2]
            if not name.endswith(".jsonl") or name.startswith("."):  # a writer's temp file
                continue
            try:
                data = self.storage.read(key)
            except FileNotFoundError:
                continue
            if len(data) > MAX_CHUNK:
                continue
            for line in data.decode("utf-8", "replace").splitlines():
                row = _metric_row(line)
                if row is not None:
                    by_step[row["step"]] = row
        return [by_step[step] for step in sorted(by_step)]

    def _consumer_prefix(self, version: ArtifactVersion) -> str:
        return layout.consumers(version.project, version.name, version.version)

    @_storage_errors
    def add_consumer(self, uri: str | ArtURI, run_id: str) -> None:
        """Index that ``run_id`` used the version at ``uri`` (for downstream queries)."""
        validate_name(run_id, "run id")
        version = self.resolve(uri)
        self.storage.create(
            layout.consumer(version.project, version.name, version.version, run_id), b""
        )

    @_storage_errors
    def consumers(self, uri: str | ArtURI | ArtifactVersion) -> builtins.list[str]:
        """Run ids that used the version at ``uri`` (or that version, already resolved)."""
        version = (  # a deleted version keeps its lineage
            uri if isinstance(uri, ArtifactVersion) else self.resolve(uri, include_deleted=True)
        )
        return [r for r in self.storage.list(self._consumer_prefix(version)) if _valid_name(r)]


#: A metrics chunk larger than this is not ours (a flush writes at most 1,000 short rows).
MAX_CHUNK = 16 << 20
#: A run's stored console tail or code diff is at most this many bytes.
MAX_RUN_TEXT = 1 << 20
RunText = Literal["console", "code_diff"]


def _metric_row(line: str) -> dict[str, Any] | None:
    try:
        raw = json.loads(line)
    except ValueError:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("values"), dict):
        return None
    step = raw.get("step")
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        return None
    values = {}
    for key, value in raw["values"].items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:  # an integer too large for a float
                continue
            if math.isfinite(number):
                values[str(key)] = number
    when = raw.get("time")
    return {
        "step": step,
        "time": when if isinstance(when, (int, float)) else None,
        "values": values,
    }
