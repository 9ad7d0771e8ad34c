"""``launch``: run nemotron-kit from Python, in this process, as the command line would.

    from nemotron_kit import launch
    (ret,) = launch(["+recipe=pretrain", "train.steps=100"])              # a run here
    launch(["+recipe=pretrain", "executor=slurm"], run_id="...")          # on Slurm, waits
    [batch] = launch(["+recipe=pretrain", "train.lr=1e-3,3e-4"], multirun=True)

It composes with Hydra's compose machinery (``initialize_config_dir``), so the packaged config
groups, the user's config directories and every override behave as on the command line; the
run's ``JobSpec`` is bound to the task function, so a caller can choose the run id
(``nemotron-kit reproduce``, pipeline steps). Returns Hydra's JobReturns: one for a run, a list
per batch for a multirun. Errors raise (``NemotronKitError`` for nemotron-kit's own).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nemotron_kit.paths import packaged_conf_dir


def launch(
    overrides: Sequence[str] = (),
    *,
    multirun: bool = False,
    run_id: str | None = None,
    config_name: str = "config",
    config_dir: str | Path | None = None,
    snapshot: str | None = None,
) -> list[Any]:
    """Run the composed app once (or as a sweep with ``multirun``); see the module doc."""
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    import nemotron_kit.app as app
    from nemotron_kit.execution.job import BoundTask, JobSpec
    from nemotron_kit.tracking._secrets import secret_overrides_by_reference

    args = secret_overrides_by_reference(list(overrides))
    if multirun:
        args.append("hydra.mode=MULTIRUN")
    task = BoundTask(app.run, JobSpec(0, tuple(args), run_id=run_id, snapshot=snapshot))
    directory = str(Path(config_dir).absolute() if config_dir else packaged_conf_dir())
    previous = GlobalHydra.instance().hydra if GlobalHydra.instance().is_initialized() else None
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=directory, version_base="1.3"):
            hydra = GlobalHydra.instance().hydra
            assert hydra is not None
            mode = hydra.get_mode(config_name=config_name, overrides=args)
            if mode is not None and mode.name == "MULTIRUN":
                batches: list[Any] = hydra.multirun(
                    config_name=config_name, task_function=task, overrides=args
                )
                return batches
            ret = hydra.run(config_name=config_name, task_function=task, overrides=args)
            ret.return_value  # noqa: B018  (raises the job's error, as Hydra's run does)
            return [ret]
    finally:
        if previous is not None:  # called from inside a running app: give its state back
            GlobalHydra.instance().initialize(previous)
