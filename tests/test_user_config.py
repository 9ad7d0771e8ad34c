"""Users extend and shadow every config group from their own directories, without copying ours."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import RunCli, make_files

CLUSTER = "defaults:\n  - slurm\n  - _self_\npartition: batch\naccount: my-team\n"


def test_config_dir_adds_a_cluster_profile(run_cli: RunCli, tmp_path: Path) -> None:
    user = make_files(tmp_path / "u", {"executor/my-cluster.yaml": CLUSTER})
    result = run_cli("--config-dir", str(user), "executor=my-cluster", "--cfg", "job")
    assert result.returncode == 0, result.stderr
    executor = yaml.safe_load(result.stdout)["executor"]
    assert executor["partition"] == "batch" and executor["account"] == "my-team"
    # Everything else is inherited from the packaged slurm option.
    assert executor["name"] == "slurm" and executor["max_requeue"] == 3
    assert "my-cluster" in run_cli("--config-dir", str(user), "--help").stdout


def test_config_dir_shadows_a_packaged_option(run_cli: RunCli, tmp_path: Path) -> None:
    user = make_files(tmp_path / "u", {"executor/local.yaml": "name: local\nenv: {FOO: bar}\n"})
    cfg = yaml.safe_load(run_cli("--config-dir", str(user), "--cfg", "job").stdout)
    assert cfg["executor"]["env"] == {"FOO": "bar"}


def test_env_var_dirs_extend_and_the_first_wins(run_cli: RunCli, tmp_path: Path) -> None:
    first = make_files(
        tmp_path / "first",
        {
            "executor/local.yaml": "name: local\nenv: {WHO: first}\n",
            "recipe/mine.yaml": "# @package _global_\nrecipe: {name: mine, _target_: my.fn}\n",
        },
    )
    second = make_files(
        tmp_path / "second",
        {
            "executor/local.yaml": "name: local\nenv: {WHO: second}\n",
            "executor/my-cluster.yaml": CLUSTER,
        },
    )
    env = {"NEMOTRON_KIT_CONFIG_PATH": f"{first}{os.pathsep}{second}"}
    cfg = yaml.safe_load(run_cli("--cfg", "job", env=env).stdout)
    assert cfg["executor"]["env"] == {"WHO": "first"}
    cluster = yaml.safe_load(
        run_cli("--cfg", "job", "executor=my-cluster", "+recipe=mine", env=env).stdout
    )
    assert cluster["executor"]["partition"] == "batch"
    assert cluster["recipe"]["name"] == "mine"
    # --config-dir comes before the variable's directories.
    flag = make_files(tmp_path / "flag", {"executor/local.yaml": "name: local\nenv: {WHO: flag}\n"})
    cfg = yaml.safe_load(run_cli("--config-dir", str(flag), "--cfg", "job", env=env).stdout)
    assert cfg["executor"]["env"] == {"WHO": "flag"}


def test_env_var_naming_a_missing_directory_is_an_error(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli("--cfg", "job", env={"NEMOTRON_KIT_CONFIG_PATH": str(tmp_path / "typo")})
    assert result.returncode != 0
    assert "typo" in result.stderr and "Traceback" not in result.stderr


def test_plugin_serves_other_hydra_apps(tmp_path: Path) -> None:
    """A user's own @hydra.main app gets nemotron-kit's groups through the search-path plugin."""
    import subprocess
    import sys

    app = tmp_path / "my_app.py"
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "main.yaml").write_text(
        "defaults:\n  - executor: slurm\n  - _self_\nmine: 1\n"
    )
    app.write_text(
        "import hydra\nfrom omegaconf import OmegaConf\n"
        "@hydra.main(version_base='1.3', config_path='conf', config_name='main')\n"
        "def main(cfg):\n    print(OmegaConf.to_yaml(cfg))\n"
        "main()\n"
    )
    result = subprocess.run(
        [
            sys.executable,
            str(app),
            "hydra.run.dir=.",
            "hydra.output_subdir=null",
            "hydra/job_logging=disabled",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    cfg = yaml.safe_load(result.stdout)
    assert cfg["executor"]["name"] == "slurm" and cfg["mine"] == 1


def test_load_run_profile_and_build_executor_from_python(tmp_path: Path) -> None:
    import nemotron_kit as kit
    from nemotron_kit.execution.slurm import SlurmExecutor

    user = make_files(tmp_path / "u", {"executor/my-cluster.yaml": CLUSTER})
    profile = kit.load_run_profile("my-cluster", config_dirs=[user])
    assert profile.partition == "batch" and profile.name == "slurm" and profile.max_requeue == 3
    executor = kit.build_executor(profile)
    assert (
        isinstance(executor, SlurmExecutor)
        and executor.parameters("x")["slurm_account"] == "my-team"
    )
    run = kit.RunConfig(executor="my-cluster", overrides={"time_min": 30}, config_dirs=[str(user)])
    assert run.build().parameters("x")["timeout_min"] == 30
    # A section is given as a dict (merged into it) or by dotted keys, as on the command line.
    for overrides in ({"container": {"image": "nvcr.io/x:1"}}, {"container.image": "nvcr.io/x:1"}):
        built = kit.RunConfig("my-cluster", overrides, config_dirs=[user]).executor_config()
        assert built.container.image == "nvcr.io/x:1" and built.container.squash is True
        assert built.partition == "batch"
    # Free-form sections take new keys, by dict or dotted key; typed ones refuse a stray key.
    free = {"env": {"HF_HOME": "/data/hf"}, "env.WANDB_DIR": "/tmp", "additional_parameters.x": 1}
    built = kit.RunConfig("my-cluster", free, config_dirs=[user]).executor_config()
    assert dict(built.env) == {"HF_HOME": "/data/hf", "WANDB_DIR": "/tmp"}
    assert built.additional_parameters.x == 1
    cases: list[tuple[dict[Any, Any], str]] = [
        ({"partiton": "x"}, "'partiton'"),
        ({"container.imagee": "x"}, "'container.imagee'"),
        ({"time_min": "soon"}, "'time_min'"),
        ({1: 2}, "key 1 is not a setting name"),  # from untyped callers
    ]
    for bad, culprit in cases:
        with pytest.raises(kit.ConfigError, match=f"RunConfig override {culprit}") as raised:
            kit.RunConfig("my-cluster", bad, config_dirs=[user]).executor_config()
        assert "\n" not in str(raised.value)
