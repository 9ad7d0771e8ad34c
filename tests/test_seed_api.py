"""The seed's quick start works as written: init, save, from_uri, latest/vN/alias round trips."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import nemotron_kit as kit
from nemotron_kit import ArtifactEntry, ArtifactRegistry, ArtifactVersion, PretrainBlendsArtifact
from nemotron_kit.tracking.wandb_offline import read_offline_run


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


# The seed's quick start (NVIDIA-NeMo/Nemotron, src/nemotron/kit/README.md), word for word;
# only the import path is renamed (nemotron.kit -> nemotron_kit) by `renamed` below.
SEED_CREATING_ARTIFACTS = """\
from nemotron.kit import PretrainBlendsArtifact
from pathlib import Path

artifact = PretrainBlendsArtifact(
    path=Path("/output/data"),
    total_tokens=25_000_000_000,
)
artifact.save(name="my-artifact")
"""
SEED_LINEAGE_TRACKING = """\
from nemotron.kit import set_lineage_tracker, WandbTracker

# Use W&B for lineage tracking
set_lineage_tracker(WandbTracker())
"""
SEED_KIT_INITIALIZATION = """\
import nemotron.kit as kit

# Initialize with fsspec backend
kit.init(backend="fsspec", root="/data/artifacts")

# Or with W&B backend
kit.init(backend="wandb", wandb_project="my-project")
"""


def renamed(snippet: str) -> str:
    return snippet.replace("nemotron.kit", "nemotron_kit")


@pytest.fixture
def output_data() -> Iterator[Path]:
    """The snippet's /output/data, with a shard in it (made, and removed, by this test)."""
    path = Path("/output/data")
    if path.exists():
        pytest.skip("/output/data exists on this machine: not touching it")
    if os.geteuid() != 0:
        pytest.skip("the seed's snippet saves /output/data, which only root can create here")
    made = [p for p in (Path("/output"), path) if not p.exists()]
    path.mkdir(parents=True)
    (path / "shard-0.bin").write_bytes(b"\x01\x02\x03")
    try:
        yield path
    finally:
        for directory in reversed(made):
            shutil.rmtree(directory, ignore_errors=True)


def run_snippet(code: str, home: Path, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env={**os.environ, "NEMOTRON_KIT_HOME": str(home), "WANDB_MODE": "offline", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_seed_snippet_creating_artifacts_runs_verbatim(
    tmp_path: Path, nk_home: Path, output_data: Path
) -> None:
    result = run_snippet(renamed(SEED_CREATING_ARTIFACTS), nk_home, tmp_path)
    assert result.returncode == 0, result.stderr
    loaded = PretrainBlendsArtifact.from_uri("art://my-artifact:v1")
    assert loaded.total_tokens == 25_000_000_000
    assert (Path(loaded.path) / "shard-0.bin").read_bytes() == b"\x01\x02\x03"


def test_seed_snippets_lineage_tracking_and_kit_initialization_run_verbatim(
    tmp_path: Path, nk_home: Path
) -> None:
    """Both run as written; then what the script publishes is mirrored to W&B (offline)."""
    wandb_dir = tmp_path / "wandb-files"
    wandb_dir.mkdir()
    data = tmp_path / "blend"
    data.mkdir()
    (data / "blend.json").write_text("{}")
    publish = (
        "\nfrom nemotron_kit import PretrainBlendsArtifact\n"
        f"print(PretrainBlendsArtifact(path={str(data)!r}, total_tokens=7).save(name='blend'))\n"
    )
    for snippet in (SEED_LINEAGE_TRACKING, SEED_KIT_INITIALIZATION):
        result = run_snippet(
            renamed(snippet) + publish, nk_home, tmp_path, WANDB_DIR=str(wandb_dir)
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip().startswith("art://blend:v"), result.stdout

    registry = kit.registry.init(root=nk_home / "registry")
    runs = {}
    for version in registry.versions("blend"):
        assert version.producer, version.uri  # the script's run made it
        (found,) = (wandb_dir / "wandb").glob(f"offline-run-*-{version.producer}")
        runs[version.uri] = read_offline_run(found)
    first, second = runs["art://blend:v1"], runs["art://blend:v2"]
    assert first["project"] == "nemotron-kit" and second["project"] == "my-project"
    for uri, mirrored in runs.items():
        (art,) = mirrored["artifacts"]
        assert art["name"] == "blend" and art["metadata"]["nemotron_kit_uri"] == uri
        assert mirrored["exit_code"] == 0  # the script's run ended with the process
    # `kit.init(root="/data/artifacts")` only chose a registry: nothing was written there.
    assert not Path("/data/artifacts").exists()
