"""Secrets are redacted by value, and only secrets: ordinary settings stay readable.

End to end, a run and a sweep given secret overrides and secret environment variables leave
the secret in no file under the run directories, the registry, the home or /tmp, and print
it nowhere; and every built-in recipe's output can be reproduced (no setting of theirs is
mistaken for a secret).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from nemotron_kit.tracking._secrets import (
    REDACTED,
    is_secret_name,
    redact,
    redact_override,
    secret_overrides_by_reference,
)
from tests.conftest import REPO, RunCli, needs, registry_of

SECRET_NAMES = [
    "password",
    "db.password",
    "passwd",
    "api_key",
    "apiKey",
    "API_KEY",
    "WANDB_API_KEY",
    "AWS_SECRET_ACCESS_KEY",
    "aws_access_key_id",
    "HF_TOKEN",
    "GITHUB_TOKEN",
    "access_token",
    "client_secret",
    "private_key",
    "credentials",
    "auth_token",
    "AUTHORIZATION",
    "session_cookie",
]
ORDINARY_NAMES = [
    "shard_tokens",
    "max_new_tokens",
    "num_tokens",
    "total_tokens",
    "author",
    "authors",
    "text_key",
    "key",
    "tokenizer",
    "secretary",
    "keyboard",
    "monkey",
    "passthrough",
    "seq_length",
    "PWD",
    "OLDPWD",
]


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_secret_names(name: str) -> None:
    assert is_secret_name(name)
    assert redact({name: "hunter2-long"}) == {name: REDACTED}
    assert redact_override(f"+{name}=hunter2-long") == f"+{name}={REDACTED}"


@pytest.mark.parametrize("name", ORDINARY_NAMES)
def test_ordinary_names_stay_readable(name: str) -> None:
    assert not is_secret_name(name)
    assert redact({name: 1_000_000}) == {name: 1_000_000}
    assert redact_override(f"data.{name}=1000000") == f"data.{name}=1000000"


def test_a_secret_value_is_redacted_wherever_it_appears(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_API_TOKEN", "s3cr3t-value-42")
    data = {"url": "https://x.example/?t=s3cr3t-value-42", "db": {"password": "pw-abcdef"}}
    out = redact(data)
    assert out["url"] == f"https://x.example/?t={REDACTED}"
    assert out["db"]["password"] == REDACTED
    # A value under a secret key is a secret elsewhere too, even outside the environment.
    assert redact({"password": "pw-abcdef", "note": "pw-abcdef!"})["note"] == f"{REDACTED}!"
    # A reference is not the secret: kept, so a re-run can resolve it again.
    assert redact({"api_key": "${oc.env:KEY}"}) == {"api_key": "${oc.env:KEY}"}


def test_secret_overrides_move_into_the_environment() -> None:
    env: dict[str, str] = {}
    args = ["+recipe=x", "+api_token=S1", "db.password=S2", "train.lr=1", "-m"]
    out = secret_overrides_by_reference(args, env)
    assert out[0] == "+recipe=x" and out[3:] == ["train.lr=1", "-m"]
    # A reference, also as Hydra escapes it for a job's command line, is left alone.
    escaped = ["api_token=$\\{oc.env\\:NEMOTRON_KIT_SECRET_X\\}", "api_token=${oc.env:X}"]
    assert secret_overrides_by_reference(escaped, env) == escaped
    assert sorted(env.values()) == ["S1", "S2"]
    for arg, name in zip(out[1:3], sorted(env, key=lambda n: env[n]), strict=True):
        assert arg.endswith(f"=${{oc.env:{name}}}") and is_secret_name(name)


def _files_with(sentinel: bytes, roots: list[Path], since: float) -> list[str]:
    found = []
    for root in roots:
        if not root.exists():
            continue
        for dirpath, _, files in os.walk(root):
            for name in files:
                path = Path(dirpath) / name
                try:
                    st = path.lstat()
                    if not stat.S_ISREG(st.st_mode) or st.st_mtime < since:
                        continue
                    if sentinel in path.read_bytes():
                        found.append(str(path))
                except OSError:
                    continue
    return found


@pytest.mark.parametrize("executor", ["local", pytest.param("slurm", marks=needs("slurm"))])
def test_no_secret_is_left_anywhere_by_a_run_or_a_sweep(
    run_cli: RunCli, nk_home: Path, work: Path, executor: str
) -> None:
    sentinel = f"SENTINEL{uuid.uuid4().hex}"
    started = time.time() - 1
    env = {
        "PYTHONPATH": str(REPO),
        "MY_SERVICE_TOKEN": f"{sentinel}-env",
        "WANDB_API_KEY": f"{sentinel}-wandb",
    }
    common = [
        "--config-dir",
        str(REPO / "tests" / "conf"),
        "+recipe=stage",
        f"executor={executor}",
        f"+api_token={sentinel}-override",
        f"+db.password={sentinel}-password",
    ]
    single = run_cli(*common, "output.name=secret-single", env=env)
    sweep = run_cli("-m", *common, "stage.seed=1,2", "output.name=secret-sweep", env=env)
    for result in (single, sweep):
        assert result.returncode == 0, result.stderr
        assert sentinel not in result.stdout + result.stderr
    registry = registry_of(nk_home)
    assert registry.resolve("art://secret-sweep").version == 2
    leaks = _files_with(sentinel.encode(), [work, nk_home, Path("/tmp")], started)
    assert leaks == []
    # The job still saw the values: the stage recipe hashes its config (resolved) into its output.
    run = registry.read_run(registry.resolve("art://secret-single").producer or "")
    assert run["config"]["api_token"].startswith("${oc.env:NEMOTRON_KIT_SECRET_")
    assert not list(work.glob("multirun/*/*/.nemotron_kit/job-*.pkl"))  # gone after the sweep


def test_a_config_file_secret_is_redacted_in_hydra_files_and_records(
    run_cli: RunCli, nk_home: Path, work: Path, tmp_path: Path
) -> None:
    sentinel = f"FILESECRET{uuid.uuid4().hex}"
    conf = tmp_path / "conf" / "recipe"
    conf.mkdir(parents=True)
    (conf / "withsecret.yaml").write_text(
        "# @package _global_\ndefaults:\n  - stage\n  - _self_\n"
        f"service:\n  password: {sentinel}\n  url: https://u:{sentinel}@host/x\n"
    )
    result = run_cli(
        "--config-dir",
        str(tmp_path / "conf"),
        "--config-dir",
        str(REPO / "tests" / "conf"),
        "+recipe=withsecret",
        "output.name=filesecret",
        env={"PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 0, result.stderr
    assert _files_with(sentinel.encode(), [work, nk_home], 0) == []
    record = registry_of(nk_home).read_run(
        registry_of(nk_home).resolve("art://filesecret").producer or ""
    )
    assert record["config"]["service"] == {
        "password": REDACTED,
        "url": f"https://u:{REDACTED}@host/x",
    }


@pytest.mark.slow
def test_every_built_in_output_can_be_reproduced(run_cli: RunCli, nk_home: Path) -> None:
    """No setting of the built-in recipes (shard_tokens, max_new_tokens...) is taken for a
    secret, so none is missing from their run records."""
    small = {
        "data_prep": ["data.num_documents=400"],
        "pretrain": ["train.steps=6", "train.checkpoint_every=3", "train.log_every=3"],
        "sft_data": ["data.num_examples=200"],
        "sft": ["train.steps=6", "train.checkpoint_every=3", "train.log_every=3"],
    }
    outputs = {}
    for recipe, overrides in small.items():
        result = run_cli(f"+recipe={recipe}", *overrides)
        assert result.returncode == 0, result.stderr
        outputs[recipe] = result.stderr.strip().splitlines()[-1].removeprefix("published ")
    registry = registry_of(nk_home)
    data_prep_run = registry.read_run(registry.resolve(outputs["data_prep"]).producer or "")
    assert data_prep_run["config"]["data"]["shard_tokens"] == 1000000
    for recipe, uri in outputs.items():
        result = subprocess.run(
            [sys.executable, "-m", "nemotron_kit", "reproduce", uri, "--json"],
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, "NEMOTRON_KIT_HOME": str(nk_home)},
        )
        assert result.returncode == 0, (recipe, result.stderr[-2000:])
        assert json.loads(result.stdout)["identical"] is True, recipe


def test_reproducing_a_run_given_secret_overrides_asks_for_them_again(
    run_cli: RunCli, nk_home: Path
) -> None:
    stage = ["--config-dir", str(REPO / "tests" / "conf"), "+recipe=stage"]
    made = run_cli(*stage, "output.name=needs-key", "+api_token=first-value-123")
    assert made.returncode == 0, made.stderr
    env = {"PYTHONPATH": str(REPO)}
    refused = run_cli("reproduce", "art://needs-key:v1", env=env)
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        "Error: The run that made art://needs-key:v1 was given secret values on its command "
        "line (api_token), which were not recorded: pass them again, e.g. `nemotron-kit "
        "reproduce art://needs-key:v1 api_token=...`."
    ]
    again = run_cli("reproduce", "art://needs-key:v1", "api_token=first-value-123", env=env)
    assert again.returncode == 0, again.stderr
    assert "identical content" in again.stdout
