"""``nemotron-kit ui``'s server: the standard library's threading HTTP server on 127.0.0.1.

Read-only: GET and HEAD only. It serves the page (``/``), its own scripts and styles (``/static``,
from the package: nothing from a CDN, so it works offline) and the JSON documents of
:class:`~nemotron_kit.ui.site.Site` under ``/api``. A request whose Host is not this loopback
address is refused, so a web page elsewhere cannot read the registry through DNS rebinding;
every answer forbids loading anything from another origin (Content-Security-Policy).
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from nemotron_kit.errors import CorruptRecordError, NemotronKitError, NotFoundError, StorageError
from nemotron_kit.tracking._secrets import redact_text
from nemotron_kit.ui import assets
from nemotron_kit.ui.site import Site

HOST = "127.0.0.1"
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Resource-Policy": "same-origin",
}


class UIServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, site: Site, port: int = 0, *, quiet: bool = True) -> None:
        self.site = site
        self.quiet = quiet
        super().__init__((HOST, port), _Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    def warm_up(self) -> None:
        """Read the run list in the background, so the first filtered list is quick; a
        registry that fails here fails again, with its sentence, on the page that needs it."""

        def read() -> None:
            with contextlib.suppress(NemotronKitError):
                self.site.warm_up()

        threading.Thread(target=read, name="nemotron-kit-ui-warm-up", daemon=True).start()

    def start(self) -> threading.Thread:
        """Serve from a background thread (tests, benchmarks); ``shutdown()`` stops it."""
        thread = threading.Thread(target=self.serve_forever, name="nemotron-kit-ui", daemon=True)
        thread.start()
        return thread


class _Handler(BaseHTTPRequestHandler):
    server: UIServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        if not self.server.quiet:
            super().log_message(format, *args)

    def _refused_because(self) -> str | None:
        """Why this request is refused, or None. The host name must be loopback (any port: an
        SSH tunnel or an editor may forward another one), which a page of another site that
        points its name at 127.0.0.1 (DNS rebinding) cannot send; and the browser must not
        say the request comes from another site's page."""
        host = self.headers.get("Host", "").rpartition(":")[0] or self.headers.get("Host", "")
        if host not in (HOST, "localhost"):
            return f"Open the view at {self.server.url} (this address's name is not loopback)."
        if self.headers.get("Sec-Fetch-Site") in ("cross-site", "same-site"):
            return "The view answers its own pages only."
        return None

    def do_HEAD(self) -> None:
        self._answer(head=True)

    def do_GET(self) -> None:
        self._answer(head=False)

    def _answer(self, *, head: bool) -> None:
        refused = self._refused_because()
        if refused is not None:
            body = json.dumps({"error": refused}).encode()
            self._send(HTTPStatus.FORBIDDEN, body, "application/json", head=head)
            return
        url = urlsplit(self.path)
        path = url.path
        if path.startswith("/api/"):
            self._api(path.removeprefix("/api/"), dict(parse_qsl(url.query)), head=head)
            return
        asset = assets.get("index.html" if path == "/" else path.removeprefix("/static/"))
        if asset is None or (path != "/" and not path.startswith("/static/")):
            self._send(HTTPStatus.NOT_FOUND, b"Not found.\n", "text/plain", head=head)
            return
        body, content_type = asset
        if path.endswith("/config.js"):
            body = assets.config_js(static=False)
        self._send(HTTPStatus.OK, body, content_type, head=head)

    def _api(self, page: str, params: dict[str, str], *, head: bool) -> None:
        started = time.perf_counter()
        try:
            status, data = HTTPStatus.OK, self.server.site.get(page, params)
        except NotFoundError as exc:
            status, data = HTTPStatus.NOT_FOUND, {"error": str(exc)}
        except (StorageError, CorruptRecordError) as exc:  # the registry failed us, not the request
            status, data = HTTPStatus.BAD_GATEWAY, {"error": str(exc)}
        except NemotronKitError as exc:  # the request named something malformed
            status, data = HTTPStatus.BAD_REQUEST, {"error": str(exc)}
        except Exception as exc:  # a bug: the page says so, the terminal has the traceback
            traceback.print_exc(file=sys.stderr)
            status = HTTPStatus.INTERNAL_SERVER_ERROR
            detail = redact_text(f"{type(exc).__name__}: {exc}")
            data = {"error": f"The server failed on this page ({detail})."}
        body = json.dumps(data, allow_nan=False, default=str).encode()
        elapsed_ms = (time.perf_counter() - started) * 1000
        self._send(
            status,
            body,
            "application/json",
            head=head,
            extra={"Server-Timing": f"app;dur={elapsed_ms:.1f}"},
        )

    def _send(
        self,
        status: HTTPStatus,
        body: bytes,
        content_type: str,
        *,
        head: bool,
        extra: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in {**SECURITY_HEADERS, **(extra or {})}.items():
            self.send_header(key, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _refuse(self) -> None:
        self.close_connection = True  # its body is not read: it must not pass for a request
        self._send(
            HTTPStatus.METHOD_NOT_ALLOWED, b"The view is read-only.\n", "text/plain", head=False
        )

    do_POST = do_PUT = do_DELETE = do_PATCH = _refuse
