"""The typed recipe API (``@recipe``): the config class is the option's schema, inputs are
type-checked before the run exists, and what a recipe returns is what gets published."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from nemotron_kit import ArtifactInput, ArtifactOutput, recipe
from nemotron_kit.artifacts import ModelArtifact
from nemotron_kit.recipes import config as builtin_configs
from nemotron_kit.recipes.api import RecipeDefinitionError, load_recipe
from tests.conftest import REPO, RunCli, ok, one_error_line, registry_of, run_test_conf

BUILTIN = ("data_prep", "pretrain", "sft_data", "sft", "eval")


def _sections(target: str) -> dict[str, Any]:
    declared = load_recipe(target)
    assert declared.config is not None and dataclasses.is_dataclass(declared.config)
    return dataclasses.asdict(declared.config())


@pytest.mark.parametrize("name", BUILTIN)
def test_cfg_job_shows_the_defaults_of_the_recipes_config_class(run_cli: RunCli, name: str) -> None:
    result = run_cli(f"+recipe={name}", "--cfg", "job")
    assert result.returncode == 0, result.stderr
    composed = yaml.safe_load(result.stdout)
    target = composed["recipe"]["_target_"]
    assert target == f"nemotron_kit.recipes.{name}.main"
    sections = _sections(target)
    assert sections  # every built-in recipe has settings
    assert {key: composed[key] for key in sections} == sections
    declared = load_recipe(target)
    assert composed["inputs"] == {n: i.default_uri for n, i in declared.inputs.items()}
    assert composed["recipe"]["package"].startswith("nemotron-kit ")


def test_sft_keeps_its_own_default_beside_the_shared_train_schema() -> None:
    assert builtin_configs.SFTConfig().train.warmup_steps == 10
    assert builtin_configs.PretrainConfig().train.warmup_steps == 20


@pytest.mark.parametrize(
    ("override", "sentence"),
    [
        ("train.lr=abc", "'train.lr' takes a number, not 'abc'"),
        ("train.steps=-5", "'train.steps' is -5, but it must be >= 1"),
        ("+train.bogus=1", "'train.bogus' is not a setting here"),
        ("model.n_heads=3", "model.d_model=64 is not divisible by model.n_heads=3"),
    ],
)
def test_a_bad_value_is_refused_before_any_work(
    run_cli: RunCli, nk_home: Path, override: str, sentence: str
) -> None:
    result = run_cli("+recipe=pretrain", override)
    assert result.returncode != 0
    assert sentence in result.stderr.strip().splitlines()[-1], result.stderr
    assert "Traceback" not in result.stderr
    assert not (nk_home / "registry").exists()  # nothing was opened, let alone written


def test_a_wrong_input_type_exits_with_one_sentence_and_writes_no_run(
    run_cli: RunCli, nk_home: Path
) -> None:
    small = ("data.num_examples=200",)
    assert run_cli("+recipe=sft_data", *small).returncode == 0
    registry = registry_of(nk_home)
    before = registry.run_ids()
    result = run_cli("+recipe=pretrain", "inputs.data=art://sft-data:v1")
    assert one_error_line(result) == (
        "Error: Input 'data' of recipe pretrain expects a PretrainBlendsArtifact, but "
        "art://sft-data:v1 is of type sft_data (SFTDataArtifact): pass an artifact of type "
        "pretrain_blends with 'inputs.data=art://NAME:VERSION'."
    )
    assert result.stdout == ""
    assert registry.run_ids() == before
    # The launcher checks too, before anything is submitted to another executor.
    launched = run_cli("+recipe=pretrain", "inputs.data=art://sft-data:v1", "executor=torchrun")
    assert "expects a PretrainBlendsArtifact" in one_error_line(launched)
    assert registry.run_ids() == before


def test_a_pydantic_config_class_composes_and_is_validated_before_any_work(
    run_cli: RunCli, work: Path, nk_home: Path
) -> None:
    shown = run_test_conf(run_cli, work, "+recipe=typed/note", "--cfg", "job")
    assert shown.returncode == 0, shown.stderr
    assert yaml.safe_load(shown.stdout)["note"] == {"text": "hello", "repeat": 2}

    bad = run_test_conf(run_cli, work, "+recipe=typed/note", "note.repeat=11")
    assert one_error_line(bad) == (
        "Error: 'note.repeat' is 11, but input should be less than or equal to 10: fix the "
        "override or the config file."
    )
    assert not (nk_home / "registry" / "default" / "runs").exists()

    done = run_test_conf(run_cli, work, "+recipe=typed/note", "note.repeat=3")
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "published art://typed-note:v1"
    note = registry_of(nk_home).load("art://typed-note:v1")
    assert type(note).__name__ == "NoteArtifact" and note.lines == 3  # type: ignore[attr-defined]
    assert Path(note.path, "note.txt").read_text() == "hello\n" * 3


def test_a_recipe_that_returns_what_it_did_not_declare_fails_and_publishes_nothing(
    run_cli: RunCli, work: Path, nk_home: Path
) -> None:
    assert run_test_conf(run_cli, work, "+recipe=typed/note").returncode == 0
    result = run_test_conf(run_cli, work, "+recipe=typed/echo")
    assert one_error_line(result) == (
        "Error: Recipe typed/echo returned a SFTDataArtifact, but it declares ModelArtifact: "
        "return what the @recipe output says, or change the declaration."
    )
    registry = registry_of(nk_home)
    assert [v.name for v in registry.list()] == ["typed-note"]
    runs = [registry.read_run(run_id) for run_id in registry.run_ids()]
    (failed,) = [r for r in runs if r.get("recipe") == "typed/echo"]
    assert failed["status"] == "FAILED"


# -- declarations that cannot work fail when their module is imported ---------------------
@dataclasses.dataclass
class _Settings:
    steps: int = 1


@dataclasses.dataclass
class _Clashing:
    inputs: int = 0


def _declare(**kwargs: Any) -> Any:
    def fn(cfg: Any, ctx: Any, data: Any) -> None:
        return None

    return recipe(**{"name": "bad", **kwargs})(fn)


@pytest.mark.parametrize(
    ("kwargs", "sentence"),
    [
        (
            {"config": dict},
            "config=<class 'dict'> is neither a dataclass nor a pydantic model",
        ),
        ({"config": _Clashing}, "the config class declares inputs, which the framework owns"),
        (
            {"inputs": {"data": ModelArtifact}},
            "input 'data' must be ArtifactInput(SomeArtifact, default)",
        ),
        (
            {"inputs": {"model": ArtifactInput(ModelArtifact)}},
            "the function must take (cfg, ctx, model), one parameter per declared input, but "
            "takes (cfg, ctx, data)",
        ),
        ({"config": _Settings()}, "is neither a dataclass nor a pydantic model"),
        (
            {"inputs": {"data": ArtifactInput(ModelArtifact, "data:v3")}},
            "input 'data' has default 'data:v3', which is neither an artifact name",
        ),
        (
            {"inputs": {"data": ArtifactInput(ModelArtifact)}, "output": ModelArtifact},
            "output must be ArtifactOutput(SomeArtifact, 'name')",
        ),
    ],
)
def test_a_declaration_that_cannot_work_is_refused_in_one_sentence(
    kwargs: dict[str, Any], sentence: str
) -> None:
    with pytest.raises(RecipeDefinitionError) as caught:
        _declare(**kwargs)
    message = str(caught.value)
    assert sentence in message and "\n" not in message


def test_a_declared_recipe_serves_its_config_and_keeps_the_function_callable() -> None:
    fn = _declare(
        name=None,
        config=_Settings,
        inputs={"data": ArtifactInput(ModelArtifact, "tiny-gpt")},
        output=ArtifactOutput(ModelArtifact, "out"),
    )
    declared = fn.__nemotron_kit_recipe__
    node = declared.config_node()
    assert list(node) == ["recipe", "inputs", "output", "steps"]
    assert declared.name == "test_recipe_api/fn"  # not `main`: the module and the function
    assert json.loads(json.dumps(dict(node.inputs))) == {"data": "art://tiny-gpt:latest"}
    assert node.output._target_ == "nemotron_kit.artifacts.ModelArtifact"
    assert fn(None, None, None) is None  # still the plain function


def test_frozen_required_and_top_level_fields_compose_and_are_checked_before_any_work(
    run_cli: RunCli, work: Path, nk_home: Path
) -> None:
    shown = run_test_conf(run_cli, work, "+recipe=typed/edge", "--cfg", "job")
    assert shown.returncode == 0, shown.stderr
    composed = yaml.safe_load(shown.stdout)
    assert (composed["label"], composed["scale"], composed["shape"]) == ("???", 1.0, {"width": 3})
    cases = {
        (): "'label' has no value (???): set it with 'label=...' or in your config file.",
        ("label=x", "scale=-1"): "'scale' is -1.0, but it must be > 0",
        ("label=x", "shape.width=0"): "'shape.width' is 0, but it must be >= 1",
    }
    for args, sentence in cases.items():
        result = run_test_conf(run_cli, work, "+recipe=typed/edge", *args)
        assert sentence in one_error_line(result), (args, result.stderr)
    assert not (nk_home / "registry" / "default" / "runs").exists()  # no run was recorded
    done = run_test_conf(run_cli, work, "+recipe=typed/edge", "label=x", "scale=2")
    assert done.returncode == 0, done.stderr
    assert "edge: x 6.0" in done.stdout


@pytest.mark.parametrize("executor", ["local", "torchrun"])
def test_a_path_field_runs_and_is_recorded_as_a_string(
    run_cli: RunCli, work: Path, nk_home: Path, executor: str
) -> None:
    """Hydra saves a ``Path`` with a Python tag in .hydra/config.yaml, which the job reads back
    (to redact secrets): every run of such a recipe failed, blaming the YAML's syntax."""
    args = ["+recipe=typed/paths", "data_dir=/srv/data", f"executor={executor}"]
    done = run_test_conf(run_cli, work, *args)
    assert done.returncode == 0, done.stderr
    assert "paths: PosixPath /srv/data" in done.stdout
    (run_id,) = registry_of(nk_home).run_ids()
    shown = json.loads(ok(run_cli("runs", "show", run_id, "--json")))
    assert shown["config"]["data_dir"] == "/srv/data"
    # A secret's value inside a Path is redacted in the saved config too, as in a string.
    secret = "hf_path_secret_0123456789"
    args[1] = f"data_dir=/srv/{secret}/data"
    hidden = run_test_conf(run_cli, work, *args, env={"HF_TOKEN": secret})
    assert hidden.returncode == 0, hidden.stderr
    saved = [p.read_text() for p in work.rglob(".hydra/config.yaml")]
    assert len(saved) == 2 and not any(secret in text for text in saved)


def test_bad_links_sub_paths_and_unknown_pydantic_keys_are_one_sentence(
    run_cli: RunCli, work: Path, nk_home: Path
) -> None:
    typo = run_test_conf(run_cli, work, "+recipe=typed/typo", "--cfg", "job")
    assert one_error_line(typo, code=1).startswith(
        "Error: Cannot import the recipe 'tests.typed_recipez.edge' (ModuleNotFoundError"
    )
    bogus = run_test_conf(run_cli, work, "+recipe=typed/note", "+note.bogus=1")
    assert one_error_line(bogus) == (
        "Error: 'note.bogus' is not a setting here (the keys of 'note' are repeat, text): "
        "remove it or fix the spelling."
    )
    assert run_test_conf(run_cli, work, "+recipe=typed/note").returncode == 0
    sub_path = run_test_conf(
        run_cli, work, "+recipe=typed/echo", "inputs.source=art://typed-note:v1/note.txt"
    )
    assert one_error_line(sub_path) == (
        "Error: Input 'source' of recipe typed/echo takes a whole artifact, not a file inside "
        "one (art://typed-note:v1/note.txt): pass art://NAME:VERSION and read the file from "
        "the loaded artifact's path."
    )


def test_an_unknown_recipe_lists_the_options_of_its_own_group_and_subgroups(
    run_cli: RunCli, work: Path
) -> None:
    """Hydra lists the top group's options only: a typo in typed/note was offered stage."""
    nested = one_error_line(run_test_conf(run_cli, work, "+recipe=typed/nte"), code=1)
    assert nested.startswith(
        "Error: Config group 'recipe/typed' has no option 'nte': choose one of echo, edge, "
        "note, paths, ranks, typo, or add recipe/typed/nte.yaml"
    )
    top = one_error_line(run_test_conf(run_cli, work, "+recipe=stag"), code=1)
    assert "choose one of " in top and all(o in top for o in ("stage,", "pretrain,", "typed/note,"))
    lost = one_error_line(run_test_conf(run_cli, work, "+recipe=typd/note"), code=1)
    assert lost.startswith("Error: Config group 'recipe/typd' does not exist (asked for ")
    assert "typed/note, " in lost and " for recipe, or add recipe/typd/note.yaml" in lost


def test_reproduce_recomposes_a_typed_recipe_on_its_config_class(
    run_cli: RunCli, work: Path, nk_home: Path
) -> None:
    assert run_test_conf(run_cli, work, "+recipe=typed/note").returncode == 0
    runs_before = registry_of(nk_home).run_ids()
    bad = run_cli(
        "reproduce",
        "art://typed-note:v1",
        "note.repeat=11",
        cwd=work,
        env={"PYTHONPATH": str(REPO)},
    )
    assert bad.returncode != 0
    assert "'note.repeat' is 11, but input should be less than or equal to 10" in bad.stderr
    assert registry_of(nk_home).run_ids() == runs_before
    again = run_cli("reproduce", "art://typed-note:v1", cwd=work, env={"PYTHONPATH": str(REPO)})
    assert again.returncode == 0, again.stderr
    assert "identical content" in again.stdout


def test_saved_configs_read_back_their_paths_and_no_other_python_object() -> None:
    from omegaconf import OmegaConf

    from nemotron_kit.execution.context import load_plain_yaml

    saved = OmegaConf.to_yaml(OmegaConf.create({"data_dir": Path("/srv/data")}))
    assert load_plain_yaml(saved) == {"data_dir": Path("/srv/data")}  # this Python's tag
    for module in ("pathlib", "pathlib._local"):  # up to 3.12, and from 3.13
        tagged = f"d: !!python/object/apply:{module}.PosixPath ['/srv', 'data']"
        assert load_plain_yaml(tagged) == {"d": Path("/srv/data")}
    with pytest.raises(yaml.constructor.ConstructorError):
        load_plain_yaml("d: !!python/object/apply:os.system ['true']")


def test_the_recipe_helpers_take_str_paths_as_artifacts_give_them(tmp_path: Path) -> None:
    """``Artifact.path`` is a ``str``: the helpers a recipe passes it to took only ``Path``."""
    import torch

    from nemotron_kit.recipes import checkpoint, data, metrics, model

    where = str(tmp_path / "ckpt")
    saved = checkpoint.save(where, 3, {"w": torch.ones(2)})
    assert checkpoint.latest(where) == saved == Path(where, "step-00000003.pt")
    assert checkpoint.load(str(saved))["step"] == 3

    blend_dir = tmp_path / "blend"
    blend_dir.mkdir()
    shards = data.write_shards(str(blend_dir), "train", b"abcdef", 4)
    assert [s["tokens"] for s in shards] == [4, 2]
    data.write_blend(str(blend_dir), {"shards": shards})
    assert data.read_blend(str(blend_dir))["shards"] == shards

    jsonl = tmp_path / "docs.jsonl"
    jsonl.write_text('{"text": "one"}\n{"text": "two"}\n')
    assert list(data.read_documents(str(jsonl), "text")) == ["one", "two"]
    assert [r["text"] for r in data.read_records(str(jsonl), "text")] == ["one", "two"]
    assert data.source_files(jsonl) == [jsonl]  # and a Path where a str was assumed

    config = model.GPTConfig(d_model=8, n_layers=1, n_heads=2, context=8)
    weights = model.GPT(config).state_dict()
    model.save_pretrained(weights, config, str(tmp_path / "model"))
    assert model.load_pretrained(str(tmp_path / "model")).config == config

    log = metrics.MetricLogger(str(tmp_path / "logs" / "metrics.jsonl"), every=1)
    assert log.path == tmp_path / "logs" / "metrics.jsonl" and log.path.parent.is_dir()

    from nemotron_kit.recipes.sft import PackedRows

    packed = tmp_path / "sft"
    packed.mkdir()
    (packed / data.SFT_FILE).write_text('{"num_rows": 1, "pack_size": 4}')
    (packed / "tokens.bin").write_bytes(b"abcd")
    (packed / "loss_mask.bin").write_bytes(b"\x00\x01\x01\x01")
    rows = PackedRows.load(str(packed))
    assert rows.tokens.tolist() == [list(b"abcd")] and rows.mask.tolist() == [[0, 1, 1, 1]]
