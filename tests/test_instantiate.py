"""The one instantiate helper: builds targets, and explains the ones it cannot build."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

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


MISSING = {"_target_": "no_such_pkg.Model", "size": 1}


@pytest.mark.parametrize(
    ("build", "key"),
    [
        (lambda: instantiate(OmegaConf.create({"model": MISSING}).model), "model"),
        pytest.param(
            lambda: instantiate(OmegaConf.create({"model": MISSING})),
            "model",
        ),
        pytest.param(
            lambda: instantiate({"_target_": "builtins.dict", "parts": {"model": MISSING}}),
            "parts.model",
        ),
    ],
    ids=["node", "in-a-plain-config", "under-another-target"],
)
def test_unknown_target_names_the_target_and_key(build: Callable[[], object], key: str) -> None:
    with pytest.raises(InstantiationError) as info:
        build()
    said = str(info.value)
    assert "'no_such_pkg.Model'" in said and f"'{key}'" in said
    assert "builtins.dict" not in said and "HYDRA_FULL_ERROR" not in said  # only the culprit


def test_bad_arguments_name_the_target() -> None:
    with pytest.raises(InstantiationError) as info:
        instantiate({"_target_": f"{__name__}.Point", "z": 3})
    assert f"{__name__}.Point" in str(info.value)
    assert "z" in str(info.value)


def test_hydra_target_policy_is_reported_not_bypassed() -> None:
    with pytest.raises(InstantiationError, match="subprocess"):
        instantiate({"_target_": "subprocess.run", "args": ["true"]})


def test_refused_target_is_one_whole_sentence_with_a_way_out() -> None:
    with pytest.raises(InstantiationError) as info:
        instantiate({"_target_": "subprocess.run", "args": ["true"]})
    said = str(info.value)
    assert "\n" not in said
    # Hydra's whole reason, not its first wrapped line.
    assert "execution-capable target family" in said
    assert "HYDRA_INSTANTIATE_ALLOWLIST_OVERRIDE" in said
    # No setting lets it through, so do not send the user to its arguments.
    assert "check its arguments" not in said
    assert "Python code" in said


def test_overridable_blocklist_names_the_override() -> None:
    with pytest.raises(InstantiationError) as info:
        instantiate({"_target_": "shutil.rmtree", "path": "x"})
    said = str(info.value)
    assert "\n" not in said and "check its arguments" not in said
    assert "HYDRA_INSTANTIATE_ALLOWLIST_OVERRIDE=shutil.rmtree" in said
