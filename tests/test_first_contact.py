"""What a new user meets first: bad values refused before any work, one closing line naming
what a run published, one sentence when it fails, and `${art:...}` outside the app."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import nemotron_kit as kit
from nemotron_kit.errors import ConfigValidationError, OverrideError
from tests.conftest import REPO, RunCli, registry_of

STAGE = ("--config-dir", str(REPO / "tests" / "conf"), "+recipe=stage")


@pytest.mark.parametrize(
    "override, sentence",
    [
        ("train.lr=abc", "'train.lr' takes a number, not 'abc'"),
        ("train.steps=-5", "'train.steps' is -5, but it must be >= 1"),
        ("+train.bogus=1", "'train.bogus' is not a setting here"),
        ("train.stepz=3", "'train.stepz' is not a setting of 'train'"),
        ("output.name=../x", "'output.name' is '../x', but it is not a valid name"),
        ("model.n_heads=3", "model.d_model=64 is not divisible by model.n_heads=3"),
        ("registry=s3", "'registry.bucket' has no value (???)"),
        ("tracker.wandb.mode=later", "no key"),
    ],
)
def test_a_bad_value_is_refused_before_any_work(
    run_cli: RunCli, nk_home: Path, work: Path, override: str, sentence: str
) -> None:
    if override == "tracker.wandb.mode=later":
        override, sentence = "tracker=wandb", "'tracker.wandb.mode' is 'later', but it must be"
        result = run_cli("+recipe=pretrain", override, env={"WANDB_MODE": "later"})
    else:
        result = run_cli("+recipe=pretrain", override)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {sentence}"), result.stderr
    # Nothing ran: no training step was logged, no registry (so no run record, no version).
    assert "pretrain:" not in result.stdout
    assert not (nk_home / "registry").exists()


def test_a_bad_value_is_refused_before_a_remote_job_is_submitted(
    run_cli: RunCli, nk_home: Path, work: Path
) -> None:
    """executor=slurm checks each job where the user typed the command, before sbatch."""
    for executor in ("slurm", "torchrun"):
        result = run_cli("+recipe=pretrain", f"executor={executor}", "train.steps=0")
        assert result.returncode != 0
        assert result.stderr.strip().splitlines() == [
            "Error: 'train.steps' is 0, but it must be >= 1: fix the override or the config file."
        ]
        assert "submitted" not in result.stderr and not list(work.glob("multirun/*/*/.submitit"))
    sweep = run_cli("-m", "+recipe=pretrain", "train.steps=3,-1")
    assert sweep.returncode != 0
    assert sweep.stderr.strip().splitlines()[-1].startswith("Error: 'train.steps' is -1")
    assert not (nk_home / "registry").exists()


def test_a_run_ends_with_the_line_naming_what_it_published(run_cli: RunCli, nk_home: Path) -> None:
    first = run_cli(*STAGE, "output.name=made")
    assert first.returncode == 0, first.stderr
    assert first.stderr.strip().splitlines()[-1] == "published art://made:v1"
    quiet = run_cli(*STAGE, "output.name=made", "tracker=noop")  # no run record: the return value
    assert quiet.stderr.strip().splitlines()[-1] == "published art://made:v2"
    versions = [v.uri for v in registry_of(nk_home).versions("made")]
    assert versions == ["art://made:v1", "art://made:v2"]


def test_a_failed_run_prints_one_sentence(run_cli: RunCli) -> None:
    result = run_cli(*STAGE, "stage.fail=true")
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith("Error: ")
    assert "Error executing job" not in result.stderr + result.stdout


def test_the_sweep_table_has_an_outputs_column(run_cli: RunCli) -> None:
    result = run_cli("-m", *STAGE, "stage.seed=1,2", "output.name=swept")
    assert result.returncode == 0, result.stderr
    header = next(line for line in result.stderr.splitlines() if "overrides" in line)
    assert "outputs" in header
    assert "art://swept:v1" in result.stderr and "art://swept:v2" in result.stderr
    assert "lineage: 2 runs of sweep-" in result.stderr and "2 versions published" in result.stderr


def test_help_lists_the_groups_users_choose_from_not_the_schemas(run_cli: RunCli) -> None:
    result = run_cli("--help")
    assert result.returncode == 0, result.stderr
    assert "executor: container, local, slurm, torchrun" in result.stdout
    assert "nk_schema" not in result.stdout


def test_reproduce_json_is_pure_json(run_cli: RunCli, nk_home: Path) -> None:
    assert run_cli(*STAGE, "output.name=again").returncode == 0
    result = subprocess.run(
        [sys.executable, "-m", "nemotron_kit", "reproduce", "art://again:v1", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=nk_home,
        env={**__import__("os").environ, "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)  # nothing but the report on stdout
    assert report["identical"] is True and report["reproduced"] == "art://again:v2"
    assert report["same_code"] is False and report["code"] is None  # no git repo: no snapshot


def test_art_resolves_in_a_plain_script_after_import(nk_home: Path, tmp_path: Path) -> None:
    data = tmp_path / "blend"
    data.mkdir()
    (data / "blend.json").write_text("{}")
    registry = kit.init(root=str(nk_home / "registry"))
    kit.PretrainBlendsArtifact(path=data, total_tokens=4321).save(name="blend")
    config = tmp_path / "train.yaml"
    config.write_text("tokens: ${art:blend:v1,total_tokens}\npath: ${art:blend}\n")
    script = (
        "import nemotron_kit as kit\n"  # imported first: omegaconf is not loaded yet
        f"kit.init(root={str(registry.root)!r})\n"
        "from omegaconf import OmegaConf\n"
        f"cfg = OmegaConf.load({str(config)!r})\n"
        "print(cfg.tokens)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "4321"


@dataclass
class Train:
    lr: float = 3e-4
    steps: int = 10


@dataclass
class Config:
    train: Train = field(default_factory=Train)
    tokens: int = 0
    tags: dict[str, str] = field(default_factory=dict)


def test_strict_overrides_refuse_a_typo_even_with_a_plus() -> None:
    from nemotron_kit.config import parse_config_and_overrides

    for typo in ("+lrr=1", "+train.lrr=1", "train.lrr=1"):
        with pytest.raises(OverrideError, match="is not a field of"):
            parse_config_and_overrides(Config, overrides=[typo])
    cfg = parse_config_and_overrides(Config, overrides=["+tags.team=nlp", "train.lr=1e-3"])
    assert cfg.tags == {"team": "nlp"} and cfg.train.lr == 1e-3


def test_strict_config_pins_artifact_references(nk_home: Path, tmp_path: Path) -> None:
    """`${art:NAME}` in a training script's config is one version, read once, as in a job."""
    from nemotron_kit.config import parse_config_and_overrides

    data = tmp_path / "blend"
    data.mkdir()
    (data / "blend.json").write_text("{}")
    kit.init(root=str(nk_home / "registry"))
    kit.PretrainBlendsArtifact(path=data, total_tokens=11).save(name="blend")
    cfg = parse_config_and_overrides(Config, overrides=["tokens=${art:blend,total_tokens}"])
    assert cfg.tokens == 11
    with pytest.raises(ConfigValidationError):
        parse_config_and_overrides(Config, overrides=["tokens=${art:blend,tokenizer}"])
