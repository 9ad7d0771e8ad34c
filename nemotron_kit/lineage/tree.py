"""The graph as a rich Tree for the terminal: what ``nemotron-kit lineage`` prints by default."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nemotron_kit.lineage.model import ArtifactNode, LineageGraph

if TYPE_CHECKING:
    from rich.text import Text
    from rich.tree import Tree


def to_rich_tree(graph: LineageGraph) -> Tree:
    """A rich Tree from the root: each version -> the run that produced it -> its inputs
    (upstream), and each version -> the runs that consumed it -> their outputs (downstream).
    A run at the root has its inputs grown upstream and its outputs downstream.
    A node met twice is expanded once; later, if it leads further, it is marked
    ``(see above)``."""
    from rich.tree import Tree

    tree = Tree(_label(graph, graph.root, None))
    if not isinstance(graph.nodes[graph.root], ArtifactNode):  # a run: its inputs, its outputs
        if not graph.inputs(graph.root) and not graph.outputs(graph.root):
            from rich.text import Text

            tree.add(Text("no inputs or outputs recorded", style="dim"))
        for relation, versions, upstream in (
            ("input", graph.inputs(graph.root), True),
            ("output", graph.outputs(graph.root), False),
        ):
            expanded = {graph.root}
            for version_id in versions:
                branch = tree.add(_label(graph, version_id, relation))
                _grow(graph, branch, version_id, upstream=upstream, expanded=expanded)
        return tree
    if graph.direction in ("upstream", "both"):
        _grow(graph, tree, graph.root, upstream=True, expanded=set())
    if graph.direction in ("downstream", "both"):
        _grow(graph, tree, graph.root, upstream=False, expanded=set())
    return tree


def _grow(
    graph: LineageGraph, branch: Tree, version_id: str, *, upstream: bool, expanded: set[str]
) -> None:
    expanded.add(version_id)
    runs = graph.producers(version_id) if upstream else graph.consumers(version_id)
    relation = "produced by" if upstream else "consumed by"
    for run_id in runs:
        if run_id in expanded:
            branch.add(_label(graph, run_id, relation, seen=True))
            continue
        expanded.add(run_id)
        run_branch = branch.add(_label(graph, run_id, relation))
        versions = graph.inputs(run_id) if upstream else graph.outputs(run_id)
        for child in versions:
            if child in expanded:
                more = graph.producers(child) if upstream else graph.consumers(child)
                run_branch.add(_label(graph, child, None, seen=bool(more)))
            else:
                child_branch = run_branch.add(_label(graph, child, None))
                _grow(graph, child_branch, child, upstream=upstream, expanded=expanded)


def _label(graph: LineageGraph, node_id: str, relation: str | None, *, seen: bool = False) -> Text:
    from rich.text import Text

    node = graph.nodes[node_id]
    text = Text()
    if isinstance(node, ArtifactNode):
        text.append(f"{relation} " if relation else "", style="dim")
        text.append(node_id, style="bold" if node_id == graph.root else "bold cyan")
        kind = "missing" if node.missing else node.type
        text.append(f"  {kind}{'  deleted' if node.deleted else ''}", style="dim")
    else:
        status = str(node.status)
        color = {"COMPLETED": "green", "FAILED": "red"}.get(status, "yellow")
        text.append(f"{relation} " if relation else "", style="dim")
        text.append(f"{node.title} ", style="bold")
        if node.package:
            text.append(f"({node.package}) ", style="dim")
        text.append(f"run {node.run_id}", style="magenta")
        text.append("  ")
        text.append(status, style=f"bold {color}")
        if node.started_at:
            text.append(f"  started {_short_time(str(node.started_at))}", style="dim")
        if node.error:
            text.append(f"  {' '.join(str(node.error).split())[:120]}", style="red")
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


__all__ = ["to_rich_tree"]
