"""``nemotron-kit reproduce URI [overrides]``: re-make a version from its recorded run.

The producing run's composed config (with every input pinned to the version it used) becomes
the primary config of a new run; Hydra overrides on the command line apply on top (e.g.
``executor=slurm``). The new run publishes a new version of the same name, and its content
digest is compared with the original's.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from nemotron_kit.errors import ArtifactError

PROG = "nemotron-kit reproduce"


def build_parser() -> argparse.ArgumentParser:
    from nemotron_kit.cli.artifacts import _Parser

    parser = _Parser(
        prog=PROG,
        description="Re-run the run that produced URI with its recorded config and pinned "
        "inputs, and report whether the new version's content digest equals the old one.",
    )
    parser.add_argument("uri", metavar="URI", help="art://NAME[:vN|:ALIAS] to reproduce")
    parser.add_argument(
        "overrides", nargs="*", metavar="OVERRIDE", help="Hydra overrides, e.g. executor=slurm"
    )
    parser.add_argument(
        "--root", default=None, help="registry root (default: $NEMOTRON_KIT_HOME/registry)"
    )
    parser.add_argument("--project", default=None, help="project (default: default)")
    parser.add_argument(
        "--endpoint-url", default=None, help="S3-compatible endpoint for s3:// roots"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    return parser


def main(argv: list[str]) -> int:
    from nemotron_kit.cli.artifacts import open_registry
    from nemotron_kit.execution.step import LaunchRequest
    from nemotron_kit.tracking._secrets import REDACTED
    from nemotron_kit.tracking.run import new_run_id

    ns = build_parser().parse_intermixed_args(argv)  # overrides before or after flags
    registry = open_registry(ns)
    original = registry.resolve(ns.uri)
    if not original.producer:
        raise ArtifactError(
            f"{original.uri} was published outside a tracked run: there is no recorded config "
            "to reproduce it from."
        )
    run = registry.read_run(original.producer)
    config: dict[str, Any] = dict(run["config"])
    if REDACTED in yaml.safe_dump(config):
        raise ArtifactError(
            f"The run that made {original.uri} had secret values in its config, which were not "
            "recorded: pass them as overrides through ${oc.env:...} in your config instead."
        )
    missing = [
        key
        for key in _secret_keys(config)
        if not any(o.lstrip("+").startswith(f"{key}=") for o in ns.overrides)
    ]
    if missing:
        raise ArtifactError(
            f"The run that made {original.uri} was given secret values on its command line "
            f"({', '.join(missing)}), which were not recorded: pass them again, e.g. "
            f"`nemotron-kit reproduce {ns.uri} {missing[0]}=...`."
        )
    config.pop("executor", None)  # where it ran is not part of the result: choose it anew
    new_id = new_run_id()
    recorded = (run.get("code") or {}).get("snapshot") or {}
    code_path = str(recorded.get("path")) if recorded.get("path") else None
    if code_path and not Path(code_path).is_dir():
        print(
            f"note: the recorded code snapshot {code_path} is gone; running today's code",
            file=sys.stderr,
        )
        code_path = None
    with tempfile.TemporaryDirectory(prefix="nk-reproduce-") as tmp:
        primary = {"defaults": ["config", *_typed_recipe(config), "_self_"], **config}
        (Path(tmp) / "reproduce.yaml").write_text(yaml.safe_dump(primary, sort_keys=False))
        request = LaunchRequest(
            overrides=[
                f"registry.root={registry.root}",
                f"registry.project={registry.project}",
                *ns.overrides,
            ],
            run_id=new_id,
            config_name="reproduce",
            config_dir=tmp,
            snapshot=code_path,
        ).write(Path(tmp) / "request.json")
        env = dict(os.environ)
        if code_path:  # the recorded code, before the live checkout, for this process too
            env["PYTHONPATH"] = os.pathsep.join([code_path, *filter(None, [env.get("PYTHONPATH")])])
        # With --json, stdout is the report alone: the run's own output goes to stderr.
        result = subprocess.run(
            [sys.executable, "-m", "nemotron_kit.execution.step", str(request)],
            check=False,
            env=env,
            stdout=sys.stderr if ns.json else None,
        )
    if result.returncode != 0:
        raise ArtifactError(
            f"The reproduction run of {original.uri} failed (exit {result.returncode}); see its "
            f"output above and `nemotron-kit runs show {new_id}`."
        )
    outputs = [registry.resolve(uri) for uri in registry.run_outputs(new_id)]
    remade = next((v for v in outputs if v.name == original.name), None)
    if remade is None:
        raise ArtifactError(
            f"The reproduction run {new_id} published no version of '{original.name}': its "
            f"outputs were {', '.join(v.uri for v in outputs) or 'none'}."
        )
    same = remade.digest == original.digest
    remade_code = ((registry.read_run(new_id).get("code") or {}).get("snapshot") or {}).get(
        "digest"
    )
    report = {
        "original": original.uri,
        "reproduced": remade.uri,
        "run": new_id,
        "original_digest": original.digest,
        "reproduced_digest": remade.digest,
        "identical": same,
        "code": recorded.get("digest"),
        "reproduced_code": remade_code,
        "same_code": bool(recorded.get("digest")) and recorded.get("digest") == remade_code,
    }
    if ns.json:
        import json

        print(json.dumps(report, indent=2))
    else:
        verdict = "identical content" if same else "DIFFERENT content"
        print(f"{remade.uri} reproduces {original.uri}: {verdict}")
        print(f"  digest {original.digest[:16]}… -> {remade.digest[:16]}…  (run {new_id})")
    return 0 if same else 1


def _secret_keys(config: dict[str, Any], prefix: str = "") -> list[str]:
    """Keys whose value was a secret override, stored as a reference to the job's environment."""
    from nemotron_kit.environment import SECRET_ENV_PREFIX

    found = []
    for key, value in config.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict):
            found += _secret_keys(value, f"{full}.")
        elif isinstance(value, str) and value.startswith(f"${{oc.env:{SECRET_ENV_PREFIX}"):
            found.append(full)
    return found


def _typed_recipe(config: dict[str, Any]) -> list[dict[str, str]]:
    """A ``@recipe`` run is recomposed on its typed config again (types, ranges and unknown
    keys checked as in the first run); its package label is composed anew, not copied."""
    from nemotron_kit.config.schemas import RECIPE_GROUP
    from nemotron_kit.recipes.api import recipe_of_config

    recipe = config.get("recipe")
    if not isinstance(recipe, dict):
        return []
    from omegaconf import OmegaConf

    if recipe_of_config(OmegaConf.create({"recipe": recipe})) is None:
        return []
    recipe.pop("package", None)
    return [{f"/{RECIPE_GROUP}@_global_": str(recipe["_target_"])}]
