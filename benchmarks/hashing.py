"""Publish and load cost: our BLAKE3 registry against `cat`, `cp -r`, an MD5 tree and s3fs.

Three datasets, generated once and read once so they sit in the page cache:
A) 1 GiB as 1024 files of 1 MiB, B) 20,000 files of 4 KiB, C) one 1 GiB file (random bytes).
For each, measured in this process (child processes only for the shell tools):
- ref: a reference-mode publish with a cold hash cache (fresh registry and cache each run),
  in turn with md5-tree and cat (in alternating order);
- md5-tree: a per-file MD5 tree hash as W&B and DVC compute it (md5 per file in 8 MiB reads,
  then md5 over the sorted "path size digest" lines, single-threaded);
- cat: `cat` of every file to /dev/null;  cp -r: a copy of the tree to a fresh directory;
- again: re-publishing unchanged data (warm stat cache; the bytes it read show no file was
  re-read);  copy: a copy-mode publish into a fresh registry;
- load: the first load of that copy-mode version (its tree laid out from the objects).
Each dataset, and each copy (ours and cp -r), starts with no dirty pages waiting for the disk
(os.sync, untimed: writeback would take a core from whichever contender runs beside it);
nothing is deleted until every dataset is measured (about 15 GiB of disk; see measure: on ext4
without a journal, creates within a minute of mass deletes are slow), so leave a minute
between two runs.
Each figure is the best of --repeat runs (the machine may be shared: the best run is the least
disturbed one); the load average is printed with them, and so are the CPU seconds of each
contender's fastest run, and how much faster two threads hash (in cache) and read the dataset
(from the page cache) than one on this machine just before (2.0 on two free cores): our
publishes hash and read on two threads, `cat` and `cp -r` use one.
Peak memory is the peak RSS (VmHWM) of a fresh child that publishes the single 1 GiB file. The
import figure is measured inside a fresh interpreter (import nemotron_kit, then the default
local registry), interpreter start apart.

With --s3 (an endpoint, or none to start the test server, moto, on a free port): 256 MiB as
256 files, published in copy mode to a fresh S3 registry against a plain s3fs recursive put of
the same files (in turn, each upload removed after its pair), and re-published under a new name
to the registry that holds them (clients connected before the clock starts, both ours and
s3fs's).

    python benchmarks/hashing.py [--quick] [--repeat 3] [--dir DIR] [--s3 [ENDPOINT]]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal, NamedTuple

REPO = Path(__file__).resolve().parent.parent
MIB = 1 << 20
CHUNK = 8 * MIB
S3_ENV = {  # as scripts/test.sh sets them for the test server
    "AWS_ACCESS_KEY_ID": "nk-test-access",
    "AWS_SECRET_ACCESS_KEY": "nk-test-secret-key",
    "AWS_DEFAULT_REGION": "us-east-1",
}

# The child reports VmHWM (its own address space's peak RSS). Not ru_maxrss: Linux carries a
# process's max RSS across fork/vfork + exec, so a child of this big process would report ours.
PEAK_CHILD = """
import sys
from pathlib import Path
from nemotron_kit.artifacts._base import Artifact
from nemotron_kit.registry.core import ArtifactRegistry
source, root, mode = sys.argv[1:4]
if mode != "none":
    reg = ArtifactRegistry(root, hash_cache=Path(root) / "hashes.sqlite")
    reg.publish(Artifact(path=source), name="peak", mode=mode)
print(next(x for x in open("/proc/self/status") if x.startswith("VmHWM:")).split()[1])
"""

# What a user script pays before its first publish or load, measured inside the interpreter.
IMPORT_CHILD = """
import time
start = time.perf_counter()
import nemotron_kit
nemotron_kit.get_registry()
print(time.perf_counter() - start)
"""


def load_average() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def write_random(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        for offset in range(0, size, CHUNK):
            f.write(os.urandom(min(CHUNK, size - offset)))


def make_tree(root: Path, count: int, size: int) -> Path:
    for i in range(count):  # 100 files per subdirectory, like a sharded dataset
        sub = root / f"{i // 100:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        write_random(sub / f"part-{i:05d}.bin", size)
    return root


def make_datasets(base: Path, scale: int) -> dict[str, Path]:
    """A: 1024 x 1 MiB, B: 20,000 x 4 KiB, C: 1 x 1 GiB; every size divided by ``scale``."""
    specs = {
        "A 1024 x 1 MiB": (1024, MIB // scale),
        "B 20000 x 4 KiB": (20000 // scale, 4096),
        "C 1 x 1 GiB": (1, 1024 * MIB // scale),
    }
    return {label: make_tree(base / label[0], n, size) for label, (n, size) in specs.items()}


def md5_tree(root: Path) -> str:
    """Per-file MD5 plus an MD5 over the sorted 'path size digest' lines (W&B / DVC style)."""
    lines = []
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = os.path.join(dirpath, name)
            md5 = hashlib.md5()
            with open(path, "rb", buffering=0) as f:
                while n := f.readinto(buf):
                    md5.update(view[:n])
            rel = os.path.relpath(path, root)
            lines.append(f"{rel} {os.path.getsize(path)} {md5.hexdigest()}")
    return hashlib.md5("\n".join(sorted(lines)).encode()).hexdigest()


def cat_all(root: Path) -> None:
    cmd = f"find '{root}' -type f -print0 | xargs -0 cat > /dev/null"
    subprocess.run(cmd, shell=True, check=True)


def bytes_read() -> int:
    """This process's read(2) byte count (all threads), from /proc/self/io."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    return 0


class Sample(NamedTuple):
    """One run: wall seconds, and the CPU seconds of this process and the children it waited
    for (every thread; a parallel contender's exceeds its wall time)."""

    wall: float
    cpu: float


def cpu_seconds() -> float:
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def time_once(fn: Callable[[int], object], i: int) -> Sample:
    start, cpu = time.perf_counter(), cpu_seconds()
    fn(i)
    return Sample(time.perf_counter() - start, cpu_seconds() - cpu)


def in_turn(
    i: int,
    runs: list[tuple[Callable[[int], object], list[Sample]]],
    before: Callable[[], object] = lambda: None,
) -> None:
    """Run ``i`` of each contender, appending its time to its samples, in alternating order
    (neither always goes first); ``before()`` ahead of each, untimed."""
    for run, samples in runs if i % 2 == 0 else runs[::-1]:
        before()
        samples.append(time_once(run, i))


def best_time(
    fn: Callable[[int], object], repeat: int, cleanup: Callable[[int], object] | None = None
) -> float:
    """The fastest of ``repeat`` runs of ``fn(i)``; ``cleanup(i)`` after each, untimed."""
    samples = []
    for i in range(repeat):
        samples.append(time_once(fn, i).wall)
        if cleanup is not None:
            cleanup(i)
    return min(samples)


def two_thread_scaling(data: Path, repeat: int) -> tuple[float, float]:
    """How much more two threads get done than one in the same time (2.0 on two cores of their
    own): hashing a buffer that stays in each core's cache, and reading ``data`` from the page
    cache (a copy through memory, as `cat` makes). Our reference and copy-mode publishes hash
    and read on two threads against single-threaded `cat` and `cp -r`, so their ratios move
    with these: less than 2.0 where the two share a physical core, the host takes turns, or
    memory is the bottleneck."""
    import threading

    import blake3

    buffer = os.urandom(MIB)
    rounds = 512

    def hash_rounds(n: int) -> None:
        for _ in range(n):
            blake3.blake3(buffer).digest()  # BLAKE3 lets go of the GIL for long inputs

    pieces = [  # the data in 1 MiB pieces, so that two threads can share even a single file
        (str(path), offset)
        for path in sorted(data.rglob("*"))
        if path.is_file()
        for offset in range(0, max(path.stat().st_size, 1), MIB)
    ]

    def read_pieces(share: list[tuple[str, int]]) -> None:
        view = memoryview(bytearray(MIB))
        for path, offset in share:
            fd = os.open(path, os.O_RDONLY)
            os.preadv(fd, [view], offset)
            os.close(fd)

    def on_two(work: Callable[[Any], None], halves: tuple[Any, Any]) -> Callable[[int], None]:
        def run(_: int) -> None:
            pair = [threading.Thread(target=work, args=(half,)) for half in halves]
            for t in pair:
                t.start()
            for t in pair:
                t.join()

        return run

    hashes: tuple[list[Sample], list[Sample]] = ([], [])
    reads: tuple[list[Sample], list[Sample]] = ([], [])
    for i in range(max(repeat, 5)):
        in_turn(
            i,
            [
                (lambda _: hash_rounds(rounds), hashes[0]),
                (on_two(hash_rounds, (rounds // 2, rounds // 2)), hashes[1]),
                (lambda _: read_pieces(pieces), reads[0]),
                (on_two(read_pieces, (pieces[0::2], pieces[1::2])), reads[1]),
            ],
        )
    return (
        min(hashes[0]).wall / min(hashes[1]).wall,
        min(reads[0]).wall / min(reads[1]).wall,
    )


def measure(label: str, data: Path, work: Path, repeat: int) -> dict[str, Any]:
    from nemotron_kit.artifacts._base import Artifact
    from nemotron_kit.registry.core import ArtifactRegistry

    scratch = work / f"registries-{label[0]}"
    # What the datasets before left dirty goes to disk first (untimed): the kernel's writeback
    # would otherwise take a core from whichever contender runs beside it.
    os.sync()

    def registry(name: str) -> ArtifactRegistry:
        root = scratch / name
        return ArtifactRegistry(root, hash_cache=root.with_suffix(".sqlite"))

    def publish(name: str, mode: Literal["copy", "reference"]) -> str:
        return registry(name).publish(Artifact(path=str(data)), name="bench", mode=mode).uri

    scaling = two_thread_scaling(data, repeat)
    # Ours, the MD5 tree and cat in turn, like the copies below: each run of the three sees
    # the machine in the same state.
    refs: list[Sample] = []
    md5s: list[Sample] = []
    cats: list[Sample] = []
    for i in range(repeat):
        in_turn(
            i,
            [
                (lambda i: publish(f"ref-{i}", "reference"), refs),
                (lambda i: md5_tree(data), md5s),
                (lambda i: cat_all(data), cats),
            ],
        )
    res: dict[str, Any] = {"ours": min(refs).wall, "md5": min(md5s).wall, "cat": min(cats).wall}
    res["ours_cpu"], res["cat_cpu"] = min(refs).cpu, min(cats).cpu
    res["scaling"] = scaling
    warm = registry("warm")
    warm.publish(Artifact(path=str(data)), name="bench", mode="reference")  # fills the cache
    before = bytes_read()
    res["again"] = best_time(
        lambda i: warm.publish(Artifact(path=str(data)), name="bench", mode="reference"), repeat
    )
    res["again_read"] = (bytes_read() - before) / repeat
    # Copies, ours and cp -r in turn (the machine's state drifts: each pair sees the same),
    # each into a fresh directory and starting with no dirty pages waiting for the disk
    # (os.sync, untimed): otherwise the copy before decides how long the kernel throttles this
    # one. Nothing is deleted until every dataset is measured: this machine's ext4 has no
    # journal, and without one ext4 does not reuse an inode freed in the last minute or so
    # (longer while its inode table block is unwritten), and every create checks each such
    # inode again (recently_deleted() in fs/ext4/ialloc.c: `perf record` put half of a slow
    # `cp -r` there, all system time). Removing the copies after each pair made the creates
    # after it slow: `cp -r` of B took 7.2-10.2 s within a minute of removing 20,000 files
    # and 0.71 s 65 s later, and which seat paid more depended on where its directories
    # landed. (So leave a minute between two runs of this benchmark.)
    copies: list[Sample] = []
    cps: list[Sample] = []

    def copy_mode(i: int) -> None:
        publish(f"copy-{i}", "copy")

    def cp_r(i: int) -> None:
        subprocess.run(["cp", "-r", str(data), str(scratch / f"cp-{i}")], check=True)

    for i in range(repeat):
        in_turn(i, [(copy_mode, copies), (cp_r, cps)], before=os.sync)
    res["copy"], res["cp"] = min(copies).wall, min(cps).wall
    res["copy_cpu"], res["cp_cpu"] = min(copies).cpu, min(cps).cpu
    res["copies"], res["cps"] = copies, cps
    # First load of a copy-mode version (published untimed): its tree is removed (untimed)
    # before each, so each builds it (hard links: removing them frees no file's inode).
    uri = publish("load", "copy")
    trees = scratch / "load" / "trees"
    res["load"] = best_time(
        lambda i: registry("load").load(uri),
        repeat,
        lambda i: shutil.rmtree(trees),
    )
    return res  # the registries and copies go with the work directory, after every dataset


def peak_rss_mib(source: Path, work: Path, mode: str) -> float:
    root = work / f"peak-{mode}"
    proc = subprocess.run(
        [sys.executable, "-c", PEAK_CHILD, str(source), str(root), mode],
        check=True,
        capture_output=True,
        text=True,
    )
    shutil.rmtree(root, ignore_errors=True)
    return int(proc.stdout.split()[-1]) / 1024  # KiB


def import_cost(work: Path, runs: int) -> dict[str, float]:
    """Best of ``runs``: a bare interpreter's wall time, and import + default registry timed
    inside a fresh interpreter (its whole wall time too), with the modules' bytecode cached as
    after any first import (in a cache of our own); and the same with PYTHONDONTWRITEBYTECODE=1,
    where a source checkout's modules are compiled at every start."""
    env = {**os.environ, "NEMOTRON_KIT_HOME": str(work / "import-home")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    cached = {**env, "PYTHONPYCACHEPREFIX": str(work / "pycache")}
    compiled = {**env, "PYTHONDONTWRITEBYTECODE": "1"}  # what pip did not compile is compiled

    def child(environ: dict[str, str]) -> float:
        out = subprocess.run(
            [sys.executable, "-c", IMPORT_CHILD],
            check=True,
            env=environ,
            cwd=work,
            capture_output=True,
            text=True,
        ).stdout
        return float(out.split()[-1])

    child(cached)  # fills the bytecode cache
    bare, inside, whole, uncached = [], [], [], []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True, env=cached, cwd=work)
        bare.append(time.perf_counter() - start)
        start = time.perf_counter()
        inside.append(child(cached))
        whole.append(time.perf_counter() - start)
        uncached.append(child(compiled))
    return {"bare": min(bare), "inside": min(inside), "whole": min(whole), "raw": min(uncached)}


# -- S3 -------------------------------------------------------------------------------------------
@contextlib.contextmanager
def s3_server(endpoint: str | None, work: Path) -> Iterator[str]:
    """The given endpoint, or the test server (moto) started on a free port and stopped after."""
    for key, value in S3_ENV.items():
        os.environ.setdefault(key, value)
    if endpoint:
        yield endpoint
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    script = ["bash", str(REPO / "scripts" / "s3-server.sh")]
    env = {**os.environ, "NK_S3_PORT": str(port), "NK_S3_DIR": str(work / "s3-server")}
    env["NK_VENV"] = sys.prefix
    started = subprocess.run([*script, "start"], env=env, capture_output=True, text=True)
    try:
        if started.returncode != 0:
            raise SystemExit(f"the S3 server did not start: {started.stderr.strip()}")
        yield started.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run([*script, "stop"], env=env, check=False)


def measure_s3(endpoint: str, data: Path, work: Path, repeat: int) -> dict[str, Any]:
    import boto3
    import s3fs

    from nemotron_kit.artifacts._base import Artifact
    from nemotron_kit.registry.core import ArtifactRegistry

    bucket = f"nk-bench-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": endpoint}, skip_instance_cache=True)
    fs.ls(bucket)  # connected before the clock starts
    # Connected before the clock starts, like the s3fs client.
    registries = [
        ArtifactRegistry(
            f"s3://{bucket}/registry-{i}",
            storage_options={"endpoint_url": endpoint},
            hash_cache=work / f"s3-hashes-{i}.sqlite",
        )
        for i in range(repeat)
    ]
    for registry in registries:
        registry.storage.check_root()

    def put_once(i: int) -> None:
        fs.put(str(data), f"{bucket}/put-{i}", recursive=True)

    def publish_once(i: int) -> None:
        registries[i].publish(Artifact(path=str(data)), name="bench", mode="copy")

    # The put and our publish in turn, in alternating order, each run's upload removed after
    # it (untimed; but the first registry's, for the re-publish below): the server's state
    # (what it holds, its memory) drifts as it fills, and each pair sees the same.
    puts: list[Sample] = []
    publishes: list[Sample] = []
    for i in range(repeat):
        in_turn(i, [(put_once, puts), (publish_once, publishes)])
        fs.rm(f"{bucket}/put-{i}", recursive=True)
        if i:
            fs.rm(f"{bucket}/registry-{i}", recursive=True)
    put, ours = min(puts).wall, min(publishes).wall
    # The registry of the first run holds the content; this machine's hash cache knows it.
    holder = registries[0]
    again = best_time(
        lambda i: holder.publish(Artifact(path=str(data)), name=f"again-{i}", mode="copy"),
        repeat,
    )
    return {"put": put, "ours": ours, "again": again}


# -- report ---------------------------------------------------------------------------------------
class Targets:
    """Rows of (figure, ours, against, ratio or value, target, PASS/FAIL)."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str, str, str]] = []

    def ratio(
        self, what: str, ours: float, base: float, base_name: str, limit: float, least: bool = False
    ) -> None:
        """``ours / base`` at most ``limit`` (at least, with ``least``)."""
        value = ours / base
        ok = value >= limit if least else value <= limit
        self.rows.append(
            (
                what,
                f"{ours:.3f} s",
                f"{base_name} {base:.3f} s",
                f"{value:.2f}x",
                f"{'>=' if least else '<='} {limit}x",
                "PASS" if ok else "FAIL",
            )
        )

    def value(self, what: str, shown: str, ok: bool, target: str) -> None:
        self.rows.append((what, shown, "", "", target, "PASS" if ok else "FAIL"))

    def print(self) -> None:
        widths = [max(len(r[i]) for r in self.rows) for i in range(6)]
        for row in self.rows:
            print("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1/16 of the sizes (smoke test)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (best of)")
    parser.add_argument("--dir", type=Path, default=None, help="where to generate the data")
    parser.add_argument(
        "--s3",
        nargs="?",
        const="",
        default=None,
        metavar="ENDPOINT",
        help="also measure an S3 registry (without ENDPOINT: start the test server, moto)",
    )
    args = parser.parse_args()
    scale = 16 if args.quick else 1
    repeat = args.repeat

    if args.dir is not None:
        args.dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="nk-hashbench-", dir=args.dir))
    os.environ["NEMOTRON_KIT_HOME"] = str(work / "home")  # staging and caches stay in here
    try:
        start = time.perf_counter()
        datasets = make_datasets(work / "data", scale)
        s3_data = make_tree(work / "data" / "S", 256, MIB // scale) if args.s3 is not None else None
        for data in [*datasets.values(), *([s3_data] if s3_data else [])]:
            cat_all(data)  # into the page cache
        took = time.perf_counter() - start
        print(f"generated the datasets under {work} in {took:.1f} s")
        print(f"{os.cpu_count()} cores, best of {repeat} runs each")
        if args.quick:
            print("--quick: every dataset is 1/16 of the size its label says")
        imports = import_cost(work, max(repeat, 5))
        load_imports = load_average()
        results: dict[str, dict[str, Any]] = {}
        for label, path in datasets.items():
            results[label] = measure(label, path, work, repeat)
            results[label]["load average"] = load_average()
        single = datasets["C 1 x 1 GiB"] / "000" / "part-00000.bin"
        peaks = {mode: peak_rss_mib(single, work, mode) for mode in ("none", "reference", "copy")}
        s3: dict[str, Any] | None = None
        if args.s3 is not None and s3_data is not None:
            with s3_server(args.s3 or None, work) as endpoint:
                s3 = measure_s3(endpoint, s3_data, work, repeat)
            s3["load average"] = load_average()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    cols = ("ref", "md5-tree", "cat", "again", "(read)", "copy", "cp -r", "load", "load avg")
    print(f"{'dataset':<17}" + "".join(f"{c:>10}" for c in cols))
    for label, r in results.items():
        cells = [f"{r[k]:9.3f}s" for k in ("ours", "md5", "cat")]
        cells += [f"{r['again']:9.4f}s", f"{r['again_read'] / MIB:6.2f} MiB"]
        cells += [f"{r[k]:9.3f}s" for k in ("copy", "cp", "load")]
        print(f"{label:<17}" + "".join(f"{c:>10}" for c in cells) + f"{r['load average']:>10}")
    for label, r in results.items():
        print(
            f"{label}: md5-tree / ref = {r['md5'] / r['ours']:5.2f}   ref / cat = "
            f"{r['ours'] / r['cat']:5.2f}   copy / cp -r = {r['copy'] / r['cp']:5.2f}   "
            f"load / cp -r = {r['load'] / r['cp']:5.2f}"
        )
    # What each contender cost in CPU, and what two threads were worth just before.
    for label, r in results.items():
        print(
            f"{label}: CPU seconds of the fastest run: ref {r['ours_cpu']:.3f} / cat "
            f"{r['cat_cpu']:.3f}   copy {r['copy_cpu']:.3f} / cp -r {r['cp_cpu']:.3f}   "
            f"(two threads hashed {r['scaling'][0]:.2f}x and read {r['scaling'][1]:.2f}x as "
            "fast as one)"
        )
    # The machine's page-allocation speed drifts from minute to minute: every pair shown.
    for label, r in results.items():
        pairs = "  ".join(
            f"{c.wall:.3f}/{p.wall:.3f}" for c, p in zip(r["copies"], r["cps"], strict=True)
        )
        print(f"{label}: each run, copy / cp -r in seconds: {pairs}")
    print(
        f"interpreter start (python -c pass): {imports['bare'] * 1000:.1f} ms; a fresh "
        f"interpreter importing nemotron_kit with its default registry: "
        f"{imports['whole'] * 1000:.1f} ms in all; the import without cached bytecode: "
        f"{imports['raw'] * 1000:.1f} ms (load average {load_imports})"
    )
    a, b = results["A 1024 x 1 MiB"], results["B 20000 x 4 KiB"]
    t = Targets()
    t.ratio("reference publish, B 20000 x 4 KiB", b["ours"], b["cat"], "cat", 1.5)
    t.ratio("reference publish, A 1 GiB / 1024 files", a["ours"], a["cat"], "cat", 1.2)
    t.ratio("copy-mode publish, A", a["copy"], a["cp"], "cp -r", 1.0)
    t.ratio("first load of copy-mode A", a["load"], a["cp"], "cp -r", 0.2)
    t.ratio("md5-tree, A (against our reference publish)", a["md5"], a["ours"], "ref", 8, True)
    t.value(
        "re-publish of unchanged A", f"{a['again'] * 1000:.1f} ms", a["again"] < 0.1, "< 100 ms"
    )
    t.value(
        "import nemotron_kit + default registry",
        f"{imports['inside'] * 1000:.1f} ms",
        imports["inside"] <= 0.060,
        "<= 60 ms",
    )
    c_mib = 1024 // scale
    t.value(
        f"peak RSS, reference publish of {c_mib} MiB file",
        f"{peaks['reference']:.1f} MiB",
        peaks["reference"] < 150,
        "< 150 MiB",
    )
    t.value(
        f"peak RSS, copy publish of {c_mib} MiB file",
        f"{peaks['copy']:.1f} MiB",
        peaks["copy"] < 150,
        "< 150 MiB",
    )
    if s3 is not None:
        size = f"{256 // scale} MiB / 256 files"
        t.ratio(f"S3 publish, {size}", s3["ours"], s3["put"], "s3fs put -r", 1.1)
        t.ratio("S3 re-publish under a new name", s3["again"], s3["put"], "s3fs put -r", 0.1)
    print("targets:")
    t.print()
    print(f"(peak RSS of the interpreter and imports alone: {peaks['none']:.1f} MiB)")
    if s3 is not None:
        print(f"(S3 figures at load average {s3['load average']})")


if __name__ == "__main__":
    main()
