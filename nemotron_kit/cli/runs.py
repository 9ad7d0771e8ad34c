"""``nemotron-kit runs ...``: the runs recorded in the registry (``runs/RUN_ID/``).

    nemotron-kit runs ls [--json] [--limit N] [--status S] [--recipe R] [--sweep SWEEP_ID]
    nemotron-kit runs show RUN_ID [--json]
    nemotron-kit runs log RUN_ID [--diff] [--json]
    nemotron-kit runs compare RUN_ID RUN_ID [...] [--all] [--json]

``ls`` lists runs newest first: id, recipe, status, start, duration and outputs; ``--status``
(repeatable: RUNNING, COMPLETED, FAILED, LOST), ``--recipe`` and ``--sweep`` keep the matching
runs only. ``show`` prints one run: status and error, overrides, pinned inputs, outputs, code
version, host, package versions and the composed config (as recorded: unresolved, secrets
redacted). ``log`` prints the end of what the run printed (its last 64 K characters, stored
while it runs and when it ends), or with ``--diff`` the uncommitted code changes it ran with.
``compare`` puts the config keys that differ and the runs' metrics side by side. All take
``--root``, ``--project`` and ``--endpoint-url`` like ``nemotron-kit artifacts``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from nemotron_kit import views
from nemotron_kit.cli import printable
from nemotron_kit.cli.artifacts import (
    UsageError,
    _console,
    _format_time,
    _Listing,
    _Parser,
    _print_json,
    add_registry_options,
    open_registry,
    whole_number,
)

if TYPE_CHECKING:
    from nemotron_kit.registry.runs import RunText

PROG = "nemotron-kit runs"
SHORT_COMMIT = 12


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
        "--limit",
        type=whole_number(1),
        default=None,
        metavar="N",
        help="show the N newest runs only",
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
    log = add("log", "print the end of what a run printed (or, --diff, its code changes)", cmd_log)
    log.add_argument("run_id", metavar="RUN_ID", help="a run id from `nemotron-kit runs ls`")
    log.add_argument(
        "--diff", action="store_true", help="the uncommitted code changes the run ran with"
    )
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


# -- subcommands --------------------------------------------------------------------------
def cmd_ls(ns: argparse.Namespace) -> int:
    registry = open_registry(ns)
    records = views.read_runs(registry)
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
        _print_json([views.run_summary(r, registry.project) for r in records])
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
    _console().print(_Listing(columns, rows, fold=("started", "outputs")))
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
    record["logged_metrics"] = views.metrics_summary(registry.read_metrics(ns.run_id))
    if ns.json:
        _print_json(record)
        return 0

    import yaml
    from rich.table import Table
    from rich.text import Text

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")  # ids and paths whole, folded if need be: never cut

    def row(key: str, value: str, style: str = "") -> None:
        grid.add_row(Text(printable(key)), Text(printable(value), style=style))

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


def cmd_log(ns: argparse.Namespace) -> int:
    """The console tail stored while the run ran and when it ended (a LOST run's shows what
    it printed until its last heartbeat), or its code diff."""
    registry = open_registry(ns)
    registry.read_run(ns.run_id)  # an unknown run: one sentence
    kind: RunText = "code_diff" if ns.diff else "console"
    text = registry.read_run_text(ns.run_id, kind)
    if text:  # stored redacted; this process's own secrets are redacted again
        from nemotron_kit.tracking._secrets import redact_text

        text = redact_text(text)
    if ns.json:
        _print_json({"run_id": ns.run_id, kind: text})
        return 0
    if not text:
        what = "uncommitted code changes" if ns.diff else "console output"
        print(f"Run {ns.run_id} has no {what} stored.", file=sys.stderr)
        return 0
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def cmd_compare(ns: argparse.Namespace) -> int:
    """Configs flattened to dotted keys, the ones that differ (``--all``: every one) side by
    side, then each run's metrics: what it returned and the last value of what it logged."""
    if len(ns.run_ids) < 2:
        raise UsageError(f"{PROG} compare: give two or more run ids; see `{PROG} --help`.")
    result = views.compare_runs(open_registry(ns), ns.run_ids, every_key=ns.all)
    if ns.json:
        _print_json(result)
        return 0
    config_rows, metric_rows = result["config"], result["metrics"]
    from rich.text import Text

    rows: list[list[str | Text]] = [
        [Text("status", style="bold"), *[str(s or "-") for s in result["status"]]]
    ]
    for key, values in config_rows.items():
        shown = [_cell(v) for v in values]
        style = "yellow" if len(set(shown)) > 1 else ""
        rows.append([key, *[Text(v, style=style) for v in shown]])
    for name, values in metric_rows.items():
        shown = ["-" if v is None else f"{v:.6g}" for v in values]
        rows.append([Text(f"metric {name}", style="cyan"), *shown])
    columns = ["key", *ns.run_ids]  # side by side even when narrow: values fold, whole
    _console().print(_Listing(columns, rows, fold=columns, blocks=False))
    if not config_rows:
        print("(the configs are the same)")
    return 0


def _cell(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)
