"""eval: exact-match accuracy of a model's greedy answers to held-out arithmetic questions.

The questions (``Q: 3+5=\\nA: ``) are drawn with ``eval.seed`` from the sums that sft_data never
asks; an answer counts when the generated line equals the sum. Writes ``metrics.json`` to the
job's output directory and returns the metrics; publishes nothing.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from omegaconf import DictConfig

if TYPE_CHECKING:
    from nemotron_kit.execution.context import JobContext
    from nemotron_kit.registry.core import ArtifactRegistry

from nemotron_kit.artifacts import ModelArtifact
from nemotron_kit.recipes import data, job


def main(cfg: DictConfig, ctx: JobContext | None = None) -> dict[str, float | int | str]:
    from nemotron_kit.execution import is_rank_zero

    model_artifact = _registry(ctx).load(cfg.inputs.model, expected=ModelArtifact)

    import torch

    from nemotron_kit.recipes.model import generate_greedy, load_pretrained

    torch.use_deterministic_algorithms(True)
    model = load_pretrained(model_artifact.path)
    questions = data.random_sums(
        int(cfg.eval.num_examples), int(cfg.eval.max_operand), int(cfg.eval.seed), held_out=True
    )
    answers = generate_greedy(
        model,
        [list(data.encode(q.prompt)) for q in questions],
        max_new_tokens=int(cfg.eval.max_new_tokens),
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
    if is_rank_zero():
        out = job.output_dir() / "metrics.json"
        out.write_text(json.dumps({**metrics, "examples": examples}, indent=2) + "\n")
    return metrics


def _registry(ctx: JobContext | None) -> ArtifactRegistry:
    """The job's registry (the process's active one when called outside a job)."""
    from nemotron_kit.registry import get_registry

    return ctx.registry if ctx is not None else get_registry()
