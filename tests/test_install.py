"""Real `pip install .` and `pip install -e .` in fresh venvs, used from an unrelated directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, build_wheel

pytestmark = pytest.mark.slow


def _venv(path: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, timeout=120)
    return path / "bin" / "python"


def _pip_install(python: Path, *args: str) -> None:
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "-c",
            str(REPO / "constraints" / "ci.txt"),
            *args,
        ],
        check=True,
        timeout=600,
        capture_output=True,
        text=True,
    )


def _run(
    python: Path,
    cwd: Path,
    *args: str,
    exe: list[str] | None = None,
    extra_env: dict[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NEMOTRON_KIT_CONFIG_PATH")
    }
    env["NEMOTRON_KIT_HOME"] = str(cwd / "home")
    env.update(extra_env or {})
    cmd = exe or [str(python), "-m", "nemotron_kit"]
    return subprocess.run(
        [*cmd, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def _check_installed_app(python: Path, workdir: Path, expect_conf_under: Path) -> None:
    help_ = _run(python, workdir, "--help")
    assert help_.returncode == 0, help_.stderr
    assert "executor: container, local, slurm, torchrun" in help_.stdout
    assert "recipe: data_prep, eval, pretrain, sft, sft_data" in help_.stdout
    # The console script is the same app.
    script = _run(python, workdir, "--help", exe=[str(python.parent / "nemotron-kit")])
    assert script.returncode == 0 and script.stdout == help_.stdout

    searchpath = _run(python, workdir, "--info", "searchpath")
    assert searchpath.returncode == 0, searchpath.stderr
    conf_lines = [line for line in searchpath.stdout.splitlines() if "file://" in line]
    assert any(str(expect_conf_under) in line for line in conf_lines), searchpath.stdout

    cfg = _run(python, workdir, "--cfg", "job")
    assert cfg.returncode == 0, cfg.stderr
    composed = yaml.safe_load(cfg.stdout)
    assert composed["executor"]["name"] == "local" and "file" in composed["tracker"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built once for this module's tests."""
    return build_wheel(tmp_path_factory.mktemp("wheels"))


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Path:
    """The python of a venv holding the wheel without extras (the tests only run it)."""
    python = _venv(tmp_path_factory.mktemp("plain") / "venv")
    _pip_install(python, str(wheel))
    return python


def test_wheel_install_from_an_unrelated_directory(tmp_path: Path, plain: Path) -> None:
    python = plain
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    site = Path(
        subprocess.run(
            [
                str(python),
                "-c",
                "import nemotron_kit, os; print(os.path.dirname(nemotron_kit.__file__))",
            ],
            cwd=workdir,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    assert site != REPO / "nemotron_kit"
    # The wheel carries conf/ inside the package and the plugin outside it, without an __init__.
    assert (site / "conf" / "config.yaml").is_file()
    assert not (site.parent / "hydra_plugins" / "__init__.py").exists()
    _check_installed_app(python, workdir, site / "conf")


def test_editable_install_from_an_unrelated_directory(tmp_path: Path) -> None:
    python = _venv(tmp_path / "venv")
    _pip_install(python, "-e", str(REPO))
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    _check_installed_app(python, workdir, REPO / "conf")


def test_a_plain_install_names_the_extra_each_option_needs(tmp_path: Path, plain: Path) -> None:
    """Without extras, an option that needs one is refused in one sentence, before any work."""
    python = plain
    workdir = tmp_path / "work"
    workdir.mkdir()
    cases = {
        ("+recipe=pretrain",): "+recipe=pretrain needs torch, which is not installed: "
        "pip install 'nemotron-kit[torch]'.",
        ("+recipe=data_prep", "executor=slurm"): "executor=slurm needs submitit, which is not "
        "installed: pip install 'nemotron-kit[slurm]'.",
        ("+recipe=data_prep", "registry=s3", "registry.bucket=b"): "registry=s3 needs s3fs, "
        "which is not installed: pip install 'nemotron-kit[s3]'.",
        ("+recipe=data_prep", "tracker=wandb"): "tracker=wandb needs wandb, which is not "
        "installed: pip install 'nemotron-kit[wandb]'.",
    }
    for args, sentence in cases.items():
        result = _run(python, workdir, *args)
        assert result.returncode != 0, args
        assert result.stderr.strip().splitlines() == [f"Error: {sentence}"], (args, result.stderr)
    # Nothing ran: no run record, no version, not even the registry's directory.
    assert not (workdir / "home" / "registry").exists()


def test_a_wheel_with_all_extras_runs_the_main_job(tmp_path: Path, wheel: Path) -> None:
    """The README's main job from `pip install <wheel>[all]` alone: no undeclared dependency
    (numpy was one) can hide behind the dev venv."""
    python = _venv(tmp_path / "venv")
    _pip_install(python, f"{wheel}[all]")
    workdir = tmp_path / "work"
    workdir.mkdir()
    env_extra = {"OMP_NUM_THREADS": "1", "WANDB_MODE": "offline"}
    first = _run(python, workdir, "+pipeline=tiny", extra_env=env_extra, timeout=900)
    assert first.returncode == 0, first.stderr[-3000:]
    for name in ("pretrain-data", "tiny-gpt", "sft-data", "tiny-gpt-sft"):
        assert f"art://{name}:v1" in first.stderr, (name, first.stderr[-2000:])
    again = _run(python, workdir, "+pipeline=tiny", extra_env=env_extra, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stderr.count("cached:") == 5, again.stderr[-2000:]
    assert "pipeline tiny: published nothing new; reused art://pretrain-data:v1" in again.stderr
    # The web view's scripts and styles ship in the wheel: the exported site is complete.
    site = workdir / "site"
    exported = _run(python, workdir, "ui", "--export", str(site))
    assert exported.returncode == 0, exported.stderr
    # Two pipeline drivers (the second run all cached) and five steps.
    assert exported.stdout.startswith(f"Wrote {site}/index.html: 4 versions, 7 runs")
    for name in ("app.js", "app.css", "charts.js", "graph.js", "config.js"):
        assert (site / "static" / name).stat().st_size > 0, name
