// nemotron-kit's web view: artifacts, versions, runs, compare and lineage, read-only.
// Data comes from the server's /api (NK_MODE "server") or from the exported data/*.js files
// (NK_MODE "static", a site opened from disk). Everything shown is set as text, never as HTML:
// records come from storage and are untrusted.
"use strict";

const NK = (() => {
  const cache = new Map();
  const waiting = new Map();

  // The page's path and sorted parameters (export.py's page_key).
  function pageKey(path, params) {
    const keys = Object.keys(params).filter((k) => params[k] !== undefined && params[k] !== "").sort();
    return keys.length ? path + "?" + keys.map((k) => `${k}=${params[k]}`).join("&") : path;
  }

  // export.py's file_name: bytes outside [A-Za-z0-9_.-] as ~XX.
  function fileName(key) {
    let out = "";
    for (const b of new TextEncoder().encode(key)) {
      const c = String.fromCharCode(b);
      out += /[A-Za-z0-9_.-]/.test(c) ? c : "~" + b.toString(16).toUpperCase().padStart(2, "0");
    }
    return out + ".js";
  }

  function receive(key, doc) {
    cache.set(key, doc);
    const wait = waiting.get(key);
    if (wait) {
      waiting.delete(key);
      wait.resolve(doc);
    }
  }


  function loadStatic(key) {
    if (cache.has(key)) return Promise.resolve(cache.get(key));
    if (waiting.has(key)) return waiting.get(key).promise; // asked twice at once: one load
    const wait = {};
    wait.promise = new Promise((resolve, reject) => {
      Object.assign(wait, { resolve, reject });
      const script = document.createElement("script");
      script.src = "data/" + fileName(key);
      const fail = (why) => {
        waiting.delete(key);
        reject(new Error(why));
      };
      script.onerror = () => fail(`This page is not part of the exported site (${key}).`);
      script.onload = () => { if (waiting.has(key)) fail(`The exported data of ${key} is damaged.`); };
      document.head.appendChild(script);
    });
    waiting.set(key, wait);
    return wait.promise;
  }

  async function load(path, params = {}) {
    const clean = {};
    for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") clean[k] = String(v);
    if (window.NK_MODE === "static") return loadStatic(pageKey(path, clean));
    const query = new URLSearchParams(clean).toString();
    const response = await fetch(`api/${path}${query ? "?" + query : ""}`);
    if (!(response.headers.get("Content-Type") || "").startsWith("application/json")) {
      throw new Error(`The server answered ${response.status} ${response.statusText}.`);
    }
    const doc = await response.json();
    if (!response.ok) throw new Error(doc.error || response.statusText);
    return doc;
  }

  return { load, receive, pageKey, fileName, isStatic: () => window.NK_MODE === "static" };
})();

// -- DOM helpers -------------------------------------------------------------------------
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "data") for (const [k, v] of Object.entries(value)) el.dataset[k] = String(v);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

// An SVG element (charts.js, graph.js): attributes set as given, text as text.
function svgEl(tag, attrs, text) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const enc = encodeURIComponent;
// A record's own value at ``key`` (never Object.prototype's: a metric may be named "constructor").
const own = (obj, key) => (obj && Object.hasOwn(obj, key) ? obj[key] : undefined);
const link = {
  artifact: (project, name, params) => `#/artifact/${enc(project)}/${enc(name)}` + queryString(params),
  version: (uri) => `#/version/${enc(uri)}`,
  run: (id) => `#/run/${enc(id)}`,
  runs: (params) => "#/runs" + queryString(params),
  compare: (ids) => `#/compare/${ids.map(enc).join(",")}`,
  lineage: (uri, depth) => `#/lineage/${enc(uri)}` + queryString({ depth }),
  runLineage: (id, depth) => `#/run-lineage/${enc(id)}` + queryString({ depth }),
};

function queryString(params) {
  const clean = Object.entries(params || {}).filter(([, v]) => v !== undefined && v !== null && v !== "");
  return clean.length ? "?" + new URLSearchParams(clean).toString() : "";
}

function fmtTime(text) {
  if (!text) return "-";
  const d = new Date(text);
  if (isNaN(d)) return String(text);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function fmtDuration(s) {
  if (typeof s !== "number") return "-";
  if (s < 10) return `${s.toFixed(2)} s`;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(Math.round(s % 60)).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
}

function fmtBytes(n) {
  if (typeof n !== "number") return "-";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let size = n;
  for (const unit of units) {
    if (size < 1024 || unit === "TiB") return unit === "B" ? `${n} B` : `${size.toFixed(1)} ${unit}`;
    size /= 1024;
  }
  return `${n} B`;
}

function fmtNumber(v) {
  if (typeof v !== "number") return v === null || v === undefined ? "-" : String(v);
  return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6)));
}

function fmtValue(v) {
  return typeof v === "string" ? v : JSON.stringify(v);
}

function status(s) {
  const text = s || "UNKNOWN";
  return h("span", { class: `status status-${text}` }, text);
}

function runLink(id) {
  return h("a", { href: link.run(id), class: "mono" }, id);
}

function versionLink(uri) {
  return h("a", { href: link.version(uri), class: "mono" }, uri);
}

function links(items, make) {
  if (!items || !items.length) return "-";
  return items.map((item, i) => [i ? h("br") : null, make(item)]);
}

function table(columns, rows, attrs) {
  return h(
    "table",
    attrs || {},
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { class: c.num ? "num" : null }, c.label || c)))),
    h("tbody", {}, rows),
  );
}

function grid(pairs) {
  return h("dl", { class: "grid" }, pairs.filter(Boolean).map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

function copyBox(text) {
  const input = h("input", { type: "text", readonly: true, value: text, "aria-label": "URI", onclick: () => input.select() });
  const button = h("button", {
    type: "button",
    onclick: async () => {
      input.select();
      try {
        await navigator.clipboard.writeText(text);
        button.textContent = "Copied";
      } catch {
        button.textContent = "Press Ctrl+C";
      }
    },
  }, "Copy");
  return h("div", { class: "copy" }, input, button);
}

// -- pages -------------------------------------------------------------------------------
async function artifactsPage(main, _args, params) {
  const [doc, overview] = await Promise.all([NK.load("artifacts", { project: params.project }), NK.load("overview")]);
  const projects = h("select", { id: "artifact-project", onchange: () => { location.hash = "#/artifacts" + queryString({ project: projects.value === overview.project ? undefined : projects.value }); } },
    (overview.projects.length ? overview.projects : [doc.project]).map((p) => h("option", { value: p, selected: p === doc.project }, `project ${p}`)));
  const metricKeys = [...new Set(doc.artifacts.flatMap((a) => Object.keys(a.metrics || {})))].sort();
  const types = [...new Set(doc.artifacts.map((a) => a.type))].sort();
  const search = h("input", { type: "search", placeholder: "Search names and types", id: "artifact-search" });
  const typeSelect = h("select", { id: "artifact-type" }, h("option", { value: "" }, "All types"), types.map((t) => h("option", { value: t }, t)));
  const rows = doc.artifacts.map((a) =>
    h("tr", { data: { name: a.name, type: a.type } },
      h("td", {}, h("a", { href: link.artifact(a.project, a.name) }, a.name)),
      h("td", {}, a.type),
      h("td", {}, h("a", { href: link.version(a.uri), class: "mono" }, `v${a.latest_version}`)),
      h("td", { class: "num" }, a.num_versions),
      h("td", {}, Object.entries(a.aliases).map(([k, v]) => h("span", { class: "tag" }, `${k}:v${v}`))),
      h("td", {}, fmtTime(a.created_at)),
      metricKeys.map((k) => h("td", { class: "num" }, fmtNumber(own(a.metrics, k)))),
    ));
  const count = h("span", { class: "muted" });
  function filter() {
    const text = search.value.toLowerCase();
    let shown = 0;
    for (const row of rows) {
      const ok = (!text || row.dataset.name.toLowerCase().includes(text) || row.dataset.type.toLowerCase().includes(text))
        && (!typeSelect.value || row.dataset.type === typeSelect.value);
      row.hidden = !ok;
      if (ok) shown += 1;
    }
    count.textContent = `${shown} of ${rows.length} names`;
  }
  search.addEventListener("input", filter);
  typeSelect.addEventListener("change", filter);
  filter();
  append(main, [
    h("h1", {}, `Artifacts of project ${doc.project}`),
    doc.errors.map((e) => h("div", { class: "box-error" }, e)),
    h("div", { class: "toolbar" }, overview.projects.length > 1 ? projects : null, search, typeSelect, count),
    rows.length
      ? table(["name", "type", "latest", { label: "versions", num: true }, "aliases", "created", ...metricKeys.map((k) => ({ label: k, num: true }))], rows, { id: "artifacts" })
      : h("p", { class: "muted" }, "No artifacts yet: publish one by running a recipe."),
  ]);
}

async function artifactPage(main, [project, name], params) {
  // The exported site's list is one document, paged here; the server pages itself.
  let doc = await NK.load("versions", { name, project, ...(NK.isStatic() ? {} : { offset: params.offset, limit: PAGE }) });
  if (NK.isStatic()) {
    const offset = Number(params.offset || 0);
    doc = { ...doc, versions: doc.versions.slice(offset, offset + PAGE), offset };
  }
  const metricKeys = [...new Set(doc.versions.flatMap((v) => Object.keys(v.metrics || {})))].sort();
  append(main, [
    h("h1", {}, `${doc.name}`, h("span", { class: "muted" }, `  ${doc.type || ""} · project ${doc.project}`)),
    h("div", { class: "toolbar" }, pager(doc.offset, doc.versions.length, doc.total, "versions",
      (offset) => { location.hash = link.artifact(project, name, { offset: offset || undefined }); })),
    table(["version", "created", "digest", { label: "files", num: true }, { label: "size", num: true }, ...metricKeys.map((k) => ({ label: k, num: true })), "aliases", ""],
      doc.versions.map((v) => h("tr", {},
        h("td", {}, versionLink(v.uri)),
        h("td", {}, fmtTime(v.created_at)),
        h("td", { class: "mono" }, String(v.digest).slice(0, 12)),
        h("td", { class: "num" }, v.files),
        h("td", { class: "num" }, fmtBytes(v.bytes)),
        metricKeys.map((k) => h("td", { class: "num" }, fmtNumber(own(v.metrics, k)))),
        h("td", {}, v.aliases.map((a) => h("span", { class: "tag" }, a))),
        h("td", {}, h("a", { href: link.lineage(v.uri) }, "lineage")),
      )), { id: "versions" }),
    doc.deleted.length ? h("p", { class: "muted" }, `Deleted: ${doc.deleted.map((n) => "v" + n).join(", ")}`) : null,
  ]);
}

async function versionPage(main, [uri]) {
  const v = await NK.load("version", { uri });
  const verifyOut = h("span", { id: "verify-result" });
  const verify = v.deleted ? null : NK.isStatic()
    ? h("span", { class: "muted" }, `Verify with: nemotron-kit artifacts verify ${v.uri}`)
    : h("button", {
      type: "button",
      id: "verify",
      onclick: async (ev) => {
        ev.target.disabled = true;
        verifyOut.textContent = "Verifying…";
        try {
          const r = await NK.load("verify", { uri: v.uri });
          verifyOut.className = r.ok ? "" : "error";
          verifyOut.textContent = r.summary;
        } catch (err) {
          verifyOut.className = "error";
          verifyOut.textContent = err.message;
        }
        ev.target.disabled = false;
      },
    }, "Verify files");
  const producer = v.producer_run;
  const metadata = Object.entries(v.metadata || {});
  append(main, [
    h("h1", {}, v.uri),
    v.deleted ? h("div", { class: "box-error", id: "deleted" }, `Deleted on ${fmtTime(v.deleted.at)}${v.deleted.reason ? `: ${v.deleted.reason}` : ""}. Its number is never reused; lineage keeps it.`) : null,
    copyBox(v.uri),
    h("div", { class: "toolbar" }, h("a", { href: link.lineage(v.uri), id: "lineage-link" }, "Lineage graph"),
      h("a", { href: link.artifact(v.project, v.name) }, `All versions of ${v.name}`), verify, verifyOut),
    grid([
      ["type", v.type],
      ["class", h("span", { class: "mono" }, v.class)],
      ["created", `${fmtTime(v.created_at)} (${v.created_at})`],
      ["producer", producer ? h("span", {}, runLink(producer.run_id), " ", producer.status ? status(producer.status) : null, producer.recipe ? ` ${producer.recipe}` : "") : "-"],
      v.host ? ["host", v.host] : null,
      v.description ? ["description", v.description] : null,
      ["storage", v.storage.mode === "reference" ? `reference (${v.storage.source})` : v.storage.mode],
      ["files", `${v.files} file${v.files === 1 ? "" : "s"}, ${fmtBytes(v.bytes)}`],
      ["digest", h("span", { class: "mono" }, v.digest)],
      ["inputs", links(v.inputs, versionLink)],
      ["aliases", v.aliases.length ? v.aliases.map((a) => h("span", { class: "tag" }, a)) : "-"],
    ]),
    h("h2", {}, "Metadata"),
    metadata.length
      ? table(["key", "value"], metadata.map(([k, val]) => h("tr", {}, h("td", {}, k), h("td", { class: "mono" }, fmtValue(val)))), { id: "metadata" })
      : h("p", { class: "muted" }, "None."),
    h("h2", {}, `Files (${v.files})`),
    table(["path", { label: "size", num: true }, "digest"], v.file_list.map((f) =>
      h("tr", {}, h("td", { class: "mono" }, f.path), h("td", { class: "num" }, fmtBytes(f.size)), h("td", { class: "mono" }, String(f.digest).slice(0, 16)))), { id: "files" }),
    v.file_list.length < v.files ? h("p", { class: "muted" }, `The first ${v.file_list.length} of ${v.files} files.`) : null,
    h("h2", {}, `Consumers (${v.consumers_total})`),
    v.consumers.length ? h("ul", { id: "consumers" }, v.consumers.map((id) => h("li", {}, runLink(id)))) : h("p", { class: "muted" }, "No run has read this version."),
    v.consumers.length < v.consumers_total ? h("p", { class: "muted" }, `The first ${v.consumers.length} of ${v.consumers_total}.`) : null,
  ]);
}

// Newer/Older buttons around "11–60 of 300"; ``go(offset)`` shows another page.
function pager(offset, shown, total, what, go) {
  offset = Number(offset || 0);
  return h("div", { class: "pager" },
    h("button", { type: "button", disabled: offset === 0, onclick: () => go(Math.max(0, offset - PAGE)) }, "Newer"),
    h("span", { class: "muted", id: `${what}-count` }, total ? `${offset + 1}–${offset + shown} of ${total}` : `no ${what}`),
    h("button", { type: "button", disabled: offset + shown >= total, onclick: () => go(offset + PAGE) }, "Older"));
}

const STATUSES = ["RUNNING", "COMPLETED", "FAILED", "LOST", "UNKNOWN", "UNREADABLE"];
const PAGE = 50;

function filterRuns(all, params) {
  // The exported site's run list is one document; the server filters and pages itself.
  const statuses = (params.status || "").toUpperCase().split(",").filter(Boolean);
  const matched = all.filter((r) => (!statuses.length || statuses.includes(r.status))
    && (!params.recipe || r.recipe === params.recipe) && (!params.sweep || r.sweep_id === params.sweep));
  const offset = Number(params.offset || 0);
  return { runs: matched.slice(offset, offset + PAGE), total: matched.length, offset, limit: PAGE };
}

async function runsPage(main, _args, params) {
  let doc;
  if (NK.isStatic()) doc = filterRuns((await NK.load("runs")).runs, params);
  else doc = await NK.load("runs", { status: params.status, recipe: params.recipe, sweep: params.sweep, offset: params.offset, limit: PAGE });
  const go = (change) => { location.hash = link.runs({ ...params, offset: undefined, ...change }); };
  const statusSelect = h("select", { id: "run-status", onchange: () => go({ status: statusSelect.value }) },
    h("option", { value: "" }, "Any status"), STATUSES.map((s) => h("option", { value: s, selected: params.status === s }, s)));
  const recipe = h("input", { type: "text", id: "run-recipe", placeholder: "recipe", value: params.recipe || "", onchange: () => go({ recipe: recipe.value }) });
  const sweep = h("input", { type: "text", id: "run-sweep", placeholder: "sweep id", value: params.sweep || "", onchange: () => go({ sweep: sweep.value }) });
  const selected = new Set();
  const compare = h("button", { type: "button", id: "compare", disabled: true, onclick: () => { location.hash = link.compare([...selected]); } }, "Compare selected");
  const rows = doc.runs.map((r) => {
    const box = h("input", { type: "checkbox", "aria-label": `select ${r.run_id}`, onchange: () => {
      if (box.checked) selected.add(r.run_id); else selected.delete(r.run_id);
      compare.disabled = selected.size < 2;
    } });
    return h("tr", { data: { run: r.run_id } },
      h("td", {}, box),
      h("td", {}, runLink(r.run_id)),
      h("td", {}, r.recipe || "-"),
      h("td", {}, status(r.status)),
      h("td", {}, r.sweep_id ? h("a", { href: link.runs({ sweep: r.sweep_id }) }, r.sweep_id) : "-"),
      h("td", {}, fmtTime(r.started_at)),
      h("td", { class: "num" }, fmtDuration(r.duration_s)),
      h("td", {}, links(r.outputs, versionLink)),
    );
  });
  const runsPager = pager(doc.offset, doc.runs.length, doc.total, "runs", (offset) => go({ ...params, offset: offset || undefined }));
  append(main, [
    h("h1", {}, "Runs"),
    h("div", { class: "toolbar" }, statusSelect, recipe, sweep, compare, runsPager),
    rows.length
      ? table(["", "run", "recipe", "status", "sweep", "started", { label: "duration", num: true }, "outputs"], rows, { id: "runs" })
      : h("p", { class: "muted" }, "No matching runs."),
  ]);
}

async function runPage(main, [id]) {
  const doc = await NK.load("run", { id });
  const r = doc.run;
  const s = doc.summary;
  const code = r.code || {};
  const hydra = r.hydra || {};
  const returned = Object.entries(doc.returned || {});
  append(main, [
    h("h1", {}, `Run ${r.run_id}`),
    h("div", { class: "toolbar" }, status(r.status), h("a", { href: link.runLineage(r.run_id), id: "lineage-link" }, "Lineage graph")),
    r.error ? h("div", { class: "box-error", id: "run-error" }, String(r.error)) : null,
    grid([
      ["recipe", r.recipe || "-"],
      r.recipe_package ? ["package", r.recipe_package] : null,
      ["started", fmtTime(r.started_at)],
      ["ended", fmtTime(r.ended_at)],
      ["duration", fmtDuration(r.duration_s)],
      hydra.sweep_id ? ["sweep", h("span", {}, h("a", { href: link.runs({ sweep: hydra.sweep_id }) }, hydra.sweep_id), ` (job ${hydra.job_num})`)] : null,
      ["inputs", links(s.inputs, versionLink)],
      ["outputs", links(s.outputs, versionLink)],
      ["overrides", (r.overrides || []).length ? h("span", { class: "mono" }, r.overrides.join(" ")) : "-"],
      ["code", code.commit ? h("span", { class: "mono" }, String(code.commit).slice(0, 12),
        code.dirty ? ` + uncommitted changes (digest ${String(code.diff_digest || "").slice(0, 12)})` : "",
        code.repo ? ` in ${code.repo}` : "") : "- (not in a git repository)"],
      code.snapshot ? ["snapshot", h("span", { class: "mono" }, String(code.snapshot.digest || "-"))] : null,
      ["host", `${r.host || "-"}${r.pid ? ` (pid ${r.pid})` : ""}`],
      hydra.output_dir ? ["output dir", h("span", { class: "mono" }, hydra.output_dir)] : null,
      ["packages", Object.entries(r.packages || {}).map(([k, v]) => `${k} ${v}`).join(", ") || "-"],
    ]),
    h("h2", {}, "Metrics"),
    returned.length ? table(["returned", { label: "value", num: true }], returned.map(([k, v]) => h("tr", {}, h("td", {}, k), h("td", { class: "num" }, fmtNumber(v)))), { id: "returned" }) : null,
    Object.keys(doc.curves).length
      ? h("div", { class: "charts", id: "curves" }, Object.entries(doc.curves).map(([name, curve]) =>
        NKCharts.lineChart(name, [{ label: r.run_id, data: curve.data, points: curve.points }])))
      : h("p", { class: "muted" }, "No metrics logged."),
    h("h2", {}, "Output"),
    doc.console
      ? [h("p", { class: "muted" }, "The end of what the job printed (stored while it runs, and when it ends)."), h("pre", { id: "console" }, doc.console)]
      : h("p", { class: "muted" }, "No output stored."),
    doc.code_diff ? [h("h2", {}, "Uncommitted changes"), h("pre", { id: "code-diff" }, doc.code_diff)] : null,
    h("h2", {}, "Config"),
    h("pre", { id: "config" }, JSON.stringify(r.config || {}, null, 2)),
  ]);
  const console_ = main.querySelector("#console");
  if (console_) console_.scrollTop = console_.scrollHeight; // its end is what matters
}

function flatten(node, prefix = "", out = Object.create(null)) {
  if (node === null || typeof node !== "object" || Array.isArray(node)) {
    out[prefix.replace(/\.$/, "")] = node;
    return out;
  }
  for (const [k, v] of Object.entries(node)) {
    if (v && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length) flatten(v, `${prefix}${k}.`, out);
    else out[`${prefix}${k}`] = v;
  }
  return out;
}

async function comparePage(main, [ids]) {
  const runIds = ids.split(",").filter(Boolean);
  const docs = await Promise.all(runIds.map((id) => NK.load("run", { id })));
  const configs = docs.map((d) => flatten(d.run.config || {}));
  const keys = [...new Set(configs.flatMap((c) => Object.keys(c)))].sort();
  const showAll = h("input", { type: "checkbox", id: "show-all" });
  const rows = keys.map((key) => {
    const values = configs.map((c) => (Object.hasOwn(c, key) ? fmtValue(c[key]) : "<absent>"));
    const differs = new Set(values).size > 1;
    return h("tr", { class: differs ? "diff" : null, data: { key, differs } },
      h("td", { class: "mono" }, key), values.map((v) => h("td", { class: "mono" }, v)));
  });
  const sync = () => { for (const row of rows) row.hidden = !showAll.checked && row.dataset.differs !== "true"; };
  showAll.addEventListener("change", sync);
  sync();
  const metricNames = [...new Set(docs.flatMap((d) => [...Object.keys(d.returned || {}), ...Object.keys(d.logged.last || {})]))].sort();
  const curveNames = [...new Set(docs.flatMap((d) => Object.keys(d.curves)))].sort();
  append(main, [
    h("h1", {}, `Compare ${runIds.length} runs`),
    table(["key", ...runIds.map((id) => ({ label: runLink(id) }))], [
      h("tr", {}, h("td", {}, "status"), docs.map((d) => h("td", {}, status(d.run.status)))),
      h("tr", {}, h("td", {}, "recipe"), docs.map((d) => h("td", {}, d.run.recipe || "-"))),
      ...metricNames.map((name) => h("tr", {}, h("td", {}, `metric ${name}`),
        docs.map((d) => h("td", { class: "num" }, fmtNumber(own(d.logged.last, name) ?? own(d.returned, name)))))),
    ], { id: "compare-metrics" }),
    h("h2", {}, "Config"),
    h("label", { class: "toolbar" }, showAll, "Show keys that are the same"),
    table(["key", ...runIds], rows, { id: "compare-config" }),
    rows.every((r) => r.dataset.differs !== "true") ? h("p", { class: "muted" }, "The configs are the same.") : null,
    h("h2", {}, "Curves"),
    curveNames.length
      ? h("div", { class: "charts", id: "curves" }, curveNames.map((name) => NKCharts.lineChart(name,
        docs.filter((d) => own(d.curves, name)).map((d) => ({ label: d.run.run_id, data: d.curves[name].data, points: d.curves[name].points })))))
      : h("p", { class: "muted" }, "No metrics logged."),
  ]);
}

async function lineagePage(main, [uri], params) {
  await drawLineage(main, { uri }, params, (depth) => link.lineage(uri, depth),
    h("a", { href: link.version(uri) }, "Open the version"), uri);
}

async function runLineagePage(main, [id], params) {
  await drawLineage(main, { run: id }, params, (depth) => link.runLineage(id, depth),
    h("a", { href: link.run(id) }, "Open the run"), `run ${id}`);
}

async function drawLineage(main, root, params, linkAt, back, title) {
  const doc = await NK.load("lineage", { ...root, depth: params.depth || "2" });
  const select = h("select", { id: "depth", onchange: () => { location.hash = linkAt(select.value); } },
    doc.depths.map((d) => h("option", { value: d, selected: d === doc.depth }, d === "all" ? "all hops" : `${d} hop${d === "1" ? "" : "s"}`)));
  append(main, [
    h("h1", {}, `Lineage of ${title}`),
    h("div", { class: "toolbar" }, h("label", {}, "Depth ", select),
      h("span", { class: "muted", id: "graph-count" }, `${doc.nodes} nodes, ${doc.edges} edges`), back),
  ]);
  if (doc.too_large) {
    append(main, [h("div", { class: "box-error" }, doc.too_large)]);
    return;
  }
  const wrap = h("div", { class: "graph-wrap", id: "graph" });
  append(main, [wrap, h("p", { class: "muted" }, "Drag to pan, scroll to zoom, click a node to open it. Data flows left to right.")]);
  NKGraph.draw(wrap, doc.layout, (node) => {
    if (node.kind === "run") location.hash = link.run(node.run_id);
    else if (!node.missing) location.hash = link.version(node.id);
  });
}

// -- routing -----------------------------------------------------------------------------
const ROUTES = {
  artifacts: artifactsPage,
  artifact: artifactPage,
  version: versionPage,
  runs: runsPage,
  run: runPage,
  compare: comparePage,
  lineage: lineagePage,
  "run-lineage": runLineagePage,
};

let rendering = 0;

async function render() {
  const token = ++rendering;
  const main = h("main", { id: "main" });
  document.getElementById("main").replaceWith(main);
  try {
    const [path, query] = (location.hash.replace(/^#\/?/, "") || "artifacts").split("?");
    const [page, ...rest] = path.split("/");
    const args = rest.map((p) => decodeURIComponent(p));
    const params = Object.fromEntries(new URLSearchParams(query || ""));
    const handler = ROUTES[page] || artifactsPage;
    const runs = page === "runs" || page === "run" || page === "compare" || page === "run-lineage";
    for (const a of document.querySelectorAll("header nav a")) {
      a.classList.toggle("active", a.id === (runs ? "nav-runs" : "nav-artifacts"));
    }
    await handler(main, args, params);
  } catch (err) {
    main.replaceChildren(h("h1", {}, "Cannot show this page"), h("div", { class: "box-error", id: "page-error" }, err.message));
  }
  if (token !== rendering) return; // a newer page replaced this one meanwhile
  document.title = `${main.querySelector("h1")?.textContent || "nemotron-kit"} · nemotron-kit`;
  main.dataset.ready = "true";
}

async function start() {
  try {
    const overview = await NK.load("overview");
    document.getElementById("registry-root").textContent = overview.lineage_of
      ? `lineage of ${overview.lineage_of} from ${overview.root}` : `${overview.root} · project ${overview.project}`;
  } catch (err) {
    document.getElementById("registry-root").textContent = err.message;
  }
  window.addEventListener("hashchange", render);
  await render();
}

document.addEventListener("DOMContentLoaded", start);
