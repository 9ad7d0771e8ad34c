"""The docs stay in step with the configs: every group, option and executor key is documented."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tests.conftest import REPO

CONF = REPO / "conf"
REFERENCE = (REPO / "docs" / "config.md").read_text()


def test_every_group_and_option_is_in_the_reference() -> None:
    for group in sorted(p for p in CONF.iterdir() if p.is_dir()):
        assert f"`{group.name}/`" in REFERENCE, group.name
        for option in sorted(group.glob("*.yaml")):
            assert f"`{option.stem}`" in REFERENCE, f"{group.name}/{option.stem}"


def test_every_executor_key_is_in_the_reference() -> None:
    for option in sorted((CONF / "executor").glob("*.yaml")):
        for key in yaml.safe_load(option.read_text()):
            if key not in ("name", "defaults"):
                assert f"`{key}`" in REFERENCE or f"`{key}." in REFERENCE, f"{option.stem}.{key}"


def test_readme_names_the_two_setup_commands() -> None:
    readme = (REPO / "README.md").read_text()
    assert "bash scripts/main.sh" in readme and "bash scripts/test.sh" in readme
    ci = (REPO / ".ci" / "run").read_text()
    assert "scripts/test.sh" in ci


def test_recipes_page_shows_every_file_the_scaffold_writes(tmp_path: Path) -> None:
    from nemotron_kit.cli.new import scaffold_recipes

    page = (REPO / "docs" / "recipes.md").read_text()
    (tree,) = re.findall(r"This writes `nano3-recipes/`:\n\n((?:    .*\n)+)", page)
    shown: set[str] = set()
    dirs: list[tuple[int, str]] = []  # (indent, path) of the folders open above the line
    for line in tree.splitlines()[1:]:
        entry = line.split("#")[0].rstrip()
        indent = len(entry) - len(entry.lstrip())
        dirs = [(i, d) for i, d in dirs if i < indent]
        path = "/".join([d for _, d in dirs] + [entry.strip().rstrip("/")])
        if entry.endswith("/"):
            dirs.append((indent, path))
        else:
            shown.add(path)
    package = scaffold_recipes("nano3", tmp_path / "nano3-recipes")
    written = {p.relative_to(package).as_posix() for p in package.rglob("*") if p.is_file()}
    assert shown == written
