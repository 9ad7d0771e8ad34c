"""${art:...} in configs, pinning at job start, the saved config, and art:// through fsspec."""

from __future__ import annotations

import json
import os
from pathlib import Path

import fsspec
import pytest
import yaml
from omegaconf import OmegaConf

import nemotron_kit as kit
from nemotron_kit.artifacts import PretrainBlendsArtifact
from nemotron_kit.errors import ArtifactError
from nemotron_kit.registry import resolver
from tests.conftest import REPO, RunCli, needs


@pytest.fixture
def registry_root(nk_home: Path) -> Path:
    return nk_home / "registry"


def publish_blend(tmp_path: Path, tokens: int, tag: str) -> str:
    data = tmp_path / f"blend-{tag}"
    data.mkdir()
    (data / "blend.json").write_text(json.dumps({"tag": tag}))
    return PretrainBlendsArtifact(path=str(data), total_tokens=tokens, num_shards=1).save(
        name="data"
    )


def test_resolver_fields(tmp_path: Path, registry_root: Path) -> None:
    kit.registry.init(root=registry_root)
    publish_blend(tmp_path, 100, "a")
    publish_blend(tmp_path, 200, "b")
    resolver.register()
    cfg = OmegaConf.create(
        {
            "path": "${art:data}",
            "v1_tokens": "${art:data:v1,total_tokens}",
            "version": "${art:data,version}",
            "uri": "${art:data:latest,uri}",
            "type": "${art:data,type}",
            "full": "${art:'art://data:v1',name}",
        }
    )
    resolved = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(resolved, dict)
    assert resolved["v1_tokens"] == 100 and resolved["version"] == 2
    assert resolved["uri"] == "art://data:v2" and resolved["type"] == "pretrain_blends"
    assert resolved["full"] == "data"
    assert json.loads((Path(resolved["path"]) / "blend.json").read_text()) == {"tag": "b"}
    bad = OmegaConf.create({"x": "${art:data,nope}"})
    with pytest.raises(Exception, match=r"has no field 'nope'.*total_tokens"):
        OmegaConf.to_container(bad, resolve=True)


def test_pin_config_pins_every_reference_once(tmp_path: Path, registry_root: Path) -> None:
    kit.registry.init(root=registry_root)
    publish_blend(tmp_path, 100, "a")
    cfg = OmegaConf.create(
        {
            "inputs": {"data": "art://data:latest", "file": "art://data:latest/blend.json"},
            "tokens": "${art:data,total_tokens}",
            "nested": [{"p": "${art:data}"}],
        }
    )
    pinned = resolver.pin_config(cfg)
    publish_blend(tmp_path, 999, "later")  # a publish after pinning changes nothing for the job
    assert pinned == ["art://data:v1", "art://data:v1/blend.json"]
    raw = OmegaConf.to_container(cfg, resolve=False)
    assert isinstance(raw, dict)
    assert raw["inputs"] == {"data": "art://data:v1", "file": "art://data:v1/blend.json"}
    assert raw["tokens"] == "${art:data:v1,total_tokens}"
    assert cfg.tokens == 100


def test_job_saves_the_pinned_config(run_cli: RunCli, tmp_path: Path, registry_root: Path) -> None:
    kit.registry.init(root=registry_root)
    publish_blend(tmp_path, 100, "a")
    publish_blend(tmp_path, 200, "b")
    user = tmp_path / "conf"
    (user / "recipe").mkdir(parents=True)
    (user / "recipe" / "consume.yaml").write_text(
        "# @package _global_\n"
        "recipe: {name: consume, _target_: tests.recipes_for_tests.consume}\n"
        "inputs: {data: 'art://data:latest'}\n"
        "probe: {tokens: '${art:data,total_tokens}'}\n"
    )
    work = tmp_path / "job"
    work.mkdir()
    result = run_cli(
        "--config-dir",
        str(user),
        "+recipe=consume",
        "hydra.run.dir=out",
        f"+seen_file={work}/seen.json",
        cwd=work,
        env={"PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads((work / "seen.json").read_text())
    assert seen == {"inputs": {"data": "art://data:v2"}, "probe": {"tokens": 200}}
    saved = (work / "out" / ".hydra" / "config.yaml").read_text()
    assert "latest" not in saved and "${art:data}" not in saved
    assert yaml.safe_load(saved)["inputs"]["data"] == "art://data:v2"
    assert "${art:data:v2,total_tokens}" in saved


def test_fsspec_protocol_reads_published_files(tmp_path: Path, registry_root: Path) -> None:
    kit.registry.init(root=registry_root)
    publish_blend(tmp_path, 100, "a")
    with fsspec.open("art://data:v1/blend.json", "rb") as f:
        assert json.loads(f.read()) == {"tag": "a"}
    fs = fsspec.filesystem("art", root=str(registry_root))
    # Names as asked, without the protocol (fsspec's convention, which glob relies on).
    assert fs.ls("art://data:latest", detail=False) == ["data:latest/blend.json"]
    assert fs.info("art://data:v1/blend.json")["size"] == len(json.dumps({"tag": "a"}))
    assert fs.glob("art://data:v1/*.json") == ["data:v1/blend.json"]
    assert fs.glob("art://data:latest/*.txt") == []
    assert fs.find("art://data:latest") == ["data:latest/blend.json"]
    (opened,) = fsspec.open_files("art://data:latest/*.json")
    with opened as f:
        assert json.loads(f.read()) == {"tag": "a"}
    with pytest.raises(FileNotFoundError):
        fs.open("art://data:v1/missing.json")
    with pytest.raises(ArtifactError, match="read-only"):
        fs.open("art://data:v1/blend.json", "wb")


@needs("s3")
def test_fsspec_protocol_on_s3(
    tmp_path: Path, nk_home: Path, s3_endpoint: str, s3_bucket: str
) -> None:
    kit.registry.init(root=f"s3://{s3_bucket}/reg", endpoint_url=s3_endpoint)
    publish_blend(tmp_path, 1, "s3")
    assert json.loads(fsspec.open("art://data:latest/blend.json").open().read()) == {"tag": "s3"}
    assert os.environ["NEMOTRON_KIT_HOME"] == str(nk_home)


def test_a_sub_path_resolves_to_that_file_or_fails_in_one_sentence(
    tmp_path: Path, registry_root: Path
) -> None:
    kit.registry.init(root=registry_root)
    publish_blend(tmp_path, 100, "a")
    resolver.register()
    cfg = OmegaConf.create({"file": "${art:data:v1/blend.json}", "bad": "${art:data:v1/nope}"})
    assert json.loads(Path(cfg.file).read_text()) == {"tag": "a"}
    with pytest.raises(Exception, match="has no file or directory 'nope'"):
        _ = cfg.bad
