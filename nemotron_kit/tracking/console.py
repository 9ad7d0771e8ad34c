"""The tail of what a job prints, kept with its run: readable after a crash, on any executor.

While a run is recorded, ``sys.stdout`` and ``sys.stderr`` are wrapped (and the logging handlers
that write to them, which Hydra set up before the job began): every write goes on to the real
stream and the last ``TAIL_CHARS`` characters are kept. The run's heartbeat stores the tail when
it has grown, and the end of the run stores it once more (a failed run's with its traceback),
so a job killed without a word (SIGKILL, a lost node) still shows what it printed last.
Python-level output only: what a C extension writes to the file descriptors is not seen.

Secrets are redacted by value before anything is stored: the secret environment variables and
the values under secret keys of the run's config. Redaction runs over more than the tail
keeps, then the tail is cut, so a secret never survives in part at the cut. A progress bar's
redraws (``\\r``) keep only their last state.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from typing import Any, TextIO

from nemotron_kit.tracking._secrets import redact_text

TAIL_CHARS = 64 * 1024
_REDRAWN = re.compile(r"[^\r\n]*\r(?!\n)")


class _Tee:
    """A text stream that writes through to ``stream`` and feeds ``tail``."""

    def __init__(self, stream: TextIO, tail: ConsoleTail) -> None:
        self._stream = stream
        self._tail = tail

    def write(self, text: str) -> int:
        written = self._stream.write(text)
        self._tail.add(text)
        return written

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class ConsoleTail:
    """The last characters printed while ``capture()`` was on."""

    def __init__(self, secrets: list[str] | None = None, limit: int = TAIL_CHARS) -> None:
        self.secrets = secrets  # None: the secret environment variables at each ``take``
        self.limit = limit
        self._parts: list[str] = []
        self._size = 0
        self._version = 0  # grows with every write: has the tail changed since it was stored?
        self._stored = 0
        self._lock = threading.Lock()
        self._streams: tuple[Any, Any] | None = None
        self._handlers: list[tuple[logging.StreamHandler[Any], Any]] = []

    def _keep(self) -> int:
        """Characters kept: the tail plus the longest secret, so redaction sees whole ones."""
        longest = max((len(s) for s in self.secrets or ()), default=256)
        return self.limit + longest

    def add(self, text: str) -> None:
        if not isinstance(text, str) or not text:
            return
        with self._lock:
            self._parts.append(text)
            self._size += len(text)
            self._version += 1
            if self._size > 2 * self._keep():  # trim now and then, not at every write
                joined = "".join(self._parts)[-self._keep() :]
                self._parts, self._size = [joined], len(joined)

    def capture(self) -> None:
        """Wrap sys.stdout, sys.stderr and the logging handlers on them (until ``release``)."""
        if self._streams is not None:
            return
        old = (sys.stdout, sys.stderr)
        self._streams = old
        if sys.stdout is not None:
            sys.stdout = _Tee(sys.stdout, self)
        if sys.stderr is not None:
            sys.stderr = _Tee(sys.stderr, self)
        wrapped = {id(old[0]): sys.stdout, id(old[1]): sys.stderr}
        for handler in _stream_handlers():
            tee = wrapped.get(id(handler.stream))
            if tee is not None and handler.stream is not None:
                self._handlers.append((handler, handler.stream))
                handler.setStream(tee)

    def release(self) -> None:
        """Put the real streams back (unless someone wrapped ours since: then ours stay, and
        only stop mattering when the process ends)."""
        if self._streams is None:
            return
        stdout, stderr = self._streams
        if isinstance(sys.stdout, _Tee) and sys.stdout._tail is self:
            sys.stdout = stdout
        if isinstance(sys.stderr, _Tee) and sys.stderr._tail is self:
            sys.stderr = stderr
        for handler, stream in self._handlers:
            if isinstance(handler.stream, _Tee) and handler.stream._tail is self:
                handler.setStream(stream)
        self._streams, self._handlers = None, []

    def changed(self) -> bool:
        return self._version != self._stored

    def take(self) -> str:
        """The tail to store, redacted; it counts as stored from now on."""
        with self._lock:
            self._stored = self._version
            text = "".join(self._parts)
        return redact_text(_REDRAWN.sub("", text), self.secrets)[-self.limit :]


def _stream_handlers() -> list[logging.StreamHandler[Any]]:
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    found = []
    for logger in loggers:
        for handler in getattr(logger, "handlers", ()):
            if type(handler) is logging.StreamHandler:  # not FileHandler: that is a file
                found.append(handler)
    return found
