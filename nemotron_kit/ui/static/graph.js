// The lineage graph: boxes placed by the server's layout (nemotron_kit.lineage), drawn as SVG,
// with pan (drag), zoom (wheel, buttons) and a click on a box to open it.
"use strict";

const NKGraph = (() => {

  function edgePath(points) {
    const [first, ...rest] = points;
    if (rest.length === 1) {
      const [[x1, y1], [x2, y2]] = [first, rest[0]];
      const mid = (x1 + x2) / 2;
      return `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`;
    }
    return `M${first[0]},${first[1]} ` + rest.map(([x, y]) => `L${x},${y}`).join(" ");
  }

  function nodeClasses(node) {
    const classes = ["node", node.kind];
    if (node.root) classes.push("root");
    if (node.missing) classes.push("missing");
    if (node.deleted) classes.push("deleted");
    if (node.kind === "run" && node.status) classes.push(`status-${node.status}`);
    return classes.join(" ");
  }

  function draw(container, layout, onOpen) {
    const svg = svgEl("svg", { role: "img", "aria-label": "lineage graph" });
    const defs = svgEl("defs");
    const marker = svgEl("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" });
    marker.append(svgEl("path", { d: "M0,0 L10,5 L0,10 z", fill: "#8c959f" }));
    defs.append(marker);
    const view = svgEl("g", { class: "viewport" });
    svg.append(defs, view);
    for (const edge of layout.edges) {
      view.append(svgEl("path", { class: `edge ${edge.kind}`, d: edgePath(edge.points), "marker-end": "url(#arrow)", "data-source": edge.source, "data-target": edge.target }));
    }
    for (const node of layout.nodes) {
      const g = svgEl("g", { class: nodeClasses(node), transform: `translate(${node.x},${node.y})`, "data-id": node.id, tabindex: 0 });
      g.append(svgEl("title", {}, [node.id, ...(node.label || [])].join("\n")));
      g.append(svgEl("rect", { width: node.w, height: node.h }));
      (node.label || [node.id]).forEach((line, i) => {
        g.append(svgEl("text", { x: 8, y: 17 + i * 15, "font-weight": i === 0 ? 600 : 400 }, line));
      });
      g.addEventListener("click", () => { if (!moved) onOpen(node); });
      g.addEventListener("keydown", (ev) => { if (ev.key === "Enter") onOpen(node); });
      view.append(g);
    }
    const controls = h("div", { class: "graph-controls" },
      h("button", { type: "button", title: "Zoom in", onclick: () => zoomAt(1.25) }, "+"),
      h("button", { type: "button", title: "Zoom out", onclick: () => zoomAt(0.8) }, "−"),
      h("button", { type: "button", title: "Fit the graph", id: "graph-fit", onclick: () => fit() }, "Fit"));
    container.append(svg, controls);

    let scale = 1;
    let tx = 0;
    let ty = 0;
    let moved = false;
    const apply = () => view.setAttribute("transform", `translate(${tx},${ty}) scale(${scale})`);

    function fit() {
      const box = svg.getBoundingClientRect();
      const width = Math.max(layout.width, 1);
      const height = Math.max(layout.height, 1);
      scale = Math.min(box.width / (width + 40), box.height / (height + 40), 1.5);
      tx = (box.width - width * scale) / 2;
      ty = (box.height - height * scale) / 2;
      apply();
    }

    function zoomAt(factor, cx, cy) {
      const box = svg.getBoundingClientRect();
      const x = cx === undefined ? box.width / 2 : cx;
      const y = cy === undefined ? box.height / 2 : cy;
      const next = Math.min(Math.max(scale * factor, 0.05), 6);
      tx = x - ((x - tx) * next) / scale;
      ty = y - ((y - ty) * next) / scale;
      scale = next;
      apply();
    }

    svg.addEventListener("wheel", (ev) => {
      ev.preventDefault();
      const box = svg.getBoundingClientRect();
      zoomAt(ev.deltaY < 0 ? 1.15 : 1 / 1.15, ev.clientX - box.left, ev.clientY - box.top);
    }, { passive: false });

    let drag = null;
    const end = () => { drag = null; svg.classList.remove("dragging"); };
    svg.addEventListener("pointerdown", (ev) => {
      drag = { x: ev.clientX, y: ev.clientY, tx, ty };
      moved = false;
    });
    svg.addEventListener("pointermove", (ev) => {
      if (!drag) return;
      if (ev.buttons === 0) { end(); return; } // released outside before it became a drag
      const dx = ev.clientX - drag.x;
      const dy = ev.clientY - drag.y;
      if (!moved && Math.hypot(dx, dy) < 4) return;
      if (!moved) { moved = true; svg.setPointerCapture(ev.pointerId); svg.classList.add("dragging"); }
      tx = drag.tx + dx;
      ty = drag.ty + dy;
      apply();
    });
    svg.addEventListener("pointerup", end);
    svg.addEventListener("pointercancel", end);
    fit();
    return { fit, zoomAt };
  }

  return { draw };
})();
