"""Hydra's own launcher suites against hydra/launcher=nemotron_kit: any Hydra app can use it."""

from __future__ import annotations

from hydra.test_utils.launcher_common_tests import (
    BatchedSweeperTestSuite,
    IntegrationTestSuite,
    LauncherTestSuite,
)
from pytest import mark


@mark.parametrize("launcher_name, overrides", [("nemotron_kit", [])])
class TestNemotronKitLauncher(LauncherTestSuite):
    pass


@mark.parametrize(
    "launcher_name, overrides", [("nemotron_kit", ["hydra.sweeper.max_batch_size=2"])]
)
class TestNemotronKitLauncherBatched(BatchedSweeperTestSuite):
    pass


@mark.parametrize(
    "task_launcher_cfg, extra_flags",
    [({"defaults": [{"override hydra/launcher": "nemotron_kit"}]}, ["-m"])],
)
class TestNemotronKitLauncherIntegration(IntegrationTestSuite):
    pass
