"""The page's own files, shipped in the package (``static/``): served and exported as they are.

Only the files named here are served, so no request path reaches the file system.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

FILES: dict[str, str] = {
    "index.html": "text/html; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "charts.js": "text/javascript; charset=utf-8",
    "graph.js": "text/javascript; charset=utf-8",
    "config.js": "text/javascript; charset=utf-8",
}


@cache
def _read(name: str) -> bytes:
    return resources.files("nemotron_kit.ui").joinpath("static", name).read_bytes()


def get(name: str) -> tuple[bytes, str] | None:
    """The bytes and content type of ``name``, or None if it is not one of ours."""
    content_type = FILES.get(name)
    return None if content_type is None else (_read(name), content_type)


def config_js(*, static: bool) -> bytes:
    """How the page finds its data: the server's ``/api``, or the exported ``data/`` files."""
    mode = "static" if static else "server"
    return f"window.NK_MODE = {json.dumps(mode)};\n".encode()
