"""The one instantiate helper: builds targets, and explains the ones it cannot build."""

from __future__ import annotations

import dataclasses

import pytest
from omegaconf import OmegaConf

from nemotron_kit.config import instantiate
from nemotron_kit.errors import InstantiationError


@dataclasses.dataclass
class Point:
    x: int
    y: int = 0


def test_builds_nested_targets() -> None:
    cfg = OmegaConf.create(
        {"_target_": "builtins.dict", "p": {"_target_": f"{__name__}.Point", "x": 1, "y": 2}}
    )
    built = instantiate(cfg)
    assert built["p"] == Point(1, 2)


def test_unknown_target_names_the_target_and_key() -> None:
    cfg = OmegaConf.create({"model": {"_target_": "no_such_pkg.Model", "size": 1}})
    with pytest.raises(InstantiationError) as info:
        instantiate(cfg.model)
    assert "no_such_pkg.Model" in str(info.value)


def test_bad_arguments_name_the_target() -> None:
    with pytest.raises(InstantiationError) as info:
        instantiate({"_target_": f"{__name__}.Point", "z": 3})
    assert f"{__name__}.Point" in str(info.value)
    assert "z" in str(info.value)


def test_hydra_target_policy_is_reported_not_bypassed() -> None:
    with pytest.raises(InstantiationError, match="subprocess"):
        instantiate({"_target_": "subprocess.run", "args": ["true"]})
