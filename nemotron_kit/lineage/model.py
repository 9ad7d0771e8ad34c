"""The lineage graph as typed nodes and edges, with adjacency kept per node and edge kind so
that walking it costs the degree of a node, not the size of the graph."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from types import MappingProxyType
from typing import Any, ClassVar, Literal, get_args

Direction = Literal["upstream", "downstream", "both"]
DIRECTIONS: tuple[str, ...] = get_args(Direction)
EdgeKind = Literal["consumed_by", "produced"]
CONSUMED_BY: EdgeKind = "consumed_by"
PRODUCED: EdgeKind = "produced"
EDGE_KINDS: tuple[str, ...] = get_args(EdgeKind)
RUN_PREFIX = "run:"
# Shown for a producer id that has no run record (published with an explicit producer).
UNKNOWN = "UNKNOWN"


@dataclass(frozen=True)
class ArtifactNode:
    """A version (id: its pinned URI). ``missing``: recorded as an input or output but its
    record cannot be read, so only what the URI says is known."""

    kind: ClassVar[Literal["artifact"]] = "artifact"
    id: str
    name: str | None
    project: str | None
    version: int | None
    type: str | None
    created_at: str | None
    producer: str | None
    missing: bool
    # Its record stays when a version is deleted: shown, and followed, as deleted.
    deleted: bool

    def to_dict(self) -> dict[str, Any]:
        """The node as ``to_json`` prints it; the key order is part of that document."""
        return {
            "id": self.id,
            "kind": self.kind,
            "name": self.name,
            "project": self.project,
            "version": self.version,
            "type": self.type,
            "created_at": self.created_at,
            "producer": self.producer,
            "missing": self.missing,
            "deleted": self.deleted,
        }


@dataclass(frozen=True)
class RunNode:
    """A run (id: ``run:<run_id>``). Values are as recorded, so a damaged record may carry
    other types; ``status`` is ``UNKNOWN`` when there is no record at all."""

    kind: ClassVar[Literal["run"]] = "run"
    id: str
    run_id: str
    recipe: str | None
    status: str
    started_at: str | None
    duration_s: float | None
    error: str | None
    # ``nano3-recipes 0.2.0`` for a recipe from an installed recipe package; None if built in.
    package: str | None = None
    # The script a run without a recipe came from (``set_lineage_tracker`` in a plain script).
    script: str | None = None

    @property
    def title(self) -> str:
        """What made the run, for a label: its recipe, else its script, else why neither."""
        if self.recipe:
            return str(self.recipe)
        if self.script:
            return f"script {PurePath(str(self.script)).name}"
        return "unrecorded" if self.status == UNKNOWN else "unnamed"

    def to_dict(self) -> dict[str, Any]:
        """The node as ``to_json`` prints it: ``package`` only when there is one."""
        data: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "run_id": self.run_id,
            "recipe": self.recipe,
            "status": self.status,
            "started_at": self.started_at,
            "duration_s": self.duration_s,
            "error": self.error,
        }
        if self.package:
            data["package"] = self.package
        if self.script:
            data["script"] = self.script
        return data


Node = ArtifactNode | RunNode


def node_from_dict(data: Mapping[str, Any]) -> Node:
    """The inverse of ``to_dict``: a node read back from ``to_json`` output."""
    fields = {k: v for k, v in data.items() if k != "kind"}
    if data.get("kind") == "artifact":
        return ArtifactNode(**fields)
    if data.get("kind") == "run":
        return RunNode(**fields)
    raise ValueError(f"unknown lineage node kind {data.get('kind')!r} for {data.get('id')!r}")


@dataclass(frozen=True, order=True)
class Edge:
    """Data flow: an input version is ``consumed_by`` a run, a run ``produced`` a version."""

    source: str
    target: str
    kind: EdgeKind

    def to_dict(self) -> dict[str, str]:
        return {"source": self.source, "target": self.target, "kind": self.kind}


_Adjacency = dict[str, dict[str, set[str]]]  # node id -> edge kind -> neighbour ids


@dataclass
class LineageGraph:
    """Versions and runs around ``root``; see the package docstring for ids and edge kinds.

    Built by ``lineage()`` through ``add_node``/``add_edge``; read through ``nodes``, ``edges``
    and the neighbour queries, which return ids sorted so every output is stable.
    """

    root: str
    direction: Direction
    depth: int | None
    records_read: int = 0  # records (version, run start/end, alias) read by the query
    keys_listed: int = 0  # entries returned by listings (consumer and output indexes)
    storage_calls: dict[str, int] = field(default_factory=dict)
    _nodes: dict[str, Node] = field(default_factory=dict, init=False, repr=False)
    _edges: set[Edge] = field(default_factory=set, init=False, repr=False)
    _out: _Adjacency = field(default_factory=dict, init=False, repr=False)
    _in: _Adjacency = field(default_factory=dict, init=False, repr=False)

    # -- building -------------------------------------------------------------------------
    def add_node(self, node: Node) -> Node:
        """Add ``node`` unless one with its id is there already; the node kept is returned
        (the first one met wins, as a query meets a node again from another side)."""
        return self._nodes.setdefault(node.id, node)

    def add_edge(self, source: str, target: str, kind: EdgeKind) -> None:
        """Add an edge between two nodes already added (adding it twice changes nothing)."""
        if kind not in EDGE_KINDS:
            raise ValueError(f"unknown lineage edge kind {kind!r}")
        for end in (source, target):
            if end not in self._nodes:
                raise KeyError(f"lineage edge {source} -> {target}: no node {end!r}")
        edge = Edge(source, target, kind)
        if edge in self._edges:
            return
        self._edges.add(edge)
        self._out.setdefault(source, {}).setdefault(kind, set()).add(target)
        self._in.setdefault(target, {}).setdefault(kind, set()).add(source)

    # -- reading --------------------------------------------------------------------------
    @property
    def nodes(self) -> Mapping[str, Node]:
        """Node id -> node, read-only (add through ``add_node``)."""
        return MappingProxyType(self._nodes)

    @property
    def edges(self) -> list[Edge]:
        """Every edge, sorted by (source, target, kind)."""
        return sorted(self._edges)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._nodes

    def __iter__(self) -> Iterator[Node]:
        """The nodes, sorted by id."""
        return (self._nodes[k] for k in sorted(self._nodes))

    def runs(self) -> list[RunNode]:
        return [n for n in self if isinstance(n, RunNode)]

    def artifacts(self) -> list[ArtifactNode]:
        return [n for n in self if isinstance(n, ArtifactNode)]

    def targets(self, source: str, kind: EdgeKind | None = None) -> list[str]:
        """Ids the edges out of ``source`` lead to (of one kind, or of any)."""
        return _neighbours(self._out, source, kind)

    def sources(self, target: str, kind: EdgeKind | None = None) -> list[str]:
        """Ids of the edges into ``target`` come from (of one kind, or of any)."""
        return _neighbours(self._in, target, kind)

    def producers(self, version_id: str) -> list[str]:
        return self.sources(version_id, PRODUCED)

    def inputs(self, run_id: str) -> list[str]:
        return self.sources(run_id, CONSUMED_BY)

    def consumers(self, version_id: str) -> list[str]:
        return self.targets(version_id, CONSUMED_BY)

    def outputs(self, run_id: str) -> list[str]:
        return self.targets(run_id, PRODUCED)

    # -- JSON -----------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """A stable dict: nodes sorted by id, edges by (source, target, kind)."""
        return {
            "root": self.root,
            "direction": self.direction,
            "depth": self.depth,
            "nodes": [node.to_dict() for node in self],
            "edges": [edge.to_dict() for edge in self.edges],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LineageGraph:
        """A graph read back from ``to_json`` output (the storage counts are not in it)."""
        graph = cls(root=data["root"], direction=data["direction"], depth=data["depth"])
        for node in data["nodes"]:
            graph.add_node(node_from_dict(node))
        for edge in data["edges"]:
            graph.add_edge(edge["source"], edge["target"], edge["kind"])
        return graph


def _neighbours(adjacency: _Adjacency, node_id: str, kind: str | None) -> list[str]:
    by_kind = adjacency.get(node_id)
    if not by_kind:
        return []
    if kind is not None:
        return sorted(by_kind.get(kind, ()))
    return sorted(set().union(*by_kind.values()))


__all__ = [
    "CONSUMED_BY",
    "DIRECTIONS",
    "PRODUCED",
    "RUN_PREFIX",
    "UNKNOWN",
    "ArtifactNode",
    "Direction",
    "Edge",
    "EdgeKind",
    "LineageGraph",
    "Node",
    "RunNode",
    "node_from_dict",
]
