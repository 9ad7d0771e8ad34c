"""Typed test recipes (``@recipe``) the API tests link from tests/conf/recipe/typed/*.yaml."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from nemotron_kit import ArtifactInput, ArtifactOutput, constrained, recipe
from nemotron_kit.artifacts import Artifact, ModelArtifact, SFTDataArtifact

if TYPE_CHECKING:
    from nemotron_kit import JobContext


class Note(BaseModel):
    text: str = "hello"
    repeat: int = Field(default=2, ge=1, le=10)


class NoteConfig(BaseModel):
    """A pydantic config class: its defaults compose, its validation runs before any work."""

    note: Note = Field(default_factory=Note)


class NoteArtifact(Artifact):
    lines: int = 0


@recipe(name="typed/note", config=NoteConfig, output=ArtifactOutput(NoteArtifact, "typed-note"))
def note(cfg: NoteConfig, ctx: JobContext) -> NoteArtifact:
    """Write the note ``repeat`` times; the framework publishes the returned artifact."""
    out = ctx.output_dir / "note"
    out.mkdir(parents=True, exist_ok=True)
    (out / "note.txt").write_text((cfg.note.text + "\n") * cfg.note.repeat)
    print(f"note: wrote {cfg.note.repeat} lines")
    return NoteArtifact(path=str(out), lines=cfg.note.repeat)


@recipe(
    name="typed/echo",
    inputs={"source": ArtifactInput(NoteArtifact, "typed-note")},
    output=ArtifactOutput(ModelArtifact, "typed-echo"),
)
def echo(cfg: object, ctx: JobContext, source: NoteArtifact) -> Artifact:
    """Returns a type it did not declare: the framework refuses to publish it."""
    print(f"echo: read {Path(source.path, 'note.txt').read_text().count(chr(10))} lines")
    return SFTDataArtifact(path=source.path)


@dataclass(frozen=True)
class Shape:
    width: int = constrained(3, ge=1)


@dataclass(frozen=True)
class EdgeConfig:
    """Frozen, a field without a default, a top-level scalar with a range: all compose."""

    label: str
    scale: float = constrained(1.0, gt=0)
    shape: Shape = field(default_factory=Shape)


@recipe(name="typed/edge", config=EdgeConfig)
def edge(cfg: EdgeConfig, ctx: JobContext) -> dict[str, float]:
    print(f"edge: {cfg.label} {cfg.scale * cfg.shape.width}")
    return {"area": cfg.scale * cfg.shape.width}


@dataclass
class PathsConfig:
    """A ``Path`` field: Hydra saves it in .hydra/config.yaml with a Python tag."""

    data_dir: Path = Path("/tmp/nk-data")


@recipe(name="typed/paths", config=PathsConfig)
def paths(cfg: PathsConfig, ctx: JobContext) -> dict[str, str]:
    print(f"paths: {type(cfg.data_dir).__name__} {cfg.data_dir}")
    return {"data_dir": str(cfg.data_dir)}


@recipe(name="typed/ranks", output=ArtifactOutput(Artifact, "typed-ranks"))
def ranks(cfg: object, ctx: JobContext) -> Artifact:
    """Under torchrun: rank 0 returns its artifact; rank 1 fails once rank 0 has returned."""
    import os
    import time

    done = ctx.output_dir.parent / f"{ctx.output_dir.name}.rank0-returned"
    if ctx.rank == 0:
        out = ctx.output_dir / "made"
        out.mkdir(parents=True, exist_ok=True)
        (out / "x.txt").write_text("x")
        done.write_text("returned")
        return Artifact(path=str(out))
    deadline = time.monotonic() + 600
    while not done.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    raise ValueError(f"rank {os.environ['RANK']} failed after rank 0 returned")
