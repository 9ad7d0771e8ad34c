"""``nemotron-kit new recipes NAME``: scaffold a recipe package that installs and tests itself.

    nemotron-kit new recipes nano3            # -> ./nano3-recipes
    pip install -e './nano3-recipes[test]' && pytest nano3-recipes
    python -m nemotron_kit +pipeline=nano3/full

The package declares the ``nemotron_kit.recipes`` entry point, so its ``conf/`` (two recipes
linked to their ``@recipe`` functions, a pipeline) joins every run's search path once it is
installed: ``+recipe=nano3/train`` composes, runs on every executor and shows in lineage under
the package's name and version.
"""

from __future__ import annotations

import argparse
import re
import shutil
import string
from pathlib import Path

from nemotron_kit.errors import ConfigError

PROG = "nemotron-kit new"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def build_parser() -> argparse.ArgumentParser:
    from nemotron_kit.cli.artifacts import _Parser

    parser = _Parser(prog=PROG, description="Create a new project from a template.")
    sub = parser.add_subparsers(dest="kind", metavar="KIND", parser_class=_Parser)
    sub.required = True
    recipes = sub.add_parser(
        "recipes",
        help="a pip-installable recipe package: two typed recipes, a pipeline and a test",
        description="Scaffold a recipe package NAME-recipes with recipes NAME/prepare and "
        "NAME/train, a pipeline NAME/full and a test that runs it on the local executor.",
    )
    recipes.add_argument("name", metavar="NAME", help="namespace of the recipes (e.g. nano3)")
    recipes.add_argument("--dir", default=None, help="where to create it (default: ./NAME-recipes)")
    return parser


def main(argv: list[str]) -> int:
    ns = build_parser().parse_args(argv)
    target = scaffold_recipes(ns.name, Path(ns.dir) if ns.dir else None)
    print(f"created {target}")
    print(f"next:  pip install -e '{target}[test]' && python -m pytest {target}")
    print(f"       python -m nemotron_kit +pipeline={ns.name}/full")
    return 0


def scaffold_recipes(name: str, directory: Path | None = None) -> Path:
    """Write the package for namespace ``name``; refuse to touch an existing directory."""
    import nemotron_kit

    if not _NAME.match(name):
        raise ConfigError(
            f"'{name}' cannot name a recipe package: use 1-40 lowercase letters, digits or "
            "'_', starting with a letter (e.g. nano3)."
        )
    target = (directory or Path(f"{name.replace('_', '-')}-recipes")).absolute()
    if target.exists():
        raise ConfigError(
            f"{target} already exists: choose another --dir, or remove it to start over."
        )
    values = {
        "name": name,
        "dist": f"{name.replace('_', '-')}-recipes",
        "package": f"{name}_recipes",
        "kit_version": nemotron_kit.__version__,
    }
    staging = target.with_name(f".{target.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)  # what an interrupted earlier attempt left
    try:
        for relative, template in _FILES.items():
            path = staging / string.Template(relative).substitute(values)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(string.Template(template).substitute(values))
        staging.rename(target)  # all of it or nothing
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


_FILES: dict[str, str] = {
    "pyproject.toml": """\
[build-system]
requires = ["hatchling>=1.21"]
build-backend = "hatchling.build"

[project]
name = "$dist"
version = "0.1.0"
description = "$name recipes for nemotron-kit"
requires-python = ">=3.10"
dependencies = ["nemotron-kit>=$kit_version"]

[project.optional-dependencies]
test = ["pytest>=8"]

# nemotron-kit puts this package's conf/ (recipes, pipelines, executor profiles) on every run's
# search path: `python -m nemotron_kit +recipe=$name/train`, `+pipeline=$name/full`.
[project.entry-points."nemotron_kit.recipes"]
$name = "$package"

[tool.hatch.build.targets.wheel]
packages = ["src/$package"]

[tool.pytest.ini_options]
testpaths = ["tests"]
""",
    "README.md": """\
# $dist

Recipes for [nemotron-kit](https://github.com/): `$name/prepare` writes a corpus,
`$name/train` fits a character bigram model to it, `$name/full` runs both.

    pip install -e '.[test]'
    python -m pytest
    python -m nemotron_kit +pipeline=$name/full
    python -m nemotron_kit +recipe=$name/train train.smoothing=0.5 --cfg job
    python -m nemotron_kit +recipe=$name/train executor=slurm
""",
    "src/$package/__init__.py": '''\
"""$name recipes for nemotron-kit; the options are in conf/, the code in the modules."""
''',
    "src/$package/artifacts.py": '''\
"""The artifact types this package's recipes exchange (typed metadata beside the files)."""

from __future__ import annotations

from nemotron_kit import Artifact


class CorpusArtifact(Artifact):
    """A text corpus: ``corpus.txt``, one example per line."""

    num_lines: int = 0


class BigramModelArtifact(Artifact):
    """A character bigram model: ``model.json`` with log-probabilities."""

    vocab_size: int = 0
    validation_loss: float | None = None
''',
    "src/$package/prepare.py": '''\
"""$name/prepare: write a seeded synthetic corpus and publish it as a CorpusArtifact."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from nemotron_kit import ArtifactOutput, JobContext, constrained, recipe

from $package.artifacts import CorpusArtifact

SUBJECTS = ["the cat", "a dog", "my model", "the cluster", "our team"]
VERBS = ["sees", "trains", "reads", "writes", "likes"]
OBJECTS = ["the data", "a checkpoint", "ten shards", "the loss", "every run"]


@dataclass
class DataSettings:
    # How many lines to write.
    num_lines: int = constrained(2000, ge=1)
    # The same seed writes the same corpus.
    seed: int = 0


@dataclass
class PrepareConfig:
    data: DataSettings = field(default_factory=DataSettings)


@recipe(
    name="$name/prepare",
    config=PrepareConfig,
    output=ArtifactOutput(CorpusArtifact, "$name-corpus"),
)
def main(cfg: PrepareConfig, ctx: JobContext) -> CorpusArtifact | None:
    """Write the corpus; what this returns is published as output.name."""
    if ctx.rank != 0:  # under torchrun, one rank writes (the others share its directory)
        return None
    rng = random.Random(cfg.data.seed)
    lines = [
        f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}."
        for _ in range(cfg.data.num_lines)
    ]
    out = ctx.output_dir / "corpus"
    out.mkdir(parents=True, exist_ok=True)
    (out / "corpus.txt").write_text("\\n".join(lines) + "\\n")
    print(f"$name/prepare: {len(lines)} lines -> {out}")
    return CorpusArtifact(path=str(out), num_lines=len(lines))
''',
    "src/$package/train.py": '''\
"""$name/train: fit a character bigram model to a corpus; publish it with its validation loss."""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from nemotron_kit import ArtifactInput, ArtifactOutput, JobContext, constrained, recipe

from $package.artifacts import BigramModelArtifact, CorpusArtifact


@dataclass
class TrainSettings:
    # Add-k smoothing of the bigram counts.
    smoothing: float = constrained(1.0, gt=0)
    # Share of the lines held out to measure the loss on.
    validation_fraction: float = constrained(0.1, gt=0, lt=1)


@dataclass
class TrainConfig:
    train: TrainSettings = field(default_factory=TrainSettings)


@recipe(
    name="$name/train",
    config=TrainConfig,
    inputs={"corpus": ArtifactInput(CorpusArtifact, "$name-corpus")},
    output=ArtifactOutput(BigramModelArtifact, "$name-model"),
)
def main(cfg: TrainConfig, ctx: JobContext, corpus: CorpusArtifact) -> BigramModelArtifact | None:
    """Count character pairs, smooth, and score the held-out lines (nats per character)."""
    lines = (Path(corpus.path) / "corpus.txt").read_text().splitlines()
    cut = max(1, int(len(lines) * (1 - cfg.train.validation_fraction)))
    train, validation = lines[:cut], lines[cut:] or lines[-1:]
    vocab = sorted({c for line in lines for c in line} | {"\\n"})
    pairs = Counter((a, b) for line in train for a, b in zip(line, line[1:] + "\\n"))
    firsts = Counter(a for a, _ in pairs.elements())
    k, size = cfg.train.smoothing, len(vocab)

    def logp(a: str, b: str) -> float:
        return math.log((pairs[a, b] + k) / (firsts[a] + k * size))

    scored = [logp(a, b) for line in validation for a, b in zip(line, line[1:] + "\\n")]
    loss = -sum(scored) / len(scored)
    print(f"$name/train: validation loss {loss:.4f} nats/char on {len(validation)} lines")
    if ctx.rank != 0:  # every rank computes; rank 0 writes and publishes
        return None
    out = ctx.output_dir / "model"
    out.mkdir(parents=True, exist_ok=True)
    table = {a: {b: logp(a, b) for b in vocab} for a in vocab}
    (out / "model.json").write_text(json.dumps({"vocab": vocab, "logp": table}))
    return BigramModelArtifact(path=str(out), vocab_size=size, validation_loss=loss)
''',
    "src/$package/conf/recipe/$name/prepare.yaml": """\
# @package _global_
# $name/prepare: settings and defaults are PrepareConfig in $package/prepare.py.
defaults:
  - /nk_recipe@_global_: $package.prepare.main
  - _self_
""",
    "src/$package/conf/recipe/$name/train.yaml": """\
# @package _global_
# $name/train: settings and defaults are TrainConfig in $package/train.py.
defaults:
  - /nk_recipe@_global_: $package.train.main
  - _self_
""",
    "src/$package/conf/pipeline/$name/full.yaml": """\
# @package _global_
# prepare -> train; an unchanged step is skipped and its earlier output reused.
defaults:
  - /nk_schema/pipeline@pipeline: pipeline
  - _self_

pipeline:
  name: $name-full
  force: false
  steps:
    - name: prepare
      recipe: $name/prepare
    - name: train
      recipe: $name/train
      inputs: {corpus: prepare}
""",
    "tests/test_$package.py": '''\
"""Runs this package's recipes on the local executor, in a registry of the test's own."""

from __future__ import annotations

from pathlib import Path

import pytest

import nemotron_kit as kit


@pytest.fixture(autouse=True)
def own_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEMOTRON_KIT_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)


def test_train_fits_the_prepared_corpus_and_records_its_lineage() -> None:
    kit.launch(["+recipe=$name/prepare", "data.num_lines=300"])
    kit.launch(["+recipe=$name/train", "train.smoothing=0.5"])
    registry = kit.get_registry()
    model = registry.load("art://$name-model:latest")
    assert type(model).__name__ == "BigramModelArtifact"
    assert model.validation_loss is not None and 0 < model.validation_loss < 5
    run = registry.read_run(registry.resolve(model.uri).producer)
    assert run["inputs"] == ["art://$name-corpus:v1"]


def test_the_pipeline_reuses_unchanged_steps() -> None:
    kit.launch(["+pipeline=$name/full"])
    kit.launch(["+pipeline=$name/full"])
    registry = kit.get_registry()
    assert [v.version for v in registry.versions("$name-model")] == [1]


def test_a_wrong_input_type_is_refused_before_any_work() -> None:
    kit.launch(["+pipeline=$name/full"])
    with pytest.raises(kit.NemotronKitError, match="expects a CorpusArtifact"):
        kit.launch(["+recipe=$name/train", "inputs.corpus=art://$name-model:v1"])
''',
}
