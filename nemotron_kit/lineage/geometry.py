"""A layered left-to-right layout of the graph for the web page, computed here so that the page
only draws boxes and polylines, and so that the layout is tested with the rest of lineage.

The classic Sugiyama steps, kept small: cycles broken (only a damaged registry records one),
a layer per node (the longest data-flow path to it, with inputs pulled next to their first
consumer), edges longer than one layer routed through reserved slots in the columns they
cross, a few barycenter sweeps to reduce crossings, then vertical positions as close to the
neighbours' as the gaps allow. Everything iterates in id order, so equal graphs give equal
layouts.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from nemotron_kit.lineage.formats import label_lines, node_style
from nemotron_kit.lineage.model import ArtifactNode, LineageGraph, Node

# Box sizes: a version shows two lines (URI, type), a run three (recipe, id, status).
ARTIFACT_SIZE = (220.0, 44.0)
RUN_SIZE = (200.0, 56.0)
COLUMN_GAP = 80.0  # between columns: where edges cross from one layer to the next
BOX_GAP = 20.0  # between boxes of one column
SLOT_HEIGHT = 4.0  # a long edge's slot in a column it passes through
SLOT_GAP = 8.0  # next to a slot: passing edges bundle closer than boxes
MARGIN = 20.0
SWEEPS = 4  # barycenter sweeps (each down, then up): most of the gain comes in the first two
Y_PASSES = 3  # vertical alignment passes (each down, then up): straightens the edges

Point = tuple[float, float]


def layout(graph: LineageGraph) -> dict[str, Any]:
    """Boxes and edge polylines for ``graph``, as JSON-able data.

    ``{"width", "height", "nodes": [{"id", "kind", "x", "y", "w", "h", "label": [lines],
    "style", "root", "layer", ...the node's fields}], "edges": [{"source", "target", "kind",
    "points": [[x, y], ...]}]}``; nodes sorted by id, edges as in ``graph.edges``; ``x``/``y``
    is a box's top-left corner. An edge's points run from the right edge of its source to the
    left edge of its target; only an edge that closes a cycle runs right to left instead.
    """
    nodes = list(graph)
    index = {node.id: i for i, node in enumerate(nodes)}
    pairs = sorted({(index[e.source], index[e.target]) for e in graph.edges})
    plan = _Plan(nodes, [p for p in pairs if p[0] != p[1]])
    plan.order()
    plan.place()
    return {
        "width": _round(plan.width),
        "height": _round(plan.height),
        "nodes": [plan.node_json(i, node, node.id == graph.root) for i, node in enumerate(nodes)],
        "edges": [
            {
                "source": e.source,
                "target": e.target,
                "kind": e.kind,
                "points": _points(plan.route(index[e.source], index[e.target])),
            }
            for e in graph.edges
        ],
    }


def _round(value: float) -> float:
    return round(value, 1)


def _points(points: list[Point]) -> list[list[float]]:
    return [[_round(x), _round(y)] for x, y in points]


class _Plan:
    """The layout under construction. Slots 0..n-1 are the graph's nodes (in id order); the
    slots after them are the waypoints of edges longer than one layer."""

    def __init__(self, nodes: list[Node], pairs: list[tuple[int, int]]) -> None:
        n = len(nodes)
        self.n = n
        self.size = [ARTIFACT_SIZE if isinstance(v, ArtifactNode) else RUN_SIZE for v in nodes]
        self.reversed = _back_edges(n, pairs)
        dag = sorted({(t, s) if (s, t) in self.reversed else (s, t) for s, t in pairs})
        self.layer = _layers(n, dag)
        self.height_of = [h for _, h in self.size]
        # Each DAG edge as the chain of slots it passes, one per layer. The long edges out of
        # one node share their waypoints (a trunk each leaves at its target's column): a
        # version read by many later runs is one line with branches, one slot per column.
        self.chain: dict[tuple[int, int], list[int]] = {}
        self.up: list[list[int]] = [[] for _ in range(n)]  # neighbours one layer to the left
        self.down: list[list[int]] = [[] for _ in range(n)]  # ... and one to the right
        trunks: dict[int, list[int]] = {}
        links: set[tuple[int, int]] = set()
        for s, t in dag:
            trunk = trunks.setdefault(s, [])
            span = self.layer[t] - self.layer[s] - 1
            while len(trunk) < span:
                trunk.append(self._waypoint(self.layer[s] + len(trunk) + 1))
            chain = [s, *trunk[:span], t]
            for a, b in pairwise(chain):
                if (a, b) not in links:
                    links.add((a, b))
                    self.down[a].append(b)
                    self.up[b].append(a)
            self.chain[(s, t)] = chain
        count = max(self.layer, default=-1) + 1
        self.layers: list[list[int]] = [[] for _ in range(count)]
        for v, layer in enumerate(self.layer):
            self.layers[layer].append(v)
        self.pos = [0] * len(self.layer)
        self._number()
        self.cx: list[float] = []
        self.cy: list[float] = [0.0] * len(self.layer)
        self.col_x: list[float] = []
        self.col_w: list[float] = []
        self.width = self.height = 0.0

    def _waypoint(self, layer: int) -> int:
        self.layer.append(layer)
        self.height_of.append(SLOT_HEIGHT)
        self.up.append([])
        self.down.append([])
        return len(self.layer) - 1

    def _number(self) -> None:
        for layer in self.layers:
            for i, v in enumerate(layer):
                self.pos[v] = i

    # -- order within layers --------------------------------------------------------------
    def order(self) -> None:
        """Barycenter sweeps; the order with the fewest crossings seen is kept."""
        best, best_layers = self._crossings(), [list(layer) for layer in self.layers]
        for _ in range(SWEEPS):
            if best == 0:
                break
            for k in range(1, len(self.layers)):
                self._reorder(k, self.up)
            for k in range(len(self.layers) - 2, -1, -1):
                self._reorder(k, self.down)
            crossings = self._crossings()
            if crossings >= best:
                break
            best, best_layers = crossings, [list(layer) for layer in self.layers]
        self.layers = best_layers
        self._number()

    def _reorder(self, k: int, neighbours: list[list[int]]) -> None:
        """Sort layer ``k`` by the mean position of each slot's neighbours in the layer next
        to it; a slot without such neighbours keeps its place."""
        layer = self.layers[k]
        movable = sorted(
            (sum(self.pos[u] for u in neighbours[v]) / len(neighbours[v]), i, v)
            for i, v in enumerate(layer)
            if neighbours[v]
        )
        moved = iter(v for _, _, v in movable)
        layer[:] = [next(moved) if neighbours[v] else v for v in layer]
        for i, v in enumerate(layer):
            self.pos[v] = i

    def _crossings(self) -> int:
        total = 0
        for k in range(len(self.layers) - 1):
            ends = sorted((self.pos[a], self.pos[b]) for a in self.layers[k] for b in self.down[a])
            total += _inversions([b for _, b in ends], len(self.layers[k + 1]))
        return total

    # -- coordinates ----------------------------------------------------------------------
    def place(self) -> None:
        x = MARGIN
        for layer in self.layers:
            widths = [self.size[v][0] for v in layer if v < self.n]
            width = max(widths, default=ARTIFACT_SIZE[0])
            self.col_x.append(x)
            self.col_w.append(width)
            x += width + COLUMN_GAP
        self.cx = [self.col_x[k] + self.col_w[k] / 2 for k in self.layer]
        for layer in self.layers:
            self._pack(layer, [0.0] * len(layer))
        for _ in range(Y_PASSES):
            for k in range(1, len(self.layers)):
                self._align(self.layers[k], self.up)
            for k in range(len(self.layers) - 2, -1, -1):
                self._align(self.layers[k], self.down)
        tops = [self.cy[v] - self.height_of[v] / 2 for v in range(len(self.cy))]
        shift = MARGIN - min(tops, default=MARGIN)
        self.cy = [y + shift for y in self.cy]
        bottoms = [self.cy[v] + self.height_of[v] / 2 for v in range(len(self.cy))]
        self.width = x - COLUMN_GAP + MARGIN if self.layers else 2 * MARGIN
        self.height = max(bottoms, default=MARGIN) + MARGIN

    def _align(self, layer: list[int], neighbours: list[list[int]]) -> None:
        wanted = [
            sum(self.cy[u] for u in neighbours[v]) / len(neighbours[v])
            if neighbours[v]
            else self.cy[v]
            for v in layer
        ]
        self._pack(layer, wanted)

    def _pack(self, layer: list[int], wanted: list[float]) -> None:
        """Centres as close to ``wanted`` (least squares) as the gaps allow, in layer order:
        with offsets taken out, that is an isotonic regression, solved by pooling."""
        offsets, offset = [], 0.0
        for i, v in enumerate(layer):
            if i:
                u = layer[i - 1]
                gap = BOX_GAP if u < self.n and v < self.n else SLOT_GAP
                offset += (self.height_of[u] + self.height_of[v]) / 2 + gap
            offsets.append(offset)
        blocks: list[tuple[float, int]] = []  # pooled runs of slots: (sum of targets, count)
        for want, offset in zip(wanted, offsets, strict=True):
            total, count = want - offset, 1
            while blocks and blocks[-1][0] / blocks[-1][1] >= total / count:
                total, count = total + blocks[-1][0], count + blocks.pop()[1]
            blocks.append((total, count))
        i = 0
        for total, count in blocks:
            for _ in range(count):
                self.cy[layer[i]] = total / count + offsets[i]
                i += 1

    # -- output ---------------------------------------------------------------------------
    def box(self, v: int) -> tuple[float, float, float, float]:
        w, h = self.size[v]
        return self.cx[v] - w / 2, self.cy[v] - h / 2, w, h

    def node_json(self, v: int, node: Node, root: bool) -> dict[str, Any]:
        x, y, w, h = self.box(v)
        fields = {k: value for k, value in node.to_dict().items() if k not in ("id", "kind")}
        return {
            "id": node.id,
            "kind": node.kind,
            "x": _round(x),
            "y": _round(y),
            "w": w,
            "h": h,
            "label": label_lines(node),
            "style": node_style(node),
            "root": root,
            "layer": self.layer[v],
            **fields,
        }

    def route(self, source: int, target: int) -> list[Point]:
        """The polyline of the edge ``source -> target``."""
        if source == target:
            return self._loop(source)
        if (source, target) in self.reversed:
            return list(reversed(self._path(self.chain[(target, source)])))
        return self._path(self.chain[(source, target)])

    def _path(self, chain: list[int]) -> list[Point]:
        """Left to right along ``chain``: out of the first box's right edge, through each
        waypoint's slot, into the last box's left edge, with a level stub wherever a box is
        narrower than its column (so no line cuts a corner of a wider box above or below)."""
        first, last = chain[0], chain[-1]
        x, y, w, h = self.box(first)
        points = [(x + w, y + h / 2)]
        right = self.col_x[self.layer[first]] + self.col_w[self.layer[first]]
        if right > x + w:
            points.append((right, y + h / 2))
        for v in chain[1:-1]:
            k = self.layer[v]
            points += [(self.col_x[k], self.cy[v]), (self.col_x[k] + self.col_w[k], self.cy[v])]
        x, y, w, h = self.box(last)
        left = self.col_x[self.layer[last]]
        if left < x:
            points.append((left, y + h / 2))
        points.append((x, y + h / 2))
        return points

    def _loop(self, v: int) -> list[Point]:
        """An edge from a node to itself (never recorded by a sound registry): a loop over
        the top of its box, inside the gap above it."""
        x, y, w, h = self.box(v)
        lift = min(BOX_GAP, MARGIN) / 2
        return [
            (x + w, y + h / 2),
            (x + w + COLUMN_GAP / 4, y + h / 2),
            (x + w + COLUMN_GAP / 4, y - lift),
            (x - COLUMN_GAP / 4, y - lift),
            (x - COLUMN_GAP / 4, y + h / 2),
            (x, y + h / 2),
        ]


def _back_edges(n: int, pairs: list[tuple[int, int]]) -> set[tuple[int, int]]:
    """Edges that close a cycle, found by a depth-first search from the nodes nothing leads
    to (then from any left, which only a cycle leaves); reversing them leaves a DAG."""
    succ: list[list[int]] = [[] for _ in range(n)]
    has_pred = [False] * n
    for s, t in pairs:
        succ[s].append(t)
        has_pred[t] = True
    state = [0] * n  # 0: not seen, 1: on the current path, 2: done
    back: set[tuple[int, int]] = set()
    starts = [v for v in range(n) if not has_pred[v]] + list(range(n))
    for start in starts:
        if state[start]:
            continue
        state[start] = 1
        stack = [(start, iter(succ[start]))]
        while stack:
            v, rest = stack[-1]
            for u in rest:
                if state[u] == 0:
                    state[u] = 1
                    stack.append((u, iter(succ[u])))
                    break
                if state[u] == 1:
                    back.add((v, u))
            else:
                state[v] = 2
                stack.pop()
    return back


def _layers(n: int, dag: list[tuple[int, int]]) -> list[int]:
    """The longest path to each node, then each input (a node nothing leads to) moved right
    to just before its first consumer, so a shared input does not sit far out at the left."""
    succ: list[list[int]] = [[] for _ in range(n)]
    indegree = [0] * n
    for s, t in dag:
        succ[s].append(t)
        indegree[t] += 1
    sources = [v for v in range(n) if indegree[v] == 0]
    layer = [0] * n
    ready = list(sources)
    while ready:
        v = ready.pop()
        for u in succ[v]:
            layer[u] = max(layer[u], layer[v] + 1)
            indegree[u] -= 1
            if indegree[u] == 0:
                ready.append(u)
    for v in sources:
        if succ[v]:
            layer[v] = min(layer[u] for u in succ[v]) - 1
    return layer


def _inversions(values: list[int], size: int) -> int:
    """Pairs out of order in ``values`` (each in ``range(size)``): the crossings between two
    layers once the edges are sorted by their left end. A Fenwick tree keeps it O(E log V)."""
    tree = [0] * (size + 1)
    count = 0
    for seen, value in enumerate(values):
        i = value + 1
        not_greater = 0
        while i > 0:
            not_greater += tree[i]
            i -= i & -i
        count += seen - not_greater
        i = value + 1
        while i <= size:
            tree[i] += 1
            i += i & -i
    return count


__all__ = ["ARTIFACT_SIZE", "RUN_SIZE", "layout"]
