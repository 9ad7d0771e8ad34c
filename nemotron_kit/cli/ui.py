"""``nemotron-kit ui``: the registry in a browser, read-only, with nothing to host.

    nemotron-kit ui [--port P] [--root URL] [--project P] [--endpoint-url URL]
    nemotron-kit ui --export DIR [--lineage URI] [--root URL] ...

Serves on 127.0.0.1 only (from a cluster's login node: ``ssh -L 8765:127.0.0.1:8765 login``).
``--export`` writes the same pages as a static site instead, for the whole registry or for the
lineage of one version; open its ``index.html`` from disk or publish it as a CI artifact.
"""

from __future__ import annotations

import argparse

from nemotron_kit.cli.artifacts import _Parser, add_registry_options, open_registry, whole_number

PROG = "nemotron-kit ui"
DEFAULT_PORT = 8765


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Browse the registry's artifacts, runs, metrics and lineage in a web "
        "browser (served on 127.0.0.1), or write the pages as a static site.",
    )
    parser.add_argument(
        "--port",
        type=whole_number(0, 65535, "a port number (0 to 65535; 0: any)"),
        default=DEFAULT_PORT,
        help=f"port on 127.0.0.1 (default {DEFAULT_PORT}; 0 picks a free one)",
    )
    parser.add_argument(
        "--export",
        metavar="DIR",
        default=None,
        help="write the pages to DIR as a static site instead of serving them",
    )
    parser.add_argument(
        "--lineage",
        metavar="URI",
        default=None,
        help="with --export: only the versions and runs in the lineage of URI",
    )
    add_registry_options(parser, default=None)
    return parser


def main(argv: list[str]) -> int:
    """Parse ``argv`` (the words after ``ui``), then serve or export; the exit code."""
    ns = build_parser().parse_args(argv)
    if ns.lineage and not ns.export:
        build_parser().error("--lineage selects what --export writes: give --export DIR too.")
    from nemotron_kit.ui.site import Site

    site = Site(open_registry(ns))
    if ns.export:
        from nemotron_kit.ui.export import export_site

        if ns.lineage:
            site.registry.resolve(ns.lineage)  # an unknown version: one sentence, nothing written
        report = export_site(site, ns.export, lineage_of=ns.lineage)
        print(
            f"Wrote {report.destination}/index.html: {report.versions} versions, "
            f"{report.runs} runs ({report.documents} pages of data). Open it in a browser."
        )
        return 0
    from nemotron_kit.ui.server import UIServer

    try:
        server = UIServer(site, ns.port)
    except OSError as exc:
        from nemotron_kit.errors import NemotronKitError

        raise NemotronKitError(
            f"Cannot listen on 127.0.0.1:{ns.port} ({exc.strerror or exc}): "
            "choose another --port, or --port 0 for any free one."
        ) from None
    print(f"Serving {site.registry.root} at {server.url} (Ctrl-C stops).", flush=True)
    server.warm_up()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("Stopped.")
    finally:
        server.server_close()
    return 0
