"""The lineage picture's layout at the size of a busy project: 100 runs, 204 nodes, 300+ edges
(tests/test_lineage_layout.py's graph, which that test checks is well formed). The web view
lays out every lineage page it serves, so this is part of each page's server time.
Target: best of --repeat < 50 ms. Prints and exits 0 either way, like the other benchmarks.

    python benchmarks/layout.py [--runs 100] [--repeat 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nemotron_kit.lineage import layout
from tests.test_lineage_layout import pipeline_graph

TARGET_MS = 50.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100, help="runs in the graph (default 100)")
    parser.add_argument("--repeat", type=int, default=5, help="layouts timed (default 5)")
    args = parser.parse_args()
    graph = pipeline_graph(args.runs)
    seconds = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        layout(graph)
        seconds.append(time.perf_counter() - started)
    best = min(seconds) * 1000
    verdict = "PASS" if best < TARGET_MS else "FAIL"
    print(
        f"layout of {len(graph.nodes)} nodes, {len(graph.edges)} edges: best {best:.1f} ms, "
        f"median {sorted(seconds)[len(seconds) // 2] * 1000:.1f} ms of {args.repeat} "
        f"(target < {TARGET_MS:.0f} ms): {verdict}"
    )


if __name__ == "__main__":
    main()
