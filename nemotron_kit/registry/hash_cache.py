"""The stat cache: digests of local files, so that re-publishing unchanged files skips reading
them; and the fingerprints of stored objects this machine has hashed.

A file's digest is reused only when its (path, size, mtime_ns, ctime_ns, inode) are all as
they were when it was hashed. ctime is part of the key because it changes on every write and
cannot be set back by a user (``touch -d``, ``rsync -t``), so a rewritten file with its old
mtime still misses.

One row per tree, not per file: a publish stores the listing of the tree it hashed (every
file's path, stat and digest, as three columns each built in C) under the directory all its
files lie in, and a lookup reads the rows of that directory, of the directories inside it and
of those around it. A row per file cost a quarter of a reference publish of 20,000 small files
in SQLite inserts alone (``python benchmarks/hashing.py``). A newer listing of a directory
replaces its row and those of the directories inside it.

The cache is an optimisation only: any error reading or writing it is ignored (a re-hash).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from array import array
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nemotron_kit.registry.hashing import FileStat, ManifestEntry

# A listing's stat columns, one array each, in this order: 8 bytes per file, native order (the
# cache never leaves this machine).
_STAT_TYPES = ("Q", "q", "q", "Q")  # size, mtime_ns, ctime_ns, inode
_DIGEST_BYTES = 32


def tree_of(first: str, last: str) -> str:
    """The row of a listing whose smallest and largest (absolute) paths are ``first`` and
    ``last``: the directory all its files lie in, or the file itself if there is one. The
    characters the first and the last path share, every path between shares; cut back to a
    '/', that is a directory of all."""
    if first == last:
        return first
    shared = os.path.commonprefix([first, last])  # noqa: RUF071 (by character, on purpose)
    return shared[: shared.rfind("/")] or "/"


def _inside(tree: str) -> tuple[str, str]:
    """The range of the keys of the trees inside ``tree``: those that start with 'tree/'
    ('/' sorts just before '0')."""
    base = tree.rstrip("/")
    return base + "/", base + "0"


def _around(tree: str) -> list[str]:
    """The directories that hold ``tree``: their listings may name its files."""
    out = []
    while (parent := os.path.dirname(tree)) != tree:
        out.append(parent)
        tree = parent
    return out


class HashCache:
    """Digests of local files keyed by their stat, in SQLite (see the module's docstring)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser()

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        # A cache: losing recent rows on power loss only costs a re-hash.
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("DROP TABLE IF EXISTS hashes")  # earlier versions' row per file
        conn.execute(
            "CREATE TABLE IF NOT EXISTS trees (tree TEXT PRIMARY KEY, paths TEXT, stats BLOB, "
            "digests BLOB)"
        )
        conn.execute(
            "CREATE TABLE IF NOT EXISTS objects (url TEXT PRIMARY KEY, fingerprint TEXT, "
            "digest TEXT) WITHOUT ROWID"
        )
        return conn

    def lookup(self, files: list[FileStat]) -> dict[str, str]:
        """rel -> digest for the files whose stat still matches the cache."""
        if not files:
            return {}
        wanted = {f.path: f for f in files}
        tree = tree_of(min(wanted), max(wanted))
        around = _around(tree)
        hits: dict[str, str] = {}
        try:
            with contextlib.closing(self._connect()) as conn:
                # The tree's row, those of the directories inside it and those around it.
                rows = conn.execute(
                    "SELECT paths, stats, digests FROM trees WHERE tree = ? "
                    f"OR (tree >= ? AND tree < ?) OR tree IN ({','.join('?' * len(around))})",
                    (tree, *_inside(tree), *around),
                ).fetchall()
            for paths, stats, digests in rows:
                _match(wanted, paths, stats, digests, hits)
        except (sqlite3.Error, OSError, ValueError, TypeError, AttributeError):
            return {}  # a damaged cache: hashed again
        return hits

    def store(self, files: list[FileStat], entries: Sequence[ManifestEntry]) -> None:
        """Record a tree's listing: each of ``files`` as scanned with what was hashed (or
        found here) for it, but for a file whose hashed size is not the scanned one (it
        changed as it was read). It replaces the listings of that tree and of the directories
        inside it."""
        kept = [(f, e) for f, e in zip(files, entries, strict=True) if e.size == f.size]
        if not kept:
            return
        paths = [f.path for f, _ in kept]
        tree = tree_of(min(paths), max(paths))
        stats = (
            [f.size for f, _ in kept],
            [f.mtime_ns for f, _ in kept],
            [f.ctime_ns for f, _ in kept],
            [f.ino for f, _ in kept],
        )
        digests = [e.digest for _, e in kept]
        try:
            encoded = _encode(paths, stats, digests)
        except (ValueError, OverflowError):  # not a path or a stat we can store: no matter
            return
        with (
            contextlib.suppress(sqlite3.Error, OSError),
            contextlib.closing(self._connect()) as conn,
        ):
            conn.execute("BEGIN")
            conn.execute("DELETE FROM trees WHERE tree >= ? AND tree < ?", _inside(tree))
            conn.execute("INSERT OR REPLACE INTO trees VALUES (?, ?, ?, ?)", (tree, *encoded))
            conn.execute("COMMIT")

    def prune(self, dry_run: bool = False) -> int:
        """Drop the digests of files that no longer exist (a listing goes when none of its
        files is left, or it cannot be read), then give the space back; the number of files
        dropped."""
        dropped = 0
        try:
            with contextlib.closing(self._connect()) as conn:
                changed: list[tuple[str, tuple[str, bytes, bytes] | None]] = []
                for tree, *row in conn.execute("SELECT tree, paths, stats, digests FROM trees"):
                    try:
                        stored = _Stored(*row)
                    except (ValueError, TypeError, AttributeError):  # damaged: it goes
                        changed.append((tree, None))
                        continue
                    keep = [i for i, path in enumerate(stored.names) if os.path.exists(path)]
                    if len(keep) < len(stored.names):
                        dropped += len(stored.names) - len(keep)
                        changed.append((tree, stored.encode(keep) if keep else None))
                if changed and not dry_run:
                    conn.execute("BEGIN")
                    for tree, new in changed:
                        if new is None:
                            conn.execute("DELETE FROM trees WHERE tree = ?", (tree,))
                        else:
                            conn.execute(
                                "UPDATE trees SET paths = ?, stats = ?, digests = ? WHERE tree = ?",
                                (*new, tree),
                            )
                    conn.execute("COMMIT")
                    conn.execute("VACUUM")
        except (sqlite3.Error, OSError):
            return 0  # a broken cache is rebuilt, never an error
        return dropped

    def known_objects(self, urls: list[str]) -> dict[str, tuple[str, str]]:
        """url -> (fingerprint, digest) that stored objects had when this machine last hashed
        them; a fingerprint that changed since means: hash it again."""
        if not urls:
            return {}
        found: dict[str, tuple[str, str]] = {}
        try:
            with contextlib.closing(self._connect()) as conn:
                for i in range(0, len(urls), 500):
                    chunk = urls[i : i + 500]
                    rows = conn.execute(
                        "SELECT url, fingerprint, digest FROM objects WHERE url IN "
                        f"({','.join('?' * len(chunk))})",
                        chunk,
                    )
                    found.update({str(u): (str(f), str(d)) for u, f, d in rows})
        except (sqlite3.Error, OSError):
            return {}
        return found

    def remember_objects(self, rows: list[tuple[str, str, str]]) -> None:
        with (
            contextlib.suppress(sqlite3.Error, OSError),
            contextlib.closing(self._connect()) as conn,
        ):
            conn.execute("BEGIN")
            conn.executemany("INSERT OR REPLACE INTO objects VALUES (?, ?, ?)", rows)
            conn.execute("COMMIT")


def _encode(
    paths: list[str], stats: Sequence[Sequence[int]], digests: list[str]
) -> tuple[str, bytes, bytes]:
    """A listing as its three columns: the paths NUL-separated (no path holds a NUL), the
    stat columns (``_STAT_TYPES``) end to end, the digests as bytes. Each is built in C: a
    tuple per file would cost more than the rest of the store."""
    blob = b"".join(
        array(code, column).tobytes() for code, column in zip(_STAT_TYPES, stats, strict=True)
    )
    return "\0".join(paths), blob, bytes.fromhex("".join(digests))


class _Stored:
    """A listing as stored, decoded only where asked: a listing of a directory around the
    files looked up can be far larger than they are. A ValueError if its columns do not
    agree (a damaged cache)."""

    def __init__(self, paths: str, stats: bytes, digests: bytes) -> None:
        self.names = paths.split("\0")
        self.n = n = len(self.names)
        if len(stats) != 8 * len(_STAT_TYPES) * n or len(digests) != _DIGEST_BYTES * n:
            raise ValueError("a damaged listing")
        self._unsigned, self._signed = memoryview(stats).cast("Q"), memoryview(stats).cast("q")
        self._digests = digests

    def stat(self, i: int) -> tuple[int, int, int, int]:
        """(size, mtime_ns, ctime_ns, inode) of file ``i``."""
        n = self.n
        return (
            self._unsigned[i],
            self._signed[n + i],
            self._signed[2 * n + i],
            self._unsigned[3 * n + i],
        )

    def digest(self, i: int) -> str:
        return self._digests[_DIGEST_BYTES * i : _DIGEST_BYTES * (i + 1)].hex()

    def encode(self, keep: list[int]) -> tuple[str, bytes, bytes]:
        """The listing of files ``keep`` only."""
        rows = [self.stat(i) for i in keep]
        return _encode(
            [self.names[i] for i in keep],
            [[row[c] for row in rows] for c in range(len(_STAT_TYPES))],
            [self.digest(i) for i in keep],
        )


def _match(
    wanted: dict[str, FileStat], paths: str, stats: bytes, digests: bytes, hits: dict[str, str]
) -> None:
    """Add to ``hits`` (rel -> digest) the files of a stored listing whose stat is as wanted."""
    stored = _Stored(paths, stats, digests)
    for i, name in enumerate(stored.names):
        f = wanted.get(name)
        if f is not None and stored.stat(i) == (f.size, f.mtime_ns, f.ctime_ns, f.ino):
            hits[f.rel] = stored.digest(i)
