"""Real `pip install .` and `pip install -e .` in fresh venvs, used from an unrelated directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

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
    python: Path, cwd: Path, *args: str, exe: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NEMOTRON_KIT_CONFIG_PATH")
    }
    env["NEMOTRON_KIT_HOME"] = str(cwd / "home")
    cmd = exe or [str(python), "-m", "nemotron_kit"]
    return subprocess.run(
        [*cmd, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
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


def test_wheel_install_from_an_unrelated_directory(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(REPO)],
        check=True,
        timeout=600,
        capture_output=True,
    )
    (wheel,) = wheels.glob("nemotron_kit-*.whl")
    python = _venv(tmp_path / "venv")
    _pip_install(python, str(wheel))
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
