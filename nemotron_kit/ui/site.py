"""The web view's data: one JSON document per page, read through the registry's API.

The server answers ``/api/PATH?QUERY`` with ``Site.get(PATH, QUERY)``; ``ui --export`` writes
the same documents to files. A page reads only what it shows: the run list lists run ids and
reads one page of records (ids start with their start time, so newest first needs no scan),
a version page reads that version, its manifest, its producer and the consumer index. Filters
that need every record (status, recipe) scan once; finished runs never change, so their lines
are kept in memory (the server reads them all in the background when it starts) and a later
scan reads only the running ones.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nemotron_kit import views
from nemotron_kit.errors import ArtifactError, NemotronKitError, NotFoundError
from nemotron_kit.registry.uri import LATEST
from nemotron_kit.tracking._secrets import redact_values

if TYPE_CHECKING:
    from nemotron_kit.registry.core import ArtifactRegistry

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
#: A version page lists this many files and consumers (with the totals).
SHOWN_FILES = 500
SHOWN_CONSUMERS = 200
#: A metric curve is thinned to at most this many points (the count logged is reported).
MAX_POINTS = 4000
#: The lineage page's depth choices; ``all`` follows every hop.
DEPTHS = ("1", "2", "3", "all")
DEFAULT_DEPTH = "2"
#: A lineage larger than this is not drawn (the page asks for a smaller depth).
MAX_GRAPH_NODES = 1500
FINISHED = frozenset({"COMPLETED", "FAILED"})


class PageError(NemotronKitError):
    """A page was asked for with a parameter it cannot use (HTTP 400)."""


@dataclass(frozen=True)
class Route:
    handler: Callable[[Mapping[str, str]], dict[str, Any]]
    #: Whether ``ui --export`` can write this page (verify reads data: only the server can).
    static: bool = True


class Site:
    """The registry as the pages see it; safe to call from several server threads."""

    def __init__(self, registry: ArtifactRegistry) -> None:
        self.registry = registry
        self._finished: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self.routes: dict[str, Route] = {
            "overview": Route(self.overview),
            "artifacts": Route(self.artifacts),
            "versions": Route(self.versions),
            "version": Route(self.version),
            "verify": Route(self.verify, static=False),
            "runs": Route(self.runs),
            "run": Route(self.run),
            "lineage": Route(self.lineage),
        }

    def get(self, path: str, params: Mapping[str, str]) -> dict[str, Any]:
        """The document of page ``path``; NotFoundError or PageError name what is wrong."""
        route = self.routes.get(path)
        if route is None:
            raise NotFoundError(f"There is no page '{path}': use one of {', '.join(self.routes)}.")
        return self.served(route.handler(params))

    @staticmethod
    def served(document: dict[str, Any]) -> dict[str, Any]:
        """A page's document as it leaves: JSON-safe, and redacted. Records were redacted
        where they were written; the secrets this process knows (its secret environment
        variables) are redacted again, by value, for records written by older versions or by
        hand."""
        data: dict[str, Any] = redact_values(views.jsonable(document))
        return data

    # -- artifacts ------------------------------------------------------------------------
    def overview(self, params: Mapping[str, str]) -> dict[str, Any]:
        return {
            "root": self.registry.root,
            "project": self.registry.project,
            "projects": self.registry.projects(),
        }

    def artifacts(self, params: Mapping[str, str]) -> dict[str, Any]:
        errors: list[str] = []
        project = params.get("project") or self.registry.project
        entries = self.registry.list(project=project, errors=errors)
        return {
            "project": project,
            "artifacts": [views.entry_info(e) for e in entries],
            "errors": errors,
        }

    def versions(self, params: Mapping[str, str]) -> dict[str, Any]:
        """A page of a name's versions, newest first; ``offset`` and ``limit`` page."""
        offset = _int_param(params, "offset", 0, minimum=0)
        limit = min(_int_param(params, "limit", PAGE_SIZE, minimum=1), MAX_PAGE_SIZE)
        name = _param(params, "name")
        return self.version_listing(name, params.get("project"), offset, limit)

    def version_listing(
        self, name: str, project: str | None, offset: int = 0, limit: int | None = None
    ) -> dict[str, Any]:
        """Versions of ``name`` newest first (all of them with no ``limit``: the export's)."""
        project = project or self.registry.project
        page = self.registry.version_page(name, project=project, offset=offset, limit=limit)
        newest = page.versions[0] if page.versions and offset == 0 else None
        if newest is None and page.total:  # a later page: the header names the newest's type
            newest = self.registry.resolve(f"art://{project}/{name}:{LATEST}")
        by_version = views.aliases_by_version(self.registry, name, project)
        return {
            "name": name,
            "project": project,
            "type": newest.type if newest else None,
            "versions": [
                views.version_row(v, by_version.get(v.version, [])) for v in page.versions
            ],
            "total": page.total,
            "offset": offset,
            "limit": limit,
            "deleted": page.deleted,
        }

    def version(self, params: Mapping[str, str]) -> dict[str, Any]:
        # A deleted version is shown as such (lineage links to it), not refused.
        version = self.registry.resolve(_param(params, "uri"), include_deleted=True)
        info = views.version_info(self.registry, version)
        info["deleted"] = None
        files: list[Any] = []
        if version.deleted:
            dead = self.registry.tombstone(version.project, version.name, version.version)
            info["deleted"] = {
                "at": dead.deleted_at if dead else None,
                "reason": dead and dead.reason,
            }
            with contextlib.suppress(ArtifactError):  # gc may have reclaimed its manifest
                files = list(self.registry.manifest(version).files)
        else:
            files = list(self.registry.manifest(version).files)
        info["file_list"] = [
            {"path": f.rel, "size": f.size, "digest": f.digest} for f in files[:SHOWN_FILES]
        ]
        producer = None
        if version.producer:
            producer = self._summary(version.producer) or {"run_id": version.producer}
        info["producer_run"] = producer
        consumers = self.registry.consumers(version)
        info["consumers"] = consumers[:SHOWN_CONSUMERS]
        info["consumers_total"] = len(consumers)
        return info

    def verify(self, params: Mapping[str, str]) -> dict[str, Any]:
        report = self.registry.verify(_param(params, "uri"))
        return {"uri": report.uri, "ok": report.ok, "summary": report.summary()}

    # -- runs -----------------------------------------------------------------------------
    def _summary(self, run_id: str) -> dict[str, Any] | None:
        """A run's line of the list; kept once the run has finished (it never changes)."""
        cached = self._finished.get(run_id)
        if cached is not None:
            return cached
        record = views.read_run(self.registry, run_id)
        if record is None:
            return None
        summary = views.run_summary(record, self.registry.project)
        if summary["status"] in FINISHED:
            with self._lock:
                self._finished[run_id] = summary
        return summary

    def _summaries(self, run_ids: list[str]) -> Iterator[dict[str, Any] | None]:
        """``_summary`` of each, in order. From object storage, where each record is a round
        trip, they are read several at once, a batch at a time (a filtered list reads every
        run once, 500 runs a few seconds apart one by one)."""
        if self.registry.storage.is_local:
            yield from map(self._summary, run_ids)
            return
        from concurrent.futures import ThreadPoolExecutor

        from nemotron_kit.registry.storage import PARALLEL_REQUESTS

        # One read per thread in flight: at exit Python waits for what was queued, so a server
        # stopped during the warm-up waits for one read, not for a batch of them.
        batch = PARALLEL_REQUESTS
        with ThreadPoolExecutor(PARALLEL_REQUESTS, thread_name_prefix="nk-ui-runs") as pool:
            for start in range(0, len(run_ids), batch):
                yield from pool.map(self._summary, run_ids[start : start + batch])

    def warm_up(self) -> None:
        """Read every run record once, newest first, so that the first filtered run list is
        answered from memory (the server calls this from a background thread)."""
        for _ in self._summaries(sorted(self.registry.run_ids(), reverse=True)):
            pass

    def has_run(self, run_id: str) -> bool:
        return self._summary(run_id) is not None

    def runs(self, params: Mapping[str, str]) -> dict[str, Any]:
        """A page of runs, newest first, filtered by ``status`` (comma-separated), ``recipe``
        and ``sweep``; ``offset`` and ``limit`` page through them."""
        offset = _int_param(params, "offset", 0, minimum=0)
        limit = min(_int_param(params, "limit", PAGE_SIZE, minimum=1), MAX_PAGE_SIZE)
        statuses = {s for s in params.get("status", "").upper().split(",") if s}
        recipe = params.get("recipe") or None
        sweep = params.get("sweep") or None
        ids = self.registry.sweep_jobs(sweep) if sweep else self.registry.run_ids()
        ids = sorted(ids, reverse=True)
        scan = bool(statuses or recipe)

        def keep(summary: dict[str, Any]) -> bool:
            if statuses and str(summary["status"]) not in statuses:
                return False
            return not recipe or summary["recipe"] == recipe

        if not scan:  # newest first by id: only the page's records are read
            shown = [r for r in self._summaries(ids[offset : offset + limit]) if r is not None]
            matched = len(ids)
        else:
            shown, matched = [], 0
            for summary in self._summaries(ids):
                if summary is None or not keep(summary):
                    continue
                if offset <= matched < offset + limit:
                    shown.append(summary)
                matched += 1
        return {
            "runs": shown,
            # Without a filter the total counts run directories (a version published by hand
            # with an explicit producer has one without a run record).
            "total": matched,
            "offset": offset,
            "limit": limit,
            "filters": {"status": sorted(statuses), "recipe": recipe, "sweep": sweep},
        }

    def run(self, params: Mapping[str, str]) -> dict[str, Any]:
        run_id = _param(params, "id")
        record = views.read_run(self.registry, run_id)
        if record is None:
            raise NotFoundError(
                f"No run '{run_id}' in {self.registry.root}: list runs with `nemotron-kit runs ls`."
            )
        rows = self.registry.read_metrics(run_id)
        series: dict[str, list[list[float]]] = {}
        for row in rows:
            for name, value in row["values"].items():
                series.setdefault(name, []).append([row["step"], value])
        return {
            "run": record,
            "summary": views.run_summary(record, self.registry.project),
            "returned": views.returned_metrics(record),
            "logged": views.metrics_summary(rows),
            "console": self.registry.read_run_text(run_id, "console"),
            "code_diff": self.registry.read_run_text(run_id, "code_diff"),
            "curves": {
                name: {"points": len(points), "data": _thin(points)}
                for name, points in sorted(series.items())
            },
        }

    # -- lineage --------------------------------------------------------------------------
    def lineage(self, params: Mapping[str, str]) -> dict[str, Any]:
        """The graph around a version (``uri``) or a run (``run``), at ``depth`` hops."""
        from nemotron_kit.lineage import layout, lineage, run_lineage

        depth_text = params.get("depth") or DEFAULT_DEPTH
        if depth_text not in DEPTHS:
            raise PageError(f"Depth '{depth_text}' is not one of {', '.join(DEPTHS)}.")
        depth = None if depth_text == "all" else int(depth_text)
        if params.get("run"):
            graph = run_lineage(self.registry, params["run"], depth=depth)
        else:
            graph = lineage(self.registry, _param(params, "uri"), direction="both", depth=depth)
        nodes = len(graph.nodes)
        result: dict[str, Any] = {
            "root": graph.root,
            "depth": depth_text,
            "depths": list(DEPTHS),
            "nodes": nodes,
            "edges": len(graph.edges),
            "records_read": graph.records_read,
        }
        if nodes > MAX_GRAPH_NODES:
            result["too_large"] = (
                f"The lineage at depth {depth_text} has {nodes} nodes, more than the "
                f"{MAX_GRAPH_NODES} a page draws: choose a smaller depth."
            )
            return result
        result["layout"] = layout(graph)
        return result


def _param(params: Mapping[str, str], name: str) -> str:
    value = params.get(name)
    if not value:
        raise PageError(f"The page needs the parameter '{name}'.")
    return value


def _int_param(params: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    text = params.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise PageError(f"'{name}={text}' is not a whole number >= {minimum}.")
    return value


def _thin(points: list[list[float]]) -> list[list[float]]:
    """At most MAX_POINTS of a curve, evenly spaced, always with its last point."""
    if len(points) <= MAX_POINTS:
        return points
    stride = -(-len(points) // MAX_POINTS)
    thinned = points[::stride]
    if thinned[-1] is not points[-1]:
        thinned.append(points[-1])
    return thinned
