"""The Hydra app from the command line: help, composition, defaults, and one-sentence errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import RunCli, run_test_conf

GROUPS = {
    "artifact": [
        "data_blends",
        "model",
        "pretrain_blends",
        "pretrain_data",
        "sft_data",
        "split_jsonl",
    ],
    "executor": ["container", "local", "slurm", "torchrun"],
    "pipeline": ["tiny"],
    "recipe": ["data_prep", "eval", "pretrain", "sft", "sft_data"],
    "registry": ["azure", "gcs", "local", "s3"],
    "tracker": ["file", "noop", "wandb"],
}


def test_help_lists_every_group_and_option(run_cli: RunCli) -> None:
    result = run_cli("--help")
    assert result.returncode == 0, result.stderr
    for group, options in GROUPS.items():
        assert f"{group}: {', '.join(options)}" in result.stdout


def test_every_help_placeholder_is_filled_when_a_template_uses_it(run_cli: RunCli) -> None:
    """Ours lists the groups itself; Hydra's placeholders still work in a user's template
    (filled on demand: nemotron_kit.cli.hydra_help) and in --hydra-help."""
    template = "hydra.help.template='APP $APP_CONFIG_GROUPS FLAGS $FLAGS_HELP CFG $CONFIG'"
    own = run_cli("--help", template, "train.lr=0.125", "+recipe=pretrain")
    assert own.returncode == 0, own.stderr
    assert "executor: container, local, slurm, torchrun" in own.stdout
    assert "--multirun" in own.stdout and "lr: 0.125" in own.stdout
    assert "hydra/launcher" not in own.stdout  # the app's groups, not Hydra's
    hydra_help = run_cli("--hydra-help")
    assert hydra_help.returncode == 0, hydra_help.stderr
    assert "hydra/launcher: " in hydra_help.stdout and "executor:" not in hydra_help.stdout


def test_default_config_composes(run_cli: RunCli, nk_home: Path) -> None:
    result = run_cli("--cfg", "job", "--resolve")
    assert result.returncode == 0, result.stderr
    cfg = yaml.safe_load(result.stdout)
    assert cfg["executor"]["name"] == "local"
    assert list(cfg["tracker"]) == ["file"]
    assert cfg["registry"]["root"] == f"{nk_home}/registry"


def test_every_recipe_and_option_composes(run_cli: RunCli) -> None:
    for recipe in GROUPS["recipe"]:
        result = run_cli(
            "--cfg", "job", f"+recipe={recipe}", "executor=slurm", "tracker=[file,wandb]"
        )
        assert result.returncode == 0, result.stderr
        cfg = yaml.safe_load(result.stdout)
        assert cfg["recipe"]["name"] == recipe
        assert cfg["executor"]["name"] == "slurm"
        assert set(cfg["tracker"]) == {"file", "wandb"}
    pretrain = yaml.safe_load(run_cli("--cfg", "job", "+recipe=pretrain").stdout)
    assert pretrain["output"]["_target_"] == "nemotron_kit.artifacts.ModelArtifact"
    assert pretrain["output"]["name"] == "tiny-gpt"
    pipeline = yaml.safe_load(run_cli("--cfg", "job", "+pipeline=tiny").stdout)
    assert [s["name"] for s in pipeline["pipeline"]["steps"]] == [
        "data_prep",
        "pretrain",
        "sft_data",
        "sft",
        "eval",
    ]


def test_s3_registry_needs_a_bucket(run_cli: RunCli, work: Path) -> None:
    resolved = run_cli("--cfg", "job", "--resolve", "registry=s3", "registry.bucket=team")
    assert yaml.safe_load(resolved.stdout)["registry"]["root"] == "s3://team/nemotron-kit"
    # Without one, a run is refused, naming the missing key, before its job does anything.
    line = _one_sentence_error(run_test_conf(run_cli, work, "+recipe=stage", "registry=s3"))
    assert "registry.bucket" in line
    assert not list(work.rglob("out-*")), "the job ran"


def test_registry_root_can_be_set(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli("--cfg", "job", "--resolve", f"registry.root={tmp_path}/reg")
    assert yaml.safe_load(result.stdout)["registry"]["root"] == f"{tmp_path}/reg"


def _one_sentence_error(result: object) -> str:
    stderr: str = result.stderr  # type: ignore[attr-defined]
    assert result.returncode != 0  # type: ignore[attr-defined]
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, stderr
    return errors[0]


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["executor=nope"], ["'executor'", "'nope'", "local, slurm, torchrun"]),
        (["+recipe=pretrian"], ["'recipe'", "'pretrian'", "pretrain"]),
        (["train.lr=1"], ["'train.lr=1'", "+train.lr=1"]),
        (["executor.name=[1,2"], ["'executor.name=[1,2'", "malformed"]),
        (["+executor.name=x"], ["'executor.name'", "drop the '+'"]),
        (["--config-name", "nope"], ["'nope'"]),
    ],
)
def test_bad_input_is_one_sentence_and_nonzero(
    run_cli: RunCli, args: list[str], fragments: list[str]
) -> None:
    line = _one_sentence_error(run_cli("--cfg", "job", *args))
    for fragment in fragments:
        assert fragment in line


def test_malformed_yaml_in_a_config_dir_names_the_file(run_cli: RunCli, tmp_path: Path) -> None:
    user = tmp_path / "user-conf"
    (user / "executor").mkdir(parents=True)
    bad = user / "executor" / "broken.yaml"
    bad.write_text("partition: [a, b\n")
    line = _one_sentence_error(
        run_cli("--config-dir", str(user), "executor=broken", "--cfg", "job")
    )
    assert str(bad) in line and "line" in line


def test_running_without_a_recipe_says_what_to_do(run_cli: RunCli) -> None:
    line = _one_sentence_error(run_cli())
    assert "+recipe=NAME" in line


def test_full_error_shows_the_traceback(run_cli: RunCli) -> None:
    result = run_cli("--cfg", "job", "executor=nope", env={"HYDRA_FULL_ERROR": "1"})
    assert result.returncode != 0
    assert "Traceback" in result.stderr
