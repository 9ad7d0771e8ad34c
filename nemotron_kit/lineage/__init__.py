"""Lineage queries: which runs made a version from which inputs, and what was made from it.

    from nemotron_kit.lineage import layout, lineage, render, to_dot, to_mermaid

    graph = lineage(registry, "art://eval:v1", direction="upstream", depth=3)
    graph.to_json()         # {"root", "direction", "depth", "nodes", "edges"}, sorted: stable
    to_mermaid(graph)       # a flowchart for Markdown
    to_dot(graph)           # Graphviz source
    render(graph, "lineage.png")   # or .svg, through Graphviz (the ``graph`` extra)
    layout(graph)           # boxes and polylines for the web page
    run_lineage(registry, "20261130-010048-8dbf6fff", depth=2)   # around a run

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

``model`` holds the graph, ``query`` the walk over the registry, ``formats`` and ``tree`` the
text and pictures, ``geometry`` the web page's layout; none imports rich or graphviz until a
tree or a picture is asked for.
"""

from nemotron_kit.errors import LineageQueryError
from nemotron_kit.lineage.formats import render, to_dot, to_mermaid, write
from nemotron_kit.lineage.geometry import layout
from nemotron_kit.lineage.model import (
    CONSUMED_BY,
    PRODUCED,
    RUN_PREFIX,
    ArtifactNode,
    Direction,
    Edge,
    EdgeKind,
    LineageGraph,
    Node,
    RunNode,
)
from nemotron_kit.lineage.query import CountingStorage, lineage, run_lineage
from nemotron_kit.lineage.tree import to_rich_tree

__all__ = [
    "CONSUMED_BY",
    "PRODUCED",
    "RUN_PREFIX",
    "ArtifactNode",
    "CountingStorage",
    "Direction",
    "Edge",
    "EdgeKind",
    "LineageGraph",
    "LineageQueryError",
    "Node",
    "RunNode",
    "layout",
    "lineage",
    "render",
    "run_lineage",
    "to_dot",
    "to_mermaid",
    "to_rich_tree",
    "write",
]
