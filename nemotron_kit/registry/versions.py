"""Versions and aliases: reading records, resolving URIs (``latest`` probes forward from its
pointer, so it costs the same at 1 or 10,000 versions), moving aliases, listing names.
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import math
from dataclasses import dataclass
from typing import Any, NamedTuple

from nemotron_kit.errors import (
    ArtifactError,
    CorruptRecordError,
    NotFoundError,
    URIError,
)
from nemotron_kit.registry import layout, records
from nemotron_kit.registry.base import (
    RegistryBase,
    _now,
    _storage_errors,
    _valid_name,
)
from nemotron_kit.registry.uri import LATEST, ArtURI, validate_alias, validate_name


class VersionPage(NamedTuple):
    """A page of a name's versions (``version_page``)."""

    versions: list[ArtifactVersion]  # newest first
    total: int  # versions not deleted
    deleted: list[int]  # the numbers of those deleted


@dataclass(frozen=True)
class ArtifactVersion:
    """One published version: its pinned URI and the record stored at publish time."""

    record: dict[str, Any]
    default_project: str = "default"
    #: Set when asked for with ``include_deleted`` and the version was deleted.
    deleted: bool = False

    @property
    def name(self) -> str:
        return str(self.record["name"])

    @property
    def project(self) -> str:
        return str(self.record["project"])

    @property
    def version(self) -> int:
        return int(self.record["version"])

    @property
    def uri(self) -> str:
        return ArtURI(self.name, self.project, self.version).format(self.default_project)

    @property
    def type(self) -> str:
        return str(self.record["type"])

    @property
    def class_path(self) -> str:
        return str(self.record["class"])

    @property
    def fields(self) -> dict[str, Any]:
        return dict(self.record["fields"])

    @property
    def metadata(self) -> dict[str, Any]:
        fields = self.fields
        extra = fields.pop("metadata", {}) or {}
        from nemotron_kit.artifacts._base import BASE_FIELDS

        return {**{k: v for k, v in fields.items() if k not in BASE_FIELDS}, **extra}

    @property
    def metrics(self) -> dict[str, float]:
        return {
            k: float(v)
            for k, v in self.metadata.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        }

    @property
    def digest(self) -> str:
        return str(self.record["manifest"]["digest"])

    @property
    def mode(self) -> str:
        return str(self.record["storage"]["mode"])

    @property
    def created_at(self) -> str:
        return str(self.record["created_at"])

    @property
    def producer(self) -> str | None:
        value = self.record.get("producer")
        return str(value) if value else None

    @property
    def num_files(self) -> int:
        return int(self.record["manifest"]["files"])

    @property
    def total_bytes(self) -> int:
        return int(self.record["manifest"]["bytes"])


@dataclass(frozen=True)
class ArtifactEntry:
    """A name in the registry with its newest version and its aliases."""

    project: str
    name: str
    latest: ArtifactVersion
    aliases: dict[str, int]

    @property
    def type(self) -> str:
        return self.latest.type

    @property
    def num_versions(self) -> int:
        return self.latest.version


class VersionLayer(RegistryBase):
    # -- records --------------------------------------------------------------------------
    def _read_record(self, project: str, name: str, version: int) -> ArtifactVersion:
        key = self._record_key(project, name, version)
        try:
            raw = self.storage.read(key)
        except FileNotFoundError:
            raise NotFoundError(self._missing_version_message(project, name, version)) from None
        where = f"The version record '{key}' in {self.root}"
        record = records.parse(records.VersionRecord, raw, where)
        if (record.project, record.name, record.version) != (project, name, version):
            raise CorruptRecordError(
                f"{where} describes art://{record.project}/{record.name}:v{record.version}, not "
                "the version it is stored as: it was copied or edited; restore it from a backup "
                "or remove it."
            )
        return ArtifactVersion(record.model_dump(mode="json", by_alias=True), self.project)

    def _missing_version_message(self, project: str, name: str, version: int) -> str:
        uri = ArtURI(name, project, version).format(self.project)
        if not self.storage.exists(self._record_key(project, name, 1)):
            return self._unknown_name_message(project, name)
        latest = self._latest_version(project, name)
        return f"{uri} does not exist: '{name}' has versions v1 to v{latest}."

    def _unknown_name_message(self, project: str, name: str) -> str:
        self.storage.check_root()
        known = self.storage.list(layout.project(project))
        others = [] if known else [p for p in self.projects() if p != project]
        if known:
            hint = f"known names: {', '.join(known[:10])}"
        elif others:  # the names are in another project: --project, or PROJECT/NAME in URIs
            hint = f"this project has no artifacts; the registry's projects: {', '.join(others)}"
        else:
            hint = "the registry has no artifacts yet"
        return f"No artifact named '{name}' in project '{project}' at {self.root} ({hint})."

    def _read_alias(self, project: str, name: str, alias: str) -> int | None:
        """The version an alias points at; None if absent, -1 if its record is damaged."""
        key = self._alias_key(project, name, alias)
        try:
            raw = self.storage.read(key)
        except FileNotFoundError:
            return None
        try:
            return records.parse(records.AliasRecord, raw, key).version
        except CorruptRecordError:
            return None if alias == LATEST else -1

    def _latest_version(self, project: str, name: str) -> int:
        """The newest committed version (0 if none): the pointer, then a forward probe.

        The pointer is only a hint: one that points past the last record (a crafted or
        damaged alias) is corrected by a binary search, since versions have no gaps.
        """
        start = self._read_alias(project, name, LATEST) or 0
        if start and not self.storage.exists(self._record_key(project, name, start)):
            low, high = 0, start  # exists(low) (or low == 0), not exists(high)
            while high - low > 1:
                middle = (low + high) // 2
                if self.storage.exists(self._record_key(project, name, middle)):
                    low = middle
                else:
                    high = middle
            start = low
        version = start
        while self.storage.exists(self._record_key(project, name, version + 1)):
            version += 1
        if version != start:  # the pointer lagged (a crash, or a racing writer): mend it
            with contextlib.suppress(Exception):  # best effort: readers may lack write access
                self._move_latest(project, name, version)
        return version

    def _move_latest(self, project: str, name: str, version: int) -> None:
        current = self._read_alias(project, name, LATEST) or 0
        if version > current:
            self.storage.replace(
                self._alias_key(project, name, LATEST),
                records.dumps(records.AliasRecord(version=version, updated_at=_now())),
            )

    # -- resolve / load -------------------------------------------------------------------
    @_storage_errors
    def resolve(self, uri: str | ArtURI, *, include_deleted: bool = False) -> ArtifactVersion:
        """Pin ``uri`` to a concrete version (``latest`` and aliases become ``vN``).

        A deleted version is refused in one sentence, unless ``include_deleted`` (lineage,
        which keeps showing it) asks for its record by number."""
        parsed = self.parse(uri)
        project, name = parsed.project or self.project, parsed.name
        if parsed.version is not None:
            if include_deleted:
                found = self._read_record(project, name, parsed.version)
                dead = self.tombstone(project, name, parsed.version) is not None
                return dataclasses.replace(found, deleted=dead) if dead else found
            return self._live_record(project, name, parsed.version)
        alias = parsed.alias or LATEST
        if alias == LATEST:
            if self._latest_version(project, name) == 0:
                raise NotFoundError(self._unknown_name_message(project, name))
            version = self._live_latest(project, name)
            if version == 0:
                raise NotFoundError(f"Every version of '{name}' was deleted: publish a new one.")
            return self._read_record(project, name, version)
        target = self._read_alias(project, name, alias)
        if target is None or target < 1:
            if not self.storage.exists(self._record_key(project, name, 1)):
                raise NotFoundError(self._unknown_name_message(project, name))
            known = sorted(self.aliases(name, project=project))
            raise NotFoundError(
                f"'{name}' has no alias '{alias}' (its aliases: {', '.join(known)}): set it with "
                f"`nemotron-kit artifacts alias art://{name}:vN {alias}`."
            )
        return self._live_record(project, name, target, via=alias)

    def _live_record(
        self, project: str, name: str, version: int, via: str | None = None
    ) -> ArtifactVersion:
        """The record of a version that was not deleted; a deleted one is one sentence."""
        record = self._read_record(project, name, version)
        dead = self.tombstone(project, name, version)
        if dead is not None:
            why = f" ({dead.reason})" if dead.reason else ""
            how = f"alias '{via}' points at " if via else ""
            raise NotFoundError(
                f"{how}{record.uri}, which was deleted on {dead.deleted_at}{why}: its number is "
                "not reused; choose another version."
            )
        return record

    def tombstone(self, project: str, name: str, version: int) -> records.TombstoneRecord | None:
        """The tombstone of a deleted version, or None while it is live."""
        key = layout.tombstone(project, name, version)
        try:
            raw = self.storage.read(key)
        except FileNotFoundError:
            return None
        return records.parse(records.TombstoneRecord, raw, f"The tombstone '{key}'")

    # -- aliases --------------------------------------------------------------------------
    def _write_alias(self, project: str, name: str, alias: str, version: int) -> None:
        self.storage.replace(
            self._alias_key(project, name, alias),
            records.dumps(records.AliasRecord(version=version, updated_at=_now())),
        )

    @_storage_errors
    def alias(self, uri: str | ArtURI, alias: str) -> ArtifactVersion:
        """Point ``alias`` at the version ``uri`` resolves to; returns that version."""
        validate_alias(alias)
        if alias == LATEST:
            raise URIError("'latest' always names the newest version and cannot be set by hand.")
        version = self.resolve(uri)
        self._write_alias(version.project, version.name, alias, version.version)
        return version

    @_storage_errors
    def aliases(self, name: str, *, project: str | None = None) -> dict[str, int]:
        project = project or self.project
        validate_name(name)
        out = {}
        for entry in self.storage.list(layout.aliases(project, name)):
            alias = layout.alias_name(entry)
            if alias == LATEST:
                continue
            target = self._read_alias(project, name, alias)
            if target and target > 0:
                out[alias] = target
        latest = self._live_latest(project, name)
        if latest:
            out[LATEST] = latest
        return out

    def _live_latest(self, project: str, name: str) -> int:
        """The newest version that was not deleted (0 if none): what ``latest`` names."""
        version = self._latest_version(project, name)
        while version > 0 and self.tombstone(project, name, version) is not None:
            version -= 1
        return version

    # -- listing --------------------------------------------------------------------------
    @_storage_errors
    def versions(self, name: str, *, project: str | None = None) -> list[ArtifactVersion]:
        """Every version of ``name``, oldest first."""
        project = project or self.project
        return [self._read_record(project, name, v) for v in self._live_numbers(project, name)[0]]

    @_storage_errors
    def version_page(
        self, name: str, *, project: str | None = None, offset: int = 0, limit: int | None = None
    ) -> VersionPage:
        """Up to ``limit`` versions of ``name``, newest first from the ``offset``-th: only
        their records are read, so a long history pages quickly."""
        if offset < 0 or (limit is not None and limit < 0):
            raise ArtifactError(f"offset ({offset}) and limit ({limit}) cannot be negative.")
        project = project or self.project
        live, dead = self._live_numbers(project, name)
        end = None if limit is None else offset + limit
        page = [self._read_record(project, name, v) for v in live[::-1][offset:end]]
        return VersionPage(page, len(live), sorted(dead))

    def _live_numbers(self, project: str, name: str) -> tuple[list[int], set[int]]:
        """The numbers of ``name``'s versions not deleted (oldest first), and of those deleted."""
        validate_name(name)
        latest = self._latest_version(project, name)
        if latest == 0:
            raise NotFoundError(self._unknown_name_message(project, name))
        dead = self.deleted_versions(name, project=project)
        return [v for v in range(1, latest + 1) if v not in dead], dead

    def deleted_versions(self, name: str, *, project: str | None = None) -> set[int]:
        """Numbers of the deleted versions of ``name`` (one listing)."""
        project = project or self.project
        prefix = layout.tombstone(project, name, 1).rsplit("/", 1)[0]
        return {n for e in self.storage.list(prefix) if (n := layout.version_number(e))}

    @_storage_errors
    def list(
        self, *, project: str | None = None, errors: builtins.list[str] | None = None
    ) -> list[ArtifactEntry]:
        """Every artifact name of ``project`` with its newest version and aliases.

        A name whose records cannot be read raises :class:`CorruptRecordError`; with
        ``errors`` given, its sentence is appended there instead and the others are listed.
        """
        project = project or self.project
        validate_name(project, "project name")
        names = self.storage.list(layout.project(project))
        if not names:
            self.storage.check_root()  # a missing bucket is not an empty registry
        entries = []
        for name in names:
            try:
                if not _valid_name(name):
                    raise CorruptRecordError(
                        f"'{layout.name(project, name)}' in {self.root} is not an artifact name "
                        "nemotron-kit writes: remove it."
                    )
                latest = self._live_latest(project, name)
                if latest == 0:
                    continue  # never committed, or every version deleted
                entries.append(
                    ArtifactEntry(
                        project,
                        name,
                        self._read_record(project, name, latest),
                        self.aliases(name, project=project),
                    )
                )
            except CorruptRecordError as exc:
                if errors is None:
                    raise
                errors.append(str(exc))
        return entries

    def projects(self) -> builtins.list[str]:
        return [p for p in self.storage.list(layout.ARTIFACTS) if _valid_name(p)]
