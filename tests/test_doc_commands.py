"""Every command the docs and README show, in a block or inline, still works as written.

A command of the Hydra app is composed with `--cfg job` (running a Slurm job or a training run
here would take too long; docs/tutorial.md's are run for real by test_tutorial.py); a
subcommand (`nemotron-kit artifacts ...`) is parsed by its own argument parser. Placeholders
(`URI`, `NAME`, `vN`, `IMAGE`, ...) get a value of their kind. Lines that summarise a syntax
(`nemotron-kit artifacts ls | show | ...`) are listed in SYNTAX, and must still be in the docs.
"""

from __future__ import annotations

import importlib
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

# docs/recipes.md runs a recipe package it installs first: test_recipes_doc.py runs its commands.
PAGES = [
    *sorted(p for p in (REPO / "docs").glob("*.md") if p.name != "recipes.md"),
    REPO / "README.md",
]
COMMAND = re.compile(r"^(?:[A-Z_]+=\S+\s+)*(?:python -m nemotron_kit|nemotron-kit)(?:\s|$)")

# Syntax summaries, not commands.
SYNTAX = {
    "nemotron-kit artifacts ls | show | versions | alias | verify | export | diff | rm | gc",
    "nemotron-kit runs ls/show",
    "python -m nemotron_kit --cfg job [overrides]",
}
PLACEHOLDERS = {
    "vN": "v1",
    "NAME": "tiny-gpt",
    "URI": "art://tiny-gpt:v1",
    "IMAGE": "localhost/nemotron-kit-test:latest",
    "REF": "localhost/nemotron-kit-test:latest",
    "P": "my-project",
}


def doc_commands() -> list[tuple[str, str]]:
    """(page, command) for every command shown on a page."""
    found: list[tuple[str, str]] = []
    for page in PAGES:
        text = page.read_text()
        for block in re.findall(r"```\w*\n(.*?)```", text, re.S):
            for line in block.replace("\\\n", " ").splitlines():
                line = line.strip().removeprefix("$ ")
                if COMMAND.match(line):
                    found.append((page.name, line))
        for span in re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S)):
            if COMMAND.match(span) and span not in SYNTAX:
                found.append((page.name, span))
    return found


def words(command: str) -> tuple[dict[str, str], list[str]]:
    """Environment assignments and arguments (after `python -m nemotron_kit`/`nemotron-kit`)."""
    parts = shlex.split(command, comments=True)
    env = {}
    while "=" in parts[0] and parts[0].split("=")[0].isupper():
        key, _, value = parts.pop(0).partition("=")
        env[key] = value
    args = parts[3:] if parts[:3] == ["python", "-m", "nemotron_kit"] else parts[1:]
    args = [re.sub(r"^\+recipe=NAME$", "+recipe=pretrain", a) for a in args]
    args = [PLACEHOLDERS.get(a, a) for a in args]
    args = [
        re.sub(r"(?<=[:=])(IMAGE|REF|P|vN)\b", lambda m: PLACEHOLDERS[m.group(1)], a) for a in args
    ]
    return env, [a.replace(":vN", ":v1") for a in args]


def first_of_sweep(override: str) -> str:
    """`train.lr=1e-3,3e-4` -> `train.lr=1e-3` (lists and dicts, in brackets, stay whole);
    an optimizing sweeper's `tag(log, interval(1e-4, 3e-2))` -> its lower bound."""
    key, sep, value = override.partition("=")
    interval = re.search(r"interval\(\s*([^,\s)]+)", value)
    if sep and interval:
        return f"{key}={interval.group(1)}"
    if sep and "," in value and not value.startswith(("[", "{")):
        return f"{key}={value.split(',')[0]}"
    return override


def test_the_docs_show_commands_and_every_syntax_summary_is_still_there() -> None:
    commands = doc_commands()
    assert len(commands) >= 40, commands
    text = "\n".join(page.read_text() for page in PAGES)
    for summary in SYNTAX:
        assert f"`{summary}`" in text, f"{summary!r} is no longer in the docs: drop it from SYNTAX"


@pytest.mark.parametrize(
    "page, command", doc_commands(), ids=[f"{p}:{c[:60]}" for p, c in doc_commands()]
)
def test_doc_command_works(page: str, command: str, tmp_path: Path) -> None:
    from nemotron_kit.cli import SUBCOMMANDS

    env, args = words(command)
    if len(args) == 1 and args[0] in SUBCOMMANDS:
        return  # names the command group (`nemotron-kit artifacts`): it exists
    if args and args[0] in SUBCOMMANDS:
        parser = importlib.import_module(SUBCOMMANDS[args[0]]).build_parser()
        parser.parse_args(args[1:])  # argparse exits (SystemExit) on anything it cannot parse
        return
    if command.startswith("python -m nemotron_kit executor=slrum"):
        return  # the README's example of an error: test_readme_error_example checks it
    if "--config-dir" in args and "~/nk-conf" in command:
        return  # test_readme_cluster_profile_block runs it with the files the block creates
    if "-m" in args:  # a sweep: compose its first job (Hydra's --cfg takes no -m)
        args = [first_of_sweep(a) for a in args if a != "-m"]
    if not {"--help", "--info", "--cfg", "--hydra-help"} & set(args):
        args = [*args, "--cfg", "job"]
    result = subprocess.run(
        [sys.executable, "-m", "nemotron_kit", *args],
        cwd=tmp_path,
        env={**os.environ, "NEMOTRON_KIT_HOME": str(tmp_path / "home"), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"{page}: `{command}` failed: {result.stderr}"


def _readme_block(containing: str) -> str:
    readme = (REPO / "README.md").read_text()
    blocks: list[tuple[str, str]] = re.findall(r"```(\w*)\n(.*?)```", readme, re.S)
    (block,) = [body for _, body in blocks if containing in body]
    return block


def test_readme_error_example(tmp_path: Path) -> None:
    """The README's example error is what the command prints today."""
    block = _readme_block("executor=slrum")
    command, shown = [line for line in block.splitlines() if line.strip()][:2]
    result = subprocess.run(
        [sys.executable, "-m", "nemotron_kit", *shlex.split(command.removeprefix("$ "))[3:]],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert result.stderr.strip() == shown.strip()


def test_readme_cluster_profile_block(tmp_path: Path) -> None:
    """The README's cluster-profile block, run as a shell script with a private HOME."""
    block = _readme_block("nk-conf/executor")
    venv_bin = str(Path(sys.executable).parent)
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block],
        cwd=tmp_path,
        env={
            **os.environ,
            "HOME": str(tmp_path),
            "PATH": f"{venv_bin}{os.pathsep}{os.environ['PATH']}",
            "NEMOTRON_KIT_HOME": str(tmp_path / "home"),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "partition: batch" in result.stdout and "account: my-team" in result.stdout


def test_readme_python_blocks_run_as_written(tmp_path: Path) -> None:
    """The README's Python (with the train.yaml it shows) runs in a fresh directory: its
    artifact example pointed at /data/blend, and took the name the tiny pipeline uses."""
    (tmp_path / "train.yaml").write_text(_readme_block("steps: 500"))
    script = _readme_block("parse_config_and_overrides") + _readme_block("PretrainBlendsArtifact")
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={**os.environ, "NEMOTRON_KIT_HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "art://my-blend:v1"
    verify = _readme_block("artifacts verify").splitlines()[1].split("#")[0]
    checked = subprocess.run(
        [sys.executable, "-m", "nemotron_kit", *shlex.split(verify)[1:]],
        cwd=tmp_path,
        env={**os.environ, "NEMOTRON_KIT_HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert checked.returncode == 0 and "all files match" in checked.stdout, checked.stderr
