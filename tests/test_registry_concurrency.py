"""Many writers at once: 16 processes each publish 20 versions of one name, on local disk and S3.

No lock server: the only coordination is the exclusive create of each version record
(link(2) locally, a conditional PUT on S3). The versions must come out as exactly 1..320.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nemotron_kit.registry import ArtifactRegistry
from tests.conftest import needs, wait_for

WRITERS = 16
EACH = 20

WORKER = r"""
import json, os, sys, time
from pathlib import Path
from nemotron_kit.artifacts import Artifact
from nemotron_kit.registry import ArtifactRegistry
from tests.conftest import needs, wait_for

root, endpoint, worker, each, scratch, go = sys.argv[1:7]
options = {"endpoint_url": endpoint} if endpoint else {}
registry = ArtifactRegistry(root, storage_options=options, hash_cache=False)
Path(go).with_name(f"ready-{worker}").touch()
while not os.path.exists(go):  # start together, to collide as much as possible
    time.sleep(0.005)
for i in range(int(each)):
    data = Path(scratch) / f"w{worker}-{i}"
    data.mkdir(parents=True)
    (data / "payload.txt").write_text(f"{worker}-{i}")
    art = Artifact(path=str(data), metadata={"worker": int(worker), "i": i})
    v = registry.publish(art, name="shared", mode="copy")
    print(v.version, flush=True)
"""


def run_writers(root: str, endpoint: str, scratch: Path) -> list[int]:
    scratch.mkdir(parents=True)
    go = scratch / "go"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WORKER,
                root,
                endpoint,
                str(w),
                str(EACH),
                str(scratch / f"s{w}"),
                str(go),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for w in range(WRITERS)
    ]

    def all_ready() -> bool:
        ended = [p for p in procs if p.poll() is not None]
        assert not ended, ended[0].communicate()[1]
        return len(list(scratch.glob("ready-*"))) == WRITERS

    wait_for(all_ready, "every writer ready")
    go.touch()
    versions: list[int] = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
        versions += [int(line) for line in out.split()]
    return versions


def check_registry(registry: ArtifactRegistry, versions: list[int]) -> None:
    total = WRITERS * EACH
    assert sorted(versions) == list(range(1, total + 1))
    records = registry.versions("shared")
    assert [v.version for v in records] == list(range(1, total + 1))
    owners = {(v.metadata["worker"], v.metadata["i"]) for v in records}
    assert len(owners) == total  # every publish has its own version, none lost or doubled
    assert registry.resolve("art://shared:latest").version == total
    for v in records:
        loaded = registry.load(v.uri)
        expected = f"{v.metadata['worker']}-{v.metadata['i']}"
        assert (loaded.local_path / "payload.txt").read_text() == expected
    assert (
        json.loads(registry.storage.read(registry._alias_key("default", "shared", "latest")))[
            "version"
        ]
        == total
    )


@pytest.mark.slow
def test_concurrent_publishers_local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEMOTRON_KIT_HOME", str(tmp_path / "home"))
    root = tmp_path / "registry"
    versions = run_writers(str(root), "", tmp_path / "scratch")
    registry = ArtifactRegistry(root, hash_cache=False)
    check_registry(registry, versions)
    for v in registry.versions("shared"):
        assert registry.verify(v.uri).ok


@pytest.mark.slow
@needs("s3")
def test_concurrent_publishers_s3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, s3_endpoint: str, s3_bucket: str
) -> None:
    monkeypatch.setenv("NEMOTRON_KIT_HOME", str(tmp_path / "home"))
    root = f"s3://{s3_bucket}/registry"
    versions = run_writers(root, s3_endpoint, tmp_path / "scratch")
    registry = ArtifactRegistry(
        root, storage_options={"endpoint_url": s3_endpoint}, hash_cache=False
    )
    check_registry(registry, versions)
    assert all(registry.verify(v.uri).ok for v in registry.versions("shared")[::16])
