"""The seed's quick start works as written: init, save, from_uri, latest/vN/alias round trips."""

from __future__ import annotations

from pathlib import Path

import nemotron_kit as kit
from nemotron_kit import ArtifactEntry, ArtifactRegistry, ArtifactVersion, PretrainBlendsArtifact


def test_quick_start(tmp_path: Path, nk_home: Path) -> None:
    kit.registry.reset()
    assert not kit.is_initialized()
    kit.init(root=str(tmp_path / "registry"), backend="fsspec")
    assert kit.is_initialized()
    assert kit.get_config().root == str(tmp_path / "registry")

    data = tmp_path / "blend"
    data.mkdir()
    (data / "blend.json").write_text('{"weights": [1.0]}')
    artifact = PretrainBlendsArtifact(path=str(data), total_tokens=1234, num_shards=1)
    uri = artifact.save(name="x")
    assert uri == "art://x:v1" == artifact.uri
    assert artifact.save(name="x", aliases=["best"]) == "art://x:v2"
    artifact.save(name="x")

    latest = PretrainBlendsArtifact.from_uri("art://x:latest")
    assert latest.version == 3 and latest.total_tokens == 1234
    assert PretrainBlendsArtifact.from_uri("art://x:v1").version == 1
    assert PretrainBlendsArtifact.from_uri("art://x:best").version == 2
    assert (Path(latest.path) / "blend.json").read_text() == '{"weights": [1.0]}'

    registry = kit.get_registry()
    assert isinstance(registry, ArtifactRegistry)
    entries = registry.list()
    assert isinstance(entries[0], ArtifactEntry) and entries[0].name == "x"
    versions = registry.versions("x")
    assert all(isinstance(v, ArtifactVersion) for v in versions) and len(versions) == 3
    assert registry.resolve("art://x").uri == "art://x:v3"
    registry.alias("art://x:v1", "prod")
    assert PretrainBlendsArtifact.from_uri("art://x:prod").version == 1


def test_default_registry_lives_under_nemotron_kit_home(tmp_path: Path, nk_home: Path) -> None:
    kit.registry.reset()
    data = tmp_path / "d"
    data.mkdir()
    (data / "f").write_text("x")
    assert kit.Artifact(path=str(data)).save(name="d") == "art://d:v1"
    assert kit.get_config().root == str(nk_home / "registry")
    assert (nk_home / "registry" / "artifacts" / "default" / "d").is_dir()
