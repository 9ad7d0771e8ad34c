"""Lineage queries: which runs made a version from which inputs, and what was made from it.

    from nemotron_kit.tracking.graph import lineage

    graph = lineage(registry, "art://eval:v1", direction="upstream", depth=3)
    graph.to_json()      # {"root", "direction", "depth", "nodes", "edges"}, sorted: stable
    graph.to_mermaid()   # a flowchart for Markdown
    graph.to_dot()       # Graphviz source
    graph.render("lineage.png")   # or .svg, through Graphviz's `dot`

Nodes are artifact versions (id: the pinned URI, ``art://model:v3``) and runs (id:
``run:<run_id>``). Edges go the way data flows: an input version is ``consumed_by`` a run and a
run ``produced`` its output versions.

A query reads only the records on its path, never a listing of all versions or runs:
upstream follows a version's ``producer`` to that run's record and on to the run's pinned
``inputs``; downstream follows the consumer index of a version (marker keys written when a run
starts) to those runs and on to their outputs (the run's output index). ``depth`` counts
artifact hops: depth 1 upstream of a model is its producing run and that run's inputs. Every
storage call a query makes is counted (``records_read``, ``keys_listed``, ``storage_calls``),
so its cost can be checked against the size of the registry.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import tempfile
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, get_args

from nemotron_kit.errors import (
    CorruptRecordError,
    NemotronKitError,
    NotFoundError,
    URIError,
)
from nemotron_kit.registry.storage import Storage
from nemotron_kit.registry.uri import ArtURI, parse_uri

if TYPE_CHECKING:
    from rich.text import Text
    from rich.tree import Tree

    from nemotron_kit.registry.core import ArtifactRegistry, ArtifactVersion

Direction = Literal["upstream", "downstream", "both"]
DIRECTIONS: tuple[str, ...] = get_args(Direction)
# A record that cannot be followed (a storage failure is not one of these: it propagates).
UNREADABLE = (NotFoundError, CorruptRecordError, URIError)
CONSUMED_BY = "consumed_by"
PRODUCED = "produced"
RUN_PREFIX = "run:"
# Shown for a producer id that has no run record (published with an explicit producer).
UNKNOWN = "UNKNOWN"
RENDER_FORMATS = ("png", "svg")
TEXT_FORMATS = {".dot": "dot", ".gv": "dot", ".mmd": "mermaid", ".json": "json"}


class LineageError(NemotronKitError):
    """A lineage query or rendering was asked for something it cannot do."""


# -- counting reads -----------------------------------------------------------------------
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


# -- the graph ----------------------------------------------------------------------------
def _artifact_node(node_id: str, version: ArtifactVersion | None) -> dict[str, Any]:
    if version is None:
        try:
            parsed: ArtURI | None = parse_uri(node_id)
        except URIError:  # a malformed URI in a damaged record: shown as recorded
            parsed = None
        return {
            "id": node_id,
            "kind": "artifact",
            "name": parsed.name if parsed else None,
            "project": parsed.project if parsed else None,
            "version": parsed.version if parsed else None,
            "type": None,
            "created_at": None,
            "producer": None,
            "missing": True,
            "deleted": False,
        }
    return {
        "id": node_id,
        "kind": "artifact",
        "name": version.name,
        "project": version.project,
        "version": version.version,
        "type": version.type,
        "created_at": version.created_at,
        "producer": version.producer,
        "missing": False,
        # Its record stays when a version is deleted: shown, and followed, as deleted.
        "deleted": version.deleted,
    }


def _package_label(value: Any) -> str | None:
    """``nano3-recipes 0.2.0`` for a recipe from an installed recipe package."""
    return value if isinstance(value, str) and value else None


def _run_node(run_id: str, record: dict[str, Any] | None) -> dict[str, Any]:
    record = record or {}
    node = {
        "id": RUN_PREFIX + run_id,
        "kind": "run",
        "run_id": run_id,
        "recipe": record.get("recipe"),
        "status": record.get("status") or UNKNOWN,
        "started_at": record.get("started_at"),
        "duration_s": record.get("duration_s"),
        "error": record.get("error"),
    }
    package = _package_label(record.get("recipe_package"))
    if package:  # a recipe from an installed recipe package, not a built-in one
        node["package"] = package
    return node


def _run_project(record: dict[str, Any]) -> str | None:
    """The project a run's registry used: its recorded input URIs leave that one out."""
    config = record.get("config")
    registry = config.get("registry") if isinstance(config, dict) else None
    project = registry.get("project") if isinstance(registry, dict) else None
    return project if isinstance(project, str) and project else None


@dataclass
class LineageGraph:
    """Versions and runs around ``root``; see the module docstring for ids and edge kinds."""

    root: str
    direction: str
    depth: int | None
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    edges: set[tuple[str, str, str]] = field(default_factory=set)  # (source, target, kind)
    records_read: int = 0  # records (version, run start/end, alias) read by the query
    keys_listed: int = 0  # entries returned by listings (consumer and output indexes)
    storage_calls: dict[str, int] = field(default_factory=dict)

    # -- structure ------------------------------------------------------------------------
    def runs(self) -> list[dict[str, Any]]:
        return [n for _, n in sorted(self.nodes.items()) if n["kind"] == "run"]

    def artifacts(self) -> list[dict[str, Any]]:
        return [n for _, n in sorted(self.nodes.items()) if n["kind"] == "artifact"]

    def _targets(self, source: str, kind: str) -> list[str]:
        return sorted(t for s, t, k in self.edges if s == source and k == kind)

    def _sources(self, target: str, kind: str) -> list[str]:
        return sorted(s for s, t, k in self.edges if t == target and k == kind)

    def producers(self, version_id: str) -> list[str]:
        return self._sources(version_id, PRODUCED)

    def inputs(self, run_id: str) -> list[str]:
        return self._sources(run_id, CONSUMED_BY)

    def consumers(self, version_id: str) -> list[str]:
        return self._targets(version_id, CONSUMED_BY)

    def outputs(self, run_id: str) -> list[str]:
        return self._targets(run_id, PRODUCED)

    # -- text formats ---------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """A stable dict: nodes sorted by id, edges by (source, target, kind)."""
        return {
            "root": self.root,
            "direction": self.direction,
            "depth": self.depth,
            "nodes": [dict(self.nodes[k]) for k in sorted(self.nodes)],
            "edges": [{"source": s, "target": t, "kind": k} for s, t, k in sorted(self.edges)],
        }

    def _label_lines(self, node: dict[str, Any]) -> list[str]:
        if node["kind"] == "artifact":
            detail = "missing" if node["missing"] else str(node["type"])
            return [node["id"], detail]
        status = str(node["status"])
        recipe = str(node["recipe"] or "run")
        if node.get("package"):
            recipe += f" ({node['package']})"
        return [recipe, node["run_id"], status]

    def _style(self, node: dict[str, Any]) -> str:
        if node["kind"] == "artifact":
            return "missing" if node["missing"] else "artifact"
        return {"COMPLETED": "run", "FAILED": "failed"}.get(node["status"], "other")

    def to_mermaid(self) -> str:
        """A Mermaid flowchart (left to right); node labels carry the ids."""
        ids = {node_id: f"n{i}" for i, node_id in enumerate(sorted(self.nodes))}
        lines = ["flowchart LR"]
        for node_id, short in ids.items():
            node = self.nodes[node_id]
            label = "<br/>".join(_mermaid_escape(part) for part in self._label_lines(node))
            shape = ('["', '"]') if node["kind"] == "artifact" else ('(["', '"])')
            lines.append(f"  {short}{shape[0]}{label}{shape[1]}")
        for source, target, kind in sorted(self.edges):
            lines.append(f"  {ids[source]} -->|{kind.replace('_', ' ')}| {ids[target]}")
        lines += [
            "  classDef artifact fill:#e8f1fb,stroke:#4a7ab5",
            "  classDef run fill:#eef7ea,stroke:#4f8a3c",
            "  classDef failed fill:#fbe4e4,stroke:#c0392b",
            "  classDef other fill:#fdf3d8,stroke:#b7950b",
            "  classDef missing fill:#f2f2f2,stroke:#999,stroke-dasharray:4",
        ]
        by_style: dict[str, list[str]] = {}
        for node_id, short in ids.items():
            by_style.setdefault(self._style(self.nodes[node_id]), []).append(short)
        for style, shorts in sorted(by_style.items()):
            lines.append(f"  class {','.join(shorts)} {style}")
        if self.root in ids:
            lines.append(f"  style {ids[self.root]} stroke-width:3px")
        return "\n".join(lines) + "\n"

    def to_dot(self) -> str:
        """Graphviz source: versions as boxes, runs as ellipses coloured by status."""
        fills = {
            "artifact": "#e8f1fb",
            "run": "#eef7ea",
            "failed": "#fbe4e4",
            "other": "#fdf3d8",
            "missing": "#f2f2f2",
        }
        scope = "upstream and downstream" if self.direction == "both" else self.direction
        title = f"Lineage of {self.root} ({scope}"
        title += f", depth {self.depth})" if self.depth is not None else ")"
        lines = [
            "digraph lineage {",
            "  rankdir=LR;",
            f'  graph [fontname="Helvetica", fontsize=12, label={_dot_quote(title)}, '
            "labelloc=t, nodesep=0.3, ranksep=0.5];",
            '  node [fontname="Helvetica", fontsize=11, style=filled, color="#555555"];',
            '  edge [fontname="Helvetica", fontsize=9, color="#666666", fontcolor="#666666"];',
        ]
        for node_id in sorted(self.nodes):
            node = self.nodes[node_id]
            style = self._style(node)
            attrs = {
                "label": "\n".join(self._label_lines(node)),
                "shape": "box" if node["kind"] == "artifact" else "ellipse",
                "style": "filled,rounded" if node["kind"] == "artifact" else "filled",
                "fillcolor": fills[style],
            }
            if style == "missing":
                attrs["style"] += ",dashed"
            if node_id == self.root:
                attrs["penwidth"] = "2.5"
            rendered = ", ".join(f"{k}={_dot_quote(v)}" for k, v in attrs.items())
            lines.append(f"  {_dot_quote(node_id)} [{rendered}];")
        for source, target, kind in sorted(self.edges):
            label = kind.replace("_", " ")
            lines.append(
                f"  {_dot_quote(source)} -> {_dot_quote(target)} [label={_dot_quote(label)}];"
            )
        lines.append("}")
        return "\n".join(lines) + "\n"

    def render(self, path: str | Path) -> Path:
        """Draw the graph to ``path`` (.png or .svg) with Graphviz's ``dot``; returns the path."""
        target = Path(path)
        fmt = target.suffix.lower().lstrip(".")
        if fmt not in RENDER_FORMATS:
            raise LineageError(
                f"Cannot render lineage to '{target}': the file name must end in .png or .svg."
            )
        dot = shutil.which("dot")
        if dot is None:
            raise LineageError(
                f"Rendering {target.name} needs Graphviz's `dot` executable, which is not on "
                "PATH: install Debian's graphviz (apt-get install graphviz), or print "
                "--format dot or --format mermaid instead."
            )
        parent = target.absolute().parent
        if not parent.is_dir():
            raise LineageError(f"Cannot write '{target}': the directory '{parent}' does not exist.")
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=f".{fmt}", dir=parent)
        os.close(fd)
        try:
            args = [dot, f"-T{fmt}", "-o", tmp]
            if fmt == "png":
                args.insert(1, "-Gdpi=144")
            result = subprocess.run(
                args, input=self.to_dot().encode(), capture_output=True, timeout=300, check=False
            )
            if result.returncode != 0:
                reason = " ".join(result.stderr.decode(errors="replace").split())[:200]
                raise LineageError(
                    f"Graphviz `dot` could not render {target.name} (exit {result.returncode}: "
                    f"{reason or 'no message'}): check the Graphviz installation."
                )
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return target

    def write(self, path: str | Path) -> Path:
        """Write the graph to ``path``: .png/.svg rendered, .dot/.gv/.mmd/.json as text."""
        target = Path(path)
        text_format = TEXT_FORMATS.get(target.suffix.lower())
        if text_format is None:
            return self.render(target)
        if text_format == "json":
            text = json.dumps(self.to_json(), indent=2) + "\n"
        else:
            text = self.to_dot() if text_format == "dot" else self.to_mermaid()
        target.write_text(text)
        return target

    # -- rich tree ------------------------------------------------------------------------
    def to_rich_tree(self) -> Tree:
        """A rich Tree from the root: each version -> the run that produced it -> its inputs
        (upstream), and each version -> the runs that consumed it -> their outputs (downstream).
        A node met twice is expanded once; later, if it leads further, it is marked
        ``(see above)``."""
        from rich.tree import Tree

        tree = Tree(self._tree_label(self.root, None))
        if self.direction in ("upstream", "both"):
            self._grow(tree, self.root, upstream=True, expanded=set())
        if self.direction in ("downstream", "both"):
            self._grow(tree, self.root, upstream=False, expanded=set())
        return tree

    def _grow(self, branch: Tree, version_id: str, *, upstream: bool, expanded: set[str]) -> None:
        expanded.add(version_id)
        runs = self.producers(version_id) if upstream else self.consumers(version_id)
        for run_id in runs:
            relation = "produced by" if upstream else "consumed by"
            if run_id in expanded:
                branch.add(self._tree_label(run_id, relation, seen=True))
                continue
            expanded.add(run_id)
            run_branch = branch.add(self._tree_label(run_id, relation))
            versions = self.inputs(run_id) if upstream else self.outputs(run_id)
            for child in versions:
                if child in expanded:
                    more = self.producers(child) if upstream else self.consumers(child)
                    run_branch.add(self._tree_label(child, None, seen=bool(more)))
                else:
                    self._grow(
                        run_branch.add(self._tree_label(child, None)),
                        child,
                        upstream=upstream,
                        expanded=expanded,
                    )

    def _tree_label(self, node_id: str, relation: str | None, *, seen: bool = False) -> Text:
        from rich.text import Text

        node = self.nodes[node_id]
        text = Text()
        if node["kind"] == "artifact":
            text.append(node_id, style="bold" if node_id == self.root else "bold cyan")
            kind = "missing" if node["missing"] else node["type"]
            text.append(f"  {kind}{'  deleted' if node.get('deleted') else ''}", style="dim")
        else:
            status = str(node["status"])
            color = {"COMPLETED": "green", "FAILED": "red"}.get(status, "yellow")
            text.append(f"{relation} " if relation else "", style="dim")
            text.append(f"{node['recipe'] or '?'} ", style="bold")
            if node.get("package"):
                text.append(f"({node['package']}) ", style="dim")
            text.append(f"run {node['run_id']}", style="magenta")
            text.append("  ")
            text.append(status, style=f"bold {color}")
            if node.get("started_at"):
                text.append(f"  started {_short_time(str(node['started_at']))}", style="dim")
            if node.get("error"):
                text.append(f"  {' '.join(str(node['error']).split())[:120]}", style="red")
        if seen:
            text.append("  (see above)", style="dim italic")
        return text


def _short_time(text: str) -> str:
    """An ISO timestamp as local ``YYYY-MM-DD HH:MM:SS``; the text itself if unparsable."""
    from datetime import datetime

    try:
        return datetime.fromisoformat(text).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return text


def _mermaid_escape(text: str) -> str:
    return (
        text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
    )


def _dot_quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


# -- the query ----------------------------------------------------------------------------
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
        raise LineageError(
            f"Unknown lineage direction {direction!r}: use upstream, downstream or both."
        )
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 0):
        raise LineageError(f"The lineage depth must be a whole number >= 0, not {depth!r}.")
    reader = _Reader(registry)
    root = reader.root(uri)
    graph = LineageGraph(root=root.uri, direction=direction, depth=depth)
    graph.nodes[root.uri] = _artifact_node(root.uri, root)
    if direction in ("upstream", "both"):
        _walk_upstream(reader, graph, root.uri, depth)
    if direction in ("downstream", "both"):
        _walk_downstream(reader, graph, root.uri, depth)
    graph.records_read = reader.storage.calls.get("read", 0)
    graph.keys_listed = reader.storage.keys_listed
    graph.storage_calls = dict(sorted(reader.storage.calls.items()))
    return graph


def _add_run(graph: LineageGraph, run_id: str, record: dict[str, Any] | None) -> str:
    node = _run_node(run_id, record)
    graph.nodes.setdefault(node["id"], node)
    return str(node["id"])


def _walk_upstream(reader: _Reader, graph: LineageGraph, root: str, depth: int | None) -> None:
    queue: deque[tuple[str, int]] = deque([(root, 0)])
    seen = {root}
    while queue:
        version_id, hops = queue.popleft()
        if depth is not None and hops >= depth:
            continue
        version = reader.cached(version_id)
        if version is None or version.producer is None:
            continue  # published outside a run (or unreadable): a leaf
        record = reader.run(version.producer)
        run_node = _add_run(graph, version.producer, record)
        graph.edges.add((run_node, version_id, PRODUCED))
        if record is not None:
            inputs, project = record.get("inputs") or [], _run_project(record) or version.project
        else:  # no run record: the version's own record names what its producer read
            inputs, project = version.record.get("inputs") or [], version.project
        for uri in inputs:
            input_id, input_version = reader.version(str(uri), project)
            graph.nodes.setdefault(input_id, _artifact_node(input_id, input_version))
            graph.edges.add((input_id, run_node, CONSUMED_BY))
            if input_id not in seen:
                seen.add(input_id)
                queue.append((input_id, hops + 1))


def _walk_downstream(reader: _Reader, graph: LineageGraph, root: str, depth: int | None) -> None:
    queue: deque[tuple[str, int]] = deque([(root, 0)])
    seen = {root}
    while queue:
        version_id, hops = queue.popleft()
        if depth is not None and hops >= depth:
            continue
        version = reader.cached(version_id)
        if version is None:
            continue
        for run_id in reader.consumers(version):
            record = reader.run(run_id)
            run_node = _add_run(graph, run_id, record)
            graph.edges.add((version_id, run_node, CONSUMED_BY))
            for uri in reader.outputs(run_id, record):
                output_id, output = reader.version(uri, reader.project)
                graph.nodes.setdefault(output_id, _artifact_node(output_id, output))
                graph.edges.add((run_node, output_id, PRODUCED))
                if output_id not in seen:
                    seen.add(output_id)
                    queue.append((output_id, hops + 1))


__all__ = [
    "CONSUMED_BY",
    "PRODUCED",
    "CountingStorage",
    "Direction",
    "LineageError",
    "LineageGraph",
    "lineage",
]
