"""``nemotron-kit lineage URI``: which runs made a version from what, and what was made from it.

    nemotron-kit lineage URI [--upstream | --downstream | --both] [--depth N]
                             [--format tree|json|mermaid|dot] [--output FILE]

Upstream (the default) follows the version's producing run to that run's inputs, and so on;
downstream follows the runs that consumed it to their outputs. ``--depth`` counts artifact
hops. ``--output`` draws the graph to a .png or .svg through Graphviz's ``dot`` (or writes
.dot, .mmd or .json text). Takes ``--root``, ``--project`` and ``--endpoint-url`` like
``nemotron-kit artifacts``; the query itself is ``nemotron_kit.lineage.lineage``.
"""

from __future__ import annotations

import argparse
import json

from nemotron_kit.cli.artifacts import (
    _console,
    _Parser,
    add_registry_options,
    open_registry,
    whole_number,
)

PROG = "nemotron-kit lineage"
FORMATS = ("tree", "json", "mermaid", "dot")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Show the lineage of an artifact version: the runs that made it and "
        "their inputs (upstream), or the runs and versions made from it (downstream).",
    )
    parser.add_argument("uri", metavar="URI", help="art://NAME[:vN|:ALIAS]")
    direction = parser.add_mutually_exclusive_group()
    direction.add_argument(
        "--upstream",
        dest="direction",
        action="store_const",
        const="upstream",
        help="what the version was made from (default)",
    )
    direction.add_argument(
        "--downstream",
        dest="direction",
        action="store_const",
        const="downstream",
        help="what was made from the version",
    )
    direction.add_argument(
        "--both",
        dest="direction",
        action="store_const",
        const="both",
        help="upstream and downstream",
    )
    parser.set_defaults(direction="upstream")
    parser.add_argument(
        "--depth",
        type=whole_number(0),
        default=None,
        metavar="N",
        help="artifact hops to follow (default: all)",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="tree (default), json, mermaid or dot, printed to stdout",
    )
    parser.add_argument(
        "--output",
        metavar="FILE",
        default=None,
        help="write the graph to FILE: .png or .svg (needs Graphviz), .dot, .mmd or .json",
    )
    add_registry_options(parser, default=None)
    return parser


def main(argv: list[str]) -> int:
    """Parse ``argv`` (the words after ``lineage``), query and print; the exit code."""
    ns = build_parser().parse_args(argv)
    from nemotron_kit.lineage import lineage, to_dot, to_mermaid, to_rich_tree, write
    from nemotron_kit.registry.uri import parse_uri

    parse_uri(ns.uri)  # a malformed URI is reported before the registry is opened
    registry = open_registry(ns)
    graph = lineage(registry, ns.uri, direction=ns.direction, depth=ns.depth)
    if ns.output:
        path = write(graph, ns.output)
        counts = [
            _count(len(graph.artifacts()), "version"),
            _count(len(graph.runs()), "run"),
            _count(len(graph.edges), "edge"),
        ]
        print(f"Wrote {path} ({', '.join(counts)}).")
        if ns.format is None:
            return 0
    fmt = ns.format or "tree"
    if fmt == "json":
        print(json.dumps(graph.to_json(), indent=2))
    elif fmt == "mermaid":
        print(to_mermaid(graph), end="")
    elif fmt == "dot":
        print(to_dot(graph), end="")
    else:
        _console().print(to_rich_tree(graph))
    return 0
