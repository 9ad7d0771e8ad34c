"""``layout(graph)``: the geometry the web page draws, checked on generated graphs.

Every node gets a box, no two boxes overlap, an edge runs from its source's right edge to its
target's left edge without crossing any other box, and the result depends only on the graph.
"""

from __future__ import annotations

import json
import random
from graphlib import CycleError, TopologicalSorter
from itertools import combinations, pairwise
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from nemotron_kit.lineage import (
    CONSUMED_BY,
    PRODUCED,
    ArtifactNode,
    LineageGraph,
    RunNode,
    layout,
)
from nemotron_kit.lineage.geometry import ARTIFACT_SIZE, RUN_SIZE

Box = tuple[float, float, float, float]


def artifact(name: str) -> ArtifactNode:
    return ArtifactNode(
        id=f"art://{name}:v1",
        name=name,
        project="default",
        version=1,
        type="data_blends",
        created_at="2026-11-28T15:37:53+00:00",
        producer=None,
        missing=False,
        deleted=False,
    )


def run(run_id: str, status: str = "COMPLETED") -> RunNode:
    return RunNode(
        id=f"run:{run_id}",
        run_id=run_id,
        recipe="stage",
        status=status,
        started_at=None,
        duration_s=1.0,
        error=None,
    )


def pipeline_graph(runs: int, seed: int = 7) -> LineageGraph:
    """``runs`` runs, each reading 1 to 4 earlier versions (a few shared inputs among them)
    and writing one: about 2 nodes and 3.5 edges a run, like a busy project."""
    rng = random.Random(seed)
    graph = LineageGraph(root="art://out0:v1", direction="both", depth=None)
    versions = [graph.add_node(artifact(f"in{i}")).id for i in range(4)]
    for i in range(runs):
        node = graph.add_node(run(f"r{i:04d}", "FAILED" if i % 17 == 5 else "COMPLETED"))
        for uri in rng.sample(versions, min(len(versions), rng.randint(1, 4))):
            graph.add_edge(uri, node.id, CONSUMED_BY)
        output = graph.add_node(artifact(f"out{i}"))
        graph.add_edge(node.id, output.id, PRODUCED)
        versions.append(output.id)
    return graph


def boxes(data: dict[str, Any]) -> dict[str, Box]:
    return {n["id"]: (n["x"], n["y"], n["w"], n["h"]) for n in data["nodes"]}


def assert_well_formed(graph: LineageGraph, data: dict[str, Any], *, dag: bool = True) -> None:
    """Every node placed inside the page, no overlap, edges from right edge to left edge
    (a DAG's left to right) and never through another box."""
    json.dumps(data)  # JSON-able as it is
    placed = boxes(data)
    assert list(placed) == sorted(graph.nodes)
    for node in data["nodes"]:
        kind_size = ARTIFACT_SIZE if node["kind"] == "artifact" else RUN_SIZE
        assert (node["w"], node["h"]) == kind_size
        x, y, w, h = placed[node["id"]]
        assert x >= 0 and x + w <= data["width"] and y >= 0 and y + h <= data["height"]
    for (a, box_a), (b, box_b) in combinations(placed.items(), 2):
        assert not _overlap(box_a, box_b), f"{a} and {b} overlap"
    assert [(e["source"], e["target"], e["kind"]) for e in data["edges"]] == [
        (e.source, e.target, e.kind) for e in graph.edges
    ]
    for edge in data["edges"]:
        points = [tuple(p) for p in edge["points"]]
        sx, sy, sw, sh = placed[edge["source"]]
        tx, ty, _, th = placed[edge["target"]]
        if dag:
            assert points[0] == (sx + sw, round(sy + sh / 2, 1))
            assert points[-1] == (tx, round(ty + th / 2, 1))
            xs = [x for x, _ in points]
            assert xs == sorted(xs), f"{edge['source']} -> {edge['target']} runs back"
        for (x1, y1), (x2, y2) in pairwise(points):
            for node_id, box in placed.items():
                if node_id not in (edge["source"], edge["target"]):
                    assert not _crosses((x1, y1, x2, y2), box), (edge, node_id)


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def _crosses(segment: tuple[float, float, float, float], box: Box) -> bool:
    """Whether the segment enters the box's interior (Liang-Barsky clipping)."""
    x1, y1, x2, y2 = segment
    left, top = box[0] + 0.5, box[1] + 0.5
    right, bottom = box[0] + box[2] - 0.5, box[1] + box[3] - 0.5
    dx, dy = x2 - x1, y2 - y1
    low, high = 0.0, 1.0
    for p, q in ((-dx, x1 - left), (dx, right - x1), (-dy, y1 - top), (dy, bottom - y1)):
        if p == 0:
            if q < 0:
                return False
        elif p < 0:
            low = max(low, q / p)
        else:
            high = min(high, q / p)
    return low < high


def test_a_small_graph_reads_left_to_right() -> None:
    graph = LineageGraph(root="art://eval:v1", direction="upstream", depth=None)
    for node in (artifact("data"), artifact("model"), artifact("eval")):
        graph.add_node(node)
    for run_node in (run("make-data"), run("train"), run("evaluate", "FAILED")):
        graph.add_node(run_node)
    graph.add_edge("run:make-data", "art://data:v1", PRODUCED)
    graph.add_edge("art://data:v1", "run:train", CONSUMED_BY)
    graph.add_edge("run:train", "art://model:v1", PRODUCED)
    graph.add_edge("art://model:v1", "run:evaluate", CONSUMED_BY)
    graph.add_edge("art://data:v1", "run:evaluate", CONSUMED_BY)  # skips a column
    graph.add_edge("run:evaluate", "art://eval:v1", PRODUCED)
    data = layout(graph)
    assert_well_formed(graph, data)
    nodes = {n["id"]: n for n in data["nodes"]}
    columns = [
        "run:make-data",
        "art://data:v1",
        "run:train",
        "art://model:v1",
        "run:evaluate",
        "art://eval:v1",
    ]
    assert [nodes[i]["layer"] for i in columns] == list(range(6))
    assert [nodes[i]["x"] for i in columns] == sorted(nodes[i]["x"] for i in columns)
    root = nodes["art://eval:v1"]
    assert root["root"] and not nodes["art://data:v1"]["root"]
    assert root["label"] == ["art://eval:v1", "data_blends"] and root["style"] == "artifact"
    assert nodes["run:evaluate"]["label"] == ["stage", "evaluate", "FAILED"]
    assert nodes["run:evaluate"]["style"] == "failed"
    assert nodes["run:evaluate"]["status"] == "FAILED"  # the node's own fields come along
    skip = next(e for e in data["edges"] if e["target"] == "run:evaluate" and "data" in e["source"])
    assert len(skip["points"]) > 2  # through a slot in the columns it passes


def test_an_input_sits_next_to_its_first_reader() -> None:
    graph = pipeline_graph(6)
    tokenizer = graph.add_node(artifact("tokenizer"))
    graph.add_edge(tokenizer.id, "run:r0004", CONSUMED_BY)
    graph.add_edge(tokenizer.id, "run:r0005", CONSUMED_BY)
    nodes = {n["id"]: n for n in layout(graph)["nodes"]}
    first = min(nodes["run:r0004"]["layer"], nodes["run:r0005"]["layer"])
    assert nodes[tokenizer.id]["layer"] == first - 1


def test_two_hundred_nodes_are_well_formed() -> None:
    """At the size of a busy project (its time: benchmarks/layout.py)."""
    graph = pipeline_graph(100)
    assert len(graph.nodes) == 204 and len(graph.edges) >= 300
    assert_well_formed(graph, layout(graph))


def test_layout_depends_only_on_the_graph() -> None:
    graph = pipeline_graph(40, seed=3)
    shuffled = LineageGraph(root=graph.root, direction=graph.direction, depth=graph.depth)
    nodes, edges = list(graph.nodes.values()), graph.edges
    random.Random(1).shuffle(nodes)
    random.Random(2).shuffle(edges)
    for node in nodes:
        shuffled.add_node(node)
    for edge in edges:
        shuffled.add_edge(edge.source, edge.target, edge.kind)
    first = json.dumps(layout(graph))
    assert json.dumps(layout(graph)) == first
    assert json.dumps(layout(shuffled)) == first


def test_a_cycle_is_broken_not_followed() -> None:
    """Only a damaged registry records one: a run that read its own output, and a loop."""
    graph = LineageGraph(root="art://a:v1", direction="both", depth=None)
    for node in (artifact("a"), artifact("b"), run("r1"), run("r2")):
        graph.add_node(node)
    graph.add_edge("art://a:v1", "run:r1", CONSUMED_BY)
    graph.add_edge("run:r1", "art://b:v1", PRODUCED)
    graph.add_edge("art://b:v1", "run:r2", CONSUMED_BY)
    graph.add_edge("run:r2", "art://a:v1", PRODUCED)  # closes a -> r1 -> b -> r2 -> a
    graph.add_edge("run:r1", "art://a:v1", PRODUCED)  # and a -> r1 -> a
    graph.add_edge("run:r2", "run:r2", PRODUCED)  # an edge to itself
    data = layout(graph)
    assert_well_formed(graph, data, dag=False)
    layers = {n["id"]: n["layer"] for n in data["nodes"]}
    assert len(set(layers.values())) == 4  # a path of four, the closing edges drawn back
    for edge in data["edges"]:
        assert len(edge["points"]) >= 2


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 12),
    st.integers(1, 12),
    st.lists(st.tuples(st.integers(0, 11), st.integers(0, 11), st.booleans()), max_size=40),
)
def test_any_graph_is_laid_out(artifacts: int, runs: int, links: list[Any]) -> None:
    """Random graphs, cycles and all: every node placed, nothing overlapping or crossed."""
    graph = LineageGraph(root="art://a0:v1", direction="both", depth=None)
    for i in range(artifacts):
        graph.add_node(artifact(f"a{i}"))
    for i in range(runs):
        graph.add_node(run(f"r{i}"))
    for a, r, read in links:
        version, job = f"art://a{a % artifacts}:v1", f"run:r{r % runs}"
        if read:
            graph.add_edge(version, job, CONSUMED_BY)
        else:
            graph.add_edge(job, version, PRODUCED)
    sources: dict[str, list[str]] = {}
    for edge in graph.edges:
        sources.setdefault(edge.target, []).append(edge.source)
    try:
        TopologicalSorter(sources).prepare()
        dag = True
    except CycleError:
        dag = False
    assert_well_formed(graph, layout(graph), dag=dag)
