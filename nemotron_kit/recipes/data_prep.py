"""data_prep: tokenize a corpus into byte shards plus ``blend.json``; publish the blend.

The corpus is the built-in arithmetic text (``data.source: builtin``) or the user's own JSONL
and text files. Documents are shuffled with ``data.seed``, a ``data.validation_fraction`` of
them set aside, and each split written as a stream of byte tokens in fixed-size shards.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from nemotron_kit.artifacts import InputDatasetInfo, PretrainBlendsArtifact
from nemotron_kit.errors import ConfigError
from nemotron_kit.recipes import data
from nemotron_kit.recipes.api import ArtifactOutput, recipe
from nemotron_kit.recipes.config import DataPrepConfig

if TYPE_CHECKING:
    from nemotron_kit.execution.context import JobContext


@recipe(config=DataPrepConfig, output=ArtifactOutput(PretrainBlendsArtifact, "pretrain-data"))
def main(cfg: DataPrepConfig, ctx: JobContext) -> PretrainBlendsArtifact | None:
    """Tokenize the built-in corpus (or your JSONL/text files) into byte shards."""
    if ctx.rank != 0:  # under torchrun, rank 0 alone writes the shards and publishes
        return None
    settings = cfg.data
    out = ctx.output_dir / "blends"
    out.mkdir(parents=True, exist_ok=True)

    # 1. The documents, each with the source it came from.
    sources: list[dict[str, Any]] = []
    documents: list[tuple[int, str]] = []
    if settings.source == data.BUILTIN:
        sums = data.random_sums(
            int(settings.num_documents),
            int(settings.max_operand),
            int(settings.seed),
            held_out=None,
        )
        documents = [(0, s.line) for s in sums]
        sources.append({"uri": data.BUILTIN_URI, "name": "arithmetic"})
    else:
        for entry in settings.source:
            for path in data.source_files(str(entry)):
                index = len(sources)
                sources.append({"uri": str(entry), "name": path.name})
                documents += [(index, d) for d in data.read_documents(path, settings.text_key)]
    if not documents:
        raise ConfigError(f"data.source={settings.source} holds no documents: add some.")

    # 2. Split off validation documents (a seeded shuffle: the same seed, the same split).
    order = list(range(len(documents)))
    random.Random(int(settings.seed)).shuffle(order)
    num_validation = round(len(order) * float(settings.validation_fraction))
    splits = {"validation": sorted(order[:num_validation]), "train": sorted(order[num_validation:])}

    # 3. Tokenize each split into one stream of bytes, written as shards.
    rows = [0] * len(sources)
    tokens = [0] * len(sources)
    shards: dict[str, list[dict[str, Any]]] = {}
    for split, indices in splits.items():
        stream = bytearray()
        for i in indices:
            source, text = documents[i]
            encoded = data.encode(text)
            stream += encoded
            rows[source] += 1
            tokens[source] += len(encoded)
        shards[split] = data.write_shards(out, split, bytes(stream), int(settings.shard_tokens))
    total_tokens = sum(s["tokens"] for split in shards.values() for s in split)
    source_datasets = [
        {**source, "num_rows": rows[i], "num_tokens": tokens[i], "weight": tokens[i] / total_tokens}
        for i, source in enumerate(sources)
    ]
    data.write_blend(
        out,
        {
            "tokenizer": data.TOKENIZER,
            "vocab_size": data.VOCAB_SIZE,
            "dtype": "uint8",
            "seq_length": int(settings.seq_length),
            "splits": shards,
            "sources": source_datasets,
        },
    )
    print(f"data_prep: {len(documents)} documents, {total_tokens} tokens -> {out}")

    # 4. What to publish (the framework does, as output.name).
    return PretrainBlendsArtifact(
        path=str(out),
        total_tokens=total_tokens,
        num_shards=sum(len(split) for split in shards.values()),
        seq_length=int(settings.seq_length),
        tokenizer=data.TOKENIZER,
        source_datasets=[InputDatasetInfo(**d) for d in source_datasets],
        metadata={
            "train_tokens": sum(s["tokens"] for s in shards["train"]),
            "validation_tokens": sum(s["tokens"] for s in shards["validation"]),
        },
    )
