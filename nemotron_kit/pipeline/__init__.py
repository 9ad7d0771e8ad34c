"""Pipelines: recipes in dependency order, outputs wired to inputs as pinned versions, and
steps skipped when nothing they depend on has changed."""

from nemotron_kit.pipeline.runner import Step, StepResult, run_pipeline, step_cache_key

__all__ = ["Step", "StepResult", "run_pipeline", "step_cache_key"]
