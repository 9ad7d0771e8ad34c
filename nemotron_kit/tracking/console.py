"""The tail of what a job prints, kept with its run: readable after a crash, on any executor.

While a run is recorded, ``sys.stdout`` and ``sys.stderr`` are wrapped: every write goes on to
the real stream and its last ``TAIL_CHARS`` characters are kept. The run's heartbeat stores the
tail when it has grown, and the end of the run stores it once more, so a job killed without a
word (SIGKILL, a lost node) still shows what it printed last. Python-level output only: what a
C extension writes to the file descriptors directly is not seen. Secrets are redacted by value
before anything is stored.
"""

from __future__ import annotations

import sys
import threading
from typing import Any, TextIO

from nemotron_kit.tracking._secrets import redact_text

TAIL_CHARS = 64 * 1024


class _Tee:
    """A text stream that writes through to ``stream`` and feeds ``tail``."""

    def __init__(self, stream: TextIO, tail: ConsoleTail) -> None:
        self._stream = stream
        self._tail = tail

    def write(self, text: str) -> int:
        written = self._stream.write(text)
        self._tail.add(text)
        return written

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class ConsoleTail:
    """The last characters printed while ``capture()`` was on."""

    def __init__(self, limit: int = TAIL_CHARS) -> None:
        self.limit = limit
        self._parts: list[str] = []
        self._size = 0
        self._version = 0  # grows with every write: has the tail changed since it was stored?
        self._stored = 0
        self._lock = threading.Lock()
        self._streams: tuple[TextIO, TextIO] | None = None

    def add(self, text: str) -> None:
        if not isinstance(text, str) or not text:
            return
        with self._lock:
            self._parts.append(text)
            self._size += len(text)
            self._version += 1
            if self._size > 2 * self.limit:  # trim now and then, not at every write
                joined = "".join(self._parts)[-self.limit :]
                self._parts, self._size = [joined], len(joined)

    def text(self) -> str:
        with self._lock:
            return "".join(self._parts)[-self.limit :]

    def capture(self) -> None:
        """Wrap sys.stdout and sys.stderr (until ``release``)."""
        if self._streams is not None:
            return
        self._streams = (sys.stdout, sys.stderr)
        sys.stdout = _Tee(sys.stdout, self)
        sys.stderr = _Tee(sys.stderr, self)

    def release(self) -> None:
        """Put the real streams back (unless someone wrapped ours since: then ours stay, and
        only stop feeding the tail when the process ends)."""
        if self._streams is None:
            return
        stdout, stderr = self._streams
        if isinstance(sys.stdout, _Tee) and sys.stdout._tail is self:
            sys.stdout = stdout
        if isinstance(sys.stderr, _Tee) and sys.stderr._tail is self:
            sys.stderr = stderr
        self._streams = None

    def changed(self) -> bool:
        return self._version != self._stored

    def take(self) -> str:
        """The tail to store, redacted; it counts as stored from now on."""
        with self._lock:
            self._stored = self._version
        return redact_text(self.text())
