"""The built-in recipes through the real CLI: data_prep -> pretrain -> sft_data -> sft -> eval.

Each test runs ``python -m nemotron_kit +recipe=...`` in subprocesses against a fresh
NEMOTRON_KIT_HOME, on a small budget set from the command line.
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest

from nemotron_kit.artifacts import ModelArtifact, PretrainBlendsArtifact, SFTDataArtifact
from tests.conftest import RunCli, make_files, one_error_line, registry_of

DATA = ("data.num_documents=5000",)
PRETRAIN = ("train.steps=150", "train.checkpoint_every=50")
SFT_DATA = ("data.num_examples=2000",)
SFT = ("train.steps=150",)
EVAL = ("eval.num_examples=100",)


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def evaluate(run_cli: RunCli, out: Path, model: str) -> dict[str, object]:
    ok(run_cli("+recipe=eval", f"inputs.model={model}", *EVAL, f"hydra.run.dir={out}"))
    metrics: dict[str, object] = json.loads((out / "metrics.json").read_text())
    return metrics


def test_data_prep_publishes_byte_shards_and_a_blend(
    run_cli: RunCli, nk_home: Path, tmp_path: Path
) -> None:
    ok(run_cli("+recipe=data_prep", *DATA))
    blends = registry_of(nk_home).load("art://pretrain-data", expected=PretrainBlendsArtifact)
    assert blends.total_tokens > 0 and blends.seq_length == 64 and blends.tokenizer == "bytes"
    assert [s.uri for s in blends.source_datasets] == ["builtin://arithmetic"]
    assert blends.source_datasets[0].num_rows == 5000
    blend = json.loads((Path(blends.path) / "blend.json").read_text())
    shards = [s for split in blend["splits"].values() for s in split]
    assert len(shards) == blends.num_shards >= 2  # a train and a validation shard
    assert sum((Path(blends.path) / s["file"]).stat().st_size for s in shards) == (
        blends.total_tokens
    )
    text = (Path(blends.path) / blend["splits"]["train"][0]["file"]).read_bytes()[:200].decode()
    first = text.splitlines()[0]  # e.g. "3+5=8"
    left, total = first.split("=")
    assert sum(int(x) for x in left.split("+")) == int(total)

    # The user's own files instead of the built-in corpus.
    # Each JSONL record's "text" is a document, and so is a whole text file; the tokenizer is
    # bytes, so a document is as many tokens as its UTF-8 encoding has bytes.
    records = [{"text": "hello world"}, {"text": "second document, naïve café"}]
    note = "a plain text file\nwith two lines, ünïcödé\n"
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    notes = tmp_path / "notes.txt"
    notes.write_text(note, encoding="utf-8")
    documents = [r["text"] for r in records] + [note]
    ok(
        run_cli(
            "+recipe=data_prep",
            f"data.source=[{docs},{notes}]",
            "data.validation_fraction=0",
            "output.name=own-data",
        )
    )
    own = registry_of(nk_home).load("art://own-data", expected=PretrainBlendsArtifact)
    assert [(s.name, s.num_rows) for s in own.source_datasets] == [
        ("docs.jsonl", 2),
        ("notes.txt", 1),
    ]
    assert own.tokenizer == "bytes"
    assert own.total_tokens == sum(len(d.encode("utf-8")) for d in documents)
    blend = json.loads((Path(own.path) / "blend.json").read_text())
    stream = b"".join((Path(own.path) / s["file"]).read_bytes() for s in blend["splits"]["train"])
    assert sorted(stream) == sorted(b"".join(d.encode("utf-8") for d in documents))


def test_pretrain_handed_sft_data_fails_at_once_naming_the_type(
    run_cli: RunCli, tmp_path: Path
) -> None:
    ok(run_cli("+recipe=sft_data", *SFT_DATA))
    result = run_cli(
        "+recipe=pretrain", "inputs.data=art://sft-data:latest", f"hydra.run.dir={tmp_path / 'x'}"
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr
    assert "art://sft-data:v1" in errors[0]
    assert "SFTDataArtifact" in errors[0] and "PretrainBlendsArtifact" in errors[0]
    assert not (tmp_path / "x" / "checkpoints").exists()  # failed before training started


def test_an_input_of_the_right_type_but_not_made_by_its_recipe_is_one_sentence(
    run_cli: RunCli, nk_home: Path, tmp_path: Path
) -> None:
    """A blend saved by hand under the pipeline's name (as the README's tour once did) made
    the next pretrain fail with a FileNotFoundError deep in a registry tree."""
    made = make_files(tmp_path / "mine", {"notes.txt": "not a blend"})
    registry_of(nk_home).publish(
        PretrainBlendsArtifact(path=str(made), total_tokens=1, num_shards=1), "pretrain-data"
    )
    result = run_cli("+recipe=pretrain", f"hydra.run.dir={tmp_path / 'x'}")
    assert one_error_line(result) == (
        "Error: Input 'data' (art://pretrain-data:v1) has no blend.json, so it is not data "
        "+recipe=data_prep prepared: pass one it did, as inputs.data=art://NAME:vN "
        "(`nemotron-kit artifacts ls` lists them)."
    )
    assert not (tmp_path / "x" / "checkpoints").exists()


@pytest.mark.slow
def test_pretrain_loss_falls(run_cli: RunCli, nk_home: Path, tmp_path: Path) -> None:
    ok(run_cli("+recipe=data_prep", *DATA))
    ok(run_cli("+recipe=pretrain", *PRETRAIN, f"hydra.run.dir={tmp_path / 'pretrain'}"))
    registry = registry_of(nk_home)
    model = registry.load("art://tiny-gpt", expected=ModelArtifact)
    assert model.step == 150 and model.num_parameters and model.final_loss is not None
    assert model.architecture["d_model"] == 64
    initial = model.metadata["initial_loss"]
    assert initial > 5.0  # about ln(256): the untrained model guesses uniformly
    assert model.final_loss < initial - 2.0, (initial, model.final_loss)
    assert {p.name for p in Path(model.path).iterdir()} == {"model.pt", "config.json"}
    assert registry.resolve(model.uri or "").record["inputs"] == ["art://pretrain-data:v1"]
    logged = (tmp_path / "pretrain" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in logged] == [50, 100, 150]


@pytest.mark.slow
def test_sft_raises_eval_accuracy_over_the_pretrained_model(
    run_cli: RunCli, nk_home: Path, tmp_path: Path
) -> None:
    ok(run_cli("+recipe=data_prep", *DATA))
    ok(run_cli("+recipe=pretrain", *PRETRAIN))
    ok(run_cli("+recipe=sft_data", *SFT_DATA))
    ok(run_cli("+recipe=sft", *SFT))
    registry = registry_of(nk_home)
    sft_data = registry.load("art://sft-data", expected=SFTDataArtifact)
    assert sft_data.num_examples == 2000 and sft_data.pack_size == 64
    assert sft_data.total_tokens and sft_data.total_tokens % 64 == 0
    sft = registry.load("art://tiny-gpt-sft", expected=ModelArtifact)
    assert sorted(registry.resolve("art://tiny-gpt-sft").record["inputs"]) == [
        "art://sft-data:v1",
        "art://tiny-gpt:v1",
    ]
    assert sft.metadata["base_model"] == "art://tiny-gpt:v1"

    before = evaluate(run_cli, tmp_path / "eval-pretrained", "art://tiny-gpt:latest")
    after = evaluate(run_cli, tmp_path / "eval-sft", "art://tiny-gpt-sft:latest")
    assert before["model"] == "art://tiny-gpt:v1" and after["model"] == "art://tiny-gpt-sft:v1"
    assert after["num_examples"] == before["num_examples"] == 100
    assert isinstance(before["accuracy"], float) and isinstance(after["accuracy"], float)
    assert after["accuracy"] >= before["accuracy"] + 0.2, (before, after)


@pytest.mark.slow
def test_a_killed_pretrain_resumes_to_the_same_weights(
    run_cli: RunCli, nk_home: Path, tmp_path: Path
) -> None:
    ok(run_cli("+recipe=data_prep", *DATA))
    budget = ("train.steps=90", "train.checkpoint_every=30", "train.seed=7")
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    ok(run_cli("+recipe=pretrain", *budget, f"hydra.run.dir={straight}"))

    # Killed (SIGKILL, no cleanup) right after the checkpoint of step 60 is written.
    dead = run_cli("+recipe=pretrain", *budget, "+train.stop_after=60", f"hydra.run.dir={killed}")
    assert dead.returncode == -signal.SIGKILL, dead.stderr[-3000:]
    assert sorted(p.name for p in (killed / "checkpoints").iterdir()) == [
        "step-00000030.pt",  # the newest two are kept
        "step-00000060.pt",
    ]
    assert not (killed / "model").exists()
    # Restarted in the same output directory: resumes at step 60.
    ok(run_cli("+recipe=pretrain", *budget, f"hydra.run.dir={killed}"))

    registry = registry_of(nk_home)
    first, resumed = (registry.load(f"art://tiny-gpt:v{v}", expected=ModelArtifact) for v in (1, 2))
    assert first.metadata["resumed_from_step"] is None
    assert resumed.metadata["resumed_from_step"] == 60
    assert resumed.metadata["weights_digest"] == first.metadata["weights_digest"]
    assert resumed.final_loss == first.final_loss and resumed.step == first.step == 90
    for name in ("model/model.pt", "checkpoints/step-00000090.pt"):
        assert (killed / name).read_bytes() == (straight / name).read_bytes(), name


@pytest.mark.slow
def test_torchrun_pretrain_publishes_a_model_that_evaluates(
    run_cli: RunCli, nk_home: Path, tmp_path: Path
) -> None:
    work = tmp_path / "torchrun"
    work.mkdir()
    ok(run_cli("+recipe=data_prep", *DATA))
    ok(
        run_cli(
            "+recipe=pretrain",
            "train.steps=60",
            "train.checkpoint_every=30",
            "executor=torchrun",
            "executor.nproc_per_node=2",
            cwd=work,
        )
    )
    registry = registry_of(nk_home)
    assert [v.version for v in registry.versions("tiny-gpt")] == [1]  # rank 0 alone publishes
    model = registry.load("art://tiny-gpt", expected=ModelArtifact)
    assert model.metadata["world_size"] == 2 and model.step == 60
    assert model.final_loss is not None and model.final_loss < model.metadata["initial_loss"]
    (checkpoints,) = work.glob("multirun/*/*/0/checkpoints")  # rank 0's job directory
    assert sorted(p.name for p in checkpoints.iterdir()) == [
        "step-00000030.pt",
        "step-00000060.pt",
    ]
    metrics = evaluate(run_cli, tmp_path / "eval", "art://tiny-gpt:latest")
    assert metrics["model"] == "art://tiny-gpt:v1" and metrics["num_examples"] == 100
