"""Lineage queries on a large registry: a depth-3 upstream and downstream query.

Builds a local registry with 10,000 versions and 5,000 runs: chains of 5 stages (each stage a
run that reads the previous stage's version and a shared tokenizer version), plus unrelated
runs that read and write other names, plus versions published outside any run. Names carry
hundreds of versions each, so a query that listed versions or runs would show. Then times
``lineage(registry, uri, depth=3)`` upstream from a chain's last stage and downstream from its
first, on a different chain each repetition. Target: < 0.2 s per query, reading only the
records on the path (the counts printed do not depend on the registry's size).

Run records, consumer markers and output indexes are written through the registry
(``create_run``, ``add_consumer``, ``finish_run``); version records are created directly in
storage, with the same fields and at the same keys as ``publish`` writes them, all pointing at
one real published manifest (publishing 10,000 files would only time the hashing).

    python benchmarks/lineage_scale.py [--chains 600] [--repeat 21] [--root DIR]
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from nemotron_kit.artifacts import Artifact, DataBlendsArtifact  # noqa: E402
from nemotron_kit.lineage import lineage  # noqa: E402
from nemotron_kit.registry import layout  # noqa: E402
from nemotron_kit.registry.core import RECORD_FORMAT, ArtifactRegistry  # noqa: E402

VERSIONS = 10_000
RUNS = 5_000
STAGES = 5
OUTPUTS_PER_OTHER_RUN = 3
TARGET_S = 0.2
CLASS_PATH = "nemotron_kit.artifacts._types:DataBlendsArtifact"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _dumps(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


class Builder:
    """Writes runs and versions the way a job and ``publish`` would."""

    def __init__(self, registry: ArtifactRegistry, template: dict[str, Any]) -> None:
        self.registry = registry
        self.template = template
        self.next_version: dict[str, int] = {}
        self.versions = 0
        self.runs = 0

    def allocate(self, name: str) -> str:
        version = self.next_version.get(name, 1)
        self.next_version[name] = version + 1
        return f"art://{name}:v{version}"

    def write_version(self, uri: str, producer: str | None, inputs: list[str]) -> None:
        parsed = self.registry.parse(uri)
        assert parsed.version is not None
        created = _now()
        record = {
            **self.template,
            "format": RECORD_FORMAT,
            "project": self.registry.project,
            "name": parsed.name,
            "version": parsed.version,
            "type": "data_blends",
            "class": CLASS_PATH,
            "fields": {**self.template["fields"], "created_at": created, "producer": producer},
            "created_at": created,
            "producer": producer,
            "inputs": inputs,
            "host": socket.gethostname(),
        }
        storage = self.registry.storage
        project = self.registry.project
        record_key = layout.version_record(project, parsed.name, parsed.version)
        assert storage.create(record_key, _dumps(record))
        if producer is not None:  # the run's output index, as publish writes it
            storage.create(layout.run_output(producer, project, parsed.name, parsed.version), b"")

    def run(self, run_id: str, recipe: str, inputs: list[str]) -> None:
        """A run's records as the file tracker writes them: start, consumer markers, end."""
        started = _now()
        self.registry.create_run(
            run_id,
            {
                "format": "nemotron-kit/run/1",
                "run_id": run_id,
                "recipe": recipe,
                "config": {"recipe": {"name": recipe}, "inputs": dict(enumerate(inputs))},
                "overrides": [f"+recipe={recipe}"],
                "inputs": inputs,
                "hydra": {},
                "code": {},
                "packages": {},
                "host": socket.gethostname(),
                "started_at": started,
            },
        )
        for uri in inputs:
            self.registry.add_consumer(uri, run_id)
        self.registry.finish_run(
            run_id,
            {"status": "COMPLETED", "error": None, "ended_at": _now(), "duration_s": 1.0},
        )

    def finish(self) -> None:
        for name, following in self.next_version.items():
            latest = {"version": following - 1, "updated_at": _now()}
            key = layout.alias(self.registry.project, name, "latest")
            self.registry.storage.replace(key, _dumps(latest))


def build(
    registry: ArtifactRegistry,
    chains: int,
    workdir: Path,
    versions_total: int = VERSIONS,
    runs_total: int = RUNS,
) -> tuple[Builder, list[list[str]]]:
    source = workdir / "tokenizer"
    source.mkdir()
    (source / "vocab.txt").write_text("hello world\n")
    tokenizer = registry.publish(Artifact(path=str(source)), "tokenizer", mode="copy")
    template = dict(tokenizer.record)
    template["fields"] = DataBlendsArtifact(path=str(source)).model_dump(
        mode="json", exclude={"path", "uri", "version", "name"}
    )
    builder = Builder(registry, template)
    builder.next_version["tokenizer"] = 2
    rng = random.Random(0)

    # Plan every run first (version numbers are allocated in order), then write in parallel.
    chain_runs: list[tuple[str, str, list[str], list[str]]] = []
    chain_uris: list[list[str]] = []
    for c in range(chains):
        uris = [builder.allocate(f"stage{s}") for s in range(STAGES)]
        chain_uris.append(uris)
        for s, uri in enumerate(uris):
            inputs = [uris[s - 1], tokenizer.uri] if s else []
            chain_runs.append((f"chain{c:05d}-s{s}", f"stage{s}", inputs, [uri]))
    other_runs_count = runs_total - len(chain_runs)
    loose = versions_total - 1 - len(chain_runs) - other_runs_count * OUTPUTS_PER_OTHER_RUN
    if other_runs_count < 0 or loose < 0:
        raise SystemExit(
            f"--chains {chains} does not fit in {versions_total} versions, {runs_total} runs"
        )
    loose_uris = [builder.allocate(f"raw{i % 50}") for i in range(loose)]
    runs = list(chain_runs)
    produced: list[str] = []
    for r in range(other_runs_count):
        inputs = sorted(set(rng.sample(produced[-500:] + loose_uris, 2)))
        outputs = [builder.allocate(f"misc{rng.randrange(200)}") for _ in range(3)]
        runs.append((f"other{r:05d}", f"misc{r % 7}", inputs, outputs))
        produced += outputs

    # Every version first (a consumer marker needs its version committed), then the runs.
    versions: list[tuple[str, str | None, list[str]]] = [(uri, None, []) for uri in loose_uris]
    versions += [(uri, run_id, inputs) for run_id, _, inputs, outs in runs for uri in outs]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda v: builder.write_version(*v), versions))
        list(pool.map(lambda job: builder.run(*job[:3]), runs))
    builder.finish()
    builder.versions, builder.runs = 1 + len(versions), len(runs)
    return builder, chain_uris


def time_queries(
    registry: ArtifactRegistry, uris: list[str], direction: str, repeat: int
) -> tuple[list[float], list[Any]]:
    samples, graphs = [], []
    for uri in uris[:repeat]:
        start = time.perf_counter()
        graph = lineage(registry, uri, direction=direction, depth=3)
        samples.append(time.perf_counter() - start)
        graphs.append(graph)
    return samples, graphs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=600, help="5-stage chains (default 600)")
    parser.add_argument("--repeat", type=int, default=21, help="queries per direction")
    parser.add_argument("--root", type=Path, default=None, help="build here (default: a tempdir)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        root = args.root or work / "registry"
        registry = ArtifactRegistry(root, hash_cache=False)
        started = time.perf_counter()
        builder, chains = build(registry, args.chains, work)
        built = time.perf_counter() - started
        print(
            f"registry: {builder.versions} versions, {builder.runs} runs "
            f"({len(chains)} chains of {STAGES} stages), built in {built:.1f} s"
        )
        order = random.Random(1).sample(range(len(chains)), min(args.repeat, len(chains)))
        results = {
            "upstream": time_queries(
                registry, [chains[i][-1] for i in order], "upstream", args.repeat
            ),
            "downstream": time_queries(
                registry, [chains[i][0] for i in order], "downstream", args.repeat
            ),
        }
        worst = 0.0
        for direction, (samples, graphs) in results.items():
            median = statistics.median(samples)
            worst = max(worst, median)
            reads = sorted({g.records_read for g in graphs})
            listed = sorted({g.keys_listed for g in graphs})
            calls = graphs[0].storage_calls
            print(
                f"  {direction:<10} depth 3: median {median * 1000:6.1f} ms  "
                f"max {max(samples) * 1000:6.1f} ms  ({len(samples)} queries, "
                f"{len(graphs[0].nodes)} nodes, {len(graphs[0].edges)} edges)"
            )
            print(
                f"  {'':<10} records read {'/'.join(map(str, reads))}, "
                f"keys listed {'/'.join(map(str, listed))}, storage calls {calls}"
            )
    print(
        f"slowest median {worst * 1000:.1f} ms  (target < {TARGET_S * 1000:.0f} ms per query, "
        "reading only the records on the path)"
    )


if __name__ == "__main__":
    main()
