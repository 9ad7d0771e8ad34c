"""``nemotron-kit runs ...``: the runs recorded in the registry (``runs/RUN_ID/``).

    nemotron-kit runs ls [--json] [--limit N] [--status S] [--recipe R] [--sweep SWEEP_ID]
    nemotron-kit runs show RUN_ID [--json]
    nemotron-kit runs compare RUN_ID RUN_ID [...] [--all] [--json]

``ls`` lists runs newest first: id, recipe, status, start, duration and outputs; ``--status``
(repeatable: RUNNING, COMPLETED, FAILED, LOST), ``--recipe`` and ``--sweep`` keep the matching
runs only. ``show``
prints one run: status and error, overrides, pinned inputs, outputs, code version, host,
package versions and the composed config (as recorded: unresolved, secrets redacted).
``compare`` puts the config keys that differ and the runs' metrics side by side. All take
``--root``, ``--project`` and ``--endpoint-url`` like ``nemotron-kit artifacts``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from nemotron_kit.cli.artifacts import (
    UsageError,
    _console,
    _format_time,
    _Parser,
    _print_json,
    _table,
    add_registry_options,
    open_registry,
)
from nemotron_kit.errors import ArtifactError, NotFoundError

if TYPE_CHECKING:
    from nemotron_kit.registry.core import ArtifactRegistry

PROG = "nemotron-kit runs"
SHORT_COMMIT = 12


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number >= 1")
    return value


STATUSES = ("RUNNING", "COMPLETED", "FAILED", "LOST", "UNKNOWN", "UNREADABLE")


def _status(text: str) -> str:
    if text.upper() not in STATUSES:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not a run status; use one of {', '.join(STATUSES)}"
        )
    return text.upper()


def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    add_registry_options(common)
    parser = _Parser(prog=PROG, parents=[common], description="Inspect recorded runs.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    def add(name: str, help_text: str, handler: Callable[..., int]) -> argparse.ArgumentParser:
        command = sub.add_parser(name, parents=[common], help=help_text, description=help_text)
        command.set_defaults(handler=handler)
        command.add_argument("--json", action="store_true", help="print JSON to stdout")
        return command

    ls = add("ls", "list runs, newest first: recipe, status, start, duration, outputs", cmd_ls)
    ls.add_argument(
        "--limit", type=_limit, default=None, metavar="N", help="show the N newest runs only"
    )
    ls.add_argument(
        "--status",
        action="append",
        type=_status,
        default=None,
        metavar="STATUS",
        help=f"only runs with this status ({', '.join(STATUSES)}); repeat for several",
    )
    ls.add_argument("--recipe", default=None, metavar="NAME", help="only runs of this recipe")
    ls.add_argument("--sweep", default=None, metavar="SWEEP_ID", help="only the jobs of this sweep")
    show = add("show", "show one run: status, inputs, outputs, code, config", cmd_show)
    show.add_argument("run_id", metavar="RUN_ID", help="a run id from `nemotron-kit runs ls`")
    compare = add(
        "compare", "compare runs: the config keys that differ, metrics side by side", cmd_compare
    )
    compare.add_argument("run_ids", nargs="+", metavar="RUN_ID", help="two or more run ids")
    compare.add_argument(
        "--all", action="store_true", help="every config key, not only those that differ"
    )
    return parser


def main(argv: list[str]) -> int:
    """Parse ``argv`` (the words after ``runs``) and run the subcommand; the exit code."""
    ns = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = ns.handler
    return handler(ns)


# -- reading ------------------------------------------------------------------------------
def read_runs(registry: ArtifactRegistry) -> list[dict[str, Any]]:
    """Every run with a record, newest first (by start time, then id).

    A directory under ``runs/`` without a start record (a version published by hand with an
    explicit ``producer``) is not a run and is left out; an unreadable record is listed with
    status ``UNREADABLE`` and the reason as its error.
    """
    records: list[dict[str, Any]] = []
    for run_id in registry.run_ids():
        try:
            record = registry.read_run(run_id)
        except NotFoundError:
            continue
        except ArtifactError as exc:
            record = {"status": "UNREADABLE", "error": str(exc)}
        record.setdefault("run_id", run_id)
        records.append(record)
    records.sort(key=lambda r: (str(r.get("started_at") or ""), str(r["run_id"])), reverse=True)
    return records


def _format_duration(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
        return "-"
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def _summary(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "run_id": record["run_id"],
        "recipe": record.get("recipe"),
        "status": record.get("status"),
        "error": record.get("error"),
        "started_at": record.get("started_at"),
        "ended_at": record.get("ended_at"),
        "duration_s": record.get("duration_s"),
        "inputs": list(record.get("inputs") or []),
        "outputs": list(record.get("outputs") or []),
    }


def _metrics_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """How many steps a run logged, which names, and the last value of each."""
    last: dict[str, float] = {}
    for entry in rows:
        last.update(entry["values"])
    return {  # rows come one per step, in step order
        "points": len(rows),
        "steps": [rows[0]["step"], rows[-1]["step"]] if rows else [],
        "last": last,
    }


# -- subcommands --------------------------------------------------------------------------
def cmd_ls(ns: argparse.Namespace) -> int:
    registry = open_registry(ns)
    records = read_runs(registry)
    if ns.sweep is not None:
        jobs = set(registry.sweep_jobs(ns.sweep))  # a bad id: one sentence, exit 2
        records = [r for r in records if r["run_id"] in jobs]
    if ns.status:
        records = [r for r in records if r.get("status") in ns.status]
    if ns.recipe is not None:
        records = [r for r in records if r.get("recipe") == ns.recipe]
    if ns.limit is not None:
        records = records[: ns.limit]
    if ns.json:
        _print_json([_summary(r) for r in records])
        return 0
    if not records:
        filtered = ns.sweep is not None or ns.status or ns.recipe is not None
        print(f"No {'matching ' if filtered else ''}runs recorded at {registry.root}.")
        return 0
    rows = [
        [
            str(r["run_id"]),
            str(r.get("recipe") or "-"),
            str(r.get("status") or "-"),
            _format_time(str(r.get("started_at") or "-")),
            _format_duration(r.get("duration_s")),
            ", ".join(r.get("outputs") or []) or "-",
        ]
        for r in records
    ]
    columns = ["run", "recipe", "status", "started", "duration", "outputs"]
    _console().print(_table(columns, rows))
    return 0


def _code_line(code: Any) -> str:
    if not isinstance(code, dict) or not code:
        return "- (not in a git repository)"
    commit = str(code.get("commit") or "?")[:SHORT_COMMIT]
    text = commit
    if code.get("dirty"):
        digest = str(code.get("diff_digest") or "")[:SHORT_COMMIT]
        text += f" + uncommitted changes (digest {digest})" if digest else " (dirty)"
    if code.get("repo"):
        text += f" in {code['repo']}"
    return text


def cmd_show(ns: argparse.Namespace) -> int:
    registry = open_registry(ns)
    record = registry.read_run(ns.run_id)
    record.setdefault("run_id", ns.run_id)
    record["logged_metrics"] = _metrics_summary(registry.read_metrics(ns.run_id))
    if ns.json:
        _print_json(record)
        return 0

    import yaml
    from rich.table import Table
    from rich.text import Text

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()

    def row(key: str, value: str, style: str = "") -> None:
        grid.add_row(Text(key), Text(value, style=style))

    status = str(record.get("status") or "-")
    color = {"COMPLETED": "green", "FAILED": "bold red"}.get(status, "yellow")
    row("recipe", str(record.get("recipe") or "-"))
    if record.get("recipe_package"):
        row("package", str(record["recipe_package"]))
    row("status", status, color)
    if record.get("error"):
        row("error", str(record["error"]), "red")
    started = record.get("started_at")
    row("started", f"{_format_time(str(started))} ({started})" if started else "-")
    if record.get("ended_at"):
        row("ended", f"{_format_time(str(record['ended_at']))} ({record['ended_at']})")
    row("duration", _format_duration(record.get("duration_s")))
    row("overrides", "\n".join(str(o) for o in record.get("overrides") or []) or "-")
    row("inputs", "\n".join(str(i) for i in record.get("inputs") or []) or "-")
    row("outputs", "\n".join(str(o) for o in record.get("outputs") or []) or "-")
    logged = record["logged_metrics"]
    if logged["points"]:
        last = ", ".join(f"{k} {v:.4g}" for k, v in logged["last"].items())
        row("metrics", f"{logged['points']} steps logged (last: {last})")
    row("code", _code_line(record.get("code")))
    host = str(record.get("host") or "-")
    row("host", f"{host} (pid {record['pid']})" if record.get("pid") else host)
    hydra = record.get("hydra") or {}
    if isinstance(hydra, dict) and hydra.get("output_dir"):
        row("output dir", str(hydra["output_dir"]))
    if isinstance(hydra, dict) and hydra.get("sweep_id"):
        row("sweep", f"{hydra['sweep_id']} (job {hydra.get('job_num')})")
    packages = record.get("packages") or {}
    row("packages", ", ".join(f"{k} {v}" for k, v in sorted(packages.items())) or "-")
    console = _console()
    console.print(Text(f"run {record['run_id']}", style="bold"))
    console.print(grid)
    config = record.get("config")
    if config:
        console.print(Text("config:", style="bold"))
        text = yaml.safe_dump(config, sort_keys=False, default_flow_style=False)
        console.print(Text("  " + text.rstrip("\n").replace("\n", "\n  ")))
    return 0


def cmd_compare(ns: argparse.Namespace) -> int:
    """Configs flattened to dotted keys, the ones that differ (``--all``: every one) side by
    side, then each run's metrics: what it returned and the last value of what it logged."""
    if len(ns.run_ids) < 2:
        raise UsageError(f"{PROG} compare: give two or more run ids; see `{PROG} --help`.")
    registry = open_registry(ns)
    records = [registry.read_run(run_id) for run_id in ns.run_ids]
    configs = [_flatten(r.get("config") or {}) for r in records]
    keys = sorted({k for c in configs for k in c})
    config_rows = {
        key: [c.get(key, _ABSENT) for c in configs]
        for key in keys
        if ns.all or len({json.dumps(c.get(key, _ABSENT), sort_keys=True) for c in configs}) > 1
    }
    metrics: list[dict[str, float]] = []
    for run_id, record in zip(ns.run_ids, records, strict=True):
        numbers = {
            k: float(v)
            for k, v in (record.get("metrics") or {}).items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)
        }
        numbers.update(_metrics_summary(registry.read_metrics(run_id))["last"])
        metrics.append(numbers)
    names = sorted({k for m in metrics for k in m})
    metric_rows = {name: [m.get(name) for m in metrics] for name in names}
    if ns.json:
        _print_json(
            {
                "runs": ns.run_ids,
                "status": [r.get("status") for r in records],
                "config": config_rows,
                "metrics": metric_rows,
            }
        )
        return 0
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("key")
    for run_id in ns.run_ids:
        table.add_column(run_id)
    table.add_row(Text("status", style="bold"), *[str(r.get("status") or "-") for r in records])
    for key, values in config_rows.items():
        shown = [_cell(v) for v in values]
        style = "yellow" if len(set(shown)) > 1 else ""
        table.add_row(key, *[Text(v, style=style) for v in shown])
    for name, values in metric_rows.items():
        table.add_row(
            Text(f"metric {name}", style="cyan"),
            *["-" if v is None else f"{v:.6g}" for v in values],
        )
    _console().print(table)
    if not config_rows:
        print("(the configs are the same)")
    return 0


_ABSENT = "<absent>"


def _flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """``{"train": {"lr": 1e-3}}`` -> ``{"train.lr": 1e-3}`` (lists stay whole values)."""
    if not isinstance(node, dict):
        return {prefix.rstrip("."): node}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if isinstance(value, dict) and value:
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _cell(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)
