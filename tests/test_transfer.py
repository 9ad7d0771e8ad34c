"""`artifacts export` (a version's files into a directory of one's own, checked; a download from
a remote registry) and `artifacts diff` (two versions side by side)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from nemotron_kit.artifacts import Artifact
from nemotron_kit.errors import ArtifactError, IntegrityError, NotFoundError
from nemotron_kit.registry import ArtifactRegistry
from nemotron_kit.registry.transfer import diff, export
from tests.conftest import needs


def tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


@pytest.fixture
def registry(tmp_path: Path) -> ArtifactRegistry:
    reg = ArtifactRegistry(tmp_path / "registry", hash_cache=False)
    one = tree(tmp_path / "one", {"a.txt": "A", "sub/b.txt": "B", "sub/c.txt": "C"})
    reg.publish(
        Artifact(path=str(one), metadata={"loss": 2.5, "note": "first", "step": 10}), name="d"
    )
    two = tree(tmp_path / "two", {"a.txt": "A", "sub/b.txt": "B2", "new.txt": "N"})
    reg.publish(
        Artifact(path=str(two), metadata={"loss": 1.25, "note": "first", "step": 10}), name="d"
    )
    return reg


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    root = str(tmp_path / "registry")
    return subprocess.run(
        [sys.executable, "-m", "nemotron_kit", "artifacts", "--root", root, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "NEMOTRON_KIT_HOME": str(tmp_path / "home")},
        timeout=120,
    )


def test_export_copies_checked_writable_files(registry: ArtifactRegistry, tmp_path: Path) -> None:
    report = export(registry, "art://d:v1", tmp_path / "out")
    out = tmp_path / "out"
    assert (report.files, report.bytes) == (3, 3)
    assert {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} == {
        "a.txt",
        "sub/b.txt",
        "sub/c.txt",
    }
    (out / "a.txt").write_text("edited")  # the user's own copy: writable, not the registry's
    assert registry.verify("art://d:v1").ok


def test_export_of_a_sub_path_and_of_one_file(registry: ArtifactRegistry, tmp_path: Path) -> None:
    export(registry, "art://d:v1/sub", tmp_path / "sub")
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["b.txt", "c.txt"]
    export(registry, "art://d:v2/sub/b.txt", tmp_path / "single")
    assert [p.name for p in (tmp_path / "single").iterdir()] == ["b.txt"]
    assert (tmp_path / "single" / "b.txt").read_text() == "B2"
    with pytest.raises(NotFoundError, match="no file or directory 'nope'"):
        export(registry, "art://d:v1/nope", tmp_path / "none")
    assert not (tmp_path / "none").exists()


def test_export_refuses_a_full_directory_and_damaged_data(
    registry: ArtifactRegistry, tmp_path: Path
) -> None:
    full = tree(tmp_path / "full", {"keep.txt": "mine"})
    result = cli(tmp_path, "export", "art://d:v1", str(full))
    assert result.returncode != 0
    assert "is not an empty directory: export to a new directory" in result.stderr
    assert [p.name for p in full.iterdir()] == ["keep.txt"]
    # One stored object damaged behind the registry's back: nothing is exported.
    version = registry.resolve("art://d:v2")
    entry = next(e for e in registry.manifest(version).files if e.rel == "new.txt")
    obj = Path(registry.storage.local_path(f"objects/{entry.digest[:2]}/{entry.digest}") or "")
    os.chmod(obj, 0o644)
    obj.write_text("X")
    with pytest.raises(IntegrityError, match="does not match its recorded digest and size"):
        export(registry, "art://d:v2", tmp_path / "bad")
    assert not (tmp_path / "bad").exists()
    assert not list(tmp_path.glob(".bad.tmp-*"))  # nothing half-written either


def test_diff_names_files_and_metadata(registry: ArtifactRegistry, tmp_path: Path) -> None:
    d = diff(registry, "art://d:v1", "art://d:v2")
    assert (d.added, d.removed, d.changed, d.unchanged) == (
        ["new.txt"],
        ["sub/c.txt"],
        ["sub/b.txt"],
        1,
    )
    assert d.metadata == {"loss": (2.5, 1.25)}  # what differs
    assert d.metrics == {"loss": (2.5, 1.25), "step": (10, 10)}  # every number, side by side
    assert all(isinstance(n, int) for n in d.metrics["step"])  # as recorded
    same = diff(registry, "art://d:v1", "art://d:v1")
    assert same.same_content and not same.metadata
    result = cli(tmp_path, "diff", "art://d:v1", "art://d:v2", "--json")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["files"]["changed"] == ["sub/b.txt"] and shown["metrics"]["loss"]["b"] == 1.25
    table = cli(tmp_path, "diff", "art://d:v1", "art://d:v2")
    assert table.returncode == 0 and "content differs" in table.stdout
    assert "sub/c.txt" in table.stdout and "1.25" in table.stdout
    assert re.search(r"^step\s+10\s+10\s*$", table.stdout, re.M), table.stdout  # not 10.0


@pytest.mark.slow
@needs("s3")
def test_export_downloads_from_an_s3_registry(
    tmp_path: Path, s3_endpoint: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEMOTRON_KIT_HOME", str(tmp_path / "home"))
    options = {"endpoint_url": s3_endpoint}
    reg = ArtifactRegistry(f"s3://{s3_bucket}/r", storage_options=options, hash_cache=False)
    src = tree(tmp_path / "src", {"w/model.bin": "weights", "config.json": "{}"})
    reg.publish(Artifact(path=str(src)), name="m")
    report = export(reg, "art://m:v1", tmp_path / "got")
    assert report.files == 2
    assert (tmp_path / "got" / "w" / "model.bin").read_text() == "weights"
    with pytest.raises(ArtifactError):
        export(reg, "art://m:v1", tmp_path / "got")  # not empty any more


@needs("s3")
def test_data_in_s3_is_published_by_reference_and_drift_is_detected(
    s3_endpoint: str, s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing is copied: each object's ETag is recorded; verify lists again and names what
    changed, went missing or appeared."""
    import boto3

    from nemotron_kit.registry.transfer import export

    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    for key, body in {"data/a.txt": b"alpha", "data/sub/b.txt": b"beta"}.items():
        s3.put_object(Bucket=s3_bucket, Key=key, Body=body)
    registry = ArtifactRegistry(tmp_path / "registry", hash_cache=False)
    url = f"s3://{s3_bucket}/data"
    version = registry.publish(Artifact(path=url), name="corpus")
    assert version.record["storage"]["mode"] == "reference"
    assert sorted(version.record["storage"]["fingerprints"]) == ["a.txt", "sub/b.txt"]
    assert not any((tmp_path / "registry" / "objects").rglob("*.*"))  # nothing was copied
    assert registry.load("art://corpus:v1").path == url
    assert registry.locate("art://corpus:v1/sub/b.txt") == f"{url}/sub/b.txt"
    assert registry.verify("art://corpus:v1").ok

    single = registry.publish(Artifact(path=f"{url}/a.txt"), name="one")
    assert single.record["storage"]["single_file"] == "a.txt"
    assert registry.manifest(single).files[0].size == 5
    again = registry.publish(Artifact(path=url), name="corpus")
    assert again.digest == version.digest  # the same objects: the same manifest

    s3.put_object(Bucket=s3_bucket, Key="data/a.txt", Body=b"ALPHA!")
    s3.delete_object(Bucket=s3_bucket, Key="data/sub/b.txt")
    s3.put_object(Bucket=s3_bucket, Key="data/new.txt", Body=b"new")
    report = registry.verify("art://corpus:v1")
    assert (report.changed, report.missing, report.extra) == (["a.txt"], ["sub/b.txt"], ["new.txt"])
    assert not report.ok

    with pytest.raises(ArtifactError, match="is in object storage, which mode='copy' does not"):
        registry.publish(Artifact(path=url), name="corpus", mode="copy")
    with pytest.raises(ArtifactError, match="references data in object storage"):
        export(registry, "art://corpus:v1", tmp_path / "out")
    with pytest.raises(ArtifactError, match=r"is a https:// URL, which cannot be referenced"):
        registry.publish(Artifact(path="https://example.com/data"), name="web")
    with pytest.raises(ArtifactError, match="holds no files"):
        registry.publish(Artifact(path=f"s3://{s3_bucket}/nothing-here"), name="empty")
