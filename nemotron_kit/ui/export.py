"""``nemotron-kit ui --export DIR``: the pages as a static site that opens from disk.

The site is the server's page and scripts plus one ``data/*.js`` file per document the pages
ask for (a script, not JSON: a page opened from ``file://`` may load scripts but not fetch).
Each file calls ``NK.receive(KEY, DOCUMENT)``; KEY is the page's path and sorted parameters, and
the file name is KEY with every byte outside ``[A-Za-z0-9_.-]`` written as ``~XX`` (the page
computes the same name). The run list is one document the page filters itself; the lineage of
each version is written at every depth the page offers.

The site is built in a temporary directory beside DIR and moved into place whole: an
interrupted export leaves no half-written site, and DIR is replaced only if it is empty or an
earlier export (it holds ``MARKER``).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nemotron_kit.errors import NemotronKitError
from nemotron_kit.ui import assets
from nemotron_kit.ui.site import DEPTHS, Site

MARKER = ".nemotron-kit-ui"
_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")


class ExportError(NemotronKitError):
    """The site cannot be written where it was asked for."""


@dataclass(frozen=True)
class ExportReport:
    destination: Path
    documents: int
    versions: int
    runs: int


def page_key(path: str, params: dict[str, str] | None = None) -> str:
    """``version?uri=art://x:v1``: the page and its parameters in sorted order, unescaped."""
    if not params:
        return path
    return path + "?" + "&".join(f"{k}={params[k]}" for k in sorted(params))


def file_name(key: str) -> str:
    """The data file of ``key`` (app.js's ``fileName`` computes the same)."""
    return "".join(chr(b) if b in _SAFE else f"~{b:02X}" for b in key.encode()) + ".js"


def export_site(
    site: Site, destination: str | Path, *, lineage_of: str | None = None
) -> ExportReport:
    """Write the site for the whole registry, or for the lineage of ``lineage_of`` only."""
    dest = Path(destination).expanduser().absolute()
    _check_destination(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        report = _write(site, work, dest, lineage_of)
        _move_into_place(work, dest)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return report


def _check_destination(dest: Path) -> None:
    if dest.is_symlink() and not dest.exists():
        raise ExportError(f"'{dest}' is a broken symbolic link: remove it or give a directory.")
    if dest.exists() and not dest.is_dir():
        raise ExportError(f"'{dest}' is a file: give a directory for the site.")
    if dest.is_dir() and any(dest.iterdir()) and not (dest / MARKER).exists():
        raise ExportError(
            f"'{dest}' is not empty and holds no earlier export: give a new or empty directory."
        )


def _move_into_place(work: Path, dest: Path) -> None:
    """Swap the finished site in; the earlier export comes back if that fails."""
    _check_destination(dest)  # again: DIR may have changed while the site was built
    umask = os.umask(0)
    os.umask(umask)
    work.chmod(0o777 & ~umask)  # mkdtemp made it private; a site is for others to read
    old = None
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
        dest.rename(old)
    try:
        work.rename(dest)
    except BaseException:
        if old is not None:
            old.rename(dest)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _write(site: Site, work: Path, dest: Path, lineage_of: str | None) -> ExportReport:
    static = work / "static"
    data_dir = work / "data"
    static.mkdir()
    data_dir.mkdir()
    for name in assets.FILES:
        asset = assets.get(name)
        assert asset is not None
        (work if name == "index.html" else static).joinpath(name).write_bytes(asset[0])
    (static / "config.js").write_bytes(assets.config_js(static=True))
    written = 0

    def put(path: str, params: dict[str, str] | None, document: dict[str, Any]) -> None:
        nonlocal written
        key = page_key(path, params)
        text = json.dumps(document, allow_nan=False, default=str, separators=(",", ":"))
        (data_dir / file_name(key)).write_text(
            f"NK.receive({json.dumps(key)}, {text});\n", encoding="utf-8"
        )
        written += 1

    def get(path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        document = site.get(path, params or {})
        put(path, params, document)
        return document

    keep_versions: set[str] | None = None
    keep_runs: set[str] | None = None
    if lineage_of is not None:
        from nemotron_kit.lineage import lineage

        graph = lineage(site.registry, lineage_of, direction="both", depth=None)
        keep_versions = {n.id for n in graph.artifacts() if not n.missing}
        keep_runs = {n.run_id for n in graph.runs()}

    overview = site.get("overview", {})
    overview["lineage_of"] = lineage_of
    put("overview", None, overview)
    version_uris: list[str] = []
    for project in overview["projects"] or [site.registry.project]:
        # The page asks for its own project without a parameter.
        params = {} if project == site.registry.project else {"project": project}
        artifacts = site.get("artifacts", params)
        kept = []
        for entry in artifacts["artifacts"]:
            # One document of all the versions kept, which the page pages through itself.
            listing = site.served(site.version_listing(entry["name"], entry["project"]))
            listing["versions"] = [
                v for v in listing["versions"] if keep_versions is None or v["uri"] in keep_versions
            ]
            listing["total"] = len(listing["versions"])
            if listing["versions"]:
                put("versions", {"name": entry["name"], "project": entry["project"]}, listing)
                kept.append(entry)
                version_uris.extend(v["uri"] for v in listing["versions"])
        artifacts["artifacts"] = kept
        put("artifacts", params, artifacts)
    for uri in version_uris:
        get("version", {"uri": uri})
        for depth in DEPTHS:
            get("lineage", {"uri": uri, "depth": depth})
    run_ids = _runs(site, keep_runs)
    summaries = []
    for run_id in run_ids:
        document = get("run", {"id": run_id})
        summaries.append(document["summary"])
        for depth in DEPTHS:
            get("lineage", {"run": run_id, "depth": depth})
    put("runs", None, {"runs": summaries, "total": len(summaries), "static": True})
    (work / MARKER).write_text("A site written by `nemotron-kit ui --export`.\n")
    return ExportReport(dest, written, len(version_uris), len(run_ids))


def _runs(site: Site, keep: Iterable[str] | None) -> list[str]:
    ids = sorted(keep if keep is not None else site.registry.run_ids(), reverse=True)
    return [r for r in ids if site.has_run(r)]
