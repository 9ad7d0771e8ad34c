"""Content hashing: BLAKE3 per file, a tree digest over the file list, and a stat cache.

BLAKE3 is cryptographic and runs at page-cache speed here (about 6x MD5 per core, and it uses
several threads inside one large file). Files are read in fixed-size chunks, never mapped, so
hashing a 1 GiB shard keeps memory flat. The stat cache (size, mtime_ns, ctime_ns, inode) lets
re-publishing unchanged files skip reading them.
"""

from __future__ import annotations

import contextlib
import errno
import os
import queue
import re
import stat
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import blake3

from nemotron_kit.errors import ArtifactError

if TYPE_CHECKING:
    from nemotron_kit.registry.hash_cache import HashCache

ALGORITHM = "blake3"
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f\\]")
# BLAKE3's shared thread pool does not survive fork(): a forked child (a sweep worker) that
# hashed with it would hang. Children hash on their own thread instead.
_AUTO_THREADS: int = blake3.blake3.AUTO


def _after_fork_in_child() -> None:
    global _AUTO_THREADS
    _AUTO_THREADS = 1


os.register_at_fork(after_in_child=_after_fork_in_child)
CHUNK = 8 << 20
# Above this size one file is hashed with BLAKE3's own threads; below, files run in parallel.
LARGE_FILE = 64 << 20
# Up to this size files are hashed on the calling thread, one read each: threads would cost
# more in contention for the GIL around each system call than they save.
SMALL_FILE = 64 << 10


# Named tuples, not frozen dataclasses: as immutable, and built in a quarter of the time,
# which counts at 20,000 files (a reference publish is held to 1.5x `cat` of its files).
class FileStat(NamedTuple):
    rel: str
    path: str  # a str, not a Path: building 20,000 Path objects costs more than hashing
    size: int
    mtime_ns: int
    ctime_ns: int
    ino: int


class ManifestEntry(NamedTuple):
    """A manifest's row as it is stored: (path, size, digest)."""

    rel: str
    size: int
    digest: str


@dataclass(frozen=True)
class Manifest:
    """Every file of an artifact with its size and digest, plus the tree digest over them."""

    files: tuple[ManifestEntry, ...]
    digest: str

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def to_json(self) -> dict[str, object]:
        return {
            "algorithm": ALGORITHM,
            "digest": self.digest,
            "files": [[f.rel, f.size, f.digest] for f in self.files],
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Manifest:
        rows = data["files"]
        assert isinstance(rows, list)
        files = tuple(ManifestEntry(str(r[0]), int(r[1]), str(r[2])) for r in rows)
        return cls(files=files, digest=str(data["digest"]))

    @classmethod
    def build(cls, entries: Iterable[ManifestEntry]) -> Manifest:
        files = tuple(sorted(entries, key=itemgetter(0)))  # by path
        return cls(files=files, digest=tree_digest(files))


def tree_digest(files: Iterable[ManifestEntry]) -> str:
    """BLAKE3 over 'rel TAB size TAB digest NEWLINE' lines. A path holding a control character
    could forge another tree's lines, so such paths are refused (they are never stored)."""
    files = list(files)
    if _UNSAFE_NAME.search("".join([f.rel for f in files])):  # one scan, not one per path
        bad = next(f.rel for f in files if _UNSAFE_NAME.search(f.rel))
        raise ValueError(f"the path {bad!r} holds a control character or a backslash")
    lines = "".join([f"{f.rel}\t{f.size}\t{f.digest}\n" for f in files])
    return blake3.blake3(lines.encode()).hexdigest()


def hash_bytes(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


_local = threading.local()


def _buffer() -> tuple[bytearray, memoryview]:
    """One read buffer per thread: allocating 8 MiB per file would dominate small files."""
    pair: tuple[bytearray, memoryview] | None = getattr(_local, "pair", None)
    if pair is None:
        buf = bytearray(CHUNK)
        pair = _local.pair = (buf, memoryview(buf))
    return pair


def hash_file(
    path: str | Path, threads: int = 1, progress: Callable[[int], None] | None = None
) -> str:
    """Stream ``path`` through BLAKE3 in fixed chunks (flat memory, any size)."""
    return hash_file_sized(path, threads, progress)[0]


def hash_file_sized(
    path: str | Path, threads: int = 1, progress: Callable[[int], None] | None = None
) -> tuple[str, int]:
    """``hash_file``, and the bytes it hashed: the size that goes with the digest, which the
    size a scan saw may not be (the file changed since)."""
    hasher = blake3.blake3(max_threads=threads if threads > 0 else _AUTO_THREADS)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if threads <= 0 and os.fstat(fd).st_size >= LARGE_FILE:
            size = _hash_fd_ahead(fd, hasher, progress)
        else:
            size = _hash_fd(fd, hasher, progress=progress)
    finally:
        os.close(fd)
    return hasher.hexdigest(), size


def _hash_fd_ahead(fd: int, hasher: blake3.blake3, progress: Callable[[int], None] | None) -> int:
    """Hash ``fd`` to its end while a worker thread reads the next chunk: the read and the
    hash overlap, where one after the other they took their sum (a 1 GiB file: 0.29 s, now
    0.19 s; `cat` takes 0.13 s). Two chunks in flight. Returns the bytes hashed."""
    free: queue.SimpleQueue[memoryview | None] = queue.SimpleQueue()
    full: queue.SimpleQueue[tuple[memoryview, int] | BaseException] = queue.SimpleQueue()
    for _ in range(2):
        free.put(memoryview(bytearray(CHUNK)))
    worker_fd = os.dup(fd)

    def read_ahead() -> None:
        offset = 0
        while (view := free.get()) is not None:
            n = os.preadv(worker_fd, [view], offset)
            full.put((view, n))
            if not n:
                return
            offset += n

    worker = _start_worker("nemotron-kit-read", read_ahead, full, (worker_fd,))
    hashed = 0
    try:
        while True:
            item = full.get()
            if isinstance(item, BaseException):
                raise item
            view, n = item
            if not n:
                return hashed
            hasher.update(view[:n])
            hashed += n
            if progress:
                progress(n)
            free.put(view)
    finally:
        free.put(None)  # the reader stops at its next chunk
        worker.join()


def _hash_small(path: str, size: int) -> tuple[str, int]:
    """A small file, which a scan saw ``size`` long: read at once (``read_small``) and hashed.
    Digest and bytes hashed; one that grew past a small file's size is streamed instead."""
    data = read_small(path, size, SMALL_FILE)
    if data is None:
        return hash_file_sized(path, 1)
    return blake3.blake3(data).hexdigest(), len(data)


def read_small(path: str, size: int, limit: int) -> bytes | None:
    """The bytes of the file a scan saw ``size`` long, if it holds at most ``limit`` now: one
    read that asks for a byte more than ``size`` and gets ``size`` has reached the end. None
    if it has grown past ``limit`` (left to a copy that streams)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = os.read(fd, size + 1)
        if len(data) == size:
            return data
        chunks, total = [data], len(data)
        while chunk := os.read(fd, max(SMALL_FILE, size)):  # it changed since: on to EOF
            total += len(chunk)
            if total > limit:
                return None
            chunks.append(chunk)
        return b"".join(chunks) if total <= limit else None
    finally:
        os.close(fd)


def copy_and_hash(
    src: str | Path,
    dst: Path,
    progress: Callable[[int], None] | None = None,
    threads: int = 0,
    mode: int = 0o666,
) -> tuple[str, int]:
    """Copy ``src`` to a new file ``dst`` (created with ``mode``, less the umask) and hash the
    copy (with ``threads`` BLAKE3 threads; 0: as many as it likes): the digest and size of
    what was stored, even if ``src`` changes meanwhile (its size as scanned may be stale by
    then).

    The copy is made in the kernel (``copy_file_range``: no trip through our buffers, a
    reflink where the filesystem has them) and read back from the page cache. That costs
    about half of a ``read``/``write`` loop that hashes as it goes, as writing to a new file
    from user space dominates (``python benchmarks/hashing.py``: copy-mode publish). A large
    file is hashed behind its copy, on this thread while another copies; a small one is
    hashed in memory on its way through.
    """
    hasher = blake3.blake3(max_threads=threads if threads > 0 else _AUTO_THREADS)
    fin = os.open(src, os.O_RDONLY | os.O_CLOEXEC)
    try:
        st = os.fstat(fin)
        if not stat.S_ISREG(st.st_mode):
            raise ArtifactError(f"'{src}' is not a regular file: only files can be copied.")
        size = st.st_size
        fout = os.open(dst, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
        try:
            if size <= SMALL_FILE:
                stored = _copy_small(fin, fout, hasher, progress)
            elif size >= LARGE_FILE:
                stored = _hash_behind_copy(fin, fout, hasher, progress)
            else:
                _copy_stream(fin, fout, progress)
                stored = _hash_copy(dst, fout, hasher)
        finally:
            os.close(fout)
    finally:
        os.close(fin)
    return hasher.hexdigest(), stored


def _hash_copy(dst: str | Path, fout: int, hasher: blake3.blake3) -> int:
    """Hash our own fresh copy ``dst`` (open as ``fout``): the bytes hashed. Up to a chunk it
    is mapped, which saves copying it out of the page cache (a fifth of a copy-mode publish of
    1 MiB files). Never a file of the user's: one truncated while mapped would kill the
    process (SIGBUS). A filesystem that cannot map it is read instead."""
    size = os.fstat(fout).st_size
    if 0 < size <= CHUNK:
        try:
            hasher.update_mmap(dst)
            return size
        except OSError:
            hasher.reset()
    return _hash_fd(fout, hasher)


def _copy_small(
    fin: int, fout: int, hasher: blake3.blake3, progress: Callable[[int], None] | None
) -> int:
    """A small file is read whole, hashed in memory and written from there: fewer system
    calls than a kernel copy and a read back, which is what copying it costs. One that turns
    out larger than its size said (it grew; a filesystem that says 0) goes on as a stream.
    Returns the bytes written."""
    data = os.read(fin, SMALL_FILE + 1)
    more = b"" if len(data) > SMALL_FILE else os.read(fin, SMALL_FILE)
    _write_all(fout, data + more if more else data)
    if progress and (data or more):
        progress(len(data) + len(more))
    if len(data) > SMALL_FILE or more:
        _copy_stream(fin, fout, progress)
        return _hash_fd(fout, hasher)
    hasher.update(data)
    return len(data)


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    done = 0
    while done < len(view):
        done += os.write(fd, view[done:])


def _hash_fd(
    fd: int,
    hasher: blake3.blake3,
    start: int = 0,
    end: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Hash ``fd`` from ``start`` to ``end`` (None: its end) in fixed chunks, by offset: the
    next start."""
    _, view = _buffer()
    while end is None or start < end:
        want = CHUNK if end is None else min(CHUNK, end - start)
        n = os.preadv(fd, [view[:want]], start)
        if not n:
            break
        hasher.update(view[:n])
        if progress:
            progress(n)
        start += n
    return start


class _Stopped(Exception):
    """The hashing side failed or was interrupted: the copy stops too."""


def _start_worker(
    name: str, work: Callable[[], None], results: queue.SimpleQueue[Any], fds: tuple[int, ...]
) -> threading.Thread:
    """Run ``work`` on a thread that owns ``fds``, duplicates of the caller's: it closes them
    when done (here, if it cannot start), so should the caller's join be cut short (a second
    Ctrl-C) and the caller close its own, no file opened later under the same number can be
    read or written by mistake. What ``work`` raises goes to ``results``, for the caller to
    raise."""

    def run() -> None:
        try:
            work()
        except BaseException as e:
            results.put(e)
        finally:
            for fd in fds:
                os.close(fd)

    worker = threading.Thread(target=run, name=name, daemon=True)
    try:
        worker.start()
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    return worker


def _hash_behind_copy(
    fin: int, fout: int, hasher: blake3.blake3, progress: Callable[[int], None] | None
) -> int:
    """Copy on a worker thread and hash what it has copied so far on this one: a large file
    takes about as long as its copy alone, not the copy plus the hash. Returns the bytes
    hashed (all that was written)."""
    copied: queue.SimpleQueue[int | BaseException | None] = queue.SimpleQueue()
    stop = threading.Event()
    worker_in = os.dup(fin)
    try:
        worker_out = os.dup(fout)
    except BaseException:
        os.close(worker_in)
        raise

    def advance(n: int) -> None:
        if stop.is_set():
            raise _Stopped
        if progress:
            progress(n)
        copied.put(n)

    def copy() -> None:
        _copy_stream(worker_in, worker_out, advance)
        copied.put(None)

    worker = _start_worker("nemotron-kit-copy", copy, copied, (worker_in, worker_out))
    try:
        done = 0
        while (item := copied.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            done = _hash_fd(fout, hasher, done, done + item)
    finally:
        stop.set()
        worker.join()
    return done


# copy_file_range errors that mean "not here" (another filesystem on an old kernel, a
# filesystem without it, a seccomp filter), not "the copy failed": the rest goes by read/write.
_NO_KERNEL_COPY = {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM}


def _copy_stream(fin: int, fout: int, progress: Callable[[int], None] | None) -> None:
    """Copy from ``fin``'s offset to its end onto ``fout``, calling ``progress`` after each
    chunk written. Some filesystems (procfs, FUSE) report the end too early to
    ``copy_file_range``, so it always ends with ``read`` to EOF, from where the kernel copy
    stopped (both file offsets moved with it)."""
    if hasattr(os, "copy_file_range"):
        try:
            while n := os.copy_file_range(fin, fout, CHUNK):
                if progress:
                    progress(n)
        except OSError as e:
            if e.errno not in _NO_KERNEL_COPY:
                raise
    buf, view = _buffer()
    while n := os.readv(fin, [buf]):
        _write_all(fout, view[:n])
        if progress:
            progress(n)


Links = Literal["inside", "follow", "refuse"]


def scan(path: Path, links: Links = "inside") -> list[FileStat]:
    """All files at or below ``path`` (a file or a directory), sorted by relative path.

    Symbolic links are handled by one policy, never dropped silently: with ``inside`` (the
    default) a link whose target lies inside ``path`` is stored as what it points to, and a
    link that leaves ``path`` or dangles is an error naming it; ``follow`` also follows links
    that leave; ``refuse`` makes every link an error. Sockets, FIFOs and devices are errors.
    """
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ArtifactError(f"Artifact path '{path}' does not exist: check the path.") from None
    if not path.is_dir():
        if not path.is_file():
            raise ArtifactError(
                f"Artifact path '{path}' is not a regular file or a directory: publish files."
            )
        return [
            FileStat(path.name, str(path), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
        ]
    root = os.path.realpath(path)
    out: list[FileStat] = []
    stack = [(str(path), "", frozenset({root}))]
    while stack:
        directory, prefix, ancestors = stack.pop()
        # Files are looked up in their directory's descriptor: a stat by full path walks every
        # component again (a third of a scan of 20,000 small files).
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            _scan_directory(path, root, fd, directory, prefix, ancestors, links, stack, out)
        finally:
            os.close(fd)
    out.sort(key=itemgetter(0))  # by path
    return out


def _scan_directory(
    path: Path,
    root: str,
    fd: int,
    directory: str,
    prefix: str,
    ancestors: frozenset[str],
    links: Links,
    stack: list[tuple[str, str, frozenset[str]]],
    out: list[FileStat],
) -> None:
    """One directory of ``scan`` (open as ``fd``): its files onto ``out``, its directories
    (and links to directories) onto ``stack``."""
    with os.scandir(fd) as it:
        entries = list(it)
    if _UNSAFE_NAME.search("".join([e.name for e in entries])):  # one scan per directory
        bad = next(e.name for e in entries if _UNSAFE_NAME.search(e.name))
        raise ArtifactError(
            f"{prefix + bad!r} in '{path}' has a name with a control character or a "
            "backslash, which nemotron-kit cannot store safely: rename it."
        )
    base = directory if directory.endswith("/") else directory + "/"
    for entry in entries:
        name = entry.name
        target = base + name
        followed = False
        if not entry.is_file(follow_symlinks=False):  # a link, a directory or neither
            rel = prefix + name
            if entry.is_symlink():
                target = _follow_link(path, root, rel, target, links)
                if os.path.isdir(target):
                    real = os.path.realpath(target)
                    if real in ancestors:
                        raise ArtifactError(
                            f"'{rel}' in '{path}' is a link to a directory that contains "
                            "it (a cycle): remove the link."
                        )
                    stack.append((target, f"{rel}/", ancestors | {real}))
                    continue
                followed = True
            elif entry.is_dir(follow_symlinks=False):
                real = os.path.realpath(target)
                stack.append((target, f"{rel}/", ancestors | {real}))
                continue
        try:
            s = os.stat(target) if followed else os.stat(name, dir_fd=fd)
        except FileNotFoundError:
            continue  # removed while we looked: not part of what is published
        if not stat.S_ISREG(s.st_mode):
            raise ArtifactError(
                f"'{prefix + name}' in '{path}' is not a regular file (a socket, FIFO "
                "or device): remove it or publish another directory."
            )
        out.append(
            FileStat(prefix + name, target, s.st_size, s.st_mtime_ns, s.st_ctime_ns, s.st_ino)
        )


def _follow_link(path: Path, root: str, rel: str, link: str, links: Links) -> str:
    """Where the link ``rel`` points, if the policy allows it; else one sentence naming it."""
    if links == "refuse":
        raise ArtifactError(f"'{rel}' in '{path}' is a symbolic link, which is not allowed here.")
    target = os.path.realpath(link)
    if not os.path.exists(target):
        raise ArtifactError(
            f"'{rel}' in '{path}' is a dangling symbolic link (to '{os.readlink(link)}'): "
            "remove it or make its target exist."
        )
    inside = target == root or target.startswith(root.rstrip(os.sep) + os.sep)
    if not inside and links != "follow":
        raise ArtifactError(
            f"'{rel}' in '{path}' is a symbolic link to '{target}', outside the artifact: copy "
            "the target in, remove the link, or publish with follow_symlinks=True."
        )
    return target


def path_clash(rels: Iterable[str]) -> str | None:
    """A path listed twice, or both as a file and as a directory of another (None if none)."""
    files: set[str] = set()
    dirs: set[str] = set()
    for rel in rels:
        if rel in files or rel in dirs:
            return rel
        files.add(rel)
        parts = rel.split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            if parent in files:
                return parent
            dirs.add(parent)
    return None


def hash_files(
    files: list[FileStat], cache: HashCache | None = None, workers: int | None = None
) -> Manifest:
    """The manifest of ``files``: cached digests where the stat matches, BLAKE3 for the rest
    (with the size hashed, which differs from the size scanned if the file changed since)."""
    known = cache.lookup(files) if cache else {}
    todo = [f for f in files if f.rel not in known] if known else files
    workers = workers or min(8, os.cpu_count() or 1)
    total = sum([f.size for f in todo])
    fresh: dict[str, ManifestEntry] = {}
    with progress(total) as advance:
        small = [f for f in todo if f.size <= SMALL_FILE]
        medium = [f for f in todo if SMALL_FILE < f.size < LARGE_FILE]
        large = [f for f in todo if f.size >= LARGE_FILE]
        pool = None
        if medium:
            from concurrent.futures import ThreadPoolExecutor

            pool = ThreadPoolExecutor(max_workers=min(workers, len(medium)))
        try:
            # Medium files in parallel, while this thread hashes the small ones.
            done = pool.map(_hash_batch, _batches(medium, workers), repeat(advance)) if pool else []
            for f in small:
                digest, size = _hash_small(f.path, f.size)
                fresh[f.rel] = ManifestEntry(f.rel, size, digest)
                if advance:
                    advance(f.size)
            for entries in done:
                fresh.update((e.rel, e) for e in entries)
        finally:
            if pool:
                pool.shutdown()
        for f in large:  # one at a time, BLAKE3's threads inside the file
            digest, size = hash_file_sized(f.path, 0, advance)
            fresh[f.rel] = ManifestEntry(f.rel, size, digest)
    entries = [fresh.get(f.rel) or ManifestEntry(f.rel, f.size, known[f.rel]) for f in files]
    if cache and fresh:
        cache.store(files, entries)
    return Manifest.build(entries)


def _batches(files: list[FileStat], workers: int) -> list[list[FileStat]]:
    """One batch of similar byte count per worker: a task per file costs more in the pool
    than hashing it."""
    batches: list[list[FileStat]] = [[] for _ in range(min(workers, len(files)))]
    loads = [0] * len(batches)
    for f in sorted(files, key=lambda f: -f.size):
        i = loads.index(min(loads))
        batches[i].append(f)
        loads[i] += f.size + 4096
    return batches


def _hash_batch(
    batch: list[FileStat], advance: Callable[[int], None] | None
) -> list[ManifestEntry]:
    entries = []
    for f in batch:
        digest, size = hash_file_sized(f.path, 1, advance)
        entries.append(ManifestEntry(f.rel, size, digest))
    return entries


@contextlib.contextmanager
def old_objects_frozen() -> Iterator[None]:
    """Keep Python's cyclic GC off the objects that existed before (a training script's heap:
    torch and wandb alone hold about 200,000): walking them cost 90 ms of a reference publish
    of 20,000 files, three times its other GC. New objects are collected as usual; an old one
    that becomes cyclic garbage meanwhile waits until the block ends. Left alone when the
    process froze objects itself (``gc.freeze`` before a fork) or turned the GC off."""
    import gc

    if gc.get_freeze_count() or not gc.isenabled():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


#: Smaller jobs get no progress bar: they end before one would be read.
PROGRESS_MIN_BYTES = 256 << 20


@contextlib.contextmanager
def progress(total: int, description: str = "hashing") -> Iterator[Callable[[int], None] | None]:
    """A rich progress bar (bytes, speed) for a big job on a terminal; None otherwise."""
    if total < PROGRESS_MIN_BYTES or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)
