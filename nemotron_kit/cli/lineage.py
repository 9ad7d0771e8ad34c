"""``nemotron-kit lineage URI``: which runs made a version from what, and what was made from it.

    nemotron-kit lineage URI|run:RUN_ID [--upstream | --downstream | --both] [--depth N]
                                        [--format tree|json|mermaid|dot] [--output FILE]

Upstream (the default) follows the version's producing run to that run's inputs, and so on;
downstream follows the runs that consumed it to their outputs. ``run:RUN_ID`` puts a run at
the root: its inputs and what they were made from, its outputs and what was made from them
(``nemotron_kit.lineage.run_lineage``). ``--depth`` counts artifact hops. ``--output`` draws
the graph to a .png or .svg through Graphviz's ``dot`` (or writes .dot, .mmd or .json text).
Takes ``--root``, ``--project`` and ``--endpoint-url`` like ``nemotron-kit artifacts``; the
query of a version is ``nemotron_kit.lineage.lineage``.
"""

from __future__ import annotations

import argparse
import json

from nemotron_kit.cli.artifacts import (
    UsageError,
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
        "their inputs (upstream), or the runs and versions made from it (downstream); or "
        "of a run: its inputs' past and its outputs' future.",
    )
    parser.add_argument(
        "uri",
        metavar="URI|run:RUN_ID",
        help="art://NAME[:vN|:ALIAS], or run: and a run id from `nemotron-kit runs ls`",
    )
    direction = parser.add_mutually_exclusive_group()
    direction.add_argument(
        "--upstream",
        dest="direction",
        action="store_const",
        const="upstream",
        help="what the version was made from (the default for a version)",
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
        help="upstream and downstream (always, for a run)",
    )
    parser.set_defaults(direction=None)  # a version: upstream; a run: both
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
    from nemotron_kit.lineage import (
        RUN_PREFIX,
        lineage,
        run_lineage,
        to_dot,
        to_mermaid,
        to_rich_tree,
        write,
    )
    from nemotron_kit.registry.uri import parse_uri, validate_name

    # A malformed URI or run id is reported before the registry is opened.
    if ns.uri.startswith(RUN_PREFIX):
        run_id = ns.uri[len(RUN_PREFIX) :]
        if not run_id:
            raise UsageError(
                f"{PROG}: give a run id after 'run:', as `nemotron-kit runs ls` lists them."
            )
        validate_name(run_id, "run id")
        if ns.direction in ("upstream", "downstream"):
            raise UsageError(
                f"{PROG}: a run's lineage is always both its inputs' past and its outputs' "
                f"future: drop --{ns.direction}; see `{PROG} --help`."
            )
        graph = run_lineage(open_registry(ns), run_id, depth=ns.depth)
    elif "://" not in ns.uri:
        raise UsageError(
            f"{PROG}: '{ns.uri}' is neither an artifact version (art://NAME[:vN|:ALIAS]) nor "
            f"a run (run:RUN_ID); see `{PROG} --help`."
        )
    else:
        parse_uri(ns.uri)
        direction = ns.direction or "upstream"
        graph = lineage(open_registry(ns), ns.uri, direction=direction, depth=ns.depth)
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
