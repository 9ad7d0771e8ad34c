"""The web view at scale: the server time of each page over 10,000 versions and 5,000 runs.

Builds lineage_scale.py's registry (chains of 5 stages, each stage a run reading the previous
stage's version and one shared tokenizer version; unrelated runs; loose versions), or reuses
one already built with --root, then serves it with ``UIServer`` in this process on a free port
and asks for each page a user opens over HTTP (urllib): the overview, the artifact list, the
versions of a name with hundreds of versions, a chain version's page and the tokenizer version's
(thousands of consumers), the run list (first page, offset 2500, a status filter, a recipe
filter; the sweep filter is skipped, the registry has no sweeps), a run page, and a chain
version's lineage at depth 1, 2 and 3.

Each page gets a fresh server (a new registry and ``Site``, so nothing kept in memory from
another page): its first request is "cold" (the OS page cache is warm: the registry was just
built or read), then the best of --repeat requests is "warm". The server time is the
``Server-Timing: app;dur=MS`` header (building and encoding the JSON); wall is the whole HTTP
request seen by the client; the storage calls of one warm request are counted through a
forwarding wrapper (about a microsecond each). Target: warm server time < 200 ms on every page;
cold is reported beside it. Like the other benchmarks, it prints and exits 0 either way.

    python benchmarks/ui_scale.py [--chains 600] [--repeat 5] [--root DIR]
    python benchmarks/ui_scale.py --chains 60 --versions 1000 --runs 500   # a quick run
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lineage_scale import RUNS, STAGES, VERSIONS, build

from nemotron_kit.lineage.query import CountingStorage
from nemotron_kit.registry.core import ArtifactRegistry
from nemotron_kit.ui.server import UIServer
from nemotron_kit.ui.site import Site

TARGET_MS = 200.0
TIMING = re.compile(r"app;dur=([0-9.]+)")


@dataclass
class Sample:
    app_ms: float
    wall_ms: float
    size: int


@dataclass
class Result:
    label: str
    cold: Sample
    warm: Sample  # the best of the warm requests (by server time)
    calls: dict[str, int]  # storage calls of one warm request


def fetch(url: str) -> Sample:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=600) as answer:
        body = answer.read()
        header = answer.headers.get("Server-Timing", "")
    wall = (time.perf_counter() - started) * 1000
    match = TIMING.search(header)
    if match is None:
        raise SystemExit(f"{url}: no Server-Timing header in the answer")
    return Sample(float(match.group(1)), wall, len(body))


def measure(root: Path, label: str, page: str, params: dict[str, str], repeat: int) -> Result:
    """One page on a fresh server: the cold request, then the best of ``repeat`` warm ones."""
    registry = ArtifactRegistry(root, hash_cache=False)
    counting = CountingStorage(registry.storage)
    registry.storage = counting
    server = UIServer(Site(registry), port=0)
    server.start()
    try:
        url = f"http://127.0.0.1:{server.port}/api/{page}"
        if params:
            url += "?" + urlencode(params)
        try:
            cold = fetch(url)
        except urllib.error.HTTPError as exc:
            raise SystemExit(f"{label}: {url} answered {exc.code}: {exc.read()[:500]!r}") from None
        warm: list[Sample] = []
        calls: dict[str, int] = {}
        for _ in range(repeat):
            before = dict(counting.calls)
            warm.append(fetch(url))
            calls = {k: v - before.get(k, 0) for k, v in counting.calls.items()}
    finally:
        server.shutdown()
        server.server_close()
    best = min(warm, key=lambda s: s.app_ms)
    return Result(label, cold, best, {k: v for k, v in sorted(calls.items()) if v})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=600, help="5-stage chains (default 600)")
    parser.add_argument("--versions", type=int, default=VERSIONS, help="versions to build")
    parser.add_argument("--runs", type=int, default=RUNS, help="runs to build")
    parser.add_argument("--repeat", type=int, default=5, help="warm requests per page")
    parser.add_argument(
        "--root",
        type=Path,
        default=None,
        help="reuse the registry built here, or build it here (default: a tempdir)",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        root = args.root or work / "registry"
        registry = ArtifactRegistry(root, hash_cache=False)
        if root.exists() and registry.run_ids():
            chains = registry.resolve("art://stage0:latest").version
            print(
                f"registry: reusing {root} ({chains} chains of {STAGES} stages, "
                f"{len(registry.run_ids())} runs)"
            )
        else:
            started = time.perf_counter()
            builder, chain_uris = build(registry, args.chains, work, args.versions, args.runs)
            chains = len(chain_uris)
            print(
                f"registry: {builder.versions} versions, {builder.runs} runs ({chains} chains "
                f"of {STAGES} stages), built in {time.perf_counter() - started:.1f} s"
            )
        # Chain c's stage s is stage{s}:v{c+1}, made by run chain{c:05d}-s{s} (build's order).
        chain, stage = chains // 2, STAGES // 2
        chain_uri = f"art://stage{stage}:v{chain + 1}"
        run_id = f"chain{chain:05d}-s{stage}"
        offset = str(min(2500, len(registry.run_ids()) // 2))  # 2500 at full size
        pages: list[tuple[str, str, dict[str, str]]] = [
            ("overview", "overview", {}),
            ("artifacts", "artifacts", {}),
            (f"versions stage0 ({chains} versions)", "versions", {"name": "stage0"}),
            (f"version {chain_uri}", "version", {"uri": chain_uri}),
            ("version art://tokenizer:v1", "version", {"uri": "art://tokenizer:v1"}),
            ("runs", "runs", {}),
            (f"runs offset={offset}", "runs", {"offset": offset}),
            ("runs status=COMPLETED", "runs", {"status": "COMPLETED"}),
            (f"runs recipe=stage{stage}", "runs", {"recipe": f"stage{stage}"}),
            (f"run {run_id}", "run", {"id": run_id}),
        ]
        pages += [
            (f"lineage depth {d} {chain_uri}", "lineage", {"uri": chain_uri, "depth": str(d)})
            for d in (1, 2, 3)
        ]
        results = [measure(root, *page, repeat=args.repeat) for page in pages]

    print(
        f"ms: server time (Server-Timing app) and wall time (the whole HTTP request) of the "
        f"first request to a fresh server (cold) and of the best of {args.repeat} after it (warm):"
    )
    width = max(len(r.label) for r in results)
    print(
        f"  {'page':<{width}}  {'cold app':>8} {'wall':>7}  {'warm app':>8} {'wall':>7}  "
        f"{'KiB':>6}  {'warm':<4}  storage calls (one warm request)"
    )
    for r in results:
        verdict = "PASS" if r.warm.app_ms < TARGET_MS else "FAIL"
        calls = ", ".join(f"{k} {v}" for k, v in r.calls.items()) or "-"
        print(
            f"  {r.label:<{width}}  {r.cold.app_ms:8.1f} {r.cold.wall_ms:7.1f}  "
            f"{r.warm.app_ms:8.1f} {r.warm.wall_ms:7.1f}  {r.warm.size / 1024:6.1f}  "
            f"{verdict:<4}  {calls}"
        )
    print("  runs sweep=...: skipped (lineage_scale.py's registry has no sweeps)")
    warm_over = [r.label for r in results if r.warm.app_ms >= TARGET_MS]
    cold_over = [r.label for r in results if r.cold.app_ms >= TARGET_MS]
    print(
        f"warm: {len(results) - len(warm_over)}/{len(results)} pages < {TARGET_MS:.0f} ms "
        f"(target < {TARGET_MS:.0f} ms server time per page)"
        + (f"; over: {', '.join(warm_over)}" if warm_over else "")
    )
    print(
        f"cold: {len(results) - len(cold_over)}/{len(results)} pages < {TARGET_MS:.0f} ms"
        + (f"; over: {', '.join(cold_over)}" if cold_over else "")
    )


if __name__ == "__main__":
    main()
