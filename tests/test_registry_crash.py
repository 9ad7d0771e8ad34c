"""Publishers SIGKILLed at random moments never leave a version that fails to load or verify.

Each trial starts a process that publishes in a loop (objects, manifest, record, aliases) and
kills it with SIGKILL after a random delay. Afterwards every visible version must load and
verify, and gc must remove the leftovers of the killed publishes without touching any version.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from nemotron_kit.registry import ArtifactRegistry

TRIALS = 100
SLOTS = 4

WORKER = r"""
import os, sys
from pathlib import Path
from nemotron_kit.artifacts import ModelArtifact
from nemotron_kit.registry import ArtifactRegistry

root, scratch, name = sys.argv[1:4]
registry = ArtifactRegistry(root, hash_cache=False)
print("ready", flush=True)
i = 0
while True:
    data = Path(scratch) / f"d{i}"
    data.mkdir(parents=True)
    (data / "weights.bin").write_bytes(os.urandom(3 << 20))
    (data / "config.json").write_text('{"i": %d}' % i)
    (data / "shards").mkdir()
    for s in range(4):
        (data / "shards" / f"{s}.bin").write_bytes(os.urandom(64 << 10))
    art = ModelArtifact(path=str(data), step=i)
    registry.publish(art, name=name, aliases=["best"], mode="copy")
    i += 1
"""


def one_trial(root: Path, scratch: Path, trial: int, rng: random.Random) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", WORKER, str(root), str(scratch / f"t{trial}"), f"model{trial % 5}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    ) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.25))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)


@pytest.mark.slow
def test_random_sigkill_never_leaves_a_broken_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEMOTRON_KIT_HOME", str(tmp_path / "home"))
    root = tmp_path / "registry"
    scratch = tmp_path / "scratch"
    rng = random.Random(1234)
    delays = [random.Random(rng.random()) for _ in range(TRIALS)]
    with ThreadPoolExecutor(SLOTS) as pool:
        list(pool.map(lambda t: one_trial(root, scratch, t, delays[t]), range(TRIALS)))

    registry = ArtifactRegistry(root, hash_cache=False)
    published = [v for entry in registry.list() for v in registry.versions(entry.name)]
    assert published, "no publish completed: the trials never reached the commit point"
    for version in published:
        assert registry.verify(version.uri).ok, version.uri
        loaded = registry.load(version.uri)
        assert (loaded.local_path / "config.json").read_text() == f'{{"i": {loaded.step}}}'
        best = registry.resolve(f"art://{version.name}:best")
        assert 1 <= best.version <= registry.resolve(f"art://{version.name}").version

    report = registry.gc(grace_seconds=0)
    leftovers = [k for k in report.removed if not k.startswith("trees/")]
    assert leftovers, "no kill landed mid-publish: the test did not exercise a crash"
    keys = [k for k, _ in registry.storage.walk("")]
    assert not any(k.startswith("staging/") or "/.tmp-" in k for k in keys)
    for version in published:
        assert registry.verify(version.uri).ok
    print(f"{TRIALS} kills: {len(published)} committed, gc removed {len(leftovers)} leftovers")
