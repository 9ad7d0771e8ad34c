// Line charts of logged metrics as SVG: one chart per metric, one line per run.
"use strict";

const NKCharts = (() => {
  const COLORS = ["#0969da", "#cf222e", "#1a7f37", "#8250df", "#bc4c00", "#1b7c83", "#bf3989", "#6e7781"];
  const W = 480;
  const H = 240;
  const PAD = { left: 56, right: 12, top: 10, bottom: 28 };

  function fmt(v) {
    const a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(2);
    return String(Number(v.toPrecision(4)));
  }

  function ticks(lo, hi, n) {
    if (lo === hi) return [lo];
    return Array.from({ length: n + 1 }, (_, i) => lo + ((hi - lo) * i) / n);
  }

  // series: [{label, data: [[step, value], ...], points: how many were logged}]
  function lineChart(title, series) {
    const all = series.flatMap((s) => s.data);
    let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
    for (const [x, y] of all) {
      x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
    }
    if (x0 === x1) { x0 -= 1; x1 += 1; }
    if (y0 === y1) { const d = Math.abs(y0) * 0.05 || 1; y0 -= d; y1 += d; }
    const sx = (x) => PAD.left + ((x - x0) / (x1 - x0)) * (W - PAD.left - PAD.right);
    const sy = (y) => H - PAD.bottom - ((y - y0) / (y1 - y0)) * (H - PAD.top - PAD.bottom);
    const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": `${title} by step` });
    for (const t of ticks(y0, y1, 4)) {
      svg.append(svgEl("line", { class: "grid", x1: PAD.left, x2: W - PAD.right, y1: sy(t), y2: sy(t) }));
      svg.append(svgEl("text", { x: PAD.left - 6, y: sy(t) + 3, "text-anchor": "end" }, fmt(t)));
    }
    for (const t of ticks(x0, x1, 4)) {
      svg.append(svgEl("text", { x: sx(t), y: H - PAD.bottom + 14, "text-anchor": "middle" }, fmt(x1 - x0 >= 8 ? Math.round(t) : Math.round(t * 100) / 100)));
    }
    svg.append(svgEl("line", { class: "axis", x1: PAD.left, x2: PAD.left, y1: PAD.top, y2: H - PAD.bottom }));
    svg.append(svgEl("line", { class: "axis", x1: PAD.left, x2: W - PAD.right, y1: H - PAD.bottom, y2: H - PAD.bottom }));
    svg.append(svgEl("text", { x: W - PAD.right, y: H - 2, "text-anchor": "end" }, "step"));
    series.forEach((s, i) => {
      const color = COLORS[i % COLORS.length];
      const points = s.data.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(" ");
      const line = svgEl("polyline", { class: "series", points, stroke: color, "data-run": s.label, "data-points": s.data.length, "data-logged": s.points });
      svg.append(line);
      if (s.data.length === 1) svg.append(svgEl("circle", { cx: sx(s.data[0][0]), cy: sy(s.data[0][1]), r: 3, fill: color }));
    });
    const readout = svgEl("text", { class: "readout", x: PAD.left + 6, y: PAD.top + 10 });
    const cursor = svgEl("line", { class: "grid", y1: PAD.top, y2: H - PAD.bottom, visibility: "hidden" });
    svg.append(cursor, readout);
    svg.addEventListener("mousemove", (ev) => {
      const box = svg.getBoundingClientRect();
      const x = x0 + ((((ev.clientX - box.left) / box.width) * W - PAD.left) / (W - PAD.left - PAD.right)) * (x1 - x0);
      const parts = series.map((s) => {
        let best = null;
        for (const p of s.data) if (!best || Math.abs(p[0] - x) < Math.abs(best[0] - x)) best = p;
        return best;
      });
      const first = parts.find(Boolean);
      if (!first) return;
      cursor.setAttribute("x1", sx(first[0]));
      cursor.setAttribute("x2", sx(first[0]));
      cursor.setAttribute("visibility", "visible");
      readout.textContent = `step ${first[0]}: ` + parts.map((p) => (p ? fmt(p[1]) : "-")).join(" · ");
    });
    svg.addEventListener("mouseleave", () => { cursor.setAttribute("visibility", "hidden"); readout.textContent = ""; });
    const legend = series.length > 1
      ? h("div", { class: "legend" }, series.map((s, i) => h("span", {}, h("i", { class: `c${i % COLORS.length}` }), s.label)))
      : null;
    const thinned = series.some((s) => s.points > s.data.length);
    return h("div", { class: "chart", data: { metric: title } },
      h("h3", {}, title, thinned ? h("span", { class: "muted" }, " (thinned for drawing)") : null), svg, legend);
  }

  return { lineChart };
})();
