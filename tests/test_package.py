"""Package surface: lazy exports, the Hydra plugin's discovery and its entry point."""

from __future__ import annotations

import importlib.metadata

import nemotron_kit
from tests.conftest import REPO


def test_lazy_exports_match_all() -> None:
    assert set(nemotron_kit.__all__) - {"__version__"} == set(nemotron_kit._EXPORTS)
    for name in nemotron_kit._EXPORTS:
        assert getattr(nemotron_kit, name) is not None


def test_search_path_plugin_is_discovered() -> None:
    from hydra.core.plugins import Plugins
    from hydra.plugins.search_path_plugin import SearchPathPlugin

    names = {cls.__name__ for cls in Plugins.instance().discover(SearchPathPlugin)}
    assert "NemotronKitSearchPathPlugin" in names


def test_entry_point_for_hydra_1_4() -> None:
    eps = importlib.metadata.entry_points(group="hydra.plugins")
    (ep,) = [ep for ep in eps if ep.name == "nemotron_kit_searchpath"]
    assert ep.load().__name__ == "NemotronKitSearchPathPlugin"


def test_only_the_layout_module_builds_registry_keys() -> None:
    """Keys of the registry are built in nemotron_kit/registry/layout.py alone: a second place
    that spells one would drift from it."""
    import re

    spelled = re.compile(
        r"""["'](?:artifacts|objects|manifests|trees|staging|runs|sweeps|pipeline-cache)/"""
    )
    package = REPO / "nemotron_kit"
    allowed = {package / "registry" / "layout.py", package / "registry" / "testing.py"}
    offenders = [
        f"{path.relative_to(REPO)}:{number}"
        for path in sorted(package.rglob("*.py"))
        if path not in allowed
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if spelled.search(line)
    ]
    assert not offenders, offenders
