"""Resolve cost at scale: `resolve("art://NAME:latest")` with 10,000 versions against 1 version.

A local registry in a temp dir holds one name with --versions versions of a tiny file and another
name with a single version. The first versions are published normally, which also measures the
per-publish cost; if that is above --max-publish-ms, the remaining version records are created
directly (the first record's JSON with its version changed, written with the registry's own
``storage.create``) and the ``latest`` pointer is moved to the last one, which is exactly what a
chain of publishes leaves behind. Resolves are interleaved and each figure is the median of
--runs calls. Target: latest at 10,000 versions / latest at 1 version <= 1.2.

    python benchmarks/registry_scale.py [--versions 10000] [--runs 200]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from nemotron_kit.artifacts._base import Artifact
from nemotron_kit.registry.core import ArtifactRegistry

PROBE = 50  # versions published normally before deciding how to create the rest


def publish_versions(reg: ArtifactRegistry, source: Path, name: str, count: int) -> float:
    """Publish ``count`` versions of ``source`` as ``name``; the mean seconds per publish."""
    start = time.perf_counter()
    for _ in range(count):
        reg.publish(Artifact(path=str(source)), name=name, mode="reference")
    return (time.perf_counter() - start) / count


def fill_records(reg: ArtifactRegistry, name: str, first: int, last: int) -> None:
    """Versions ``first``..``last`` as copies of version 1's record, then move ``latest``."""
    project = reg.project
    record = json.loads(reg.storage.read(reg._record_key(project, name, 1)))
    for version in range(first, last + 1):
        record["version"] = version
        data = json.dumps(record).encode()
        if not reg.storage.create(reg._record_key(project, name, version), data):
            raise RuntimeError(f"version {version} of {name} already exists")
    reg._move_latest(project, name, last)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--max-publish-ms", type=float, default=5.0)
    args = parser.parse_args()
    many = args.versions

    with tempfile.TemporaryDirectory(prefix="nk-scale-") as tmp:
        work = Path(tmp)
        source = work / "tiny.txt"
        source.write_text("hello\n")
        reg = ArtifactRegistry(work / "registry", hash_cache=work / "hashes.sqlite")
        publish_versions(reg, source, "one", 1)

        start = time.perf_counter()
        per_publish = publish_versions(reg, source, "many", min(PROBE, many))
        how = f"published {min(PROBE, many)} normally ({per_publish * 1000:.2f} ms each)"
        if many > PROBE:
            if per_publish * 1000 <= args.max_publish_ms:
                publish_versions(reg, source, "many", many - PROBE)
                how += f", then published the other {many - PROBE} the same way"
            else:
                fill_records(reg, "many", PROBE + 1, many)
                how += f", then created the other {many - PROBE} records with storage.create"
        build = time.perf_counter() - start

        middle = max(1, many // 2)
        uris = {
            f"latest at {many} versions": "art://many:latest",
            "latest at 1 version": "art://one:latest",
            f"v{middle} of {many} versions": f"art://many:v{middle}",
        }
        for uri in uris.values():  # warm the dentry cache and the code paths
            reg.resolve(uri)
        expected = {"art://many:latest": many, "art://one:latest": 1, uris[list(uris)[2]]: middle}
        samples: dict[str, list[float]] = {label: [] for label in uris}
        for _ in range(args.runs):
            for label, uri in uris.items():
                t0 = time.perf_counter()
                version = reg.resolve(uri)
                samples[label].append(time.perf_counter() - t0)
                assert version.version == expected[uri], (uri, version.version)
        versions_dir = work / "registry" / "artifacts" / "default" / "many" / "versions"
        on_disk = sum(1 for _ in os.scandir(versions_dir))

    print(f"registry with {on_disk} version records of 'many' and 1 of 'one' (local directory)")
    print(f"built in {build:.1f} s: {how}")
    print(f"resolve, median of {args.runs} interleaved calls each:")
    medians = {label: statistics.median(values) for label, values in samples.items()}
    for label, values in samples.items():
        print(
            f"  {label:<26} median {medians[label] * 1e6:7.1f} us   min {min(values) * 1e6:7.1f} us"
        )
    ratio = medians[f"latest at {many} versions"] / medians["latest at 1 version"]
    print(f"ratio latest at {many} / latest at 1 = {ratio:.3f}  (target <= 1.2)")


if __name__ == "__main__":
    main()
