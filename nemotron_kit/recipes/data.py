"""Data for the built-in recipes: a procedural arithmetic corpus, a byte tokenizer, shards.

Nothing is downloaded. The built-in corpus is single-line sums (``3+5=8``) for pretraining and
the same sums as questions (``Q: 3+5=\\nA: 8``) for fine-tuning and evaluation. The user's own
JSONL or text files can replace it. Tokens are the UTF-8 bytes of the text (ids 0..255),
written as raw ``uint8`` shards that ``blend.json`` lists.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nemotron_kit.errors import ArtifactError, ConfigError

BUILTIN = "builtin"
BUILTIN_URI = "builtin://arithmetic"
TOKENIZER = "bytes"
VOCAB_SIZE = 256
PAD = 0  # NUL byte: fills the end of packed SFT rows, never trained on
BLEND_FILE = "blend.json"
SFT_FILE = "sft.json"


# -- tokenizer ------------------------------------------------------------------------------
def encode(text: str) -> bytes:
    """Token ids of ``text``: its UTF-8 bytes."""
    return text.encode("utf-8")


def decode(ids: Iterable[int]) -> str:
    return bytes(ids).decode("utf-8", errors="replace")


# -- the arithmetic task --------------------------------------------------------------------
@dataclass(frozen=True)
class Sum:
    a: int
    b: int

    @property
    def line(self) -> str:
        """Pretraining text."""
        return f"{self.a}+{self.b}={self.a + self.b}\n"

    @property
    def prompt(self) -> str:
        """The question as SFT and eval ask it; the model answers after ``A: ``."""
        return f"Q: {self.a}+{self.b}=\nA: "

    @property
    def answer(self) -> str:
        return f"{self.a + self.b}\n"

    @property
    def held_out(self) -> bool:
        """Held-out sums appear in pretraining text but never as SFT questions: eval asks them.

        (a + 2b) % 5 == 0 holds out one sum in five, two values of b for every a.
        """
        return (self.a + 2 * self.b) % 5 == 0


def random_sums(count: int, max_operand: int, seed: int, *, held_out: bool | None) -> list[Sum]:
    """``count`` sums with operands in 0..max_operand; ``held_out`` filters (None: all)."""
    pool = [
        Sum(a, b)
        for a in range(max_operand + 1)
        for b in range(max_operand + 1)
        if held_out is None or Sum(a, b).held_out == held_out
    ]
    if not pool:
        raise ConfigError(
            f"There are no sums with operands up to {max_operand} (held_out={held_out}): "
            "use a max_operand of 1 or more."
        )
    rng = random.Random(seed)
    return [rng.choice(pool) for _ in range(count)]


# -- the user's own files -------------------------------------------------------------------
def source_files(source: str | os.PathLike[str]) -> list[Path]:
    """The files a ``data.source`` entry names: a file, a directory, or an ``art://`` URI."""
    source = os.fspath(source)
    if source.startswith("art://"):
        from nemotron_kit.registry import get_registry

        source = get_registry().load(source).path
    path = Path(source).expanduser()
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    if not path.is_file():
        raise ConfigError(
            f"data.source entry '{source}' is not a file or directory: fix the path, or use "
            "data.source=builtin."
        )
    return [path]


def read_records(path: str | os.PathLike[str], *keys: str) -> Iterator[dict[str, Any]]:
    """The JSON objects of a JSONL file, each checked to have ``keys``."""
    path = Path(path)
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{path}:{number} is not valid JSON ({exc}): fix it.") from None
            missing = [k for k in keys if not isinstance(record, dict) or k not in record]
            if missing:
                raise ConfigError(
                    f"{path}:{number} has no {' or '.join(map(repr, missing))} field: every "
                    "line must be a JSON object with it (data_prep: see data.text_key)."
                )
            yield record


def read_documents(path: str | os.PathLike[str], text_key: str) -> Iterator[str]:
    """A JSONL file's ``text_key`` fields, or a text file as one document."""
    path = Path(path)
    if path.suffix in (".jsonl", ".json"):
        for record in read_records(path, text_key):
            yield str(record[text_key])
    else:
        yield path.read_text(encoding="utf-8")


# -- pretraining shards ---------------------------------------------------------------------
def write_shards(
    directory: str | os.PathLike[str], split: str, tokens: bytes, shard_tokens: int
) -> list[dict[str, Any]]:
    """Split a token stream into ``SPLIT-NNNNN.bin`` files of at most ``shard_tokens`` bytes."""
    shards = []
    for number, start in enumerate(range(0, len(tokens), shard_tokens)):
        chunk = tokens[start : start + shard_tokens]
        name = f"{split}-{number:05d}.bin"
        Path(directory, name).write_bytes(chunk)
        shards.append({"file": name, "tokens": len(chunk)})
    return shards


def write_blend(directory: str | os.PathLike[str], blend: dict[str, Any]) -> None:
    Path(directory, BLEND_FILE).write_text(json.dumps(blend, indent=2, sort_keys=True) + "\n")


def require_file(artifact: Any, key: str, name: str, made_by: str) -> Path:
    """``name`` in the tree of input ``key`` (a loaded artifact), or one sentence: an input
    of the right type that a recipe did not make (saved by hand under a pipeline's name)
    fails before any work, naming it, not with a FileNotFoundError deep in training."""
    path = Path(artifact.path, name)
    if not path.is_file():
        raise ArtifactError(
            f"Input '{key}' ({artifact.uri or artifact.path}) has no {name}, so it is not "
            f"data {made_by} prepared: pass one it did, as inputs.{key}=art://NAME:vN "
            "(`nemotron-kit artifacts ls` lists them)."
        )
    return path


def read_blend(directory: str | os.PathLike[str]) -> dict[str, Any]:
    blend: dict[str, Any] = json.loads((Path(directory) / BLEND_FILE).read_text())
    return blend


def read_split(directory: str | Path, split: str) -> bytes:
    """The token stream of one split (its shards in order)."""
    blend = read_blend(directory)
    if blend.get("dtype", "uint8") != "uint8":
        raise ArtifactError(
            f"{directory} holds {blend.get('dtype')} token shards: these recipes read uint8 "
            "(byte) shards only; prepare the data with data_prep."
        )
    return b"".join((Path(directory) / s["file"]).read_bytes() for s in blend["splits"][split])


# -- packed SFT rows ------------------------------------------------------------------------
def pack(examples: Sequence[tuple[str, str]], pack_size: int) -> tuple[bytes, bytes, int]:
    """Pack (prompt, answer) pairs into rows of ``pack_size`` tokens; returns tokens, mask, rows.

    Whole examples only (none is split across rows); the rest of a row is PAD. The mask is 1 on
    answer tokens: the loss is taken only where the model has to produce the answer.
    """
    tokens, mask = bytearray(), bytearray()
    row_tokens, row_mask = bytearray(), bytearray()

    def close_row() -> None:
        pad = pack_size - len(row_tokens)
        tokens.extend(row_tokens + bytes([PAD]) * pad)
        mask.extend(row_mask + bytes(pad))
        row_tokens.clear()
        row_mask.clear()

    for prompt, answer in examples:
        p, a = encode(prompt), encode(answer)
        if len(p) + len(a) > pack_size:
            raise ConfigError(
                f"An SFT example of {len(p) + len(a)} tokens does not fit data.pack_size="
                f"{pack_size}: raise data.pack_size or shorten the example."
            )
        if len(row_tokens) + len(p) + len(a) > pack_size:
            close_row()
        row_tokens.extend(p + a)
        row_mask.extend(bytes(len(p)) + bytes([1]) * len(a))
    if row_tokens:
        close_row()
    return bytes(tokens), bytes(mask), len(tokens) // pack_size
