"""``lineage()``: the query, reading the registry through a storage that counts every call, so
a query's cost can be checked against the size of the registry."""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

from nemotron_kit.errors import CorruptRecordError, LineageQueryError, NotFoundError, URIError
from nemotron_kit.lineage.model import (
    CONSUMED_BY,
    DIRECTIONS,
    PRODUCED,
    RUN_PREFIX,
    UNKNOWN,
    ArtifactNode,
    Direction,
    LineageGraph,
    RunNode,
)
from nemotron_kit.registry.storage import Storage
from nemotron_kit.registry.uri import ArtURI, parse_uri
from nemotron_kit.views import run_project

if TYPE_CHECKING:
    from nemotron_kit.registry.core import ArtifactRegistry, ArtifactVersion

# A record that cannot be followed (a storage failure is not one of these: it propagates).
UNREADABLE = (NotFoundError, CorruptRecordError, URIError)


class CountingStorage(Storage):
    """A storage that forwards every call to ``inner`` and counts the reads."""

    def __init__(self, inner: Storage) -> None:
        self.inner = inner
        self.url = inner.url
        self.calls: dict[str, int] = {}
        self.keys_listed = 0

    def _count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    def read(self, key: str) -> bytes:
        self._count("read")
        return self.inner.read(key)

    def exists(self, key: str) -> bool:
        self._count("exists")
        return self.inner.exists(key)

    def create(self, key: str, data: bytes) -> bool:
        self._count("create")
        return self.inner.create(key, data)

    def replace(self, key: str, data: bytes) -> None:
        self._count("replace")
        self.inner.replace(key, data)

    def put_file(self, local: Path, key: str) -> None:
        self._count("put_file")
        self.inner.put_file(local, key)

    def list(self, prefix: str) -> list[str]:
        self._count("list")
        names = self.inner.list(prefix)
        self.keys_listed += len(names)
        return names

    def walk(self, prefix: str) -> Iterator[tuple[str, float]]:
        self._count("walk")
        for item in self.inner.walk(prefix):
            self.keys_listed += 1
            yield item

    def delete(self, key: str) -> None:
        self._count("delete")
        self.inner.delete(key)

    def touch(self, key: str) -> None:
        self._count("touch")
        self.inner.touch(key)

    def open(self, key: str) -> IO[bytes]:
        self._count("open")
        return self.inner.open(key)

    def fingerprint(self, key: str) -> str | None:
        self._count("fingerprint")
        return self.inner.fingerprint(key)

    def local_path(self, key: str) -> Path | None:
        return self.inner.local_path(key)

    def check_root(self) -> None:
        self._count("check_root")
        self.inner.check_root()

    @property
    def is_local(self) -> bool:
        return self.inner.is_local


class _Reader:
    """The registry seen through a counting storage; each record is read at most once."""

    def __init__(self, registry: ArtifactRegistry) -> None:
        self.storage = CountingStorage(registry.storage)
        self.registry = copy.copy(registry)  # the caller's registry keeps its own storage
        self.registry.storage = self.storage
        self.project = registry.project
        self._versions: dict[str, ArtifactVersion | None] = {}
        self._runs: dict[str, dict[str, Any] | None] = {}

    def qualify(self, uri: str, project: str | None) -> ArtURI:
        """``uri`` with the project it was written against (records leave the default out)."""
        parsed = parse_uri(uri)
        if parsed.project is None and project:
            parsed = ArtURI(parsed.name, project, parsed.version, parsed.alias, parsed.path)
        return parsed

    def cached(self, node_id: str) -> ArtifactVersion | None:
        return self._versions.get(node_id)

    def root(self, uri: str) -> ArtifactVersion:
        version = self.registry.resolve(uri, include_deleted=True)
        self._versions[version.uri] = version
        return version

    def version(self, uri: str, project: str | None) -> tuple[str, ArtifactVersion | None]:
        """The node id of a recorded input/output URI and its version (None if unreadable)."""
        try:
            parsed = self.qualify(uri, project)
        except URIError:
            return uri, None
        if parsed.version is not None:
            node_id = ArtURI(parsed.name, parsed.project, parsed.version).format(self.project)
            if node_id in self._versions:
                return node_id, self._versions[node_id]
        try:
            version: ArtifactVersion | None = self.registry.resolve(parsed, include_deleted=True)
        except UNREADABLE:  # corrupted or never committed: shown, not followed
            version = None
        node_id = version.uri if version is not None else parsed.format(self.project)
        self._versions[node_id] = version
        return node_id, version

    def root_run(self, run_id: str) -> dict[str, Any]:
        """The record of the run asked about: missing or damaged, it is an error (one
        sentence), not a blank node."""
        record = self.registry.read_run(run_id)
        self._runs[run_id] = record
        return record

    def run(self, run_id: str) -> dict[str, Any] | None:
        if run_id not in self._runs:
            try:
                self._runs[run_id] = self.registry.read_run(run_id)
            except UNREADABLE:  # no record: a producer named by hand, or a damaged record
                self._runs[run_id] = None
        return self._runs[run_id]

    def consumers(self, version: ArtifactVersion) -> list[str]:
        return self.registry.consumers(version)

    def outputs(self, run_id: str, record: dict[str, Any] | None) -> list[str]:
        if record is not None:
            return [str(o) for o in record.get("outputs") or []]
        return self.registry.run_outputs(run_id)


# -- nodes from records -------------------------------------------------------------------
def artifact_node(node_id: str, version: ArtifactVersion | None) -> ArtifactNode:
    """The node of a version; ``None``: unreadable, described by what its URI says."""
    if version is None:
        try:
            parsed: ArtURI | None = parse_uri(node_id)
        except URIError:  # a malformed URI in a damaged record: shown as recorded
            parsed = None
        return ArtifactNode(
            id=node_id,
            name=parsed.name if parsed else None,
            project=parsed.project if parsed else None,
            version=parsed.version if parsed else None,
            type=None,
            created_at=None,
            producer=None,
            missing=True,
            deleted=False,
        )
    return ArtifactNode(
        id=node_id,
        name=version.name,
        project=version.project,
        version=version.version,
        type=version.type,
        created_at=version.created_at,
        producer=version.producer,
        missing=False,
        deleted=version.deleted,
    )


def run_node(run_id: str, record: dict[str, Any] | None) -> RunNode:
    """The node of a run; ``None``: no record (a producer named by hand, or damaged)."""
    record = record or {}
    package = record.get("recipe_package")
    config = record.get("config")
    script = config.get("script") if isinstance(config, dict) else None
    return RunNode(
        id=RUN_PREFIX + run_id,
        run_id=run_id,
        recipe=record.get("recipe"),
        status=record.get("status") or UNKNOWN,
        started_at=record.get("started_at"),
        duration_s=record.get("duration_s"),
        error=record.get("error"),
        package=package if isinstance(package, str) and package else None,
        script=script if isinstance(script, str) and script and not record.get("recipe") else None,
    )


def lineage(
    registry: ArtifactRegistry,
    uri: str,
    direction: Direction | str = "upstream",
    depth: int | None = None,
) -> LineageGraph:
    """The lineage graph of the version ``uri`` resolves to (``latest`` and aliases pinned).

    ``direction``: ``upstream`` (what it was made from), ``downstream`` (what was made from
    it) or ``both``. ``depth``: artifact hops to follow (None: all the way).
    """
    if direction not in DIRECTIONS:
        raise LineageQueryError(
            f"Unknown lineage direction {direction!r}: use upstream, downstream or both."
        )
    _check_depth(depth)
    reader = _Reader(registry)
    root = reader.root(uri)
    graph = LineageGraph(root=root.uri, direction=cast(Direction, direction), depth=depth)
    graph.add_node(artifact_node(root.uri, root))
    if direction in ("upstream", "both"):
        _walk_upstream(reader, graph, root.uri, depth)
    if direction in ("downstream", "both"):
        _walk_downstream(reader, graph, root.uri, depth)
    return _counted(graph, reader)


def run_lineage(registry: ArtifactRegistry, run_id: str, depth: int | None = None) -> LineageGraph:
    """The lineage around run ``run_id`` (the root, ``run:ID``): its inputs and what they were
    made from, its outputs and what was made from them. ``depth`` counts artifact hops from the
    run: 1 is its inputs and outputs."""
    _check_depth(depth)
    reader = _Reader(registry)
    record = reader.root_run(run_id)
    graph = LineageGraph(root=RUN_PREFIX + run_id, direction="both", depth=depth)
    run = graph.add_node(run_node(run_id, record))
    if depth == 0:
        return _counted(graph, reader)
    rest = None if depth is None else depth - 1
    project = run_project(record) or reader.project
    for uri in record.get("inputs") or []:
        input_id, version = reader.version(str(uri), project)
        graph.add_node(artifact_node(input_id, version))
        graph.add_edge(input_id, run.id, CONSUMED_BY)
        _walk_upstream(reader, graph, input_id, rest)
    for uri in reader.outputs(run_id, record):
        output_id, version = reader.version(uri, reader.project)
        graph.add_node(artifact_node(output_id, version))
        graph.add_edge(run.id, output_id, PRODUCED)
        _walk_downstream(reader, graph, output_id, rest)
    return _counted(graph, reader)


def _check_depth(depth: int | None) -> None:
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 0):
        raise LineageQueryError(f"The lineage depth must be a whole number >= 0, not {depth!r}.")


def _counted(graph: LineageGraph, reader: _Reader) -> LineageGraph:
    graph.records_read = reader.storage.calls.get("read", 0)
    graph.keys_listed = reader.storage.keys_listed
    graph.storage_calls = dict(sorted(reader.storage.calls.items()))
    return graph


def _breadth_first(root: str, depth: int | None, expand: Callable[[str], list[str]]) -> None:
    """Visit versions from ``root`` hop by hop, at most ``depth`` hops (None: all);
    ``expand`` adds a version's runs and neighbours to the graph and returns the neighbours."""
    queue: deque[tuple[str, int]] = deque([(root, 0)])
    seen = {root}
    while queue:
        version_id, hops = queue.popleft()
        if depth is not None and hops >= depth:
            continue
        for next_id in expand(version_id):
            if next_id not in seen:
                seen.add(next_id)
                queue.append((next_id, hops + 1))


def _walk_upstream(reader: _Reader, graph: LineageGraph, root: str, depth: int | None) -> None:
    def expand(version_id: str) -> list[str]:
        version = reader.cached(version_id)
        if version is None or version.producer is None:
            return []  # published outside a run (or unreadable): a leaf
        record = reader.run(version.producer)
        run = graph.add_node(run_node(version.producer, record))
        graph.add_edge(run.id, version_id, PRODUCED)
        if record is not None:
            inputs, project = record.get("inputs") or [], run_project(record) or version.project
        else:  # no run record: the version's own record names what its producer read
            inputs, project = version.record.get("inputs") or [], version.project
        found = []
        for uri in inputs:
            input_id, input_version = reader.version(str(uri), project)
            graph.add_node(artifact_node(input_id, input_version))
            graph.add_edge(input_id, run.id, CONSUMED_BY)
            found.append(input_id)
        return found

    _breadth_first(root, depth, expand)


def _walk_downstream(reader: _Reader, graph: LineageGraph, root: str, depth: int | None) -> None:
    def expand(version_id: str) -> list[str]:
        version = reader.cached(version_id)
        if version is None:
            return []
        found = []
        for run_id in reader.consumers(version):
            record = reader.run(run_id)
            run = graph.add_node(run_node(run_id, record))
            graph.add_edge(version_id, run.id, CONSUMED_BY)
            for uri in reader.outputs(run_id, record):
                output_id, output = reader.version(uri, reader.project)
                graph.add_node(artifact_node(output_id, output))
                graph.add_edge(run.id, output_id, PRODUCED)
                found.append(output_id)
        return found

    _breadth_first(root, depth, expand)


__all__ = ["UNREADABLE", "CountingStorage", "artifact_node", "lineage", "run_lineage", "run_node"]
