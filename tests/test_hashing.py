"""Content hashing: BLAKE3 digests, the manifest and its tree digest, scan, and the stat cache.

Fast unit tests of nemotron_kit.registry.hashing on small local files (the one large file is
sparse, so it costs no disk and little time). The digests are checked against the blake3
package itself, never against the code under test.
"""

from __future__ import annotations

import contextlib
import errno
import multiprocessing
import os
import pty
import subprocess
import sys
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import blake3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nemotron_kit.errors import ArtifactError
from nemotron_kit.registry import hashing
from nemotron_kit.registry.hash_cache import HashCache
from nemotron_kit.registry.hashing import FileStat, Manifest, ManifestEntry


@pytest.fixture(autouse=True)
def _empty_working_directory(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each test runs in an empty directory: no result may depend on the working directory."""
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


def b3(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def stat_of(rel: str, path: Path) -> FileStat:
    st_ = path.stat()
    return FileStat(rel, str(path), st_.st_size, st_.st_mtime_ns, st_.st_ctime_ns, st_.st_ino)


# -- one file -------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 4097, hashing.CHUNK + 1])
def test_file_digests_are_blake3_of_the_content(tmp_path: Path, size: int) -> None:
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    path = write(tmp_path / "f.bin", data)
    seen: list[int] = []
    assert hashing.hash_file(path, progress=seen.append) == b3(data)
    assert sum(seen) == size and all(isinstance(n, int) and n > 0 for n in seen)
    assert hashing.hash_file(str(path), threads=0) == b3(data)  # BLAKE3's own threads
    assert hashing.hash_bytes(data) == b3(data)


@pytest.mark.parametrize(
    "size", [0, 1, hashing.SMALL_FILE, hashing.SMALL_FILE + 1, hashing.CHUNK + 123]
)
def test_copy_and_hash_copies_exactly_what_it_hashed(tmp_path: Path, size: int) -> None:
    """Small files (hashed in memory), middling ones (copied, then read back)."""
    data = os.urandom(size)
    src = write(tmp_path / "src.bin", data)
    seen: list[int] = []
    digest, size = hashing.copy_and_hash(src, tmp_path / "dst.bin", progress=seen.append)
    assert (digest, size) == (b3(data), len(data))
    assert (tmp_path / "dst.bin").read_bytes() == data
    assert sum(seen) == len(data)


@pytest.mark.parametrize("size", [3 * hashing.CHUNK + 5, hashing.LARGE_FILE + 5])
def test_copy_and_hash_goes_on_by_read_where_the_kernel_copy_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    """copy_file_range refused part-way (another filesystem on an old kernel): the rest is
    copied by read/write from where it stopped, and the digest is still that of the copy
    (a large file is hashed behind its copy, on another thread)."""
    data = os.urandom(size)
    src = write(tmp_path / "src.bin", data)
    real = os.copy_file_range
    calls: list[int] = []

    def once_then_exdev(fin: int, fout: int, count: int) -> int:
        calls.append(count)
        if len(calls) > 1:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real(fin, fout, count)

    monkeypatch.setattr(os, "copy_file_range", once_then_exdev)
    seen: list[int] = []
    digest, size = hashing.copy_and_hash(src, tmp_path / "dst.bin", progress=seen.append)
    assert len(calls) == 2
    assert (tmp_path / "dst.bin").read_bytes() == data
    assert (digest, size) == (b3(data), len(data))
    assert sum(seen) == len(data)


def test_a_failed_copy_of_a_large_file_raises_and_leaves_no_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The copy of a large file runs on a worker thread: its error reaches the caller, and
    the worker has ended before the files are closed."""
    src = write(tmp_path / "src.bin", os.urandom(hashing.LARGE_FILE + 1))
    real = os.copy_file_range
    calls: list[int] = []

    def fail_on_third(fin: int, fout: int, count: int) -> int:
        calls.append(count)
        if len(calls) == 3:
            raise OSError(errno.EIO, "Input/output error")
        return real(fin, fout, count)

    monkeypatch.setattr(os, "copy_file_range", fail_on_third)
    open_fds = set(os.listdir("/proc/self/fd"))
    with pytest.raises(OSError, match="Input/output error"):
        hashing.copy_and_hash(src, tmp_path / "dst.bin")
    assert len(calls) == 3
    assert not [t for t in threading.enumerate() if t.name == "nemotron-kit-copy"]
    assert set(os.listdir("/proc/self/fd")) == open_fds  # the worker closed its own too


def test_a_small_file_that_is_larger_than_its_size_said_goes_on_as_a_stream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file that grew after its size was read, or a filesystem that says 0: the copy does
    not gather it in memory (64 KiB at a time, as it would a small file) but streams it."""
    data = os.urandom(3 * hashing.CHUNK + 7)
    src = write(tmp_path / "src.bin", data)
    real_fstat, real_read = os.fstat, os.read
    reads: list[int] = []

    def says_zero(fd: int) -> os.stat_result:
        fields = list(real_fstat(fd)[:10])
        fields[6] = 0  # st_size
        return os.stat_result(fields)

    def counted_read(fd: int, n: int) -> bytes:
        reads.append(n)
        return real_read(fd, n)

    monkeypatch.setattr(os, "fstat", says_zero)
    monkeypatch.setattr(os, "read", counted_read)
    seen: list[int] = []
    digest, size = hashing.copy_and_hash(src, tmp_path / "dst.bin", progress=seen.append)
    assert (tmp_path / "dst.bin").read_bytes() == data
    assert (digest, size) == (b3(data), len(data))
    assert sum(seen) == len(data)
    assert reads == [hashing.SMALL_FILE + 1]  # one small read, then the stream


def test_short_reads_and_writes_lose_no_byte_of_a_small_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read may return less than asked before EOF (a pipe-like or FUSE file, a file still
    growing) and a write may take less than given: everything is still copied, hashed and
    counted once."""
    data = os.urandom(1000)
    src = write(tmp_path / "src.bin", data)
    real_read, real_write = os.read, os.write
    monkeypatch.setattr(os, "read", lambda fd, n: real_read(fd, min(n, 300)))
    monkeypatch.setattr(os, "write", lambda fd, view: real_write(fd, view[:128]))
    seen: list[int] = []
    digest, size = hashing.copy_and_hash(src, tmp_path / "dst.bin", progress=seen.append)
    assert (tmp_path / "dst.bin").read_bytes() == data
    assert (digest, size) == (b3(data), len(data))
    assert sum(seen) == len(data)


def test_copy_and_hash_refuses_a_directory_in_one_sentence(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    with pytest.raises(ArtifactError, match=r"'.*d' is not a regular file"):
        hashing.copy_and_hash(tmp_path / "d", tmp_path / "dst")
    assert not (tmp_path / "dst").exists()


def test_copy_and_hash_copies_a_file_whose_size_says_zero(tmp_path: Path) -> None:
    """procfs files report size 0 (and the kernel copy may stop at once): all is copied."""
    expected = Path("/proc/version").read_bytes()
    assert expected and os.stat("/proc/version").st_size == 0
    digest, size = hashing.copy_and_hash("/proc/version", tmp_path / "version")
    assert (tmp_path / "version").read_bytes() == expected
    assert (digest, size) == (b3(expected), len(expected))


def test_copy_and_hash_never_writes_over_an_existing_file(tmp_path: Path) -> None:
    src = write(tmp_path / "src.bin", b"new")
    dst = write(tmp_path / "dst.bin", b"old")
    with pytest.raises(FileExistsError):
        hashing.copy_and_hash(src, dst)
    assert dst.read_bytes() == b"old"


def test_a_forked_process_can_hash_after_its_parent_did(tmp_path: Path) -> None:
    src = write(tmp_path / "src.bin", os.urandom(256 << 10))
    hashing.copy_and_hash(src, tmp_path / "parent.bin")  # the parent publishes something
    ctx = multiprocessing.get_context("fork")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads
        child = ctx.Process(target=hashing.copy_and_hash, args=(src, tmp_path / "child.bin"))
        child.start()
    child.join(timeout=2)  # the copy takes milliseconds
    if child.is_alive():
        child.kill()
        child.join()
    assert child.exitcode == 0, "the forked child hung while hashing"


def _hash_in_child(root: str, expected: str) -> None:
    files = hashing.scan(Path(root))
    assert hashing.hash_files(files, workers=1).files[0].digest == expected
    assert hashing.hash_file(files[0].path) == expected


def test_hashing_files_for_a_manifest_works_in_a_forked_process(tmp_path: Path) -> None:
    """A forked sweep worker publishing in reference mode or verifying one (files < LARGE_FILE)."""
    data = os.urandom(256 << 10)
    write(tmp_path / "art" / "w.bin", data)
    files = hashing.scan(tmp_path / "art")
    assert hashing.hash_files(files, workers=1).files[0].digest == b3(data)  # in the parent
    ctx = multiprocessing.get_context("fork")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads
        child = ctx.Process(target=_hash_in_child, args=(str(tmp_path / "art"), b3(data)))
        child.start()
    child.join(timeout=10)  # milliseconds when it works
    if child.is_alive():
        child.kill()
        child.join()
    assert child.exitcode == 0, "the forked child failed or hung while hashing"


# -- manifests ----------------------------------------------------------------------------------


def test_manifest_is_sorted_and_round_trips_through_json() -> None:
    entries = [ManifestEntry("b/2.bin", 2, b3(b"22")), ManifestEntry("a.txt", 1, b3(b"1"))]
    manifest = Manifest.build(entries)
    assert [f.rel for f in manifest.files] == ["a.txt", "b/2.bin"]
    assert manifest.total_bytes == 3
    assert manifest.digest == hashing.tree_digest(manifest.files)
    data = manifest.to_json()
    # The stored format: readers in other versions and tools depend on it.
    assert data == {
        "algorithm": "blake3",
        "digest": manifest.digest,
        "files": [["a.txt", 1, b3(b"1")], ["b/2.bin", 2, b3(b"22")]],
    }
    assert Manifest.from_json(data) == manifest


def test_the_tree_digest_changes_with_any_name_size_or_digest() -> None:
    base = [ManifestEntry("a", 1, b3(b"1")), ManifestEntry("b", 1, b3(b"2"))]
    digest = Manifest.build(base).digest
    variants = [
        [base[0]._replace(rel="c"), base[1]],
        [base[0]._replace(size=2), base[1]],
        [base[0]._replace(digest=b3(b"3")), base[1]],
        base[:1],
        [*base, ManifestEntry("c", 0, b3(b""))],
    ]
    digests = {Manifest.build(v).digest for v in variants}
    assert digest not in digests and len(digests) == len(variants)
    assert Manifest.build(reversed(base)).digest == digest  # order of listing does not matter


def test_file_names_with_tabs_or_newlines_cannot_forge_a_tree_digest(tmp_path: Path) -> None:
    """A name holding the digest's own separators could list another tree's lines: such names
    are refused when building a digest, and named when an artifact is scanned."""
    with pytest.raises(ValueError, match="control character"):
        Manifest.build([ManifestEntry(f"a\t5\t{b3(b'first')}\nb", 6, "d2")])
    write(tmp_path / "art" / "a\t5\tx\nb", b"x")
    with pytest.raises(ArtifactError, match="control character"):
        hashing.scan(tmp_path / "art")


# -- scan ---------------------------------------------------------------------------------------


def test_scan_lists_every_file_with_the_stat_the_cache_keys_on(tmp_path: Path) -> None:
    root = tmp_path / "art"
    for rel in ["z.txt", "a.txt", "sub/b.bin", "sub/deeper/c.bin", "a-sub/d.txt"]:
        write(root / rel, rel.encode())
    (root / "empty-dir").mkdir()
    files = hashing.scan(root)
    expected = ["a-sub/d.txt", "a.txt", "sub/b.bin", "sub/deeper/c.bin", "z.txt"]
    assert [f.rel for f in files] == expected
    assert files == [stat_of(rel, root / rel) for rel in expected]

    single = hashing.scan(root / "sub" / "b.bin")
    assert single == [stat_of("b.bin", root / "sub" / "b.bin")]


def test_scan_of_a_relative_path_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "art" / "sub" / "b.bin", b"b")
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    assert hashing.scan(Path("../art")) == [stat_of("sub/b.bin", Path("../art/sub/b.bin"))]


def test_scan_of_a_missing_path_is_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="does not exist: check the path"):
        hashing.scan(tmp_path / "nope")


def test_a_symlink_cycle_is_named_not_followed(tmp_path: Path) -> None:
    root = tmp_path / "art"
    write(root / "a.txt", b"a")
    write(root / "sub" / "b.txt", b"b")
    (root / "sub" / "loop").symlink_to(root, target_is_directory=True)
    with pytest.raises(ArtifactError, match=r"'sub/loop' .* cycle"):
        hashing.scan(root)


# -- hash_files: the manifest of many files -----------------------------------------------------


@settings(max_examples=25, derandomize=True, database=None, deadline=None)
@given(
    contents=st.dictionaries(
        st.from_regex(r"[a-z]{1,6}(/[a-z]{1,6})?", fullmatch=True),
        st.binary(max_size=3000),
        min_size=1,
        max_size=12,
    ).filter(lambda d: not any(k.split("/")[0] in d for k in d if "/" in k)),
    workers=st.integers(1, 4),
)
def test_hash_files_gives_each_file_its_blake3_digest(
    contents: dict[str, bytes], workers: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for rel, data in contents.items():
            write(root / rel, data)
        manifest = hashing.hash_files(hashing.scan(root), workers=workers)
    expected = Manifest.build(
        ManifestEntry(rel, len(data), b3(data)) for rel, data in contents.items()
    )
    assert manifest == expected


@pytest.mark.parametrize("workers", [1, 2])
def test_small_and_medium_files_are_hashed_alike(tmp_path: Path, workers: int) -> None:
    """Small files (one read on the calling thread) and medium ones (in the pool), each side of
    the line between them, empty ones too."""
    sizes = [0, 1, hashing.SMALL_FILE - 1, hashing.SMALL_FILE, hashing.SMALL_FILE + 1]
    contents = {f"f{i}.bin": os.urandom(n) for i, n in enumerate([*sizes, 3 * hashing.CHUNK + 7])}
    for rel, data in contents.items():
        write(tmp_path / "art" / rel, data)
    manifest = hashing.hash_files(hashing.scan(tmp_path / "art"), workers=workers)
    assert manifest == Manifest.build(
        ManifestEntry(rel, len(data), b3(data)) for rel, data in contents.items()
    )


def test_a_large_file_is_hashed_like_a_small_one(tmp_path: Path) -> None:
    large = tmp_path / "art" / "large.bin"
    large.parent.mkdir()
    with open(large, "wb") as f:
        f.truncate(hashing.LARGE_FILE)  # sparse: zeros that take no disk
    write(tmp_path / "art" / "small.txt", b"small")
    manifest = hashing.hash_files(hashing.scan(tmp_path / "art"))
    zeros = blake3.blake3(bytes(hashing.LARGE_FILE), max_threads=blake3.blake3.AUTO).hexdigest()
    assert manifest.files == (
        ManifestEntry("large.bin", hashing.LARGE_FILE, zeros),
        ManifestEntry("small.txt", 5, b3(b"small")),
    )


def test_a_file_that_grew_since_the_scan_is_recorded_as_hashed(tmp_path: Path) -> None:
    """Small, medium and large: the size given is that of the bytes the digest covers, and the
    cache keeps nothing for a stat that does not go with them."""
    sizes = {"small.bin": 10, "medium.bin": hashing.SMALL_FILE + 1, "large.bin": hashing.LARGE_FILE}
    for rel, size in sizes.items():
        write(tmp_path / "art" / rel, bytes(size))
    files = hashing.scan(tmp_path / "art")
    for rel in sizes:
        with open(tmp_path / "art" / rel, "ab") as f:
            f.write(b"+" * 7)
    cache = HashCache(tmp_path / "hashes.sqlite")
    manifest = hashing.hash_files(files, cache)
    assert manifest == Manifest.build(
        ManifestEntry(rel, size + 7, b3(bytes(size) + b"+" * 7)) for rel, size in sizes.items()
    )
    assert cache.lookup(files) == {}


def test_a_small_file_that_grew_past_the_small_size_is_hashed_whole(tmp_path: Path) -> None:
    """Scanned small (one read on the calling thread), read after it grew: all of it counts."""
    path = write(tmp_path / "art" / "grows.bin", b"x" * 10)
    files = hashing.scan(tmp_path / "art")
    grown = b"x" * 10 + os.urandom(2 * hashing.SMALL_FILE + 5)
    path.write_bytes(grown)
    assert hashing.hash_files(files).files == (ManifestEntry("grows.bin", len(grown), b3(grown)),)


def test_hashing_progress_counts_every_byte_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small, medium (in the pool) and large files all report what they read to the bar."""
    sizes = [10, hashing.SMALL_FILE + 1, 3 * hashing.CHUNK, hashing.LARGE_FILE]
    for i, size in enumerate(sizes):
        write(tmp_path / "art" / f"f{i}.bin", bytes(size))
    seen: list[int] = []

    @contextlib.contextmanager
    def recorded(total: int, description: str = "") -> Iterator[Callable[[int], None]]:
        assert total == sum(sizes)
        yield seen.append

    monkeypatch.setattr(hashing, "progress", recorded)
    hashing.hash_files(hashing.scan(tmp_path / "art"), workers=2)
    assert sum(seen) == sum(sizes)


def test_a_large_file_is_read_ahead_of_its_hash_and_ctrl_c_stops_both(tmp_path: Path) -> None:
    """A large file is read on a worker thread while this one hashes: the digest is the file's,
    and an interrupt in the middle (Ctrl-C at the progress bar) leaves no reader thread and no
    open descriptor behind."""
    data = os.urandom(hashing.LARGE_FILE + hashing.CHUNK // 3)
    path = write(tmp_path / "large.bin", data)
    assert hashing.hash_file_sized(path, threads=0) == (b3(data), len(data))
    fds = set(os.listdir("/proc/self/fd"))
    seen: list[int] = []

    def interrupted(n: int) -> None:
        seen.append(n)
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        hashing.hash_file(path, threads=0, progress=interrupted)
    assert len(seen) == 3
    assert not [t for t in threading.enumerate() if t.name == "nemotron-kit-read"]
    assert set(os.listdir("/proc/self/fd")) == fds


# -- the stat cache -----------------------------------------------------------------------------


def test_hashing_with_a_cache_records_digests_for_the_next_publish(tmp_path: Path) -> None:
    root = tmp_path / "art"
    write(root / "a.txt", b"a")
    write(root / "sub" / "b.txt", b"bb")
    cache = HashCache(tmp_path / "not" / "yet" / "there" / "hashes.sqlite")  # created on use
    files = hashing.scan(root)
    manifest = hashing.hash_files(files, cache)
    assert cache.lookup(files) == {"a.txt": b3(b"a"), "sub/b.txt": b3(b"bb")}
    assert hashing.hash_files(files, cache) == manifest


def test_a_file_whose_stat_matches_the_cache_is_not_read_again(tmp_path: Path) -> None:
    path = write(tmp_path / "art" / "w.bin", b"weights")
    cache = HashCache(tmp_path / "hashes.sqlite")
    [stat] = hashing.scan(tmp_path / "art")
    cache.store(
        [stat], [ManifestEntry(stat.rel, stat.size, "c" * 64)]
    )  # what an earlier publish recorded for this exact stat
    assert hashing.hash_files([stat], cache).files[0].digest == "c" * 64

    path.write_bytes(b"new weights")  # any write changes the stat: the digest is recomputed
    [changed] = hashing.scan(tmp_path / "art")
    assert hashing.hash_files([changed], cache).files[0].digest == b3(b"new weights")


def test_the_cache_misses_for_files_it_never_saw(tmp_path: Path) -> None:
    cache = HashCache(tmp_path / "hashes.sqlite")
    stat = FileStat("a", str(tmp_path / "a"), 1, 2, 3, 4)
    cache.store([stat], [ManifestEntry(stat.rel, stat.size, "d" * 64)])
    other = stat._replace(rel="b", path=str(tmp_path / "b"))
    assert cache.lookup([other]) == {}
    assert cache.lookup([]) == {}
    cache.store([], [])  # nothing to store is not an error


def test_a_file_or_a_subdirectory_of_a_hashed_tree_is_found_without_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cache keeps a listing per tree; publishing one file or one subdirectory of it
    later (a checkpoint's weights alone) still reads nothing, and so does the tree again after
    a part of it was re-hashed (whose newer listing replaces that part)."""
    root = tmp_path / "ckpt"
    for rel in ("model.bin", "sub/a.txt", "sub/b.txt", "zz/c.txt"):
        write(root / rel, rel.encode())
    cache = HashCache(tmp_path / "hashes.sqlite")
    whole = hashing.hash_files(hashing.scan(root), cache)
    write(root / "sub" / "b.txt", b"changed")
    sub = hashing.hash_files(hashing.scan(root / "sub"), cache)  # b.txt hashed again

    def no_reading(*args: object, **kwargs: object) -> None:
        raise AssertionError("a cached file was read")

    monkeypatch.setattr(hashing, "_hash_small", no_reading)
    assert hashing.hash_files(hashing.scan(root / "model.bin"), cache).digest == (
        Manifest.build([ManifestEntry("model.bin", 9, b3(b"model.bin"))]).digest
    )
    assert hashing.hash_files(hashing.scan(root / "sub"), cache) == sub
    again = hashing.hash_files(hashing.scan(root), cache)
    assert again != whole
    assert {e.rel: e.digest for e in again.files}["sub/b.txt"] == b3(b"changed")


@pytest.mark.parametrize("damage", ["columns-disagree", "not-a-listing"])
def test_a_damaged_cache_listing_is_a_miss(tmp_path: Path, damage: str) -> None:
    import sqlite3

    root = tmp_path / "art"
    write(root / "a.txt", b"a")
    write(root / "b.txt", b"b")
    cache = HashCache(tmp_path / "hashes.sqlite")
    files = hashing.scan(root)
    manifest = hashing.hash_files(files, cache)
    with sqlite3.connect(cache.path) as db:
        value = b"\x00" * 3 if damage == "columns-disagree" else None
        db.execute("UPDATE trees SET stats = ?", (value,))
    assert cache.lookup(files) == {}
    assert hashing.hash_files(files, cache) == manifest  # hashed again, and stored again
    assert cache.lookup(files) == {"a.txt": b3(b"a"), "b.txt": b3(b"b")}
    assert cache.prune() == 0  # both files are still there


@settings(max_examples=30, derandomize=True, database=None, deadline=None)
@given(
    paths=st.lists(
        st.from_regex(r"(/[A-Za-z0-9._-]{1,8}){1,3}", fullmatch=True), min_size=1, max_size=6
    )
)
def test_whatever_the_cache_stored_it_finds_again(paths: list[str]) -> None:
    paths = sorted(set(paths))
    rows = [(FileStat(p, p, i, i + 1, i + 2, i + 3), f"{i:064x}") for i, p in enumerate(paths)]
    with tempfile.TemporaryDirectory() as tmp:
        cache = HashCache(Path(tmp) / "hashes.sqlite")
        cache.store([f for f, _ in rows], [ManifestEntry(f.rel, f.size, d) for f, d in rows])
        assert cache.lookup([f for f, _ in rows]) == {f.rel: d for f, d in rows}


@pytest.mark.parametrize("broken", ["garbage", "parent-is-a-file"])
def test_a_broken_cache_only_costs_a_rehash(tmp_path: Path, broken: str) -> None:
    """The cache is an optimisation: a corrupt or unusable cache file is never an error."""
    if broken == "garbage":
        where = write(tmp_path / "hashes.sqlite", b"this is not a database" * 100)
    else:
        where = write(tmp_path / "a-file", b"x") / "hashes.sqlite"
    cache = HashCache(where)
    root = tmp_path / "art"
    write(root / "a.txt", b"a")
    files = hashing.scan(root)
    assert hashing.hash_files(files, cache).files == (ManifestEntry("a.txt", 1, b3(b"a")),)
    assert cache.lookup(files) == {}
    cache.store([files[0]], [ManifestEntry("a.txt", 1, b3(b"a"))])  # does not raise either


PROGRESS_CHILD = """
import os, sys
from pathlib import Path
from nemotron_kit.artifacts import Artifact
from nemotron_kit.registry import ArtifactRegistry, hashing

hashing.PROGRESS_MIN_BYTES = 1 << 20  # a bar from 1 MiB: keeps the test's data small
data = Path(sys.argv[1])
data.mkdir()
for i in range(4):
    (data / f"part-{i}.bin").write_bytes(os.urandom(1 << 20))
for root, mode in ((sys.argv[2], "copy"), ("memory://nk-progress-test", "copy")):
    registry = ArtifactRegistry(root, hash_cache=False)
    registry.publish(Artifact(path=str(data)), name="big", mode=mode)
    print("loaded", registry.load("art://big:v1").path, flush=True)
"""


def _on_a_terminal(args: list[str], env: dict[str, str]) -> str:
    """What a command writes when its stdout and stderr are a terminal (a pseudo-terminal)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: exec at once
        os.execvpe(args[0], args, env)
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, b"".join(chunks).decode(errors="replace")
    return b"".join(chunks).decode(errors="replace")


def test_big_copies_uploads_and_downloads_show_progress_on_a_terminal_only(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "NEMOTRON_KIT_HOME": str(tmp_path / "home"), "COLUMNS": "100"}
    args = [sys.executable, "-c", PROGRESS_CHILD]
    shown = _on_a_terminal([*args, str(tmp_path / "a"), str(tmp_path / "reg-a")], env)
    for step in ("copying", "uploading", "downloading"):
        assert step in shown, shown
    assert shown.count("loaded ") == 2
    piped = subprocess.run(
        [*args, str(tmp_path / "b"), str(tmp_path / "reg-b")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert piped.returncode == 0, piped.stderr
    assert piped.stderr == "" and piped.stdout.count("loaded ") == 2  # no bar in a pipe


def test_publishing_keeps_the_gc_off_old_objects_and_leaves_it_as_it_was() -> None:
    """The objects that existed before are frozen while files are scanned and hashed (a GC
    pass over a training script's heap cost more than the hashing), then unfrozen; a
    process that froze objects itself, or turned the GC off, is left as it is."""
    import gc

    assert gc.get_freeze_count() == 0
    with hashing.old_objects_frozen():
        assert gc.get_freeze_count() > 0
        assert gc.isenabled()
    assert gc.get_freeze_count() == 0

    gc.freeze()  # the process's own freeze (before a fork, say)
    try:
        frozen = gc.get_freeze_count()
        with hashing.old_objects_frozen():
            pass
        assert gc.get_freeze_count() == frozen  # not unfrozen by us
    finally:
        gc.unfreeze()

    gc.disable()
    try:
        with hashing.old_objects_frozen():
            assert gc.get_freeze_count() == 0
        assert not gc.isenabled()
    finally:
        gc.enable()
