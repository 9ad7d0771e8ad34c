"""One registry test suite, run against every storage backend: local disk, memory and S3.

S3 is a real S3-compatible server (moto in server mode) on loopback, not a mock of boto.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import pytest

from nemotron_kit.artifacts import (
    Artifact,
    InputDatasetInfo,
    ModelArtifact,
    PretrainBlendsArtifact,
)
from nemotron_kit.errors import (
    ArtifactError,
    CorruptRecordError,
    IntegrityError,
    MetadataError,
    NotFoundError,
    StorageError,
    URIError,
)
from nemotron_kit.registry import ArtifactRegistry, hashing
from nemotron_kit.registry import storage as storage_module
from nemotron_kit.registry.hash_cache import HashCache
from tests.conftest import REPO, make_files, needs, wait_for

BACKENDS = ["local", "memory", pytest.param("s3", marks=needs("s3"))]


class EvalReport(Artifact):
    """A user-defined artifact type, importable by its module path."""

    accuracy: float
    num_examples: int = 0


def files_of(artifact: Artifact) -> dict[str, bytes]:
    base = artifact.local_path
    if base.is_file():
        return {base.name: base.read_bytes()}
    return {
        p.relative_to(base).as_posix(): p.read_bytes()
        for p in sorted(base.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("NEMOTRON_KIT_HOME", str(home))
    return home


@pytest.fixture
def make_registry(
    request: pytest.FixtureRequest, tmp_path: Path, home: Path
) -> Callable[[str], ArtifactRegistry]:
    def make(backend: str) -> ArtifactRegistry:
        cache = tmp_path / f"hashes-{uuid.uuid4().hex}.sqlite"
        if backend == "local":
            return ArtifactRegistry(tmp_path / f"registry-{uuid.uuid4().hex[:8]}", hash_cache=cache)
        if backend == "memory":
            return ArtifactRegistry(f"memory://nk-{uuid.uuid4().hex}", hash_cache=cache)
        endpoint = request.getfixturevalue("s3_endpoint")
        bucket = request.getfixturevalue("s3_bucket")
        return ArtifactRegistry(
            f"s3://{bucket}/registry", storage_options={"endpoint_url": endpoint}, hash_cache=cache
        )

    return make


@pytest.fixture(params=BACKENDS)
def registry(
    request: pytest.FixtureRequest, make_registry: Callable[[str], ArtifactRegistry]
) -> ArtifactRegistry:
    return make_registry(request.param)


def all_keys(registry: ArtifactRegistry) -> set[str]:
    return {key for key, _ in registry.storage.walk("")}


# -- round trips ------------------------------------------------------------------------------


def test_publish_and_load_round_trip(registry: ArtifactRegistry, tmp_path: Path) -> None:
    data = make_files(
        tmp_path / "blend", {"blend.json": b'{"w": 1}', "shards/0.bin": os.urandom(4096)}
    )
    art = PretrainBlendsArtifact(
        path=str(data),
        total_tokens=4096,
        num_shards=1,
        seq_length=64,
        source_datasets=[
            InputDatasetInfo(uri="builtin://arith", name="arith", weight=1.0, num_rows=10)
        ],
        metadata={"note": "first"},
    )
    v1 = registry.publish(art, name="blend", aliases=["best"])
    assert v1.uri == "art://blend:v1" and art.uri == "art://blend:v1" and art.version == 1
    v2 = registry.publish(art, name="blend")
    assert v2.version == 2

    for uri, expected in [
        ("art://blend", 2),
        ("art://blend:latest", 2),
        ("art://blend:v1", 1),
        ("art://blend:1", 1),
        ("art://blend:best", 1),
        ("art://default/blend:v2", 2),
    ]:
        loaded = registry.load(uri, PretrainBlendsArtifact)
        assert type(loaded) is PretrainBlendsArtifact
        assert loaded.version == expected and loaded.uri == f"art://blend:v{expected}"
        assert loaded.total_tokens == 4096 and loaded.seq_length == 64
        assert loaded.source_datasets[0].name == "arith"
        assert loaded.metadata == {"note": "first"}
        assert files_of(loaded) == files_of(Artifact(path=str(data)))
    assert registry.resolve("art://blend:v1").metrics == {
        "total_tokens": 4096.0,
        "num_shards": 1.0,
        "seq_length": 64.0,
    }
    assert [v.version for v in registry.versions("blend")] == [1, 2]
    assert registry.aliases("blend") == {"best": 1, "latest": 2}
    (entry,) = registry.list()
    assert (entry.name, entry.type, entry.num_versions) == ("blend", "pretrain_blends", 2)


def test_single_file_artifact(registry: ArtifactRegistry, tmp_path: Path) -> None:
    f = tmp_path / "model.pt"
    f.write_bytes(b"weights")
    registry.publish(ModelArtifact(path=str(f), step=3), name="ckpt")
    loaded = registry.load("art://ckpt", ModelArtifact)
    assert loaded.local_path.name == "model.pt" and loaded.local_path.read_bytes() == b"weights"


def test_user_subclass_loads_back_as_its_own_class(
    registry: ArtifactRegistry, tmp_path: Path
) -> None:
    data = make_files(tmp_path / "eval", {"results.json": b"{}"})
    registry.publish(EvalReport(path=str(data), accuracy=0.75, num_examples=8), name="eval")
    loaded = registry.load("art://eval", Artifact)
    assert isinstance(loaded, EvalReport) and loaded.accuracy == 0.75
    assert loaded.metrics == {"accuracy": 0.75, "num_examples": 8.0}

    def local_class() -> type[Artifact]:
        class Unimportable(Artifact):
            score: float

        return Unimportable

    registry.publish(local_class()(path=str(data), score=0.5), name="other")
    fallback = registry.load("art://other")
    assert type(fallback) is Artifact and fallback.metadata["score"] == 0.5


def test_wrong_type_is_refused(registry: ArtifactRegistry, tmp_path: Path) -> None:
    data = make_files(tmp_path / "m", {"w.bin": b"x"})
    registry.publish(ModelArtifact(path=str(data)), name="model")
    with pytest.raises(
        ArtifactError, match=r"art://model:v1 is a ModelArtifact .*not a PretrainBlendsArtifact"
    ):
        registry.load("art://model", PretrainBlendsArtifact)


# -- storage: dedup, verify, gc ----------------------------------------------------------------


def test_identical_content_is_stored_once(registry: ArtifactRegistry, tmp_path: Path) -> None:
    same = os.urandom(10_000)
    a = make_files(tmp_path / "a", {"x.bin": same, "y.bin": b"y"})
    b = make_files(tmp_path / "b", {"copy-of-x.bin": same, "z.bin": b"z"})
    registry.publish(Artifact(path=str(a)), name="a", mode="copy")
    registry.publish(Artifact(path=str(a)), name="a", mode="copy")
    registry.publish(Artifact(path=str(b)), name="b", mode="copy")
    objects = [k for k in all_keys(registry) if k.startswith("objects/")]
    assert len(objects) == 3  # x (shared), y, z
    assert registry.resolve("art://a:v1").digest == registry.resolve("art://a:v2").digest


def test_verify_detects_changed_and_missing_objects(
    registry: ArtifactRegistry, tmp_path: Path
) -> None:
    data = make_files(tmp_path / "d", {"a.bin": b"a" * 100, "b.bin": b"b" * 100})
    version = registry.publish(Artifact(path=str(data)), name="d", mode="copy")
    assert registry.verify("art://d").ok
    a_digest = next(f.digest for f in registry.manifest(version).files if f.rel == "a.bin")
    b_digest = next(f.digest for f in registry.manifest(version).files if f.rel == "b.bin")
    registry.storage.replace(registry._object_key(a_digest), b"tampered")
    registry.storage.delete(registry._object_key(b_digest))
    report = registry.verify("art://d:v1")
    assert (report.changed, report.missing, report.extra) == (["a.bin"], ["b.bin"], [])
    with pytest.raises(IntegrityError, match=r"a\.bin"):
        registry.load("art://d", verify=True)


@pytest.mark.parametrize("held", [False, True], ids=["new", "held"])
def test_a_file_that_grows_as_it_is_published_is_recorded_as_stored(
    registry: ArtifactRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, held: bool
) -> None:
    """The files grow between the scan and the copy (a writer still at work): the manifest
    gives the size of what the objects hold, so the version verifies and loads; also when
    the grown content is already stored (nothing is copied or uploaded). One small file
    grows past the size a publish reads into memory at once (it is copied instead)."""
    small, mid = b"s" * 1000, b"m" * (200 << 10)
    more = {"small.bin": 5000, "mid.bin": 5000, "over.bin": hashing.SMALL_FILE}
    if held:
        grown = {"small.bin": small + b"+" * 5000, "mid.bin": mid + b"+" * 5000}
        grown["over.bin"] = small + b"+" * more["over.bin"]
        registry.publish(Artifact(path=str(make_files(tmp_path / "g", grown))), name="g")
    data = make_files(tmp_path / "d", {"small.bin": small, "mid.bin": mid, "over.bin": small})
    real_scan = hashing.scan

    def scan_then_grow(*args: Any, **kwargs: Any) -> list[hashing.FileStat]:
        found = real_scan(*args, **kwargs)
        for name, extra in more.items():
            with open(data / name, "ab") as f:
                f.write(b"+" * extra)
        return found

    monkeypatch.setattr(hashing, "scan", scan_then_grow)
    version = registry.publish(Artifact(path=str(data)), name="d", mode="copy")
    monkeypatch.undo()
    sizes = {f.rel: f.size for f in registry.manifest(version).files}
    assert sizes == {
        "small.bin": 6000,
        "mid.bin": (200 << 10) + 5000,
        "over.bin": 1000 + hashing.SMALL_FILE,
    }
    assert registry.verify(version.uri).ok
    for _ in range(2):  # built, then found sound as it is
        tree = Path(registry.load(version.uri, verify=True).path)
        assert {p.name: p.stat().st_size for p in tree.iterdir()} == sizes


def test_verify_finds_a_size_its_manifest_got_wrong(
    make_registry: Callable[[str], ArtifactRegistry],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Sound objects under a manifest whose size is wrong (as a registry written by an older
    version may hold): the load refuses them, so verify must say so too."""
    registry = make_registry("local")
    big = hashing.SMALL_FILE + 100  # copied (not read into memory whole)
    data = make_files(tmp_path / "d", {"a.bin": b"a" * big, "b.bin": b"b" * big})
    real = hashing.copy_and_hash

    def one_byte_more(src: str, dst: Path, *args: Any, **kw: Any) -> tuple[str, int]:
        digest, size = real(src, dst, *args, **kw)
        return digest, size + (src.endswith("a.bin"))

    monkeypatch.setattr(hashing, "copy_and_hash", one_byte_more)
    version = registry.publish(Artifact(path=str(data)), name="d", mode="copy")
    monkeypatch.undo()
    report = registry.verify(version.uri)
    assert (report.changed, report.missing, report.extra) == (["a.bin"], [], [])


def test_reference_mode_detects_drift(
    make_registry: Callable[[str], ArtifactRegistry], tmp_path: Path
) -> None:
    registry = make_registry("local")
    data = make_files(tmp_path / "ref", {"keep.txt": b"k", "edit.txt": b"e", "gone.txt": b"g"})
    version = registry.publish(Artifact(path=str(data)), name="ref", mode="reference")
    assert version.mode == "reference"
    assert registry.load("art://ref").path == str(data)  # zero copy
    assert not any(k.startswith("objects/") for k in all_keys(registry))
    (data / "edit.txt").write_bytes(b"edited")
    (data / "gone.txt").unlink()
    (data / "new.txt").write_bytes(b"n")
    report = registry.verify("art://ref")
    assert (report.changed, report.missing, report.extra) == (
        ["edit.txt"],
        ["gone.txt"],
        ["new.txt"],
    )


def test_remote_registry_refuses_reference_mode(registry: ArtifactRegistry, tmp_path: Path) -> None:
    if registry.storage.is_local:
        pytest.skip("local registries can reference data in place")
    data = make_files(tmp_path / "d", {"a": b"a"})
    before = all_keys(registry)
    with pytest.raises(ArtifactError, match="mode='copy'"):
        registry.publish(Artifact(path=str(data)), name="d", mode="reference")
    assert all_keys(registry) == before


def test_gc_removes_only_what_no_version_needs(registry: ArtifactRegistry, tmp_path: Path) -> None:
    keep = make_files(tmp_path / "keep", {"k.bin": b"keep" * 10})
    registry.publish(Artifact(path=str(keep)), name="keep", mode="copy")
    # Leftovers of killed publishes: an object and a manifest no record names, a staging file,
    # a half-written record temp file.
    registry.storage.replace("objects/ff/" + "f" * 64, b"orphan")
    registry.storage.replace("manifests/ee/" + "e" * 64 + ".json", b"{}")
    registry.storage.replace("staging/dead/chunk", b"partial")
    registry.storage.replace("artifacts/default/keep/versions/.tmp-123-00000002.json", b"{")
    before = all_keys(registry)

    assert registry.gc(grace_seconds=3600).removed == []  # everything is young: kept
    report = registry.gc(dry_run=True, grace_seconds=0)
    assert len(report.removed) == 4
    assert all_keys(registry) == before  # dry run writes nothing

    registry.gc(grace_seconds=0)
    after = all_keys(registry)
    assert after == before - set(report.removed)
    assert registry.verify("art://keep").ok
    assert registry.gc(grace_seconds=0).removed == []


def test_gc_prunes_the_directories_it_empties_and_old_ones_not_a_writers_new_one(
    tmp_path: Path, home: Path
) -> None:
    """A shard a writer has just made is empty until its first file lands: gc leaves it."""
    registry = ArtifactRegistry(tmp_path / "registry", hash_cache=False)
    root = tmp_path / "registry"
    registry.storage.replace("objects/ff/" + "f" * 64, b"orphan")
    hour_ago = time.time() - 7200
    os.utime(root / "objects" / "ff" / ("f" * 64), (hour_ago, hour_ago))
    old, new = root / "objects" / "aa", root / "objects" / "bb"
    old.mkdir()
    new.mkdir()
    os.utime(old, (hour_ago, hour_ago))

    assert registry.gc().removed == ["objects/ff/" + "f" * 64]
    assert sorted(p.name for p in (root / "objects").iterdir()) == ["bb"]


def _age(root: Path, seconds: float = 7200) -> None:
    """Every file under ``root`` as if written ``seconds`` ago (yesterday's objects)."""
    then = time.time() - seconds
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, (then, then))


def test_gc_beside_a_load_leaves_the_tree_it_lays_out_whole(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tree's files are hard links with their objects' old times: gc (default grace) in
    the middle of a load took them from the tree being laid out, and the load then returned
    a tree missing files, for good."""
    root = tmp_path / "registry"
    registry = ArtifactRegistry(root, hash_cache=False)
    data = make_files(tmp_path / "d", {"a/1.txt": b"one", "b/2.txt": b"two", "b/3.txt": b"3"})
    version = registry.publish(Artifact(path=str(data)), name="m", mode="copy")
    _age(root / "objects")
    real = registry._link_object
    removed: list[str] = []

    def link_then_gc(digest: str, dst: Path) -> None:
        real(digest, dst)
        if not removed:
            removed.extend(registry.gc().removed or ["(nothing)"])

    monkeypatch.setattr(registry, "_link_object", link_then_gc)
    tree = Path(registry.load(version.uri).path)
    assert removed == ["(nothing)"]
    assert sorted(str(p.relative_to(tree)) for p in tree.rglob("*.txt")) == [
        "a/1.txt",
        "b/2.txt",
        "b/3.txt",
    ]
    assert registry.verify(version.uri).ok


def test_gc_collects_the_tree_a_killed_load_left(tmp_path: Path, home: Path) -> None:
    root = tmp_path / "registry"
    registry = ArtifactRegistry(root, hash_cache=False)
    data = make_files(tmp_path / "d", {"a/1.txt": b"one"})
    registry.publish(Artifact(path=str(data)), name="m", mode="copy")
    dead = root / "trees" / ".tmp-0123" / "a"
    dead.mkdir(parents=True)
    (dead / "1.txt").write_bytes(b"one")
    _age(root)
    for directory in (dead, dead.parent):
        os.utime(directory, (time.time() - 7200,) * 2)

    assert registry.gc().removed == ["trees/.tmp-0123/a/1.txt"]
    assert not dead.parent.exists()


def test_a_load_whose_tree_vanishes_as_it_is_laid_out_says_so(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not a path that does not exist, nor an object 'missing' that is there."""
    from nemotron_kit.registry.trees import TreeLayer

    registry = ArtifactRegistry(tmp_path / "registry", hash_cache=False)
    data = make_files(tmp_path / "d", {"a/1.txt": b"one", "a/2.txt": b"two"})
    version = registry.publish(Artifact(path=str(data)), name="m", mode="copy")
    real = TreeLayer._place_files

    def removed_after_placing(self: TreeLayer, v: Any, m: Any, tmp: Path, *rest: Any) -> None:
        real(self, v, m, tmp, *rest)
        shutil.rmtree(tmp)

    monkeypatch.setattr(TreeLayer, "_place_files", removed_after_placing)
    with pytest.raises(StorageError, match=r"vanished as they were laid out .*: load it again"):
        registry.load(version.uri)
    monkeypatch.undo()
    real_link = registry._link_object

    def tree_dir_gone(digest: str, dst: Path) -> None:
        shutil.rmtree(dst.parent)
        real_link(digest, dst)

    monkeypatch.setattr(registry, "_link_object", tree_dir_gone)
    with pytest.raises(StorageError, match=r"The tree being laid out at .* vanished"):
        registry.load(version.uri)


def test_a_pending_output_of_a_run_counts_only_if_its_version_names_the_run(
    tmp_path: Path, home: Path
) -> None:
    """A run's index of outputs is marked before each commit (a kill after the commit must
    not drop the version from lineage); the marks of publishes that lost the number or died
    before committing count for nothing."""
    from nemotron_kit.registry import layout

    registry = ArtifactRegistry(tmp_path / "registry", hash_cache=False)
    data = make_files(tmp_path / "d", {"a.bin": b"a"})
    registry.publish(Artifact(path=str(data)), name="m", mode="copy", producer="run-a")
    assert [k for k, _ in registry.storage.walk("runs") if k.endswith(".pending")] == []
    for version in (1, 2):  # lost v1 to run-a; killed before committing v2
        registry.storage.create(
            layout.run_output_pending("run-b", "default", "m", version, "lost"), b""
        )
    registry.storage.create(layout.run_output_pending("run-a", "default", "m", 1, "ours"), b"")
    assert registry.run_outputs("run-a") == ["art://m:v1"]
    assert registry.run_outputs("run-b") == []


def test_a_publish_reusing_content_a_gc_is_deleting_waits_for_it_and_stores_it_anew(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deleted version's old data, re-published while a gc that has made its last check
    deletes it: the publish (another registry object, as another process would be) commits
    only after that gc, with its data stored anew, instead of a version without its data."""
    import threading

    from nemotron_kit.registry import gc_fence, lifecycle
    from nemotron_kit.registry.maintenance import MaintenanceLayer

    root = tmp_path / "registry"
    registry = ArtifactRegistry(root, hash_cache=False)
    data = make_files(tmp_path / "d", {"a.bin": b"a" * 5000, "b/c.bin": b"c" * 5000})
    lifecycle.delete(registry, registry.publish(Artifact(path=str(data)), name="m").uri)
    _age(root / "objects")
    _age(root / "manifests")
    other = ArtifactRegistry(root, hash_cache=False)
    published: list[Any] = []
    waiting = threading.Event()
    real_blocking, real_in_flight = gc_fence._blocking, MaintenanceLayer._in_flight

    def blocking(storage: Any, digests: Any) -> list[str]:
        found = real_blocking(storage, digests)
        if found:
            waiting.set()
        return found

    def publish() -> None:
        published.append(other.publish(Artifact(path=str(data)), name="m", mode="copy"))

    worker = threading.Thread(target=publish)

    def then_publish(
        self: MaintenanceLayer, cutoff: float, committed: set[str], *rest: Any
    ) -> set[str]:
        found = real_in_flight(self, cutoff, committed, *rest)  # gc's last look, behind its fence
        worker.start()
        assert waiting.wait(60), "the publish did not stop at the gc's fence"
        return found

    monkeypatch.setattr(gc_fence, "_blocking", blocking)
    monkeypatch.setattr(MaintenanceLayer, "_in_flight", then_publish)
    report = registry.gc()
    worker.join(60)
    assert any(k.startswith("objects/") for k in report.removed)  # it deleted the old data
    assert [v.version for v in published] == [2]
    assert registry.verify("art://m:v2").ok
    assert list((root / "gc").iterdir()) == []  # the fence came down


def test_a_dead_gcs_fence_holds_no_publish(tmp_path: Path, home: Path) -> None:
    from nemotron_kit.registry import gc_fence, hashing

    root = tmp_path / "registry"
    registry = ArtifactRegistry(root, hash_cache=False)
    data = make_files(tmp_path / "d", {"a.bin": b"a" * 5000})
    digest = hashing.hash_file(data / "a.bin")
    fence = gc_fence.Fence(registry.storage, [digest])
    assert gc_fence._blocking(registry.storage, [digest]) == [fence.key]
    then = time.time() - gc_fence.LEASE_S - 60
    os.utime(root / fence.key, (then, then))  # a gc killed long ago
    assert registry.publish(Artifact(path=str(data)), name="m", mode="copy").version == 1


def test_a_gc_fence_names_only_what_gc_will_delete_after_its_last_look(
    tmp_path: Path, home: Path
) -> None:
    """Publishes wait only for what gc found it will delete, and never for a fence that
    lapsed: a gc paused past the lease deletes nothing more."""
    from nemotron_kit.registry import gc_fence

    storage = ArtifactRegistry(tmp_path / "registry", hash_cache=False).storage
    a, b = "a" * 64, "b" * 64
    fence = gc_fence.Fence(storage, [a, b])
    assert gc_fence._blocking(storage, [a]) == [fence.key]
    assert fence.narrow([b])
    assert gc_fence._blocking(storage, [a]) == []
    assert gc_fence._blocking(storage, [b]) == [fence.key]
    fence.refreshed -= gc_fence.LEASE_S  # as if gc had been stopped for the lease
    with pytest.raises(gc_fence.FenceLapsedError, match="run gc again"):
        fence.refresh()
    fence.refreshed = time.monotonic()
    assert not fence.narrow([])  # nothing left to delete: the fence comes down
    assert gc_fence._blocking(storage, [a, b]) == []


def test_an_interrupted_gc_takes_its_fence_down_and_gc_collects_dead_ones(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nemotron_kit.registry import gc_fence, lifecycle
    from nemotron_kit.registry.maintenance import MaintenanceLayer

    root = tmp_path / "registry"
    registry = ArtifactRegistry(root, hash_cache=False)
    data = make_files(tmp_path / "d", {"a.bin": b"a" * 5000})
    lifecycle.delete(registry, registry.publish(Artifact(path=str(data)), name="m").uri)
    _age(root / "objects")

    def interrupted(self: MaintenanceLayer, cutoff: float) -> set[str]:
        raise KeyboardInterrupt

    monkeypatch.setattr(MaintenanceLayer, "_trees_being_built", interrupted)
    with pytest.raises(KeyboardInterrupt):
        registry.gc()
    monkeypatch.undo()
    assert list((root / "gc").iterdir()) == []
    dead = gc_fence.Fence(registry.storage, ["c" * 64])  # a gc killed long ago
    then = time.time() - 3 * 3600  # older than the grace (default 3600 s) and twice the lease
    os.utime(root / dead.key, (then, then))
    assert dead.key in registry.gc().removed
    assert list((root / "gc").iterdir()) == []


def test_fences_and_gc_ages_go_by_the_storages_clock(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An S3 or NFS server's clock can be off this machine's by minutes or more: ages are read
    against the time the storage stamps, so a live fence still holds and a young object is
    kept; a fence stamped further ahead than a lease was not written by a gc and holds no
    one (gc removes it)."""
    from nemotron_kit.registry import gc_fence, hashing, lifecycle

    root = tmp_path / "registry"
    registry = ArtifactRegistry(root, hash_cache=False)
    data = make_files(tmp_path / "d", {"a.bin": b"a" * 5000})
    digest = hashing.hash_file(data / "a.bin")
    lifecycle.delete(registry, registry.publish(Artifact(path=str(data)), name="m").uri)
    objects = sorted(p for p in (root / "objects").rglob("*") if p.is_file())
    assert objects  # unreferenced now, but young
    fence = gc_fence.Fence(registry.storage, [digest])
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 2 * 3600)  # two hours ahead
    assert gc_fence._blocking(registry.storage, [digest]) == [fence.key]
    fence.remove()
    assert registry.gc().removed == []  # default grace 3600 s: young by the storage's clock
    assert sorted(p for p in (root / "objects").rglob("*") if p.is_file()) == objects
    monkeypatch.undo()

    planted = gc_fence.Fence(registry.storage, [digest])
    ahead = time.time() + 3 * gc_fence.LEASE_S
    os.utime(root / planted.key, (ahead, ahead))
    assert gc_fence._blocking(registry.storage, [digest]) == []
    assert planted.key in registry.gc().removed
    assert list((root / "gc").iterdir()) == []  # and no clock probe is left behind


def test_gc_settles_the_marks_of_publishes_killed_around_their_commit(
    tmp_path: Path, home: Path
) -> None:
    """A mark whose version was committed becomes the run's entry; the others just go."""
    from nemotron_kit.registry import layout

    registry = ArtifactRegistry(tmp_path / "registry", hash_cache=False)
    data = make_files(tmp_path / "d", {"a.bin": b"a"})
    registry.publish(Artifact(path=str(data)), name="m", mode="copy", producer="run-a")
    registry.storage.delete(layout.run_output("run-a", "default", "m", 1))  # killed before it
    marks = [
        layout.run_output_pending("run-a", "default", "m", 1, "killed-after-commit"),
        layout.run_output_pending("run-a", "default", "m", 2, "killed-before-commit"),
    ]
    for mark in marks:
        registry.storage.create(mark, b"")
    assert registry.run_outputs("run-a") == ["art://m:v1"]
    assert sorted(k for k in registry.gc(grace_seconds=0).removed if "/outputs/" in k) == marks
    assert [k for k, _ in registry.storage.walk("runs/run-a/outputs")] == [
        layout.run_output("run-a", "default", "m", 1)
    ]
    assert registry.run_outputs("run-a") == ["art://m:v1"]


def test_a_write_whose_new_directory_a_gc_pruned_makes_it_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record written into an existing, empty directory that a concurrent gc removes as
    the write begins (gc prunes the directories it empties)."""
    from nemotron_kit.registry import storage as storage_module

    local = storage_module.LocalStorage(tmp_path / "registry")
    shard = tmp_path / "registry" / "manifests" / "ab"
    shard.mkdir(parents=True)
    real = storage_module._write_whole
    pruned: list[Path] = []

    def gc_prunes_first(path: str, data: bytes, **how: Any) -> bool:
        if not pruned:
            Path(path).parent.rmdir()
            pruned.append(Path(path).parent)
        return real(path, data, **how)

    monkeypatch.setattr(storage_module, "_write_whole", gc_prunes_first)
    assert local.create("manifests/ab/" + "a" * 64 + ".json", b"{}")
    assert pruned == [shard]
    assert local.read("manifests/ab/" + "a" * 64 + ".json") == b"{}"


class Killed(BaseException):
    """Stands for the process dying at that point (nothing inside publish catches it)."""


@pytest.mark.parametrize("hash_cache", [True, False], ids=["hash-cache", "no-hash-cache"])
def test_gc_during_a_publish_keeps_the_old_objects_it_reuses(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch, hash_cache: bool
) -> None:
    """A publish that reuses objects older than gc's grace period refreshes their age, so a gc
    running before its commit keeps them (found by the stat cache, or by hashing a copy)."""
    root = tmp_path / "registry"
    registry = ArtifactRegistry(
        root, hash_cache=tmp_path / "hashes.sqlite" if hash_cache else False
    )
    content = {"w.bin": os.urandom(5000), "sub/c.json": b'{"c": 1}'}
    data = make_files(tmp_path / "d", content)
    record = registry._record_key("default", "d", 1)
    real_create = registry.storage.create

    def crash_at_commit(key: str, blob: bytes) -> bool:
        if key == record:
            raise Killed
        return real_create(key, blob)

    # 1. A publish dies before its commit: its objects and manifest stay, referenced by nothing.
    monkeypatch.setattr(registry.storage, "create", crash_at_commit)
    with pytest.raises(Killed):
        registry.publish(Artifact(path=str(data)), name="d", mode="copy")
    # ... and they grow old: two hours, past the grace period of the gc below.
    hours_ago = time.time() - 7200
    for leftover in [*root.glob("objects/**/*"), *root.glob("manifests/**/*")]:
        if leftover.is_file():
            os.utime(leftover, (hours_ago, hours_ago))

    # 2. The same content again; another process's gc runs just before this publish commits.
    def gc_at_commit(key: str, blob: bytes) -> bool:
        if key == record:
            ArtifactRegistry(root, hash_cache=False).gc(grace_seconds=3600)
        return real_create(key, blob)

    monkeypatch.setattr(registry.storage, "create", gc_at_commit)
    version = registry.publish(Artifact(path=str(data)), name="d", mode="copy")
    assert version.version == 1
    assert registry.verify("art://d:v1").ok
    assert files_of(registry.load("art://d:v1")) == content


def test_a_young_manifest_keeps_the_old_objects_it_names_from_gc(
    tmp_path: Path, home: Path
) -> None:
    """What a publish in flight relies on instead of touching every object it reuses: gc keeps
    the objects of a manifest younger than the grace period, then collects both."""
    root = tmp_path / "registry"
    registry = ArtifactRegistry(root, hash_cache=False)
    registry.publish(Artifact(path=str(make_files(tmp_path / "d", {"a": b"a" * 99}))), name="d")
    registry.storage.replace("objects/aa/" + "a" * 64, b"left by a deleted version")
    manifest = {"algorithm": "blake3", "digest": "e" * 64, "files": [["x", 25, "a" * 64]]}
    registry.storage.replace("manifests/ee/" + "e" * 64 + ".json", json.dumps(manifest).encode())
    hours_ago = time.time() - 7200
    os.utime(root / "objects" / "aa" / ("a" * 64), (hours_ago, hours_ago))

    assert registry.gc(grace_seconds=3600).removed == []  # the manifest is young
    os.utime(root / "manifests" / "ee" / ("e" * 64 + ".json"), (hours_ago, hours_ago))
    assert sorted(registry.gc(grace_seconds=3600).removed) == [
        "manifests/ee/" + "e" * 64 + ".json",
        "objects/aa/" + "a" * 64,
    ]
    assert registry.verify("art://d").ok


def test_an_object_a_gc_took_before_the_commit_is_stored_again(
    registry: ArtifactRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A publish reusing stored objects looks at them once more after writing its manifest:
    one a concurrent gc removed in between is copied again, so the version is complete."""
    content = {f"part-{i}.bin": os.urandom(300 + i) for i in range(20)}
    data = make_files(tmp_path / "d", content)
    registry.publish(Artifact(path=str(data)), name="first", mode="copy")
    real_create = registry.storage.create

    def gc_strikes_first(key: str, blob: bytes) -> bool:
        if key.startswith("manifests/"):
            for object_key, _ in list(registry.storage.walk("objects")):
                registry.storage.delete(object_key)
        return real_create(key, blob)

    monkeypatch.setattr(registry.storage, "create", gc_strikes_first)
    version = registry.publish(Artifact(path=str(data)), name="second", mode="copy")
    assert registry.verify(version.uri).ok
    assert files_of(registry.load(version.uri)) == content


@pytest.mark.parametrize("size", [1000, hashing.SMALL_FILE + 1000], ids=["in-memory", "copied"])
def test_a_copy_that_fails_leaves_no_temporary_file(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    """Copies in flight sit next to the objects (layout.object_temp), small files are written
    from memory as unnamed files: one that fails leaves nothing."""
    root = tmp_path / "registry"
    registry = ArtifactRegistry(root, hash_cache=False)
    data = make_files(tmp_path / "d", {"a.bin": b"a" * size, "b.bin": b"b" * size})
    real_copy, real_write = hashing.copy_and_hash, storage_module._write_fd

    def disk_full(src: str, dst: Path, *args: Any, **kw: Any) -> tuple[str, int]:
        real_copy(src, dst, *args, **kw)
        raise OSError(28, "No space left on device")

    def disk_full_in_memory(fd: int, data: bytes) -> None:
        real_write(fd, data)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(hashing, "copy_and_hash", disk_full)
    monkeypatch.setattr(storage_module, "_write_fd", disk_full_in_memory)
    with pytest.raises(StorageError, match="No space left"):
        registry.publish(Artifact(path=str(data)), name="d", mode="copy")
    assert [p for p in root.rglob("*") if p.is_file() and "objects" in p.parts] == []


def test_a_copy_being_hashed_is_the_owners_alone_even_under_umask_000(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between its hash and its rename into place read-only, a world-writable copy could be
    changed by another user: the object would no longer match its digest."""
    registry = ArtifactRegistry(tmp_path / "registry", hash_cache=False)
    big = hashing.SMALL_FILE + 5000  # copied; a small one is written from memory, unnamed
    files = {"a.bin": b"a" * big, "b.bin": b"b" * big, "small.bin": b"s" * 5000}
    data = make_files(tmp_path / "d", files)
    real = hashing.copy_and_hash
    modes: list[int] = []

    def look(src: str, dst: Path, *args: Any, **kw: Any) -> tuple[str, int]:
        result = real(src, dst, *args, **kw)
        modes.append(dst.stat().st_mode & 0o777)
        return result

    monkeypatch.setattr(hashing, "copy_and_hash", look)
    old = os.umask(0)
    try:
        version = registry.publish(Artifact(path=str(data)), name="d", mode="copy")
    finally:
        os.umask(old)
    assert modes == [0o600, 0o600]
    tree = Path(registry.load(version.uri).path)
    assert {p.stat().st_mode & 0o777 for p in tree.iterdir()} == {0o444}


def test_a_shard_made_by_another_copy_meanwhile_does_not_fail_the_publish(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Copies run on several threads and make an object shard when they find it missing: one
    that finds it missing and then made by another thread copies on (the benchmark once
    failed here as if the source had gone)."""
    root = tmp_path / "registry"
    registry = ArtifactRegistry(root, hash_cache=False)
    big = hashing.SMALL_FILE + 5000  # copied, not written from memory
    data = make_files(tmp_path / "d", {f"{i}.bin": bytes([i]) * big for i in range(8)})
    real = hashing.copy_and_hash
    raced: list[Path] = []

    def another_thread_makes_the_shard(
        src: str, dst: Path, *args: Any, **kw: Any
    ) -> tuple[str, int]:
        try:
            return real(src, dst, *args, **kw)
        except FileNotFoundError:
            dst.parent.mkdir(parents=True, exist_ok=True)
            raced.append(dst.parent)
            raise

    monkeypatch.setattr(hashing, "copy_and_hash", another_thread_makes_the_shard)
    version = registry.publish(Artifact(path=str(data)), name="d", mode="copy")
    monkeypatch.undo()
    assert raced, "no copy found its shard missing: the test did not race"
    assert registry.verify(version.uri).ok
    assert list(root.rglob(".tmp-*")) == []


@needs("s3")
def test_republishing_held_content_to_s3_costs_a_few_requests_not_some_per_object(
    make_registry: Callable[[str], ArtifactRegistry], tmp_path: Path
) -> None:
    """Content the registry already holds, under a new name: one listing finds its objects (no
    HEAD, copy or upload per object)."""
    registry = make_registry("s3")
    data = make_files(tmp_path / "d", {f"part-{i:02d}.bin": os.urandom(100 + i) for i in range(40)})
    registry.publish(Artifact(path=str(data)), name="first", mode="copy")
    calls: Counter[str] = Counter()
    client = registry.storage.fs.s3  # type: ignore[attr-defined]
    client.meta.events.register("before-call.s3.*", lambda model, **_: calls.update([model.name]))
    version = registry.publish(Artifact(path=str(data)), name="second", mode="copy")
    assert sum(calls.values()) <= 15, calls  # records, aliases, the manifest, two listings
    assert registry.verify(version.uri).ok


# -- the stat cache: re-publishing skips reading unchanged files, never changed ones -------------


@pytest.mark.parametrize("field", ["size", "mtime_ns", "ctime_ns", "ino"])
def test_hash_cache_misses_when_any_stat_field_differs(tmp_path: Path, field: str) -> None:
    cache = HashCache(tmp_path / "hashes.sqlite")
    stat = hashing.FileStat("a.bin", str(tmp_path / "a.bin"), 10, 1_000_000, 2_000_000, 42)
    cache.store([stat], [hashing.ManifestEntry(stat.rel, stat.size, "d" * 64)])
    assert cache.lookup([stat]) == {"a.bin": "d" * 64}
    changed = stat._replace(**{field: getattr(stat, field) + 1})
    assert cache.lookup([changed]) == {}


@pytest.mark.parametrize("as_type", [str, Path])
def test_root_and_hash_cache_may_be_given_as_str_or_path(
    tmp_path: Path, home: Path, as_type: Callable[[Path], str | Path]
) -> None:
    data = make_files(tmp_path / "d", {"a.bin": b"a" * 100})
    cache = tmp_path / "cache" / "hashes.sqlite"
    registry = ArtifactRegistry(as_type(tmp_path / "registry"), hash_cache=as_type(cache))
    registry.publish(Artifact(path=data), name="d", mode="reference")
    assert registry.root == str(tmp_path / "registry")
    # The digest is cached where it was asked for, and nothing went to the home's cache.
    assert HashCache(cache).lookup(hashing.scan(data)) == {"a.bin": hashing.hash_bytes(b"a" * 100)}
    assert not (home / "cache" / "hashes.sqlite").exists()


def test_a_hash_cache_under_home_is_expanded_like_a_root(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert HashCache("~/h.sqlite").path == tmp_path / "user" / "h.sqlite"


@pytest.mark.parametrize("mode", ["copy", "reference"])
def test_a_file_edited_to_the_same_size_is_published_as_its_new_content(
    make_registry: Callable[[str], ArtifactRegistry],
    tmp_path: Path,
    mode: Literal["copy", "reference"],
) -> None:
    registry = make_registry("local")  # with a stat cache
    data = make_files(tmp_path / "d", {"w.bin": b"a" * 1000, "keep.txt": b"k"})
    weights = data / "w.bin"
    first = registry.publish(Artifact(path=str(data)), name="d", mode=mode)

    # An edit: same size, a later mtime.
    old = weights.stat()
    weights.write_bytes(b"b" * 1000)
    os.utime(weights, ns=(old.st_atime_ns, old.st_mtime_ns + 1_000_000_000))
    second = registry.publish(Artifact(path=str(data)), name="d", mode=mode)
    assert second.digest != first.digest
    assert registry.verify(second.uri).ok
    assert files_of(registry.load(second.uri))["w.bin"] == b"b" * 1000

    # An edit that puts the old mtime back (rsync -t, touch -d): only the ctime tells.
    cached = weights.stat()

    def rewrite_with_the_old_mtime() -> bool:
        weights.write_bytes(b"c" * 1000)
        os.utime(weights, ns=(cached.st_atime_ns, cached.st_mtime_ns))
        return weights.stat().st_ctime_ns != cached.st_ctime_ns  # the clock has moved on

    wait_for(rewrite_with_the_old_mtime, "a ctime different from the cached one", timeout=60)
    third = registry.publish(Artifact(path=str(data)), name="d", mode=mode)
    assert third.digest not in (first.digest, second.digest)
    assert registry.verify(third.uri).ok
    assert files_of(registry.load(third.uri))["w.bin"] == b"c" * 1000


# -- versions, aliases, latest -----------------------------------------------------------------


def test_latest_survives_a_lagging_pointer(registry: ArtifactRegistry, tmp_path: Path) -> None:
    data = make_files(tmp_path / "d", {"a": b"a"})
    for _ in range(3):
        registry.publish(Artifact(path=str(data)), name="d")
    # A crash between the commit and the pointer move leaves `latest` behind.
    registry.storage.replace(registry._alias_key("default", "d", "latest"), b'{"version": 1}')
    assert registry.resolve("art://d:latest").version == 3
    assert registry.publish(Artifact(path=str(data)), name="d").version == 4
    assert [v.version for v in registry.versions("d")] == [1, 2, 3, 4]


def test_alias_moves_and_latest_is_reserved(registry: ArtifactRegistry, tmp_path: Path) -> None:
    data = make_files(tmp_path / "d", {"a": b"a"})
    registry.publish(Artifact(path=str(data)), name="d")
    registry.publish(Artifact(path=str(data)), name="d")
    assert registry.alias("art://d:v1", "prod").version == 1
    assert registry.resolve("art://d:prod").version == 1
    registry.alias("art://d:latest", "prod")
    assert registry.resolve("art://d:prod").version == 2
    with pytest.raises(URIError, match="latest"):
        registry.alias("art://d:v1", "latest")


class CountingStorage:
    """Wraps a storage and counts calls, to show that resolving `latest` does not scan."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if callable(attr):

            def counted(*args: Any, **kwargs: Any) -> Any:
                self.calls[name] += 1
                return attr(*args, **kwargs)

            return counted
        return attr


def test_resolving_latest_does_not_depend_on_the_number_of_versions(
    registry: ArtifactRegistry, tmp_path: Path
) -> None:
    data = make_files(tmp_path / "d", {"a": b"a"})
    registry.publish(Artifact(path=str(data)), name="one")
    for _ in range(25):
        registry.publish(Artifact(path=str(data)), name="many")
    counts = {}
    for name in ("one", "many"):
        counting = CountingStorage(registry.storage)
        registry.storage = counting  # type: ignore[assignment]
        try:
            registry.resolve(f"art://{name}:latest")
        finally:
            registry.storage = counting.inner
        counts[name] = dict(counting.calls)
    assert counts["one"] == counts["many"]
    assert "list" not in counts["many"] and "walk" not in counts["many"]


# -- bad input ----------------------------------------------------------------------------------


def test_bad_input_is_one_sentence_and_writes_nothing(
    registry: ArtifactRegistry, tmp_path: Path
) -> None:
    data = make_files(tmp_path / "d", {"a": b"a"})
    registry.publish(Artifact(path=str(data)), name="d", aliases=["best"])
    before = all_keys(registry)
    # Values no type checker saw (read from a file, say) are caught at run time: the calls go
    # through type[Artifact], whose constructor takes any keyword; the class is ModelArtifact.
    unchecked_model: type[Artifact] = ModelArtifact
    unchecked_info: Any = InputDatasetInfo
    cases: list[tuple[Callable[[], Any], type[Exception], str]] = [
        (
            lambda: registry.publish(Artifact(path=str(data)), name="../escape"),
            URIError,
            "'../escape'",
        ),
        (lambda: registry.publish(Artifact(path=str(data)), name="a/b"), URIError, "'a/b'"),
        (lambda: registry.publish(Artifact(path=str(data)), name="/abs"), URIError, "'/abs'"),
        (lambda: registry.publish(Artifact(path=str(data)), name="tab\tname"), URIError, "control"),
        (
            lambda: registry.publish(Artifact(path=str(data)), name="back\\slash"),
            URIError,
            "backslash",
        ),
        (lambda: registry.publish(Artifact(path=str(data))), URIError, "empty"),
        (
            lambda: registry.publish(Artifact(path=str(data)), name="d", aliases=["latest"]),
            URIError,
            "latest",
        ),
        (
            lambda: registry.publish(Artifact(path=str(data)), name="d", aliases=["v3"]),
            URIError,
            "version",
        ),
        (
            lambda: registry.publish(Artifact(path=str(tmp_path / "nope")), name="d"),
            ArtifactError,
            "does not exist",
        ),
        (
            lambda: registry.publish(Artifact(path=str(data)), name="d", inputs=["art://ghost"]),
            NotFoundError,
            "ghost",
        ),
        (lambda: registry.resolve("art://d:v7"), NotFoundError, "v1 to v1"),
        (lambda: registry.resolve("art://ghost"), NotFoundError, "No artifact named 'ghost'"),
        (lambda: registry.resolve("art://d:gold"), NotFoundError, "no alias 'gold'"),
        (lambda: registry.resolve("art://d:v0"), URIError, "start at 1"),
        (lambda: registry.resolve("art://a/b/c"), URIError, "ambiguous"),
        (lambda: registry.resolve("d"), URIError, "not an artifact URI"),
        (lambda: registry.resolve("art://../etc"), URIError, "'..'"),
        (lambda: registry.alias("art://d:v9", "best"), NotFoundError, "v9"),
        (lambda: ModelArtifact(path=str(data), step=-5), MetadataError, "ModelArtifact.step"),
        (lambda: unchecked_model(path=str(data), step="many"), MetadataError, "ModelArtifact.step"),
        (lambda: unchecked_model(path=str(data), stepz=1), MetadataError, "'stepz'"),
        (lambda: PretrainBlendsArtifact(path="x", total_tokens=-1), MetadataError, "total_tokens"),
        (
            lambda: InputDatasetInfo(uri="u", name="n", weight=-1),
            MetadataError,
            "InputDatasetInfo.weight",
        ),
        (lambda: unchecked_info(uri="u", subset="s"), MetadataError, "'subset'"),
        (lambda: unchecked_info(name="n"), MetadataError, "'uri'"),
    ]
    for action, error, fragment in cases:
        with pytest.raises(error) as info:
            action()
        message = str(info.value)
        assert fragment in message, message
        assert "\n" not in message
    assert all_keys(registry) == before
    assert registry.resolve("art://d:best").version == 1


def test_corrupted_version_record_is_named(registry: ArtifactRegistry, tmp_path: Path) -> None:
    data = make_files(tmp_path / "d", {"a": b"a"})
    registry.publish(Artifact(path=str(data)), name="d")
    key = registry._record_key("default", "d", 1)
    registry.storage.replace(key, b'{"format": "nemotron-kit/version/1", "version": 1')
    with pytest.raises(CorruptRecordError, match=r"versions/00000001\.json.*corrupted"):
        registry.resolve("art://d:v1")
    registry.storage.replace(key, json.dumps({"something": "else"}).encode())
    with pytest.raises(CorruptRecordError):
        registry.load("art://d")


@needs("s3")
def test_unreachable_s3_endpoint_is_one_sentence(
    tmp_path: Path, home: Path, s3_endpoint: str
) -> None:
    registry = ArtifactRegistry(
        "s3://nowhere/registry",
        storage_options={"endpoint_url": "http://127.0.0.1:9"},
        hash_cache=False,
    )
    with pytest.raises(StorageError) as info:
        registry.resolve("art://d")
    assert "s3://nowhere/registry" in str(info.value) and "\n" not in str(info.value)
    data = make_files(tmp_path / "d", {"a": b"a"})
    with pytest.raises(StorageError):
        registry.publish(Artifact(path=str(data)), name="d")


@needs("s3")
def test_missing_bucket_is_one_sentence(home: Path, s3_endpoint: str) -> None:
    registry = ArtifactRegistry(
        f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/r",
        storage_options={"endpoint_url": s3_endpoint},
        hash_cache=False,
    )
    with pytest.raises(StorageError, match=r"bucket .* does not exist") as info:
        registry.resolve("art://d")
    assert "\n" not in str(info.value)


def test_artifact_configs_instantiate_their_types(tmp_path: Path) -> None:
    """conf/artifact/*.yaml: each `_target_` builds its class; recipes compose their outputs."""
    import yaml

    from nemotron_kit.config import instantiate

    for option in sorted((REPO / "conf" / "artifact").glob("*.yaml")):
        node = yaml.safe_load(option.read_text())
        built = instantiate(node, path=str(tmp_path))
        assert isinstance(built, Artifact) and built.name == node["name"]
        assert type(built).__name__ == node["_target_"].rsplit(".", 1)[-1]
