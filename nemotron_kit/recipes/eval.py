"""eval: exact-match accuracy of a model's greedy answers to held-out arithmetic questions.

The questions (``Q: 3+5=\\nA: ``) are drawn with ``eval.seed`` from the sums that sft_data never
asks; an answer counts when the generated line equals the sum. Writes ``metrics.json`` to the
job's output directory and returns the metrics; publishes nothing.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from nemotron_kit.artifacts import ModelArtifact
from nemotron_kit.recipes import data
from nemotron_kit.recipes.api import ArtifactInput, recipe
from nemotron_kit.recipes.config import EvalConfig

if TYPE_CHECKING:
    from nemotron_kit.execution.context import JobContext


@recipe(
    config=EvalConfig,
    inputs={"model": ArtifactInput(ModelArtifact, "tiny-gpt-sft")},
    requires=["torch"],
)
def main(cfg: EvalConfig, ctx: JobContext, model: ModelArtifact) -> dict[str, float | int | str]:
    """Exact-match accuracy of the model's greedy answers to held-out questions."""
    model_artifact = model

    import torch

    from nemotron_kit.recipes.model import generate_greedy, load_pretrained

    torch.use_deterministic_algorithms(True)
    gpt = load_pretrained(model_artifact.path)
    questions = data.random_sums(
        cfg.eval.num_examples, cfg.eval.max_operand, cfg.eval.seed, held_out=True
    )
    answers = generate_greedy(
        gpt,
        [list(data.encode(q.prompt)) for q in questions],
        max_new_tokens=cfg.eval.max_new_tokens,
        stop=data.encode("\n")[0],
    )
    correct = sum(data.decode(a) == q.answer for q, a in zip(questions, answers, strict=True))

    metrics: dict[str, float | int | str] = {
        "accuracy": correct / len(questions),
        "correct": correct,
        "num_examples": len(questions),
        "model": str(model_artifact.uri),
    }
    examples = [
        {"prompt": q.prompt, "expected": q.answer, "got": data.decode(a)}
        for q, a in list(zip(questions, answers, strict=True))[:5]
    ]
    accuracy, total = metrics["accuracy"], len(questions)
    print(f"eval: {model_artifact.uri} accuracy {accuracy:.3f} ({correct}/{total} correct)")
    if ctx.rank == 0:
        out = ctx.output_dir / "metrics.json"
        out.write_text(json.dumps({**metrics, "examples": examples}, indent=2) + "\n")
    return metrics
