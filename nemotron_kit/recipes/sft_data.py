"""sft_data: pack (prompt, answer) pairs into fixed-size rows with a loss mask; publish them.

The built-in examples are the arithmetic questions that are not held out for eval
(``Q: 3+5=\\nA: 8``); your own come from JSONL files with ``prompt`` and ``answer`` fields.
The directory holds ``tokens.bin`` and ``loss_mask.bin`` (``num_rows x pack_size`` bytes each;
the mask is 1 on answer tokens) and ``sft.json``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from nemotron_kit.artifacts import InputDatasetInfo, SFTDataArtifact
from nemotron_kit.errors import ConfigError
from nemotron_kit.recipes import data
from nemotron_kit.recipes.api import ArtifactOutput, recipe
from nemotron_kit.recipes.config import SFTDataConfig

if TYPE_CHECKING:
    from nemotron_kit.execution.context import JobContext


@recipe(config=SFTDataConfig, output=ArtifactOutput(SFTDataArtifact, "sft-data"))
def main(cfg: SFTDataConfig, ctx: JobContext) -> SFTDataArtifact | None:
    """Pack (prompt, answer) pairs into fixed-size rows with a loss mask."""
    if ctx.rank != 0:  # under torchrun, rank 0 alone writes the rows and publishes
        return None
    settings = cfg.data
    out = ctx.output_dir / "sft-data"
    out.mkdir(parents=True, exist_ok=True)

    # 1. The examples.
    examples: list[tuple[str, str]] = []
    sources: list[dict[str, Any]] = []
    if settings.source == data.BUILTIN:
        sums = data.random_sums(
            int(settings.num_examples),
            int(settings.max_operand),
            int(settings.seed),
            held_out=False,
        )
        examples = [(s.prompt, s.answer) for s in sums]
        sources.append({"uri": data.BUILTIN_URI, "name": "arithmetic-qa", "num_rows": len(sums)})
    else:
        for entry in settings.source:
            for path in data.source_files(str(entry)):
                rows = [
                    (str(r["prompt"]), str(r["answer"]))
                    for r in data.read_records(path, "prompt", "answer")
                ]
                examples += rows
                sources.append({"uri": str(entry), "name": path.name, "num_rows": len(rows)})
    if not examples:
        raise ConfigError(f"data.source={settings.source} holds no examples: add some.")

    # 2. Pack them into rows; the mask marks the answer tokens the loss is taken on.
    pack_size = int(settings.pack_size)
    tokens, mask, num_rows = data.pack(examples, pack_size)
    (out / "tokens.bin").write_bytes(tokens)
    (out / "loss_mask.bin").write_bytes(mask)
    meta = {
        "tokenizer": data.TOKENIZER,
        "dtype": "uint8",
        "pack_size": pack_size,
        "num_rows": num_rows,
        "num_examples": len(examples),
        "answer_tokens": sum(mask),
    }
    (out / data.SFT_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    print(f"sft_data: {len(examples)} examples packed into {num_rows} rows of {pack_size} -> {out}")

    # 3. What to publish (the framework does, as output.name).
    return SFTDataArtifact(
        path=str(out),
        num_examples=len(examples),
        pack_size=pack_size,
        total_tokens=len(tokens),
        source_datasets=[InputDatasetInfo(**d) for d in sources],
        metadata={"num_rows": num_rows, "answer_tokens": meta["answer_tokens"]},
    )
