"""Training overhead: pretrain steps/second through the recipe against a plain torch loop.

Both train the same GPT (nemotron_kit.recipes.model) on the same byte tokens with the same
batch size, AdamW settings, LR schedule and gradient clipping. The recipe side calls
``nemotron_kit.recipes.pretrain.train`` (sampler generator, checkpoints every
``train.checkpoint_every`` steps, metrics log, deterministic algorithms); the plain side is the
loop below; a third side is the recipe logging every step's metrics into a run (the registry's
buffered chunks), whose cost the second ratio shows. Runs alternate in one process, each from
a fresh output directory. The data comes from the data_prep recipe, published to a registry in
a temporary directory.
Targets: recipe / plain >= 0.95; with per-step metrics / without >= 0.98.

    OMP_NUM_THREADS=1 python benchmarks/train_overhead.py [--steps 300] [--runs 3]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch: 2 threads on 2 cores are slower

import torch
from hydra import compose, initialize_config_dir

from nemotron_kit import launch
from nemotron_kit.recipes import data, pretrain
from nemotron_kit.recipes.api import load_recipe
from nemotron_kit.recipes.config import PretrainConfig
from nemotron_kit.recipes.model import GPT
from nemotron_kit.recipes.training import TrainSettings, cross_entropy
from nemotron_kit.registry import get_registry
from nemotron_kit.tracking.run import ActiveRun
from nemotron_kit.tracking.trackers import FileTracker

REPO = Path(__file__).resolve().parent.parent


def plain_loop(cfg: PretrainConfig, tokens: torch.Tensor, seq_length: int) -> None:
    """What one would write by hand: sample windows, forward, backward, clip, AdamW step."""
    settings = TrainSettings.from_cfg(asdict(cfg.train))
    torch.manual_seed(settings.seed)
    model = GPT(pretrain.model_config(cfg), seed=settings.seed)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=settings.lr, betas=(0.9, 0.95), weight_decay=settings.weight_decay
    )
    offsets = torch.arange(seq_length + 1)
    for step in range(1, settings.steps + 1):
        for group in optimizer.param_groups:
            group["lr"] = settings.lr_at(step)
        starts = torch.randint(0, len(tokens) - seq_length, (settings.batch_size,))
        windows = tokens[starts[:, None] + offsets].long()
        loss = cross_entropy(model(windows[:, :-1]), windows[:, 1:], None)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
        optimizer.step()
        loss.item()  # a plain loop looks at its loss too


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.chdir(work)  # the jobs' output directories go here
        os.environ["NEMOTRON_KIT_HOME"] = str(work)  # and the registry
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            (prepared,) = launch(["+recipe=data_prep"])
        blends = Path(get_registry().load(str(prepared.return_value)).path)
        tokens = torch.frombuffer(bytearray(data.read_split(blends, "train")), dtype=torch.uint8)
        seq_length = int(data.read_blend(blends)["seq_length"])
        with initialize_config_dir(str(REPO / "conf"), version_base="1.3"):
            composed = compose("config", ["+recipe=pretrain", f"train.steps={args.steps}"])
        cfg = load_recipe("nemotron_kit.recipes.pretrain.main").typed_config(composed)

        # Every step's loss, lr and throughput through a real run's log_metrics into the
        # registry (the file tracker's buffered chunks): what a recipe run pays for its curves.
        logged = ActiveRun("bench-run", get_registry(), [FileTracker()], {}, [], {}, [], {})

        samples: dict[str, list[float]] = {"recipe": [], "plain torch": [], "recipe+metrics": []}
        for run in range(args.runs + 1):  # run 0 warms up all three
            start = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                pretrain.train(cfg, blends, work / f"job-{run}")
            recipe_s = time.perf_counter() - start
            start = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                pretrain.train(cfg, blends, work / f"logged-{run}", sink=logged.log_metrics)
            logged_s = time.perf_counter() - start
            torch.use_deterministic_algorithms(False)  # the plain loop does not ask for it
            start = time.perf_counter()
            plain_loop(cfg, tokens, seq_length)
            plain_s = time.perf_counter() - start
            if run:
                samples["recipe"].append(args.steps / recipe_s)
                samples["plain torch"].append(args.steps / plain_s)
                samples["recipe+metrics"].append(args.steps / logged_s)
        tracker = logged.trackers[0]
        assert isinstance(tracker, FileTracker)
        tracker.flush(logged)

    print(
        f"pretrain, {args.steps} steps x {args.runs} interleaved runs, batch "
        f"{cfg.train.batch_size} x {seq_length} tokens, model {asdict(cfg.model)}, "
        f"checkpoint every {cfg.train.checkpoint_every} steps, "
        f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}:"
    )
    for name, values in samples.items():
        print(
            f"  {name:<15} median {statistics.median(values):7.1f} steps/s   "
            f"max {max(values):7.1f} steps/s"
        )
    ratio = statistics.median(samples["recipe"]) / statistics.median(samples["plain torch"])
    print(f"ratio recipe / plain torch = {ratio:.3f}  (target >= 0.95)")
    metrics = statistics.median(samples["recipe+metrics"]) / statistics.median(samples["recipe"])
    print(f"ratio recipe+metrics every step / recipe = {metrics:.3f}  (target >= 0.98)")


if __name__ == "__main__":
    main()
