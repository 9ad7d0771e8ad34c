"""``nemotron-kit artifacts ...``: look into a registry, move aliases, verify, collect garbage.

    nemotron-kit artifacts ls [--json]
    nemotron-kit artifacts show URI [--json]
    nemotron-kit artifacts versions NAME [--json]
    nemotron-kit artifacts alias URI ALIAS
    nemotron-kit artifacts verify URI [--json]
    nemotron-kit artifacts rm URI [--reason TEXT] [--force]
    nemotron-kit artifacts export URI DIR
    nemotron-kit artifacts diff A B [--json]
    nemotron-kit artifacts gc [--dry-run] [--grace SECONDS] [--keep-last N [--older-than AGE]
                              | --no-retention] [--cache-age AGE] [--json]
    nemotron-kit artifacts retention [--set FILE | --clear] [--json]

Every subcommand takes ``--root``, ``--project`` and ``--endpoint-url``. Plain argparse, not
Hydra: these are queries against a registry, not jobs. rich is imported inside the handlers so
that importing this module stays cheap.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import math
import os
import sys
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn, cast

from nemotron_kit import views
from nemotron_kit.cli import printable
from nemotron_kit.errors import NemotronKitError, NotFoundError, StorageError, URIError

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult
    from rich.text import Text

    from nemotron_kit.registry.core import ArtifactRegistry
    from nemotron_kit.registry.home_cache import HomeReport
    from nemotron_kit.registry.records import RetentionPolicy, RetentionRule

PROG = "nemotron-kit artifacts"
DEFAULT_GRACE = 3600.0
SHORT_DIGEST = 12


class UsageError(NemotronKitError):
    """The command line of ``nemotron-kit artifacts`` is malformed."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one ``Error:`` line (exit 2) like every other error."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}; see `{self.prog} --help`.")


def _duration(text: str) -> float:
    """Seconds from '3600', '90m', '12h' or '30d'."""
    from nemotron_kit.registry.lifecycle import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def whole_number(
    low: int, high: int | None = None, what: str | None = None
) -> Callable[[str], int]:
    """An argparse type for an int in ``[low, high]``; anything else is one sentence."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(
                f"'{text}' is not {what or f'a whole number >= {low}'}"
            )
        return value

    return parse


def _grace(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of seconds >= 0")
    return value


def add_registry_options(parser: argparse.ArgumentParser, default: Any = argparse.SUPPRESS) -> None:
    """--root, --project and --endpoint-url: which registry a subcommand reads.

    With the default SUPPRESS, options given before a sub-subcommand are not overwritten by the
    sub-parser's defaults.
    """
    group = parser.add_argument_group("registry")
    group.add_argument(
        "--root",
        default=default,
        help="registry root: a directory or s3://BUCKET/PREFIX "
        "(default: $NEMOTRON_KIT_HOME/registry)",
    )
    group.add_argument(
        "--project",
        default=default,
        help="project of names given without PROJECT/ (default: default)",
    )
    group.add_argument(
        "--endpoint-url",
        default=default,
        help="S3-compatible endpoint for s3:// roots (default: $AWS_ENDPOINT_URL)",
    )


def build_parser() -> argparse.ArgumentParser:
    # Common options are accepted before and after the subcommand; SUPPRESS keeps a value
    # given before it from being overwritten by the subparser's default.
    common = _Parser(add_help=False)
    add_registry_options(common)

    parser = _Parser(
        prog=PROG,
        parents=[common],
        description="Inspect and maintain the artifact registry.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    def add(name: str, help_text: str, handler: Callable[..., int]) -> argparse.ArgumentParser:
        command = sub.add_parser(name, parents=[common], help=help_text, description=help_text)
        command.set_defaults(handler=handler)
        return command

    def add_json(command: argparse.ArgumentParser) -> None:
        command.add_argument("--json", action="store_true", help="print JSON to stdout")

    add_json(add("ls", "list every artifact name with its latest version and metrics", cmd_ls))
    show = add("show", "show one version: storage, files, digest, metadata, inputs", cmd_show)
    show.add_argument("uri", metavar="URI", help="art://NAME[:vN|:ALIAS]")
    add_json(show)
    versions = add("versions", "list every version of a name", cmd_versions)
    versions.add_argument("name", metavar="NAME", help="NAME or art://[PROJECT/]NAME")
    versions.add_argument(
        "--limit",
        type=whole_number(1),
        default=None,
        metavar="N",
        help="show the N newest versions only (only their records are read)",
    )
    add_json(versions)
    alias = add("alias", "point ALIAS at the version URI resolves to (--rm: remove it)", cmd_alias)
    alias.add_argument("uri", metavar="URI", help="art://NAME[:vN|:ALIAS]")
    alias.add_argument("alias", metavar="ALIAS", help="alias to set or move, e.g. best")
    alias.add_argument("--rm", action="store_true", help="remove ALIAS of URI's name instead")
    rm = add("rm", "delete a version (a tombstone: its number is never reused)", cmd_rm)
    rm.add_argument("uri", metavar="URI", help="art://NAME:vN (or an alias)")
    rm.add_argument("--reason", help="why, kept in the tombstone and shown when it is asked for")
    rm.add_argument(
        "--force", action="store_true", help="also when live versions were made from it"
    )
    verify = add("verify", "re-hash a version's files; exit 1 if any changed", cmd_verify)
    verify.add_argument("uri", metavar="URI", help="art://NAME[:vN|:ALIAS]")
    add_json(verify)
    export = add(
        "export",
        "copy a version's files (checked) into a new directory; also downloads",
        cmd_export,
    )
    export.add_argument("uri", metavar="URI", help="art://NAME[:vN|:ALIAS][/SUB/PATH]")
    export.add_argument("directory", metavar="DIR", help="a new or empty directory")
    diff = add("diff", "files added, removed and changed between two versions; metadata", cmd_diff)
    diff.add_argument("a", metavar="A", help="art://NAME:vN")
    diff.add_argument("b", metavar="B", help="art://NAME:vM (or another name)")
    add_json(diff)
    gc = add("gc", "remove unreferenced objects and leftovers of killed publishes", cmd_gc)
    gc.add_argument("--dry-run", action="store_true", help="list what would go, remove nothing")
    gc.add_argument(
        "--grace",
        type=_grace,
        default=DEFAULT_GRACE,
        metavar="SECONDS",
        help=f"keep anything younger than this (default: {DEFAULT_GRACE:g})",
    )
    gc.add_argument(
        "--cache-age",
        type=_duration,
        default=None,
        metavar="AGE",
        help="also remove $NEMOTRON_KIT_HOME's downloaded trees and code snapshots unused for "
        "AGE (e.g. 30d; snapshots this registry's runs name stay), and stale hash-cache entries",
    )
    once = gc.add_mutually_exclusive_group()
    once.add_argument(
        "--keep-last",
        type=whole_number(1),
        metavar="N",
        help="retention: first delete versions beyond the newest N of each name (aliased "
        "versions, and those live versions were made from, stay), instead of the registry's "
        "policy",
    )
    gc.add_argument(
        "--older-than",
        type=_duration,
        default=None,
        metavar="AGE",
        help="retention: only versions older than AGE (3600, 12h, 30d)",
    )
    once.add_argument(
        "--no-retention",
        action="store_true",
        help="do not apply the registry's retention policy this time",
    )
    add_json(gc)
    policy = add(
        "retention",
        "show the registry's retention policy (which gc applies), set it from a YAML file, "
        "or clear it",
        cmd_retention,
    )
    what = policy.add_mutually_exclusive_group()
    what.add_argument(
        "--set",
        metavar="FILE",
        help="YAML with keep_last, older_than, keep_aliased and per-name rules under names "
        "(see docs/registry.md); '-' reads stdin",
    )
    what.add_argument("--clear", action="store_true", help="remove the policy")
    add_json(policy)
    return parser


def main(argv: list[str]) -> int:
    """Parse ``argv`` (the words after ``artifacts``) and run the subcommand; the exit code."""
    ns = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = ns.handler
    return handler(ns)


# -- the registry -------------------------------------------------------------------------
def open_registry(ns: argparse.Namespace) -> ArtifactRegistry:
    """The registry named by ``--root/--project/--endpoint-url`` (or their defaults)."""
    from nemotron_kit.registry.api import default_root, init

    root = str(getattr(ns, "root", None) or default_root())
    project = str(getattr(ns, "project", None) or "default")
    if "://" not in root or root.startswith("file://"):
        local = Path(root.removeprefix("file://")).expanduser().absolute()
        # The registry would create a missing root; a mistyped --root must not look empty.
        if not local.is_dir():
            raise NotFoundError(
                f"There is no registry at '{local}': check --root (default "
                "$NEMOTRON_KIT_HOME/registry), or publish an artifact there first."
            )
        root = str(local)
    endpoint = getattr(ns, "endpoint_url", None) or os.environ.get("AWS_ENDPOINT_URL") or None
    is_s3 = root.startswith(("s3://", "s3a://"))
    try:
        return init(root=root, project=project, endpoint_url=endpoint if is_s3 else None)
    except ImportError as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise StorageError(
            f"The registry at '{root}' needs a package that is not installed ({reason}): "
            "install nemotron-kit[s3]."
        ) from None


def _name_and_project(registry: ArtifactRegistry, text: str) -> tuple[str, str]:
    """``NAME`` or ``art://[PROJECT/]NAME`` (no version, alias or path) as (name, project)."""
    if not text.startswith("art://"):
        return text, registry.project
    parsed = registry.parse(text)
    if parsed.version is not None or parsed.alias is not None or parsed.path:
        raise URIError(
            f"'{text}' names one version, but `versions` lists them all: give the name alone, "
            f"e.g. art://{parsed.name}."
        )
    return parsed.name, parsed.project or registry.project


# -- formatting ---------------------------------------------------------------------------


def _format_number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    text = f"{value:.6g}"
    return f"{text}.0" if text.lstrip("-").isdigit() else text


def _format_time(text: str) -> str:
    """An ISO timestamp as local ``YYYY-MM-DD HH:MM:SS`` (the text itself if unparsable)."""
    try:
        return datetime.fromisoformat(text).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    except (TypeError, ValueError):
        return text


def _format_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{n} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _format_aliases(aliases: dict[str, int]) -> str:
    return ", ".join(f"{a}:v{v}" for a, v in sorted(aliases.items()) if a != "latest")


def _print_json(data: Any) -> None:
    print(json.dumps(views.jsonable(data), indent=2, allow_nan=False, default=str))


def _console() -> Console:
    from rich.console import Console

    if sys.stdout.isatty():
        return Console(highlight=False)
    # Piped output has no terminal width; rich would assume 80 columns and wrap the cells. Its
    # lines lose the spaces rich pads them with to the table's width: grep and diff read them.
    width = None if os.environ.get("COLUMNS") else 200
    trimmed = cast("IO[str]", _TrimmedLines(sys.stdout))  # a TextIOBase, which typing's IO is not
    return Console(width=width, highlight=False, file=trimmed)


class _TrimmedLines(io.TextIOBase):
    """A text stream that writes to ``out`` each line without its trailing spaces."""

    def __init__(self, out: IO[str]) -> None:
        self._out, self._pending = out, ""

    @property
    def encoding(self) -> str | None:  # type: ignore[override]
        return getattr(self._out, "encoding", None)  # rich picks ASCII guides by it

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        *lines, self._pending = (self._pending + text).split("\n")
        for line in lines:
            self._out.write(line.rstrip(" ") + "\n")
        return len(text)

    def flush(self) -> None:
        self._out.write(self._pending)
        self._pending = ""
        self._out.flush()


def _cell_width(text: str) -> int:
    from rich.cells import cell_len

    return max((cell_len(line) for line in text.splitlines()), default=0)


class _Listing:
    """Rows as a table when it fits the width it is drawn in, else one block per row (the
    first cell as its title, then ``column  value`` lines, as psql's expanded display does).

    Nothing is ever cut with an ellipsis, which is what rich does to a table too wide for the
    terminal: run ids, names, digests and metric values are what users copy. Only the columns
    named in ``fold`` may wrap, between words; every other column keeps its whole width. When
    that does not fit, the rows go one block each (or, without ``blocks``, the folding
    columns fold inside words too: for columns compared side by side).
    """

    def __init__(
        self,
        columns: Iterable[str],
        rows: Iterable[Iterable[str | Text]],
        fold: Iterable[str] = (),
        blocks: bool = True,
    ) -> None:
        from rich.text import Text

        # Text, not markup: names, metadata keys and values are printed as they are.
        self.columns = [printable(c) for c in columns]
        self.rows = [
            [
                Text(printable(c)) if isinstance(c, str) else Text(printable(c.plain), c.style)
                for c in row
            ]
            for row in rows
        ]
        self.fold = {printable(c) for c in fold}
        self.blocks = blocks

    def widths(self, room: int) -> list[int] | None:
        """Each column's width in a table ``room`` cells wide, or None if it does not fit.

        A column keeps the whole of its widest cell; one that folds needs only its longest
        word, and the room left makes whole the folding columns it can (the nearest first),
        then widens the one that lacks the most. Set here, not by rich, which squeezes a
        column below its longest word (splitting it) or crops one given a minimum width.
        """
        room -= 2 * (len(self.columns) - 1)  # two spaces between columns
        natural, least = [], []
        for i, column in enumerate(self.columns):
            cells = [column, *(row[i].plain for row in self.rows)]
            natural.append(max(_cell_width(cell) for cell in cells))
            words = (_cell_width(word) for cell in cells for word in cell.split())
            least.append(max(words, default=0) if column in self.fold else natural[-1])
        spare = room - sum(least)
        if spare < 0:
            return None
        widths = list(least)
        short = sorted(
            (natural[i] - least[i], i) for i in range(len(widths)) if least[i] < natural[i]
        )
        for gap, i in short:  # first whole columns, the narrowest gaps first
            if gap <= spare:
                widths[i], spare = natural[i], spare - gap
        if spare and short:  # then what is left to the column that lacks the most
            widths[short[-1][1]] += min(spare, natural[short[-1][1]] - widths[short[-1][1]])
        return widths

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.table import Table
        from rich.text import Text

        widths = self.widths(options.max_width)
        if widths is not None or not self.blocks:
            table = Table(box=None, pad_edge=False, header_style="bold")
            for i, column in enumerate(self.columns):
                if widths is not None:
                    table.add_column(Text(column), width=widths[i], overflow="fold")
                else:  # rich shares the width out, folding inside words too, never cutting
                    wraps = column in self.fold
                    table.add_column(Text(column), no_wrap=not wraps, overflow="fold")
            for row in self.rows:
                table.add_row(*row)
            yield table
            return
        labels = [Text(f"  {column}", overflow="fold") for column in self.columns[1:]]
        label = max((_cell_width(t.plain) for t in labels), default=0)
        word = max(
            (_cell_width(w) for row in self.rows for cell in row[1:] for w in cell.plain.split()),
            default=0,
        )
        beside = label + 2 + word <= options.max_width  # else each value under its label
        for n, (title, *cells) in enumerate(self.rows):
            if n:
                yield Text("")
            yield Text.assemble(title, style="bold", overflow="fold")
            grid = Table.grid(padding=(0, 2), pad_edge=False)
            if beside:
                grid.add_column(no_wrap=True)
                grid.add_column(overflow="fold")
                for name, cell in zip(labels, cells, strict=True):
                    grid.add_row(name, cell)
            else:
                grid.add_column(overflow="fold")
                for name, cell in zip(labels, cells, strict=True):
                    grid.add_row(name)
                    grid.add_row(Text.assemble("    ", cell, overflow="fold"))
            yield grid


def _metric_columns(metrics: Iterable[dict[str, int | float]]) -> list[str]:
    """Every metric key found, sorted: one column each."""
    return sorted({key for m in metrics for key in m})


def _metrics_cell(metrics: dict[str, int | float]) -> str:
    """``key=value`` pairs, sorted: names of different types share few metrics, so one
    column each would be mostly empty (and wider than any terminal)."""
    return " ".join(f"{key}={_format_number(metrics[key])}" for key in sorted(metrics)) or "-"


# -- subcommands --------------------------------------------------------------------------
def cmd_ls(ns: argparse.Namespace) -> int:
    registry = open_registry(ns)
    errors: list[str] = []
    entries = registry.list(errors=errors)
    code = _report_damage(errors)
    if ns.json:
        _print_json([views.entry_info(e) for e in entries])
        return code
    if not entries:
        if not errors:
            print(f"No artifacts in project '{registry.project}' at {registry.root}.")
        return code
    rows = [
        [
            e.name,
            e.type,
            f"v{e.latest.version}",
            _format_aliases(e.aliases),
            _format_time(e.latest.created_at),
            _metrics_cell(views.version_metrics(e.latest)),
        ]
        for e in entries
    ]
    columns = ["name", "type", "latest", "aliases", "created", "metrics"]
    _console().print(_Listing(columns, rows, fold=("aliases", "created", "metrics")))
    return code


def cmd_show(ns: argparse.Namespace) -> int:
    from nemotron_kit.registry.uri import parse_uri

    registry = open_registry(ns)
    version = registry.resolve(ns.uri)
    inner = parse_uri(ns.uri).path
    if inner:
        registry.check_subpath(version, inner)
    info = views.version_info(registry, version)
    pointing = info["aliases"]
    storage = info["storage"]
    if ns.json:
        _print_json(info)
        return 0

    from rich.table import Table
    from rich.text import Text

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")  # digests and paths whole, folded if need be: never cut

    def row(key: str, value: str) -> None:
        grid.add_row(Text(printable(key)), Text(printable(value)))

    row("type", version.type)
    row("class", version.class_path)
    row("created", f"{_format_time(version.created_at)} ({version.created_at})")
    row("producer", version.producer or "-")
    if info["host"]:
        row("host", str(info["host"]))
    if info["description"]:
        row("description", str(info["description"]))
    mode = version.mode
    row("storage", f"{mode} ({storage.get('source')})" if mode == "reference" else mode)
    files = f"{version.num_files} file{'s' if version.num_files != 1 else ''}"
    row("files", f"{files}, {_format_bytes(version.total_bytes)}")
    row("digest", version.digest)
    row("inputs", ", ".join(info["inputs"]) or "-")
    row("aliases", ", ".join(pointing) or "-")
    metadata = version.metadata
    row("metadata", "" if metadata else "-")
    numeric = views.version_metrics(version)
    for key, value in metadata.items():
        if key in numeric:
            shown = _format_number(value)
        elif isinstance(value, (str, float)):  # a string as is; a float here is NaN or inf
            shown = str(value)
        else:
            shown = json.dumps(views.jsonable(value), default=str)
        row(f"  {key}", shown)
    console = _console()
    console.print(Text(version.uri, style="bold"))
    console.print(grid)
    return 0


def cmd_versions(ns: argparse.Namespace) -> int:
    registry = open_registry(ns)
    name, project = _name_and_project(registry, ns.name)
    page = registry.version_page(name, project=project, limit=ns.limit)
    versions = page.versions[::-1]  # oldest first
    by_version = views.aliases_by_version(registry, name, project)
    metrics = [views.version_metrics(v) for v in versions]
    if ns.json:
        _print_json([views.version_row(v, by_version.get(v.version, [])) for v in versions])
        return 0
    keys = _metric_columns(metrics)
    rows = [
        [
            f"v{v.version}",
            _format_time(v.created_at),
            v.digest[:SHORT_DIGEST],
            *(_format_number(m[k]) if k in m else "-" for k in keys),
            ", ".join(by_version.get(v.version, [])),
        ]
        for v, m in zip(versions, metrics, strict=True)
    ]
    columns = ["version", "created", "digest", *keys, "aliases"]
    _console().print(_Listing(columns, rows, fold=("created", "aliases")))
    if len(versions) < page.total:
        print(f"the {len(versions)} newest of {page.total} versions (--limit)", file=sys.stderr)
    return 0


def cmd_export(ns: argparse.Namespace) -> int:
    from nemotron_kit.registry.transfer import export

    report = export(open_registry(ns), ns.uri, ns.directory)
    files = f"{report.files} file{'s' if report.files != 1 else ''}"
    print(
        f"exported {files} ({_format_bytes(report.bytes)}) of {report.uri} to {report.destination}"
    )
    return 0


def cmd_diff(ns: argparse.Namespace) -> int:
    from nemotron_kit.registry.transfer import diff

    result = diff(open_registry(ns), ns.a, ns.b)
    if ns.json:
        _print_json(result.to_json())
        return 0
    console = _console()
    same = "same content" if result.same_content else "content differs"
    console.print(f"[bold]{result.a}[/] -> [bold]{result.b}[/]: {same}", highlight=False)
    rows = [
        *(["+", rel] for rel in result.added),
        *(["-", rel] for rel in result.removed),
        *(["~", rel] for rel in result.changed),
    ]
    if rows:
        console.print(_Listing(["", "file"], rows, fold=("file",), blocks=False))
    console.print(f"{result.unchanged} file(s) unchanged", highlight=False)
    keys = sorted(set(result.metadata) | set(result.metrics))
    if keys:

        def shown(key: str, side: int) -> str:
            number = result.metrics.get(key, (None, None))[side]
            if number is not None:
                return _format_number(number)
            value = result.metadata.get(key, (None, None))[side]
            return "-" if value is None else json.dumps(views.jsonable(value), default=str)

        table_rows = [
            [k, shown(k, 0), shown(k, 1), "" if k not in result.metadata else "*"] for k in keys
        ]
        columns = ["metadata", "A", "B", "differs"]  # side by side even when narrow
        console.print(_Listing(columns, table_rows, fold=("metadata", "A", "B"), blocks=False))
    return 0


def cmd_rm(ns: argparse.Namespace) -> int:
    from nemotron_kit.registry.lifecycle import delete

    version = delete(open_registry(ns), ns.uri, reason=ns.reason, force=ns.force)
    print(f"deleted {version.uri}: `nemotron-kit artifacts gc` reclaims its data")
    return 0


def cmd_alias(ns: argparse.Namespace) -> int:
    registry = open_registry(ns)
    if ns.rm:
        from nemotron_kit.registry.lifecycle import remove_alias

        parsed = registry.parse(ns.uri)
        target = remove_alias(registry, parsed.name, ns.alias, parsed.project)
        print(f"removed {ns.alias} (was v{target})")
        return 0
    version = registry.alias(ns.uri, ns.alias)
    print(f"{ns.alias} -> {version.uri}")
    return 0


def cmd_verify(ns: argparse.Namespace) -> int:
    registry = open_registry(ns)
    report = registry.verify(ns.uri)
    if ns.json:
        _print_json(
            {
                "uri": report.uri,
                "ok": report.ok,
                "changed": report.changed,
                "missing": report.missing,
                "extra": report.extra,
                "copy": report.copy,
                "copy_changed": report.copy_changed,
                "copy_missing": report.copy_missing,
                "copy_extra": report.copy_extra,
            }
        )
    else:
        print(report.summary())
        copy = " (in the local copy)"
        for label, items, where in (
            ("changed", report.changed, ""),
            ("missing", report.missing, ""),
            ("extra", report.extra, ""),
            ("changed", report.copy_changed, copy),
            ("missing", report.copy_missing, copy),
            ("extra", report.copy_extra, copy),
        ):
            for item in items:
                print(f"  {label:<8} {item}{where}")
    return 0 if report.ok else 1


def _say_home(cache: HomeReport, dry_run: bool) -> None:
    verb = "Would remove" if dry_run else "Removed"
    if cache.removed:
        print(f"{verb} {len(cache.removed)} unused cache entries ({cache.freed_bytes:,} bytes):")
        for path in cache.removed:
            print(f"  {path}")
    if cache.stale_hashes:
        print(f"{verb} {cache.stale_hashes} hash-cache entries of files that are gone.")
    if cache.snapshots_kept_because:
        print(f"Note: {cache.snapshots_kept_because}.", file=sys.stderr)


def _gc_policy(ns: argparse.Namespace, registry: ArtifactRegistry) -> RetentionPolicy | None:
    """``--keep-last`` for this run, else the registry's policy (unless ``--no-retention``)."""
    from nemotron_kit.registry.lifecycle import keep_last_policy, read_policy

    if ns.keep_last is not None:
        return keep_last_policy(ns.keep_last, ns.older_than or 0.0)
    if ns.older_than is not None:
        raise UsageError(
            f"{PROG} gc: --older-than applies to --keep-last; give both, or set older_than in "
            "the registry's policy (`retention --set FILE`)."
        )
    return None if ns.no_retention else read_policy(registry)


def cmd_retention(ns: argparse.Namespace) -> int:
    from nemotron_kit.registry.lifecycle import (
        policy_as_config,
        policy_from_config,
        read_policy,
        write_policy,
    )

    registry = open_registry(ns)
    if ns.set is not None:
        import yaml

        where = "stdin" if ns.set == "-" else f"'{ns.set}'"
        try:
            raw = sys.stdin.buffer.read() if ns.set == "-" else Path(ns.set).read_bytes()
            data = yaml.load(raw.decode("utf-8"), Loader=_unique_key_loader())  # safe: SafeLoader
        except OSError as exc:
            raise UsageError(f"{PROG} retention: cannot read {where} ({exc.strerror}).") from None
        except UnicodeDecodeError:
            raise UsageError(
                f"{PROG} retention: {where} is not UTF-8 text: save it as UTF-8 YAML."
            ) from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f" at line {mark.line + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or ""
            because = f" ({problem})" if problem.startswith("duplicate key") else ""
            raise UsageError(
                f"{PROG} retention: {where} is not valid YAML{at}{because}: fix it and set it "
                "again."
            ) from None
        write_policy(registry, policy_from_config(data, f"The retention policy in {where}"))
    elif ns.clear:
        write_policy(registry, None)
    policy = read_policy(registry)
    if ns.json:
        _print_json(None if policy is None else policy_as_config(policy))
        return 0
    if policy is None:
        print(f"{registry.root} has no retention policy: gc deletes no version by itself.")
        return 0
    print(f"Retention policy of {registry.root} (set {policy.updated_at or 'at an unknown time'}):")
    rows = (
        [*policy.names, ("every other name", policy.default)]  # in the order they apply
        if policy.names
        else [("every name", policy.default)]
    )
    width = max(len(label) for label, _ in rows)
    for label, rule in rows:
        print(f"  {label:<{width}}  {_describe_rule(rule)}")
    return 0


def _unique_key_loader() -> type:
    """yaml's safe loader, refusing a key given twice in one mapping (yaml keeps the last
    silently: a rule written twice would apply as written second)."""
    import yaml

    class Loader(yaml.SafeLoader):
        def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if isinstance(key, str) and key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key '{key}'", key_node.start_mark
                    )
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return Loader


def _describe_rule(rule: RetentionRule) -> str:
    if rule.keep_last is None:
        return "keep every version"
    from nemotron_kit.registry.lifecycle import format_age

    parts = [f"keep the newest {rule.keep_last}"]
    if rule.keep_aliased:
        parts.append("every aliased version")
    if rule.older_than_s:
        parts.append(f"every version made in the last {format_age(rule.older_than_s)}")
    return ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]


def _gc_retention(ns: argparse.Namespace, registry: ArtifactRegistry) -> dict[str, Any] | None:
    """Apply retention (or, with --dry-run, plan it), saying each version as it goes; what was
    (or would be) deleted and kept, for --json. None without a policy."""
    policy = _gc_policy(ns, registry)
    if policy is None:
        return None
    from nemotron_kit.registry.lifecycle import apply_retention, retention, retention_reason

    say: Callable[[str], None] = (lambda _: None) if ns.json else print  # --json: JSON alone
    plan = retention(registry, policy)

    def line(uri: str) -> str:
        aliases = plan.aliases[uri]
        also = f"; its aliases go: {', '.join(aliases)}" if aliases else ""
        return f"{uri} ({retention_reason(plan.rules[uri])}{also})"

    kept = {uri: "live versions were made from it" for uri in plan.kept_for_downstream}
    if ns.dry_run:
        deleted = [v.uri for v in plan.delete]
        for uri in deleted:
            say(f"would delete {line(uri)}")
    else:
        result = apply_retention(registry, plan, lambda uri: say(f"deleted {line(uri)}"))
        deleted = result.deleted
        kept.update(result.kept)
    for uri, why in kept.items():
        say(f"kept {uri}: {why}")
    if ns.dry_run and deleted:  # their data is still referenced until they go
        say("(gc reclaims their data once they are deleted)")
    return {
        "deleted": [
            {"uri": u, "reason": retention_reason(plan.rules[u]), "aliases": plan.aliases[u]}
            for u in deleted
        ],
        "kept": [{"uri": u, "why": why} for u, why in kept.items()],
    }


def cmd_gc(ns: argparse.Namespace) -> int:
    from nemotron_kit.paths import home
    from nemotron_kit.registry.home_cache import collect_home

    registry = open_registry(ns)
    retained = _gc_retention(ns, registry)
    retired = [entry["uri"] for entry in retained["deleted"]] if retained else []
    report = registry.gc(dry_run=ns.dry_run, grace_seconds=ns.grace)
    code = _report_damage(report.errors)
    cache = (
        collect_home(registry, home(), older_than_s=ns.cache_age, dry_run=ns.dry_run)
        if ns.cache_age is not None
        else None
    )
    if report.errors:
        print(
            "Error: gc removed no objects, manifests or trees, since what the damaged records "
            "reference is unknown: repair or remove them, then run gc again.",
            file=sys.stderr,
        )
    if ns.json:
        _print_json(
            {
                "dry_run": ns.dry_run,
                "grace_seconds": ns.grace,
                "retired": retired,
                "retention": retained,
                "removed": report.removed,
                "errors": report.errors,
                "home": dataclasses.asdict(cache) if cache is not None else None,
            }
        )
        return code
    if cache is not None:
        _say_home(cache, ns.dry_run)
    if not report.removed:
        print(f"Nothing to remove from {registry.root} (grace {ns.grace:g} s).")
        return code
    count = len(report.removed)
    verb = "Would remove" if ns.dry_run else "Removed"
    print(f"{verb} {count} file{'s' if count != 1 else ''} from {registry.root}:")
    for key in report.removed:
        print(f"  {key}")
    return code


def _report_damage(errors: list[str]) -> int:
    """Damaged records: one `Error:` line each on stderr; the exit code says it (1)."""
    for error in errors:
        print(f"Error: {error}", file=sys.stderr)
    return 1 if errors else 0
