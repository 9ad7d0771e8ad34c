"""The graph as text (Mermaid, Graphviz source, JSON) and as a picture (PNG, SVG).

Pictures go through the ``graphviz`` package (the ``graph`` extra), imported only when one is
drawn, and its ``dot`` executable (a system package); each missing piece is one sentence.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Literal

from nemotron_kit.errors import LineageQueryError
from nemotron_kit.lineage.model import ArtifactNode, LineageGraph, Node

Style = Literal["artifact", "missing", "run", "failed", "other"]
RENDER_FORMATS = ("png", "svg")
TEXT_FORMATS = {".dot": "dot", ".gv": "dot", ".mmd": "mermaid", ".json": "json"}
# One palette for every drawing (dot, Mermaid, the web page): fill, stroke.
COLORS: dict[Style, tuple[str, str]] = {
    "artifact": ("#e8f1fb", "#4a7ab5"),
    "run": ("#eef7ea", "#4f8a3c"),
    "failed": ("#fbe4e4", "#c0392b"),
    "other": ("#fdf3d8", "#b7950b"),
    "missing": ("#f2f2f2", "#999"),
}
PNG_DPI = 144  # Graphviz's default of 72 looks blurred on any recent screen


def label_lines(node: Node) -> list[str]:
    """What a box shows: a version's URI and type; a run's recipe, id and status."""
    if isinstance(node, ArtifactNode):
        return [node.id, "missing" if node.missing else str(node.type)]
    recipe = node.title
    if node.package:
        recipe += f" ({node.package})"
    return [recipe, node.run_id, str(node.status)]


def node_style(node: Node) -> Style:
    """Which colour a node gets: runs by status, versions by whether they could be read."""
    if isinstance(node, ArtifactNode):
        return "missing" if node.missing else "artifact"
    if node.status == "COMPLETED":
        return "run"
    return "failed" if node.status == "FAILED" else "other"


# -- text ---------------------------------------------------------------------------------
def to_mermaid(graph: LineageGraph) -> str:
    """A Mermaid flowchart (left to right); node labels carry the ids."""
    ids = {node.id: f"n{i}" for i, node in enumerate(graph)}
    lines = ["flowchart LR"]
    for node in graph:
        label = "<br/>".join(_mermaid_escape(part) for part in label_lines(node))
        shape = ('["', '"]') if isinstance(node, ArtifactNode) else ('(["', '"])')
        lines.append(f"  {ids[node.id]}{shape[0]}{label}{shape[1]}")
    for edge in graph.edges:
        lines.append(f"  {ids[edge.source]} -->|{edge.kind.replace('_', ' ')}| {ids[edge.target]}")
    for name, (fill, stroke) in COLORS.items():
        dash = ",stroke-dasharray:4" if name == "missing" else ""
        lines.append(f"  classDef {name} fill:{fill},stroke:{stroke}{dash}")
    by_style: dict[str, list[str]] = {}
    for node in graph:
        by_style.setdefault(node_style(node), []).append(ids[node.id])
    for used, shorts in sorted(by_style.items()):
        lines.append(f"  class {','.join(shorts)} {used}")
    if graph.root in ids:
        lines.append(f"  style {ids[graph.root]} stroke-width:3px")
    return "\n".join(lines) + "\n"


def to_dot(graph: LineageGraph, *, dpi: int | None = None) -> str:
    """Graphviz source: versions as boxes, runs as ellipses coloured by status. ``dpi``: for
    a raster picture (left out, Graphviz uses 72)."""
    scope = "upstream and downstream" if graph.direction == "both" else graph.direction
    title = f"Lineage of {graph.root} ({scope}"
    title += f", depth {graph.depth})" if graph.depth is not None else ")"
    resolution = f"dpi={dpi}, " if dpi else ""
    lines = [
        "digraph lineage {",
        "  rankdir=LR;",
        f'  graph [fontname="Helvetica", fontsize=12, label={_dot_quote(title)}, '
        f"{resolution}labelloc=t, nodesep=0.3, ranksep=0.5];",
        '  node [fontname="Helvetica", fontsize=11, style=filled, color="#555555"];',
        '  edge [fontname="Helvetica", fontsize=9, color="#666666", fontcolor="#666666"];',
    ]
    for node in graph:
        style = node_style(node)
        box = isinstance(node, ArtifactNode)
        attrs = {
            "label": "\n".join(label_lines(node)),
            "shape": "box" if box else "ellipse",
            "style": "filled,rounded" if box else "filled",
            "fillcolor": COLORS[style][0],
        }
        if style == "missing":
            attrs["style"] += ",dashed"
        if node.id == graph.root:
            attrs["penwidth"] = "2.5"
        rendered = ", ".join(f"{k}={_dot_quote(v)}" for k, v in attrs.items())
        lines.append(f"  {_dot_quote(node.id)} [{rendered}];")
    for edge in graph.edges:
        label = _dot_quote(edge.kind.replace("_", " "))
        lines.append(f"  {_dot_quote(edge.source)} -> {_dot_quote(edge.target)} [label={label}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid_escape(text: str) -> str:
    return (
        text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
    )


def _dot_quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


# -- files --------------------------------------------------------------------------------
def render(graph: LineageGraph, path: str | Path) -> Path:
    """Draw the graph to ``path`` (.png or .svg) through Graphviz; returns the path. The file
    appears whole or not at all."""
    target = Path(path)
    fmt = target.suffix.lower().lstrip(".")
    if fmt not in RENDER_FORMATS:
        raise LineageQueryError(
            f"Cannot render lineage to '{target}': the file name must end in .png or .svg."
        )
    parent = target.absolute().parent
    if not parent.is_dir():
        raise LineageQueryError(
            f"Cannot write '{target}': the directory '{parent}' does not exist."
        )
    picture = _pipe(to_dot(graph, dpi=PNG_DPI if fmt == "png" else None), fmt, target.name)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=f".{fmt}", dir=parent)
    umask = os.umask(0)
    os.umask(umask)
    try:
        with os.fdopen(fd, "wb") as out:
            # mkstemp makes the file private; a picture is as readable as the text formats.
            os.fchmod(out.fileno(), 0o666 & ~umask)
            out.write(picture)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def _pipe(source: str, fmt: str, name: str) -> bytes:
    """``source`` drawn by Graphviz's ``dot`` as ``fmt``."""
    from nemotron_kit._deps import require

    require("graphviz", f"Rendering {name}")
    import graphviz

    try:
        picture: bytes = graphviz.Source(source).pipe(format=fmt, quiet=True)
    except graphviz.ExecutableNotFound:
        raise LineageQueryError(
            f"Rendering {name} needs Graphviz's `dot` executable, which is not on PATH: "
            "install Debian's graphviz (apt-get install graphviz), or print --format dot or "
            "--format mermaid instead."
        ) from None
    except graphviz.CalledProcessError as exc:
        stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else ""
        reason = " ".join(stderr.split())[:200]
        raise LineageQueryError(
            f"Graphviz `dot` could not render {name} (exit {exc.returncode}: "
            f"{reason or 'no message'}): check the Graphviz installation."
        ) from None
    return picture


def write(graph: LineageGraph, path: str | Path) -> Path:
    """Write the graph to ``path``: .png/.svg drawn, .dot/.gv/.mmd/.json as text."""
    target = Path(path)
    suffix = target.suffix.lower()
    text_format = TEXT_FORMATS.get(suffix)
    if text_format is None:
        if suffix.lstrip(".") not in RENDER_FORMATS:
            # render() alone would name only the drawn formats, not the text ones.
            accepted = [f".{fmt}" for fmt in RENDER_FORMATS] + list(TEXT_FORMATS)
            raise LineageQueryError(
                f"Cannot write lineage to '{target}': the file name must end in "
                f"{', '.join(accepted[:-1])} or {accepted[-1]}."
            )
        return render(graph, target)
    if text_format == "json":
        text = json.dumps(graph.to_json(), indent=2) + "\n"
    else:
        text = to_dot(graph) if text_format == "dot" else to_mermaid(graph)
    target.write_text(text)
    return target


__all__ = [
    "COLORS",
    "RENDER_FORMATS",
    "TEXT_FORMATS",
    "label_lines",
    "node_style",
    "render",
    "to_dot",
    "to_mermaid",
    "write",
]
