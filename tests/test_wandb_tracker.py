"""The wandb tracker, offline: real jobs through the CLI, read back from W&B's own run files."""

from __future__ import annotations

import json
import pickle
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any, Literal

import pytest

import nemotron_kit as kit
from nemotron_kit.errors import ConfigError
from nemotron_kit.tracking.wandb import WandbTracker
from nemotron_kit.tracking.wandb_offline import (
    BLOCK_LEN,
    FIRST,
    FULL,
    LAST,
    MIDDLE,
    OfflineRunError,
    iter_chunks,
    read_offline_run,
)
from tests.conftest import REPO, RunCli, needs


@pytest.fixture
def wandb_env(tmp_path: Path) -> dict[str, str]:
    """Offline W&B with every directory it writes to under tmp_path."""
    env = {"WANDB_MODE": "offline", "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    for var in ("WANDB_DIR", "WANDB_DATA_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR"):
        path = tmp_path / var.lower()
        path.mkdir()
        env[var] = str(path)
    return env


def run_stage(run_cli: RunCli, env: dict[str, str], *overrides: str) -> Any:
    return run_cli(
        "--config-dir",
        str(REPO / "tests" / "conf"),
        "+recipe=stage",
        "tracker=[file,wandb]",
        "+tracker.wandb.tags=[nk-test]",
        *overrides,
        env=env,
    )


def offline_run(env: dict[str, str], run_id: str) -> dict[str, Any]:
    found = list((Path(env["WANDB_DIR"]) / "wandb").glob(f"offline-run-*-{run_id}"))
    assert len(found) == 1, found
    return read_offline_run(found[0])


def test_two_stages_are_mirrored_offline(
    run_cli: RunCli, wandb_env: dict[str, str], nk_home: Path
) -> None:
    one = run_stage(
        run_cli, wandb_env, "stage.seed=7", "+stage.aliases=[best]", "+output.metadata.loss=0.25"
    )
    assert one.returncode == 0, one.stderr
    two = run_stage(
        run_cli,
        {**wandb_env, "MY_API_TOKEN": "sekrit-env-123456"},
        "stage.name=two",
        "output.name=stage-two",
        "+inputs.data=art://stage-one:latest",
        "+stage.print_secret=sekrit-literal-999",  # printed by the recipe, and on the command line
        "+stage.note=sekrit-env-123456",
    )
    assert two.returncode == 0, two.stderr

    registry = kit.registry.init(root=nk_home / "registry")
    v1 = registry.resolve("art://stage-one:v1")
    v2 = registry.resolve("art://stage-two:v1")
    assert v1.producer and v2.producer

    first = offline_run(wandb_env, v1.producer)
    assert first["run_id"] == first["name"] == v1.producer
    assert first["tags"] == ["nk-test"] and first["job_type"] == "stage"
    assert first["config"]["stage"] == {
        "name": "one",
        "seed": 7,
        "fail": False,
        "aliases": ["best"],
    }
    assert first["config"]["recipe"]["name"] == "stage"
    assert first["exit_code"] == 0
    assert first["summary"]["nemotron_kit/status"] == "COMPLETED"
    assert first["summary"]["nemotron_kit/outputs"] == ["art://stage-one:v1"]
    [art] = first["artifacts"]
    assert art["name"] == "stage-one" and art["type"] == v1.type
    assert {"best", "latest", "nk-v1"} <= set(art["aliases"])
    assert art["metadata"]["nemotron_kit_uri"] == "art://stage-one:v1"
    assert art["metadata"]["digest"] == v1.digest and art["metadata"]["loss"] == 0.25
    assert first["summary"]["stage-one/loss"] == 0.25  # numeric metadata: the run's summary
    # A reference artifact: entries point at the registry's files, nothing is staged.
    [entry] = art["manifest_entries"]
    assert entry["path"] == "result.txt"
    assert entry["ref"].startswith("file://" + str(nk_home / "registry" / "objects"))

    second = offline_run(wandb_env, v2.producer)
    # Offline, W&B cannot declare inputs: the pinned versions are in the config instead.
    assert second["config"]["inputs"] == {"data": "art://stage-one:v1"}
    assert second["config"]["nemotron_kit"]["inputs"] == ["art://stage-one:v1"]
    assert "+inputs.data=art://stage-one:latest" in second["config"]["nemotron_kit"]["overrides"]
    [art2] = second["artifacts"]
    assert art2["name"] == "stage-two" and set(art2["aliases"]) == {"latest", "nk-v1"}
    # The file tracker ran beside it and recorded the same run.
    assert registry.read_run(v2.producer)["inputs"] == ["art://stage-one:v1"]
    # No secret reaches W&B: not in its config, metadata (argv), console capture or logs.
    # A secret override travels by reference (an environment variable of the job).
    assert second["config"]["stage"]["print_secret"].startswith("${oc.env:NEMOTRON_KIT_SECRET_")
    for var in ("WANDB_DIR", "WANDB_DATA_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR"):
        for path in Path(wandb_env[var]).rglob("*"):
            if path.is_file():
                assert b"sekrit" not in path.read_bytes(), path


def test_failed_job_is_recorded_as_failed(
    run_cli: RunCli, wandb_env: dict[str, str], nk_home: Path
) -> None:
    result = run_stage(run_cli, wandb_env, "stage.fail=true")
    assert result.returncode != 0
    [run_dir] = (Path(wandb_env["WANDB_DIR"]) / "wandb").glob("offline-run-*")
    record = read_offline_run(run_dir)
    assert record["exit_code"] == 1
    assert record["summary"]["nemotron_kit/status"] == "FAILED"
    assert "asked to fail" in record["summary"]["nemotron_kit/error"]
    assert record["artifacts"] == []
    registry = kit.registry.init(root=nk_home / "registry")
    assert registry.read_run(record["run_id"])["status"] == "FAILED"


def test_importing_the_tracker_does_not_import_wandb() -> None:
    probe = (
        "import sys\n"
        "import nemotron_kit.tracking.wandb as m\n"
        "assert 'wandb' not in sys.modules, 'wandb imported'\n"
        "assert m.add_wandb_tags('x') is False and m.finish_wandb() is False\n"
        "assert 'wandb' not in sys.modules, 'wandb imported by a helper'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=REPO
    )
    assert result.returncode == 0, result.stderr


def test_tracker_from_config_and_pickle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    tracker = WandbTracker.from_config(
        {"enabled": True, "project": "p", "entity": None, "mode": None, "tags": ["a"]}
    )
    assert (tracker.project, tracker.mode, tracker.tags) == ("p", "offline", ["a"])
    assert tracker.records_lineage is True
    assert pickle.loads(pickle.dumps(tracker)) == tracker
    with pytest.raises(ConfigError, match="projct"):
        WandbTracker.from_config({"projct": "p"})
    with pytest.raises(ConfigError, match="not a W&B mode"):
        WandbTracker.from_config({"mode": "offlne"})


@pytest.mark.parametrize(
    "backend", ["copy", "reference", "single", "memory", pytest.param("s3", marks=needs("s3"))]
)
def test_reference_urls_point_at_the_registry_files(
    backend: str, tmp_path: Path, nk_home: Path, request: pytest.FixtureRequest
) -> None:
    from types import SimpleNamespace

    from nemotron_kit.artifacts import Artifact
    from nemotron_kit.registry import ArtifactRegistry
    from nemotron_kit.tracking.wandb import reference_urls

    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "sub" / "a.bin").write_bytes(b"a" * 10)
    (data / "b.txt").write_bytes(b"b")
    cache = tmp_path / "hashes.sqlite"
    root: str = str(tmp_path / "registry")
    options = None
    if backend == "memory":
        root = f"memory://nk-{tmp_path.name}"
    elif backend == "s3":
        bucket = request.getfixturevalue("s3_bucket")
        root = f"s3://{bucket}/reg"
        options = {"endpoint_url": request.getfixturevalue("s3_endpoint")}
    registry = ArtifactRegistry(root, storage_options=options, hash_cache=cache)
    path = data / "b.txt" if backend == "single" else data
    mode: Literal["reference", "copy"] = (
        "reference" if backend in ("reference", "single") else "copy"
    )
    version = registry.publish(Artifact(path=str(path)), name="d", mode=mode)
    urls = dict(reference_urls(SimpleNamespace(registry=registry), version))  # type: ignore[arg-type]
    objects = {
        f.rel: f"objects/{f.digest[:2]}/{f.digest}" for f in registry.manifest(version).files
    }
    if backend == "copy":
        assert urls == {rel: (Path(root) / key).as_uri() for rel, key in objects.items()}
    elif backend == "reference":
        assert urls == {
            "sub/a.bin": (data / "sub/a.bin").as_uri(),
            "b.txt": (data / "b.txt").as_uri(),
        }
    elif backend == "single":
        assert urls == {"b.txt": (data / "b.txt").as_uri()}
    elif backend == "memory":
        assert urls == {}  # W&B cannot reach it; the metadata still names the version
    else:
        assert urls == {rel: f"s3://{bucket}/reg/{key}" for rel, key in objects.items()}


class FakeWandbRun:
    def __init__(self, errors: dict[str, Exception]) -> None:
        self.errors = errors
        self.used: list[str] = []

    def use_artifact(self, ref: str) -> None:
        self.used.append(ref)
        if ref in self.errors:
            raise self.errors[ref]


def test_online_inputs_are_declared_by_nk_version_alias(capsys: pytest.CaptureFixture[str]) -> None:
    from nemotron_kit.tracking.run import ActiveRun

    run = ActiveRun(
        run_id="r1",
        registry=None,  # type: ignore[arg-type]
        trackers=[],
        config={},
        inputs=["art://a:v3", "art://a:v3/x.json", "art://proj/b:v1", "art://c:v2"],
        pins={},
        overrides=[],
        hydra={},
    )
    fake = FakeWandbRun(
        {"b:nk-v1": ValueError("artifact 'b:nk-v1' not found"), "c:nk-v2": OSError("boom")}
    )
    tracker = WandbTracker()
    tracker._use_inputs(run, fake)
    assert fake.used == ["a:nk-v3", "b:nk-v1", "c:nk-v2"]
    # Never mirrored: a note, not a failure. Any other W&B error is a warning: W&B is a mirror,
    # and the job neither fails nor waits for it.
    err = capsys.readouterr().err
    assert "no mirror of art://proj/b:v1" in err
    assert "Warning: lineage mirror WandbTracker.use_artifact(c:nk-v2) failed" in err
    assert "boom" in err and run.tracker_errors == []


def test_secret_overrides_are_redacted() -> None:
    from nemotron_kit.tracking.wandb import redact_overrides

    assert redact_overrides(["+db.password=x1", "++api_key=abc", "train.lr=3", "-m"]) == [
        "+db.password=***REDACTED***",
        "++api_key=***REDACTED***",
        "train.lr=3",
        "-m",
    ]


def _frame(records: list[bytes]) -> bytes:
    """A LevelDB-log file as wandb writes it: header, then records chunked into 32 KiB blocks."""
    out = bytearray(b":W&B" + struct.pack("<HB", 0xBEE1, 0))
    for data in records:
        first = True
        while True:
            room = BLOCK_LEN - len(out) % BLOCK_LEN
            if room < 7:
                out += b"\0" * room
                continue
            piece, data = data[: room - 7], data[room - 7 :]
            kinds = (FULL, FIRST) if first else (LAST, MIDDLE)
            kind = kinds[1] if data else kinds[0]
            crc = zlib.crc32(piece, zlib.crc32(bytes([kind]))) & 0xFFFFFFFF
            out += struct.pack("<IHB", crc, len(piece), kind) + piece
            first = False
            if not data:
                break
    return bytes(out)


def test_chunk_reader_reassembles_records_across_blocks() -> None:
    records = [b"a" * 10, b"b" * (BLOCK_LEN * 2 + 123), b"", b"c" * (BLOCK_LEN - 30)]
    data = _frame(records)
    assert list(iter_chunks(data)) == records
    assert list(iter_chunks(data[:-5])) == records[:-1]  # a torn last record is dropped
    corrupt = bytearray(data)
    corrupt[20] ^= 0xFF
    with pytest.raises(OfflineRunError, match="CRC"):
        list(iter_chunks(bytes(corrupt)))
    with pytest.raises(OfflineRunError, match="header"):
        list(iter_chunks(json.dumps({}).encode()))


def test_a_pretrain_runs_offline_files_hold_its_per_step_loss_curve(
    run_cli: RunCli, wandb_env: dict[str, str], nk_home: Path
) -> None:
    assert run_cli("+recipe=data_prep", "data.num_documents=2000", env=wandb_env).returncode == 0
    done = run_cli("+recipe=pretrain", "train.steps=20", "tracker=[file,wandb]", env=wandb_env)
    assert done.returncode == 0, done.stderr[-2000:]
    run_id = kit.registry.init(root=nk_home / "registry").resolve("art://tiny-gpt:v1").producer
    assert run_id is not None
    found = list((Path(wandb_env["WANDB_DIR"]) / "wandb").glob(f"offline-run-*-{run_id}"))
    history = read_offline_run(found[0])["history"] if found else []
    assert [h["_step"] for h in history] == list(range(1, 21))
    logged = kit.registry.get_registry().read_metrics(run_id)
    assert [h["loss"] for h in history] == [r["values"]["loss"] for r in logged]
    assert all(h["lr"] > 0 and h["steps_per_s"] > 0 for h in history)
