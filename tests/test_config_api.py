"""The config API for plain scripts: load, override, validate — good and bad input."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path

import pytest
import tomli_w
from omegaconf import MISSING, OmegaConf

import nemotron_kit
from nemotron_kit import train_script
from nemotron_kit.errors import (
    ConfigFileNotFoundError,
    ConfigParseError,
    ConfigValidationError,
    OverrideError,
)

CONTENT = {
    "model": {"d_model": 64, "n_layers": 2, "dropout": 0.1, "name": "tiny"},
    "train": {"lr": 0.0003, "steps": 100, "tags": ["a", "b"], "amp": False},
    "data": None,
}


@dataclasses.dataclass
class ModelCfg:
    d_model: int = 32
    n_layers: int = 1
    dropout: float = 0.0
    name: str = MISSING


@dataclasses.dataclass
class TrainCfg:
    lr: float = 1e-3
    steps: int = 10
    tags: list[str] = dataclasses.field(default_factory=list)
    amp: bool = True


@dataclasses.dataclass
class Schema:
    model: ModelCfg = dataclasses.field(default_factory=ModelCfg)
    train: TrainCfg = dataclasses.field(default_factory=TrainCfg)
    data: str | None = None


def write_all_formats(directory: Path, content: Mapping[str, object]) -> dict[str, Path]:
    import yaml

    files = {
        "yaml": directory / "c.yaml",
        "toml": directory / "c.toml",
        "json": directory / "c.json",
    }
    files["yaml"].write_text(yaml.safe_dump(content))
    toml_content = json.loads(json.dumps(content))
    toml_content.pop("data")  # TOML has no null
    files["toml"].write_text(tomli_w.dumps(toml_content))
    files["json"].write_text(json.dumps(content))
    return files


def test_api_is_exported_from_both_modules() -> None:
    for name in (
        "load_omegaconf_yaml",
        "apply_hydra_overrides",
        "omegaconf_to_dataclass",
        "parse_config_and_overrides",
    ):
        assert getattr(nemotron_kit, name) is getattr(train_script, name)


def test_yaml_toml_json_give_the_same_config(tmp_path: Path) -> None:
    files = write_all_formats(tmp_path, CONTENT)
    loaded = {
        fmt: OmegaConf.to_container(nemotron_kit.load_omegaconf_yaml(p)) for fmt, p in files.items()
    }
    expected = dict(CONTENT)
    assert loaded["yaml"] == expected
    assert loaded["json"] == expected
    expected.pop("data")
    assert loaded["toml"] == expected
    # And all three become the same typed object.
    objs = {
        fmt: nemotron_kit.parse_config_and_overrides(Schema, config_file=p)
        for fmt, p in files.items()
    }
    assert objs["yaml"] == objs["toml"] == objs["json"]
    assert objs["yaml"].train.lr == pytest.approx(3e-4)
    assert objs["yaml"].model.name == "tiny"


def test_yaml_keeps_interpolations_and_scientific_floats(tmp_path: Path) -> None:
    f = tmp_path / "c.yml"
    f.write_text("lr: 1e-3\nwarmup_lr: ${lr}\n")
    cfg = nemotron_kit.load_omegaconf_yaml(f)
    assert cfg.lr == 0.001
    assert cfg.warmup_lr == 0.001


@pytest.mark.parametrize(
    ("name", "text", "fragment"),
    [
        ("bad.yaml", "a: [1, 2\n", "line 2"),
        ("bad.yaml", "a: 1\n  b: 2\n", "line 2"),
        ("bad.toml", "a = [1, 2\n", "TOML"),
        ("bad.json", '{"a": 1,}', "line 1"),
        ("list.yaml", "- 1\n- 2\n", "not a mapping"),
        ("conf.ini", "a=1", "unknown extension"),
    ],
)
def test_malformed_files_name_the_file(tmp_path: Path, name: str, text: str, fragment: str) -> None:
    f = tmp_path / name
    f.write_text(text)
    with pytest.raises(ConfigParseError) as info:
        nemotron_kit.load_omegaconf_yaml(f)
    message = str(info.value)
    assert str(f) in message and fragment in message
    assert "\n" not in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileNotFoundError, match="does not exist"):
        nemotron_kit.load_omegaconf_yaml(tmp_path / "nope.yaml")


def test_overrides_follow_hydra_grammar() -> None:
    cfg = OmegaConf.create({"a": {"b": 1, "c": "x"}, "drop": 5, "keep": [1]})
    nemotron_kit.apply_hydra_overrides(
        cfg,
        [
            "a.b=2",
            "+a.new=hello",
            "++a.c=forced",
            "++brand.new=3",
            "~drop",
            "keep=[1,2,3]",
            "+d={x: 1, y: [a, b]}",
            "+a.quoted='1,2 and spaces'",
            "+nothing=null",
        ],
    )
    assert OmegaConf.to_container(cfg) == {
        "a": {"b": 2, "c": "forced", "new": "hello", "quoted": "1,2 and spaces"},
        "brand": {"new": 3},
        "keep": [1, 2, 3],
        "d": {"x": 1, "y": ["a", "b"]},
        "nothing": None,
    }


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("a.missing=1", "write '+a.missing=1' to add it"),
        ("+a.b=1", "already in the config"),
        ("~a.nope", "not in the config"),
        ("~a.b=7", "only if it equals 7"),
        ("a.b=[1,2", "malformed"),
        ("a.b=1,2", "is a sweep"),
    ],
)
def test_bad_overrides_name_the_override_and_change_nothing(override: str, fragment: str) -> None:
    cfg = OmegaConf.create({"a": {"b": 1}})
    with pytest.raises(OverrideError) as info:
        # The good override before the bad one must not be applied either.
        nemotron_kit.apply_hydra_overrides(cfg, ["+a.first=1", override])
    assert override in str(info.value)
    assert fragment in str(info.value)
    assert OmegaConf.to_container(cfg) == {"a": {"b": 1}}


def test_to_dataclass_is_strict_and_names_the_key_path() -> None:
    good = nemotron_kit.omegaconf_to_dataclass(OmegaConf.create(CONTENT), Schema)
    assert isinstance(good, Schema) and isinstance(good.model, ModelCfg)
    assert good.train.tags == ["a", "b"]

    with pytest.raises(ConfigValidationError, match=r"'model\.d_modle'.*not a field"):
        nemotron_kit.omegaconf_to_dataclass({"model": {"d_modle": 3, "name": "x"}}, Schema)
    with pytest.raises(ConfigValidationError, match=r"'model\.name' has no value"):
        nemotron_kit.omegaconf_to_dataclass({"model": {"d_model": 3}}, Schema)
    with pytest.raises(ConfigValidationError, match=r"'train\.steps'.*wrong type"):
        nemotron_kit.omegaconf_to_dataclass(
            {"model": {"name": "x"}, "train": {"steps": "many"}}, Schema
        )


def test_to_pydantic_model_is_strict_too() -> None:
    import pydantic

    class Opt(pydantic.BaseModel):
        lr: float
        betas: tuple[float, float] = (0.9, 0.95)

    class Run(pydantic.BaseModel):
        opt: Opt
        name: str = "run"

    run = nemotron_kit.omegaconf_to_dataclass({"opt": {"lr": 0.1}}, Run)
    assert isinstance(run, Run) and run.opt.lr == 0.1
    with pytest.raises(ConfigValidationError, match=r"'opt\.lr' has no value"):
        nemotron_kit.omegaconf_to_dataclass({"opt": {}}, Run)
    with pytest.raises(ConfigValidationError, match=r"'nmae'.*not a field"):
        nemotron_kit.omegaconf_to_dataclass({"opt": {"lr": 1}, "nmae": "x"}, Run)
    with pytest.raises(ConfigValidationError, match=r"'opt\.lr'.*invalid"):
        nemotron_kit.omegaconf_to_dataclass({"opt": {"lr": "fast"}}, Run)


def test_parse_config_and_overrides(tmp_path: Path) -> None:
    f = tmp_path / "train.yaml"
    f.write_text("model:\n  name: tiny\ntrain:\n  lr: 0.1\n")
    cfg = nemotron_kit.parse_config_and_overrides(
        Schema, config_file=f, overrides=["train.lr=3e-4", "model.n_layers=4", "data=/tmp/x"]
    )
    assert cfg.train.lr == pytest.approx(3e-4)
    assert cfg.model.n_layers == 4
    assert cfg.train.steps == 10  # schema default
    assert cfg.data == "/tmp/x"
    # Without a file: schema defaults plus overrides.
    cfg2 = nemotron_kit.parse_config_and_overrides(Schema, overrides=["model.name=n"])
    assert cfg2.model.name == "n"


def test_parse_config_and_overrides_errors_name_the_culprit(tmp_path: Path) -> None:
    f = tmp_path / "train.yaml"
    f.write_text("model:\n  name: tiny\n  widht: 3\n")
    with pytest.raises(ConfigValidationError) as info:
        nemotron_kit.parse_config_and_overrides(Schema, config_file=f)
    assert "model.widht" in str(info.value) and str(f) in str(info.value)
    with pytest.raises(OverrideError, match=r"'train\.steps=lots'.*Integer"):
        nemotron_kit.parse_config_and_overrides(
            Schema, overrides=["model.name=x", "train.steps=lots"]
        )
    with pytest.raises(ConfigValidationError, match=r"'model\.name' has no value"):
        nemotron_kit.parse_config_and_overrides(Schema, overrides=[])
    with pytest.raises(OverrideError, match=r"train\.sped"):
        nemotron_kit.parse_config_and_overrides(Schema, overrides=["train.sped=3"])
