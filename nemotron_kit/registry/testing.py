"""The storage conformance suite: every registry backend proves itself against the same tests.

Like Hydra's ``launcher_common_tests``, it ships in the package. A test module subclasses
``StorageSuite`` and says how to make a fresh, empty registry root on its backend:

    class TestMyStore(StorageSuite):
        def make_root(self, tmp_path):
            return f"mystore://bucket/{uuid.uuid4().hex}", {"endpoint_url": ...}

The suite checks each primitive (read, exclusive create, atomic replace, list, walk, delete and
the derived ones), that exactly one of 16 racing creators of a key wins, that 16 writers
publishing 20 versions each of one name get exactly 1..320, that eight publishes of the same
files at once each verify and store each object once, that a publish killed before or
after its commit point leaves a registry that verifies, numbers on without a gap and that gc
cleans without touching what a version needs. Writers are processes (``processes = False`` for
a backend that lives in one process, such as ``memory://``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any, ClassVar

import pytest

from nemotron_kit.environment import HOME_ENV
from nemotron_kit.registry.storage import Storage, open_storage

WRITER = r"""
import json, os, signal, sys, time
from pathlib import Path
from nemotron_kit.artifacts import Artifact
from nemotron_kit.registry import ArtifactRegistry

root, options, worker, each, scratch, go, kill = sys.argv[1:8]
registry = ArtifactRegistry(root, storage_options=json.loads(options), hash_cache=False)
if kill != "none":  # die at the commit point of the version record: before or after it
    original = ArtifactRegistry._create_or_find_own
    def dying(self, key, data):
        if kill == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        made = original(self, key, data)
        os.kill(os.getpid(), signal.SIGKILL)
        return made
    ArtifactRegistry._create_or_find_own = dying
Path(go).with_name(f"ready-{worker}").touch()
while not os.path.exists(go):  # start together, to collide as much as possible
    time.sleep(0.005)
for i in range(int(each)):
    data = Path(scratch) / f"w{worker}-{i}"
    data.mkdir(parents=True)
    (data / "payload.txt").write_text(f"{scratch} {worker}-{i}")  # no two publishes alike
    art = Artifact(path=str(data), metadata={"worker": int(worker), "i": i})
    print(registry.publish(art, name="shared", mode="copy").version, flush=True)
"""


class StorageSuite:
    """Subclass, implement ``make_root``; pytest collects the tests."""

    #: Writers are separate processes (False: threads, for a backend living in one process).
    processes: ClassVar[bool] = True
    writers: ClassVar[int] = 16
    each: ClassVar[int] = 20

    def make_root(self, tmp_path: Path) -> tuple[str | os.PathLike[str], dict[str, Any]]:
        """A fresh, empty registry root on the backend (a URL, or a local path) and its
        storage options."""
        raise NotImplementedError

    def _root(self, tmp_path: Path) -> tuple[str, dict[str, Any]]:
        root, options = self.make_root(tmp_path)
        return os.fspath(root), dict(options)

    @pytest.fixture(autouse=True)
    def _private_home(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Staging and caches of this test (and its writers) stay in its own directory."""
        monkeypatch.setenv(HOME_ENV, str(tmp_path / "nk-home"))

    # -- helpers ------------------------------------------------------------------------------
    def storage(self, tmp_path: Path) -> Storage:
        root, options = self._root(tmp_path)
        return open_storage(root, dict(options))

    def registry(self, root: str, options: dict[str, Any]) -> Any:
        from nemotron_kit.registry import ArtifactRegistry

        return ArtifactRegistry(root, storage_options=dict(options), hash_cache=False)

    def publishers(
        self, root: str, options: dict[str, Any], scratch: Path, writers: int, each: int, kill: str
    ) -> tuple[list[int], list[int]]:
        """``writers`` writers publishing ``each`` versions of 'shared' at once: the versions
        they were given, and the writers' exit codes."""
        scratch.mkdir(parents=True)
        if not self.processes:
            return self._thread_publishers(root, options, scratch, writers, each), [0] * writers
        go = scratch / "go"
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        procs = [
            subprocess.Popen(
                [
                    *(sys.executable, "-c", WRITER, root, json.dumps(options)),
                    *(str(w), str(each), str(scratch / f"s{w}"), str(go), kill),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            for w in range(writers)
        ]
        try:
            while len(list(scratch.glob("ready-*"))) < writers:
                dead = [p for p in procs if p.poll() is not None and p.returncode != 0]
                assert not dead, dead[0].stderr.read() if dead[0].stderr else ""
                threading.Event().wait(0.01)
            go.touch()
            outputs = [p.communicate(timeout=900) for p in procs]
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
        for w, (p, (_, err)) in enumerate(zip(procs, outputs, strict=True)):
            expected = (0, -9) if kill != "none" else (0,)  # -9: killed at the commit point
            assert p.returncode in expected, f"writer {w} exited {p.returncode}: {err[-2000:]}"
        got = [int(line) for out, _ in outputs for line in out.split()]
        return got, [p.returncode for p in procs]

    def _thread_publishers(
        self, root: str, options: dict[str, Any], scratch: Path, writers: int, each: int
    ) -> list[int]:
        from nemotron_kit.artifacts import Artifact

        registry = self.registry(root, options)
        got: list[int] = []
        lock = threading.Lock()
        barrier = threading.Barrier(writers)

        def write(w: int) -> None:
            barrier.wait()
            for i in range(each):
                data = scratch / f"w{w}-{i}"
                data.mkdir(parents=True)
                (data / "payload.txt").write_text(f"{w}-{i}")
                art = Artifact(path=str(data), metadata={"worker": w, "i": i})
                version = registry.publish(art, name="shared", mode="copy").version
                with lock:
                    got.append(version)

        threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return got

    # -- primitives -----------------------------------------------------------------------------
    def test_read_of_a_missing_key_is_file_not_found(self, tmp_path: Path) -> None:
        storage = self.storage(tmp_path)
        with pytest.raises(FileNotFoundError):
            storage.read("no/such/key")
        assert not storage.exists("no/such/key")
        assert storage.fingerprint("no/such/key") is None
        assert storage.list("no/such") == []
        assert list(storage.walk("no/such")) == []
        storage.delete("no/such/key")  # absent: nothing happens

    def test_create_is_exclusive_and_keeps_the_first_bytes(self, tmp_path: Path) -> None:
        storage = self.storage(tmp_path)
        assert storage.create("a/b/record.json", b"first")
        assert not storage.create("a/b/record.json", b"second")
        assert storage.read("a/b/record.json") == b"first"
        assert storage.exists("a/b/record.json")

    def test_replace_writes_whole_objects(self, tmp_path: Path) -> None:
        storage = self.storage(tmp_path)
        storage.replace("p/latest.json", b"1")
        before = storage.fingerprint("p/latest.json")
        storage.replace("p/latest.json", b"22")
        assert storage.read("p/latest.json") == b"22"
        assert storage.fingerprint("p/latest.json") != before
        with storage.open("p/latest.json") as stream:
            assert stream.read() == b"22"

    def test_list_names_what_is_directly_under_a_prefix(self, tmp_path: Path) -> None:
        storage = self.storage(tmp_path)
        for key in ("x/b/1", "x/b/2", "x/a", "x/c/d/e", "y/z"):
            assert storage.create(key, key.encode())
        assert storage.list("x") == ["a", "b", "c"]
        assert storage.list("x/b") == ["1", "2"]
        walked = dict(storage.walk("x"))
        assert sorted(walked) == ["x/a", "x/b/1", "x/b/2", "x/c/d/e"]
        assert all(t > 0 for t in walked.values())

    def test_delete_removes_and_lists_forget(self, tmp_path: Path) -> None:
        storage = self.storage(tmp_path)
        storage.create("d/one", b"1")
        storage.create("d/two", b"2")
        storage.delete("d/one")
        storage.delete("d/one")
        assert not storage.exists("d/one") and storage.list("d") == ["two"]

    def test_files_go_in_whole_and_touch_keeps_the_bytes(self, tmp_path: Path) -> None:
        storage = self.storage(tmp_path)
        local = tmp_path / "blob.bin"
        local.write_bytes(os.urandom(300_000))
        storage.put_file(local, "objects/ab/blob")
        assert storage.read("objects/ab/blob") == local.read_bytes()
        moved = tmp_path / "moved.bin"
        moved.write_bytes(b"adopted")
        storage.adopt(moved, "objects/cd/moved")
        assert storage.read("objects/cd/moved") == b"adopted" and not moved.exists()
        storage.touch("objects/cd/moved")
        assert storage.read("objects/cd/moved") == b"adopted"

    def test_stored_objects_are_whole_and_an_exclusive_store_keeps_the_first(
        self, tmp_path: Path
    ) -> None:
        """``store_object``: exclusive, it creates an absent key and says False for a present
        one (whose bytes stay); otherwise it replaces them (a damaged object mended)."""
        storage = self.storage(tmp_path)
        key = f"objects/ab/{'ab' * 32}"
        assert storage.store_object(key, b"content", exclusive=True)
        assert not storage.store_object(key, b"damaged", exclusive=True)
        assert storage.read(key) == b"content"
        assert storage.store_object(key, b"mended")
        assert storage.read(key) == b"mended" and storage.list("objects/ab") == [key[11:]]
        assert storage.store_object("objects/cd/empty", b"", exclusive=True)
        assert storage.read("objects/cd/empty") == b""

    def test_fingerprints_of_many_keys_at_once_are_each_keys_own(self, tmp_path: Path) -> None:
        """The bulk look-up a publish makes of its objects (a listing where the backend can)
        agrees with one ``fingerprint`` per key, and leaves absent keys out."""
        storage = self.storage(tmp_path)
        keys = [f"objects/{i % 3:02x}/{i:064x}" for i in range(24)]
        for key in keys:
            storage.replace(key, key.encode())
        storage.replace("objects/elsewhere", b"not asked about")
        asked = [*keys, "objects/00/absent", "objects/ff/absent"]
        assert storage.fingerprints(asked) == {key: storage.fingerprint(key) for key in keys}
        assert storage.fingerprints(keys[:1]) == {keys[0]: storage.fingerprint(keys[0])}
        assert storage.fingerprints([]) == {}

    # -- concurrency and crashes ----------------------------------------------------------------
    def test_one_of_sixteen_racing_creators_wins(self, tmp_path: Path) -> None:
        root, options = self._root(tmp_path)
        stores = [open_storage(root, dict(options)) for _ in range(16)]  # one client each
        for round_ in range(20):
            key = f"race/{round_}.json"
            barrier = threading.Barrier(len(stores))
            won: list[bytes] = []

            def create(i: int, key: str = key, barrier: Any = barrier, won: Any = won) -> None:
                barrier.wait()
                if stores[i].create(key, f"writer {i}".encode()):
                    won.append(f"writer {i}".encode())

            threads = [threading.Thread(target=create, args=(i,)) for i in range(len(stores))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert len(won) == 1, f"round {round_}: {len(won)} creators won"
            assert stores[0].read(key) == won[0]

    def test_concurrent_publishes_of_one_name_are_numbered_without_gaps(
        self, tmp_path: Path
    ) -> None:
        root, options = self._root(tmp_path)
        got, _ = self.publishers(
            root, options, tmp_path / "scratch", self.writers, self.each, "none"
        )
        total = self.writers * self.each
        registry = self.registry(root, options)
        twice = sorted(v for v in set(got) if got.count(v) > 1)
        missing = sorted(set(range(1, total + 1)) - set(got))
        if twice or missing or len(got) != total:  # who was given what, and what is stored
            whom = {v: [divmod(k, self.each) for k, g in enumerate(got) if g == v] for v in twice}
            stored = {v: self._stored_as(registry, v) for v in twice + missing}
            pytest.fail(
                f"{len(got)} versions; given twice: {twice}; given to none: {missing}; to "
                f"(writer, publish): {whom}; the records under those numbers: {stored}"
            )
        assert registry.resolve("art://shared").version == total
        versions = registry.versions("shared")
        seen = {(v.metadata["worker"], v.metadata["i"]) for v in versions}
        assert len(seen) == total  # every version holds its own writer's data
        assert all(registry.verify(v.uri).ok for v in versions[::8])

    @staticmethod
    def _stored_as(registry: Any, version: int) -> Any:
        """(writer, publish) of the record of 'shared' under ``version``, or why none."""
        try:
            found = registry.resolve(f"art://shared:v{version}")
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"
        return found.metadata["worker"], found.metadata["i"]

    def test_writers_of_the_same_content_at_once_each_publish_a_sound_version(
        self, tmp_path: Path
    ) -> None:
        """Eight publishes of the same files at once (under eight names) race to store every
        object: each version verifies, and each object is stored once, whole."""
        from nemotron_kit.artifacts import Artifact
        from nemotron_kit.registry.hashing import SMALL_FILE

        root, options = self._root(tmp_path)
        data = tmp_path / "same"
        data.mkdir()
        for i in range(25):
            (data / f"part-{i}.bin").write_bytes(os.urandom(3000 + i))
        (data / "big.bin").write_bytes(os.urandom(SMALL_FILE + 3000))  # copied, not in memory
        barrier = threading.Barrier(8)
        uris: list[str] = []

        def publish(w: int) -> None:
            registry = self.registry(root, options)  # a client each, as separate jobs have
            barrier.wait()
            uris.append(registry.publish(Artifact(path=str(data)), name=f"w{w}", mode="copy").uri)

        writers = [threading.Thread(target=publish, args=(w,)) for w in range(8)]
        for t in writers:
            t.start()
        for t in writers:
            t.join()
        registry = self.registry(root, options)
        assert len(uris) == 8 and all(registry.verify(uri).ok for uri in uris)
        objects = [key for key, _ in registry.storage.walk("objects")]
        assert len(objects) == 26, objects

    @pytest.mark.parametrize("kill", ["before", "after"])
    def test_a_publish_killed_at_its_commit_point_leaves_a_sound_registry(
        self, tmp_path: Path, kill: str
    ) -> None:
        if not self.processes:
            pytest.skip("the backend lives in one process: a killed process takes it along")
        root, options = self._root(tmp_path)
        got, _ = self.publishers(root, options, tmp_path / "good", 1, 2, "none")
        assert got == [1, 2]
        _, codes = self.publishers(root, options, tmp_path / "killed", 1, 1, kill)
        assert codes == [-9]
        registry = self.registry(root, options)
        versions = registry.versions("shared")
        assert [v.version for v in versions] == ([1, 2] if kill == "before" else [1, 2, 3])
        for v in versions:
            assert registry.verify(v.uri).ok, v.uri
        got, _ = self.publishers(root, options, tmp_path / "after", 1, 1, "none")
        assert got == [len(versions) + 1]  # numbering goes on without a gap
        report = registry.gc(grace_seconds=0)
        assert kill == "after" or report.removed  # the killed publish's objects are garbage
        for v in registry.versions("shared"):
            assert registry.verify(v.uri).ok, f"gc removed what {v.uri} needs"
            assert registry.load(v.uri, verify=True).path


def fresh_prefix() -> str:
    """A prefix no other test uses, for suites that share one bucket or container."""
    return f"nk-{uuid.uuid4().hex[:16]}"
