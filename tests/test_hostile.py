"""Hostile input: a registry anyone can write to must not be turned against its readers.

Each case asserts the one sentence (its type and the words that name the culprit), that
nothing outside the registry and the reader's cache changed, and that no partial version
became visible. Storage cases run on a local directory and on a real S3 server (moto).
"""

from __future__ import annotations

import hashlib
import http.client
import http.server
import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from nemotron_kit.artifacts import Artifact, PretrainBlendsArtifact
from nemotron_kit.errors import (
    ArtifactError,
    CorruptRecordError,
    IntegrityError,
    MetadataError,
    NemotronKitError,
    NotFoundError,
    StorageError,
    URIError,
)
from nemotron_kit.registry import ArtifactRegistry, hashing, records
from nemotron_kit.registry.records import safe_relpath
from tests.conftest import REPO, make_files, needs

BACKENDS = ["local", pytest.param("s3", marks=needs("s3"))]
GOOD_DIGEST = "0" * 64


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "home"
    monkeypatch.setenv("NEMOTRON_KIT_HOME", str(path))
    return path


@pytest.fixture(params=BACKENDS)
def registry(request: pytest.FixtureRequest, tmp_path: Path, home: Path) -> ArtifactRegistry:
    cache = tmp_path / "hashes.sqlite"
    if request.param == "local":
        return ArtifactRegistry(tmp_path / "registry", hash_cache=cache)
    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = request.getfixturevalue("s3_bucket")
    return ArtifactRegistry(
        f"s3://{bucket}/reg", storage_options={"endpoint_url": endpoint}, hash_cache=cache
    )


@pytest.fixture
def victim(tmp_path: Path) -> Iterator[Path]:
    """A file outside the registry that a crafted manifest tries to overwrite or create."""
    path = Path("/tmp") / f"nk-victim-{uuid.uuid4().hex}.txt"
    path.write_text("untouched")
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def publish(registry: ArtifactRegistry, tmp_path: Path, name: str = "data") -> Any:
    data = make_files(
        tmp_path / f"src-{uuid.uuid4().hex[:6]}", {"a.txt": b"alpha", "d/b.txt": b"b"}
    )
    return registry.publish(Artifact(path=str(data)), name=name, mode="copy")


def record_key(version: Any) -> str:
    return f"artifacts/{version.project}/{version.name}/versions/{version.version:08d}.json"


def manifest_key(digest: str) -> str:
    return f"manifests/{digest[:2]}/{digest}.json"


def forged_digest(rows: list[list[Any]]) -> str:
    """The tree digest an attacker computes for any rows (the registry refuses to)."""
    import blake3

    hasher = blake3.blake3()
    for rel, size, digest in sorted(rows, key=lambda r: str(r[0])):
        hasher.update(f"{rel}\t{size}\t{digest}\n".encode())
    return hasher.hexdigest()


def craft_version(
    registry: ArtifactRegistry, good: Any, files: list[list[Any]], **changes: Any
) -> None:
    """Store a manifest listing ``files`` under its own digest, and version 2 of ``good``'s name
    pointing at it (a copied record, edited as an attacker would)."""
    digest = forged_digest(files)
    manifest = {"algorithm": "blake3", "digest": digest, "files": files}
    registry.storage.replace(manifest_key(digest), json.dumps(manifest).encode())
    record = dict(good.record)
    record.update(version=2, manifest={"digest": digest, "files": len(files), "bytes": 5})
    record.update(changes)
    registry.storage.replace(
        f"artifacts/default/{good.name}/versions/00000002.json", json.dumps(record).encode()
    )


# -- crafted manifests ------------------------------------------------------------------------
ESCAPES = [
    "../../../../tmp/{victim}",
    "/tmp/{victim}",
    "d/../../{victim}",
    "./a.txt",
    "d//b.txt",
    "a\\..\\..\\{victim}",
    "a\x00b",
    "",
    "d/",
]


@pytest.mark.parametrize("rel", ESCAPES)
def test_a_manifest_path_that_leaves_the_tree_is_refused(
    registry: ArtifactRegistry, tmp_path: Path, victim: Path, rel: str
) -> None:
    good = publish(registry, tmp_path)
    a_digest = registry.manifest(good).files[0].digest  # a real object: its digest is valid
    craft_version(registry, good, [[rel.format(victim=victim.name), 5, a_digest]])
    for action in (
        lambda: Artifact.from_uri("art://data:v2"),
        lambda: registry.load("art://data:v2"),
        lambda: registry.verify("art://data:v2"),
        lambda: registry.locate("art://data:v2"),
    ):
        with pytest.raises(CorruptRecordError, match=r"manifest of art://data:v2.*corrupted"):
            kit_registry(registry, action)
    assert victim.read_text() == "untouched"
    assert not list(Path("/tmp").glob(f"*{victim.stem}*.txt*"))[1:]


def kit_registry(registry: ArtifactRegistry, action: Callable[[], Any]) -> Any:
    """Run ``action`` with ``registry`` as the process's active one (from_uri uses it)."""
    import nemotron_kit.registry.api as api

    saved = (api._config, api._registry)
    api._config = api.RegistryConfig(root=registry.root)
    api._registry = registry
    try:
        return action()
    finally:
        api._config, api._registry = saved


@pytest.mark.parametrize(
    "problem, files, match",
    [
        ("duplicate", [["a.txt", 5, "{a}"], ["a.txt", 5, "{a}"]], "listed twice"),
        ("file-and-dir", [["d", 5, "{a}"], ["d/b.txt", 5, "{a}"]], "listed twice"),
        ("bad-digest", [["a.txt", 5, "xyz"]], "64-digit"),
        ("negative-size", [["a.txt", -1, "{a}"]], "greater than or equal"),
        ("size-as-text", [["a.txt", "5", "{a}"]], "integer"),
        ("short-row", [["a.txt", 5]], "files.0"),
    ],
)
def test_a_malformed_manifest_is_named(
    registry: ArtifactRegistry, tmp_path: Path, problem: str, files: list[list[Any]], match: str
) -> None:
    good = publish(registry, tmp_path)
    a = registry.manifest(good).files[0].digest
    rows = [[v.format(a=a) if isinstance(v, str) else v for v in row] for row in files]
    try:  # an attacker computes the tree digest of what they list
        entries = [hashing.ManifestEntry(str(r), int(n), str(d)) for r, n, d in rows]
        digest = hashing.tree_digest(sorted(entries, key=lambda e: e.rel))
    except (TypeError, ValueError):
        digest = "e" * 64
    registry.storage.replace(
        manifest_key(digest),
        json.dumps({"algorithm": "blake3", "digest": digest, "files": rows}).encode(),
    )
    record = {**good.record, "version": 2, "manifest": {"digest": digest, "files": 2, "bytes": 5}}
    registry.storage.replace(
        record_key(good).replace("1.json", "2.json"), json.dumps(record).encode()
    )
    with pytest.raises(CorruptRecordError, match=match):
        registry.load("art://data:v2")


@pytest.mark.parametrize(
    "damage, match",
    [
        ("truncated", "not valid JSON"),
        ("not-ours", "corrupted"),
        ("other-tree", "belongs to another tree"),
        ("wrong-digest", "do not hash to its digest"),
        ("file-count", "another number of files"),
        ("missing", "is missing"),
        ("extra-key", "Extra inputs"),
    ],
)
def test_a_damaged_manifest_is_refused(
    registry: ArtifactRegistry, tmp_path: Path, damage: str, match: str
) -> None:
    good = publish(registry, tmp_path)
    key = manifest_key(good.digest)
    data = json.loads(registry.storage.read(key))
    if damage == "truncated":
        raw = registry.storage.read(key)[:20]
    elif damage == "not-ours":
        raw = b'{"hello": "world"}'
    elif damage == "other-tree":
        data["digest"] = "f" * 64
        raw = json.dumps(data).encode()
    elif damage == "wrong-digest":
        data["files"][0][1] += 1
        raw = json.dumps(data).encode()
    elif damage == "file-count":
        data["files"] = data["files"][:1]
        data["digest"] = hashing.tree_digest([hashing.ManifestEntry(*row) for row in data["files"]])
        registry.storage.replace(manifest_key(data["digest"]), json.dumps(data).encode())
        record = {**good.record, "version": 2}
        record["manifest"] = {**record["manifest"], "digest": data["digest"]}
        registry.storage.replace(
            record_key(good).replace("1.json", "2.json"), json.dumps(record).encode()
        )
        with pytest.raises(CorruptRecordError, match=match):
            registry.load("art://data:v2")
        return
    elif damage == "missing":
        registry.storage.delete(key)
        with pytest.raises(CorruptRecordError, match=match):
            registry.load("art://data:v1")
        return
    else:
        data["sneaky"] = 1
        raw = json.dumps(data).encode()
    registry.storage.replace(key, raw)
    with pytest.raises(CorruptRecordError, match=match):
        registry.load("art://data:v1")
    with pytest.raises(CorruptRecordError):
        registry.verify("art://data:v1")


# -- crafted version records ------------------------------------------------------------------
@pytest.mark.parametrize(
    "change, match",
    [
        ({"version": 7}, "describes art://default/data:v7"),
        ({"name": "other"}, "describes art://default/other:v1"),
        ({"project": "elsewhere"}, "describes art://elsewhere/data:v1"),
        ({"format": "nemotron-kit/version/9"}, "format"),
        ({"name": "../x"}, "not allowed"),
        ({"producer": "../../etc"}, "producer"),
        ({"inputs": ["s3://x/y"]}, "inputs.0"),
        ({"fields": "notadict"}, "fields"),
        ({"storage": {"mode": "teleport", "source": "/x"}}, "storage.mode"),
        ({"storage": {"mode": "copy", "source": "/x", "single_file": "../x"}}, "single_file"),
        ({"manifest": {"digest": "nope", "files": 1, "bytes": 1}}, "manifest.digest"),
        ({"version": "1"}, "version"),
        ({"sneaky": True}, "sneaky"),
    ],
)
def test_a_crafted_version_record_is_named(
    registry: ArtifactRegistry, tmp_path: Path, change: dict[str, Any], match: str
) -> None:
    good = publish(registry, tmp_path)
    registry.storage.replace(record_key(good), json.dumps({**good.record, **change}).encode())
    with pytest.raises(CorruptRecordError, match=match) as info:
        registry.resolve("art://data:v1")
    assert "versions/00000001.json" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("raw", [b"", b"{", b"[]", b"null", b"\xff\xfe", b'{"version": 1}'])
def test_a_truncated_or_foreign_version_record_is_named(
    registry: ArtifactRegistry, tmp_path: Path, raw: bytes
) -> None:
    good = publish(registry, tmp_path)
    registry.storage.replace(record_key(good), raw)
    with pytest.raises(CorruptRecordError, match=r"versions/00000001\.json.*corrupted"):
        registry.resolve("art://data:v1")


def test_a_record_naming_an_unimported_module_does_not_import_it(
    registry: ArtifactRegistry, tmp_path: Path
) -> None:
    good = publish(registry, tmp_path)
    hostile = {**good.record, "class": "antigravity:Payload"}
    registry.storage.replace(record_key(good), json.dumps(hostile).encode())
    script = (
        "import sys, nemotron_kit as kit\n"
        f"registry = kit.registry.ArtifactRegistry({registry.root!r}, "
        f"storage_options={registry_options(registry)!r}, hash_cache=False)\n"
        "art = registry.load('art://data:v1')\n"
        "print(type(art).__name__, 'antigravity' in sys.modules, 'webbrowser' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["Artifact", "False", "False"]


def registry_options(registry: ArtifactRegistry) -> dict[str, Any]:
    endpoint = getattr(registry.storage, "endpoint", None)
    return {"endpoint_url": endpoint} if endpoint else {}


def test_fields_that_do_not_fit_the_class_are_named(
    registry: ArtifactRegistry, tmp_path: Path
) -> None:
    data = make_files(tmp_path / "b", {"blend.json": b"{}"})
    good = registry.publish(PretrainBlendsArtifact(path=str(data), total_tokens=3), name="b")
    fields = {**good.record["fields"], "total_tokens": -5}
    registry.storage.replace(
        record_key(good), json.dumps({**good.record, "fields": fields}).encode()
    )
    with pytest.raises(CorruptRecordError, match="does not fit PretrainBlendsArtifact"):
        registry.load("art://b:v1", PretrainBlendsArtifact)


@pytest.mark.parametrize(
    "pointer", [b'{"version": 999999999}', b'{"version": 0}', b"{", b'{"version": "x"}']
)
def test_a_crafted_latest_pointer_never_lies(
    registry: ArtifactRegistry, tmp_path: Path, pointer: bytes
) -> None:
    publish(registry, tmp_path)
    publish(registry, tmp_path)
    registry.storage.replace("artifacts/default/data/aliases/latest.json", pointer)
    assert registry.resolve("art://data:latest").version == 2
    assert [v.version for v in registry.versions("data")] == [1, 2]


def test_a_damaged_alias_is_named_and_others_still_resolve(
    registry: ArtifactRegistry, tmp_path: Path
) -> None:
    publish(registry, tmp_path)
    registry.alias("art://data:v1", "best")
    registry.storage.replace("artifacts/default/data/aliases/best.json", b'{"version": -3}')
    with pytest.raises(NotFoundError, match="has no alias 'best'"):
        registry.resolve("art://data:best")
    assert registry.resolve("art://data:v1").version == 1


def test_index_entries_that_are_not_ours_are_skipped(
    registry: ArtifactRegistry, tmp_path: Path
) -> None:
    made = publish(registry, tmp_path)
    run = "20260101-000000-abcdef12"
    registry.storage.create(f"runs/{run}/outputs/default/data/00000001", b"")
    registry.storage.create(f"runs/{run}/outputs/default/data/notanumber", b"")
    registry.storage.create(f"runs/{run}/outputs/a/b/c/00000001", b"")
    registry.storage.create(
        f"{record_key(made).rsplit('/versions', 1)[0]}/consumers/00000001/..", b""
    )
    assert registry.run_outputs(run) == ["art://data:v1"]
    assert registry.consumers("art://data:v1") == []


# -- listing and gc with damage ---------------------------------------------------------------
def test_ls_reports_a_damaged_record_and_lists_the_others(
    registry: ArtifactRegistry, tmp_path: Path, run_nk: Callable[..., Any]
) -> None:
    publish(registry, tmp_path, "good")
    bad = publish(registry, tmp_path, "bad")
    registry.storage.replace(record_key(bad), b"{trunc")
    with pytest.raises(CorruptRecordError):
        registry.list()
    errors: list[str] = []
    assert [e.name for e in registry.list(errors=errors)] == ["good"]
    assert len(errors) == 1 and "bad" in errors[0]
    result = run_nk("artifacts", "ls", *cli_root(registry))
    assert result.returncode == 1
    assert "good" in result.stdout and "bad" not in result.stdout
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("Error: The version record 'artifacts/default/bad/versions/")


def test_gc_keeps_all_data_while_a_record_is_unreadable(
    registry: ArtifactRegistry, tmp_path: Path
) -> None:
    publish(registry, tmp_path, "good")
    bad = publish(registry, tmp_path, "bad")
    registry.storage.replace(record_key(bad), b"{trunc")
    before = {k for k, _ in registry.storage.walk("objects")}
    report = registry.gc(grace_seconds=0)
    assert len(report.errors) == 1 and "bad" in report.errors[0]
    assert {k for k, _ in registry.storage.walk("objects")} == before
    assert not any(k.startswith(("objects/", "manifests/")) for k in report.removed)


# -- URIs, names, aliases, sub-paths ----------------------------------------------------------
@pytest.mark.parametrize(
    "uri",
    [
        "art://",
        "art:///etc/passwd",
        "art://../x",
        "art://x:v0",
        "art://x:",
        "art://x:-1",
        "art://x\\y",
        "art://x:latest/../a",
        "art://x:latest/./a",
        "art://a/b/c",
        "art://x\x00y",
        "s3://bucket/x",
        "art://.hidden",
        "art://" + "n" * 200,
    ],
)
def test_a_malformed_uri_is_one_sentence(
    registry: ArtifactRegistry, uri: str, run_nk: Callable[..., Any]
) -> None:
    with pytest.raises(URIError) as info:
        registry.resolve(uri)
    assert "\n" not in str(info.value)
    if "\x00" in uri:
        return  # no command line can hold a NUL
    result = run_nk("artifacts", "show", uri, *cli_root(registry))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("Error: ")


@pytest.mark.parametrize("name", ["..", ".x", "a/b", "", "x" * 129, "a b", "a\nb", "-x"])
def test_a_bad_name_is_refused_before_anything_is_written(
    registry: ArtifactRegistry, tmp_path: Path, name: str
) -> None:
    data = make_files(tmp_path / "n", {"f": b"x"})
    with pytest.raises(URIError):
        registry.publish(Artifact(path=str(data)), name=name)
    assert not [k for k, _ in registry.storage.walk("") if not k.startswith("staging")]


@pytest.mark.parametrize("alias", ["v3", "3", "latest", "1abc", "a b", "a/b", ""])
def test_a_bad_alias_is_refused(registry: ArtifactRegistry, tmp_path: Path, alias: str) -> None:
    publish(registry, tmp_path)
    with pytest.raises(URIError):
        registry.alias("art://data:v1", alias)


@pytest.mark.parametrize("inner", ["no/such", "a.txt/x", "d/b", "D/b.txt"])
def test_a_sub_path_that_does_not_exist_is_named(
    registry: ArtifactRegistry, tmp_path: Path, inner: str
) -> None:
    from nemotron_kit.registry.resolver import artifact_field

    publish(registry, tmp_path)
    with pytest.raises(NotFoundError, match=f"has no file or directory '{inner}'"):
        registry.locate(f"art://data:v1/{inner}")
    with pytest.raises(NotFoundError):
        kit_registry(registry, lambda: artifact_field(f"data:v1/{inner}"))


def test_a_sub_path_resolves_to_its_file_or_directory(
    registry: ArtifactRegistry, tmp_path: Path
) -> None:
    publish(registry, tmp_path)
    assert Path(registry.locate("art://data:v1/a.txt")).read_bytes() == b"alpha"
    assert (Path(registry.locate("art://data:v1/d")) / "b.txt").read_bytes() == b"b"


# -- metadata ---------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [object(), {1, 2}, b"bytes", Path("/x"), complex(1, 2)])
def test_metadata_that_is_not_json_is_refused_before_any_copy(
    registry: ArtifactRegistry, tmp_path: Path, bad: Any
) -> None:
    data = make_files(tmp_path / "m", {"f": b"x" * 1000})
    artifact = Artifact(path=str(data), metadata={"ok": 1})
    object.__setattr__(artifact, "metadata", {"ok": 1, "bad": bad})
    try:
        registry.publish(artifact, name="m", mode="copy")
    except MetadataError as exc:
        assert "JSON" in str(exc) and "\n" not in str(exc)
        assert not list(registry.storage.walk("objects"))
    else:  # pydantic turned it into JSON (bytes, a Path): what is stored is what loads back
        loaded = registry.load("art://m:v1")
        assert json.dumps(loaded.metadata)


def test_nan_metrics_stay_valid_json(registry: ArtifactRegistry, tmp_path: Path) -> None:
    data = make_files(tmp_path / "m", {"f": b"x"})
    registry.publish(Artifact(path=str(data), metadata={"loss": float("nan")}), name="m")
    assert registry.load("art://m:v1").metadata["loss"] is None


# -- symbolic links and special files ---------------------------------------------------------
def test_a_link_inside_the_source_is_stored_as_its_target(
    registry: ArtifactRegistry, tmp_path: Path
) -> None:
    src = make_files(tmp_path / "s", {"real/f.txt": b"content"})
    os.symlink("real/f.txt", src / "link.txt")
    os.symlink("real", src / "dirlink")
    registry.publish(Artifact(path=str(src)), name="s", mode="copy")
    files = {f.rel for f in registry.manifest(registry.resolve("art://s:v1")).files}
    assert files == {"real/f.txt", "link.txt", "dirlink/f.txt"}
    assert (Path(registry.locate("art://s:v1")) / "link.txt").read_bytes() == b"content"


@pytest.mark.parametrize("kind", ["outside", "dangling", "cycle", "fifo"])
def test_a_link_leaving_the_source_or_dangling_is_named(
    registry: ArtifactRegistry, tmp_path: Path, kind: str
) -> None:
    src = make_files(tmp_path / "s", {"sub/f.txt": b"x"})
    if kind == "outside":
        os.symlink("/etc/hostname", src / "host")
        culprit, words = "host", "outside the artifact"
    elif kind == "dangling":
        os.symlink("nowhere", src / "gone")
        culprit, words = "gone", "dangling"
    elif kind == "cycle":
        os.symlink("..", src / "sub" / "up")
        culprit, words = "sub/up", "cycle"
    else:
        os.mkfifo(src / "pipe")
        culprit, words = "pipe", "not a regular file"
    for mode in ("copy", "reference") if registry.storage.is_local else ("copy",):
        with pytest.raises(ArtifactError, match=words) as info:
            registry.publish(Artifact(path=str(src)), name="s", mode=mode)
        assert f"'{culprit}'" in str(info.value)
    assert not registry.projects()


def test_following_outside_links_is_explicit(registry: ArtifactRegistry, tmp_path: Path) -> None:
    outside = make_files(tmp_path / "elsewhere", {"shared.txt": b"shared"})
    src = make_files(tmp_path / "s", {"own.txt": b"own"})
    os.symlink(outside / "shared.txt", src / "shared.txt")
    registry.publish(Artifact(path=str(src)), name="s", mode="copy", follow_symlinks=True)
    assert (Path(registry.locate("art://s:v1")) / "shared.txt").read_bytes() == b"shared"


# -- corrupted objects and materialized trees -------------------------------------------------
def flip_object(registry: ArtifactRegistry, digest: str) -> None:
    key = f"objects/{digest[:2]}/{digest}"
    data = bytearray(registry.storage.read(key))
    data[0] ^= 0xFF
    local = registry.storage.local_path(key)
    if local is not None:
        os.chmod(local, 0o644)
        local.write_bytes(bytes(data))
    else:
        registry.storage.replace(key, bytes(data))


def test_a_flipped_byte_in_a_stored_object_is_reported_and_refused(
    registry: ArtifactRegistry, tmp_path: Path
) -> None:
    good = publish(registry, tmp_path)
    flip_object(registry, registry.manifest(good).files[0].digest)
    report = registry.verify("art://data:v1")
    assert report.changed == ["a.txt"] and not report.ok
    with pytest.raises(IntegrityError, match="1 changed"):
        registry.load("art://data:v1", verify=True)


def test_republishing_good_data_repairs_a_damaged_object(
    registry: ArtifactRegistry, tmp_path: Path
) -> None:
    src = make_files(tmp_path / "src", {"a.txt": b"alpha", "b.txt": b"beta"})
    first = registry.publish(Artifact(path=str(src)), name="data", mode="copy")
    flip_object(registry, registry.manifest(first).files[0].digest)
    registry.publish(Artifact(path=str(src)), name="data", mode="copy")  # same files, cache hit
    assert registry.verify("art://data:v2").ok
    assert registry.verify("art://data:v1").ok  # the same object: repaired for both


def test_a_changed_materialized_tree_is_reported_and_refused(
    registry: ArtifactRegistry, tmp_path: Path
) -> None:
    publish(registry, tmp_path)
    tree = Path(registry.load("art://data:v1").path)
    target = tree / "a.txt"
    os.chmod(target, 0o644)
    target.write_bytes(b"ALPHA")  # a hard link locally (the object changes), a copy on S3
    report = registry.verify("art://data:v1")
    assert not report.ok and ("a.txt" in report.changed or "a.txt" in report.copy_changed)
    with pytest.raises(IntegrityError):
        registry.load("art://data:v1", verify=True)


@pytest.mark.parametrize("damage", ["deleted", "added", "replaced"])
def test_a_tree_missing_or_gaining_files_is_reported_and_rebuilt(
    registry: ArtifactRegistry, tmp_path: Path, damage: str
) -> None:
    publish(registry, tmp_path)
    tree = Path(registry.load("art://data:v1").path)
    if damage == "deleted":
        (tree / "d" / "b.txt").unlink()
        field = "copy_missing"
    elif damage == "added":
        (tree / "extra.txt").write_text("x")
        field = "copy_extra"
    else:
        (tree / "d" / "b.txt").unlink()
        (tree / "d" / "b.txt").write_bytes(b"B")
        field = "copy_changed"
    report = registry.verify("art://data:v1")
    assert getattr(report, field) and report.stored_ok and not report.ok
    with pytest.raises(IntegrityError, match="has been removed"):
        registry.load("art://data:v1", verify=True)
    loaded = registry.load("art://data:v1", verify=True)  # rebuilt from the checked objects
    assert (Path(loaded.path) / "d" / "b.txt").read_bytes() == b"b"
    assert registry.verify("art://data:v1").ok


def test_a_local_tree_is_hard_links_to_read_only_objects(tmp_path: Path, home: Path) -> None:
    registry = ArtifactRegistry(tmp_path / "registry", hash_cache=False)
    version = publish(registry, tmp_path)
    tree = Path(registry.load("art://data:v1").path)
    digest = registry.manifest(version).files[0].digest
    obj = registry.storage.local_path(f"objects/{digest[:2]}/{digest}")
    assert obj is not None and os.stat(tree / "a.txt").st_ino == os.stat(obj).st_ino
    assert stat.S_IMODE(os.stat(obj).st_mode) == 0o444


# -- unreachable and missing storage ----------------------------------------------------------
@pytest.fixture
def black_hole() -> Iterator[str]:
    """A loopback endpoint that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        server.close()


class FailingProxy(http.server.ThreadingHTTPServer):
    """A loopback proxy in front of the S3 server. It answers the first ``fail_first``
    requests of ``method`` whose path holds ``paths`` with the error S3 gives when it fails
    (500 InternalError, "please try again"): instead of passing them on, or ``after`` the
    server did the work (the answer to a write that took effect is lost)."""

    daemon_threads = True

    def __init__(
        self, upstream: str, fail_first: int, paths: str, method: str = "PUT", after: bool = False
    ) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.upstream = urllib.parse.urlsplit(upstream).netloc
        self.fail_left, self.paths, self.method, self.after = fail_first, paths, method, after
        self.failed: list[str] = []
        self.lock = threading.Lock()

    def fate(self, method: str, path: str) -> str:
        """What becomes of this request: "pass", or a 500 "before" or "after" passing it on,
        or "drop" (passed on, then the connection closes without an answer)."""
        with self.lock:
            if method != self.method or self.paths not in path or self.fail_left <= 0:
                return "pass"
            self.fail_left -= 1
            self.failed.append(path)
        return "after" if self.after else "before"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> FailingProxy:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


class LossyProxy(FailingProxy):
    """Fails about one request in eight, the first time each is made: a 500 before or after
    the server did the work, or no answer at all. Which ones is fixed by the request (a hash of
    method and key below ``root``, the same in every run); a retry goes through, so no call
    runs out of tries."""

    def __init__(self, upstream: str, root: str) -> None:
        super().__init__(upstream, fail_first=0, paths="")
        self.root = root
        self.seen: set[str] = set()

    def fate(self, method: str, path: str) -> str:
        request = f"{method} {path.partition(self.root)[2] or path}"
        with self.lock:
            if request in self.seen:
                return "pass"
            self.seen.add(request)
        share = int.from_bytes(hashlib.blake2b(request.encode(), digest_size=2).digest()) % 100
        fate = "before" if share < 4 else "after" if share < 9 else "drop" if share < 13 else "pass"
        if fate != "pass":
            with self.lock:
                self.failed.append(f"{fate} {request}")
        return fate


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FailingProxy

    def log_message(self, *args: Any) -> None:
        pass

    def _relay(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        fate = self.server.fate(self.command, self.path)
        if fate != "before":
            upstream = http.client.HTTPConnection(self.server.upstream, timeout=30)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "expect"}
            upstream.request(self.command, self.path, body=body, headers=headers)
            answer = upstream.getresponse()
            status, answer_headers, data = answer.status, answer.getheaders(), answer.read()
            upstream.close()
        if fate == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if fate != "pass":
            status, answer_headers = 500, [("Content-Type", "application/xml")]
            data = (
                b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code>'
                b"<Message>We encountered an internal error. Please try again.</Message></Error>"
            )
        self.send_response(status)
        for key, value in answer_headers:
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _relay


@needs("s3")
@pytest.mark.parametrize("method, paths", [("PUT", "/objects/"), ("HEAD", "/versions/")])
def test_a_server_error_is_tried_again_as_aws_sdks_do(
    s3_endpoint: str, s3_bucket: str, tmp_path: Path, home: Path, method: str, paths: str
) -> None:
    """S3 answers a request now and then with 500 InternalError, "please try again", which
    AWS's own SDKs retry: so does a publish. Three uploads of its objects fail once each, or
    three look-ups of its version number (a HEAD)."""
    with FailingProxy(s3_endpoint, fail_first=3, paths=paths, method=method) as proxy:
        registry = ArtifactRegistry(
            f"s3://{s3_bucket}/flaky", storage_options={"endpoint_url": proxy.url}
        )
        data = make_files(tmp_path / "d", {f"{i}.bin": os.urandom(2000 + i) for i in range(6)})
        version = registry.publish(Artifact(path=str(data)), name="d", mode="copy")
        assert len(proxy.failed) == 3 and version.version == 1
        assert registry.verify(version.uri).ok


@needs("s3")
def test_a_commit_whose_answer_was_lost_keeps_its_number(
    s3_endpoint: str, s3_bucket: str, tmp_path: Path, home: Path
) -> None:
    """S3 stored a version record (the commit point) but its answer was a 500: the retry finds
    the record there. It is the publish's own, so the version keeps its number (no gap, no
    second record), and the next publish gets the next one."""
    with FailingProxy(s3_endpoint, fail_first=1, paths="/versions/", after=True) as proxy:
        registry = ArtifactRegistry(
            f"s3://{s3_bucket}/lost", storage_options={"endpoint_url": proxy.url}
        )
        first = registry.publish(
            Artifact(path=str(make_files(tmp_path / "a", {"f": b"a"}))), name="d"
        )
        assert len(proxy.failed) == 1 and first.version == 1
        second = registry.publish(
            Artifact(path=str(make_files(tmp_path / "b", {"f": b"b"}))), name="d"
        )
        assert second.version == 2
        assert [v.version for v in registry.versions("d")] == [1, 2]
        assert all(registry.verify(v.uri).ok for v in (first, second))


@needs("s3")
def test_racing_publishes_keep_exact_numbers_when_s3_loses_answers(
    s3_endpoint: str, s3_bucket: str, tmp_path: Path, home: Path
) -> None:
    """Eight writers publish five versions each of one name at once, through a proxy that
    fails about one request in eight: a 500 before or after S3 did the work, or no answer.
    The numbers are still exactly 1..40, each writer's own, and every version verifies."""
    from nemotron_kit.registry.testing import StorageSuite

    prefix = f"lossy-{uuid.uuid4().hex}"
    with LossyProxy(s3_endpoint, root=prefix) as proxy:
        root, options = f"s3://{s3_bucket}/{prefix}", {"endpoint_url": proxy.url}
        got, _ = StorageSuite().publishers(root, options, tmp_path / "scratch", 8, 5, "none")
        lost_commits = [f for f in proxy.failed if "PUT" in f and "/versions/" in f]
        assert sorted(got) == list(range(1, 41)), proxy.failed
    registry = ArtifactRegistry(root, storage_options={"endpoint_url": s3_endpoint})
    versions = registry.versions("shared")
    assert len({(v.metadata["worker"], v.metadata["i"]) for v in versions}) == 40
    assert all(registry.verify(v.uri).ok for v in versions)
    # The commits themselves were hit each way (the same ones in every run: 7 of the 40).
    assert {fault.split()[0] for fault in lost_commits} == {"before", "after", "drop"}


def dead_endpoint() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"  # closed again: connection refused


@pytest.mark.parametrize("kind", ["black-hole", "dead"])
def test_an_unresponsive_endpoint_ends_with_one_sentence_in_bounded_time(
    kind: str, black_hole: str, tmp_path: Path, run_nk: Callable[..., Any]
) -> None:
    endpoint = black_hole if kind == "black-hole" else dead_endpoint()
    env = {
        "NEMOTRON_KIT_REGISTRY_TIMEOUT": "2",
        "AWS_ACCESS_KEY_ID": "a",
        "AWS_SECRET_ACCESS_KEY": "b",
    }
    data = make_files(tmp_path / "d", {"f": b"x"})
    save = (
        "import nemotron_kit as kit\n"
        f"kit.init(root='s3://b/r', endpoint_url={endpoint!r})\n"
        f"kit.Artifact(path={str(data)!r}).save(name='x')\n"
    )
    commands = [
        ("artifacts", "ls", "--root", "s3://b/r", "--endpoint-url", endpoint),
        ("-c", save),
        (
            "--config-dir",
            str(REPO / "tests" / "conf"),
            "+recipe=stage",
            "registry=s3",
            "registry.bucket=b",
            f"registry.endpoint_url={endpoint}",
        ),
    ]
    for args in commands:
        started = time.monotonic()
        result = run_nk(*args, env=env, module=() if args[0] == "-c" else ("-m", "nemotron_kit"))
        took = time.monotonic() - started
        assert result.returncode != 0, args
        last = result.stderr.strip().splitlines()[-1]
        assert (
            "did not answer within 2 s" in last
            or "could not connect" in last.lower()
            or ("Connect" in last)
        ), result.stderr
        # Bounded: 2 s x 2 attempts per call and a few calls; never the minutes of defaults.
        assert took < 60, (args, took)


def test_a_missing_bucket_is_named(
    s3_endpoint: str, run_nk: Callable[..., Any], tmp_path: Path, home: Path
) -> None:
    bucket = f"nk-missing-{uuid.uuid4().hex[:12]}"
    result = run_nk("artifacts", "ls", "--root", f"s3://{bucket}/r", "--endpoint-url", s3_endpoint)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"Error: The bucket '{bucket}' of registry 's3://{bucket}/r' does not exist: create it "
        f"(aws s3 mb s3://{bucket}) or fix registry.bucket."
    )
    registry = ArtifactRegistry(f"s3://{bucket}/r", storage_options={"endpoint_url": s3_endpoint})
    with pytest.raises(StorageError, match="does not exist"):
        registry.resolve("art://x")


# -- disks ------------------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs (root only): a registry there runs out of space."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small filesystem needs root")
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_leaves_no_partial_version(
    small_disk: Path, tmp_path: Path, home: Path
) -> None:
    registry = ArtifactRegistry(small_disk / "registry", hash_cache=False)
    data = make_files(tmp_path / "big", {f"f{i}.bin": os.urandom(300_000) for i in range(5)})
    with pytest.raises(NemotronKitError) as info:
        registry.publish(Artifact(path=str(data)), name="big", mode="copy")
    assert "\n" not in str(info.value)
    with pytest.raises(NotFoundError):
        registry.resolve("art://big")


def test_a_read_only_registry_is_named(small_disk: Path, tmp_path: Path, home: Path) -> None:
    registry = ArtifactRegistry(small_disk / "registry", hash_cache=False)
    publish(registry, tmp_path)
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    data = make_files(tmp_path / "more", {"f": b"x"})
    with pytest.raises(StorageError, match=r"reachable .* and writable") as info:
        registry.publish(Artifact(path=str(data)), name="more", mode="copy")
    assert "Read-only" in str(info.value) or "read-only" in str(info.value)
    assert registry.resolve("art://data:v1").version == 1  # reading still works


def test_umask_000_never_makes_the_registry_world_writable(tmp_path: Path, home: Path) -> None:
    old = os.umask(0)
    try:
        registry = ArtifactRegistry(tmp_path / "registry", hash_cache=False)
        publish(registry, tmp_path)
        registry.alias("art://data:v1", "best")
        registry.load("art://data:v1")
    finally:
        os.umask(old)
    writable = [
        str(p)
        for p in (tmp_path / "registry").rglob("*")
        if stat.S_IMODE(p.lstat().st_mode) & stat.S_IWOTH
    ]
    assert writable == []


# -- stored paths -----------------------------------------------------------------------------
@pytest.mark.parametrize("rel", ["a", "a/b", "a.b/c-d_e", "x/" * 20 + "y", "ünï/cödé", "a b/c"])
def test_safe_relative_paths_are_accepted(rel: str) -> None:
    assert safe_relpath(rel) == rel
    records.check_relpaths(["a", rel, "z"])  # the bulk check of a manifest's paths agrees


@pytest.mark.parametrize(
    "rel",
    ["", "/a", "a/", "a//b", "./a", "a/.", "..", "a/../b", "a\\b", "a\x00", "a\nb", "x" * 5000],
)
def test_unsafe_relative_paths_are_refused(rel: str) -> None:
    with pytest.raises(ValueError):
        safe_relpath(rel)
    for at in range(3):  # the bulk check names its row, wherever it is
        rels = ["a", "z"]
        rels.insert(at, rel)
        with pytest.raises(ValueError, match=f"row {at}'s path"):
            records.check_relpaths(rels)


@pytest.mark.parametrize("bad", ["A" * 64, "a" * 63, "a" * 65, "a" * 64 + "\n", "", "é" * 64])
def test_a_digest_that_is_not_64_lowercase_hex_digits_is_named_by_its_row(bad: str) -> None:
    records.check_digests(["b" * 64, "c" * 64])
    with pytest.raises(ValueError, match="row 1 is not a 64-digit"):
        records.check_digests(["b" * 64, bad, "c" * 64])


def test_a_manifest_is_written_as_sorted_compact_json_and_read_back() -> None:
    """Manifests take pydantic's own encoder (fast): the same bytes as every other record's
    encoding for ASCII paths; other paths as UTF-8, read back as they were."""
    ascii_rows = [("a.txt", 1, "a" * 64), ('d/q"uote', 0, "b" * 64)]
    record = records.ManifestRecord(digest="c" * 64, files=ascii_rows)
    generic = json.dumps(record.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    assert records.dumps(record) == generic.encode()
    other = records.ManifestRecord(digest="c" * 64, files=[("ünï/cödé", 2, "d" * 64)])
    assert records.parse(records.ManifestRecord, records.dumps(other), "here") == other


@pytest.fixture
def run_nk(home: Path, tmp_path: Path) -> Callable[..., Any]:
    def run(
        *args: str,
        env: dict[str, str] | None = None,
        module: tuple[str, ...] = ("-m", "nemotron_kit"),
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, *module, *args],
            cwd=tmp_path,
            env={
                **os.environ,
                "NEMOTRON_KIT_HOME": str(home),
                "PYTHONPATH": str(REPO),
                **(env or {}),
            },
            capture_output=True,
            text=True,
            timeout=300,
        )

    return run


def cli_root(registry: ArtifactRegistry) -> list[str]:
    endpoint = getattr(registry.storage, "endpoint", None)
    return ["--root", registry.root, *(["--endpoint-url", endpoint] if endpoint else [])]
