// Line charts drawn as SVG: no library, every point carries its data (data-step, data-value).
const NS = "http://www.w3.org/2000/svg";
const W = 720, H = 260, PAD = { l: 52, r: 14, t: 12, b: 30 };
// Above this many points a series marks every k-th one (and its last): the line keeps them all,
// and a long job's page stays light to redraw.
const MAX_MARKS = 240;

function el(name, attrs, text) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

const fmt = (v) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3));

/**
 * An SVG chart of ``series`` ([{name, color, points: [[step, value], ...]}]) with dashed
 * vertical ``markers`` (checkpoint steps); ``xLabel`` names the x axis. ``title`` names it for screen readers.
 * Each point gets a circle with ``data-step`` and ``data-value`` (every k-th point past ``MAX_MARKS``).
 */
export function lineChart(title, series, markers = [], xLabel = "step") {
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": title });
  svg.append(el("title", {}, title));
  const all = series.flatMap((s) => s.points);
  if (!all.length) {
    svg.append(el("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, "no metrics yet"));
    return svg;
  }
  const xs = all.map((p) => p[0]).concat(markers), ys = all.map((p) => p[1]);
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)], [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (x0 === x1) { x0 -= 1; x1 += 1; }
  if (y0 === y1) { y0 -= 0.5; y1 += 0.5; }
  const sx = (x) => PAD.l + ((x - x0) / (x1 - x0)) * (W - PAD.l - PAD.r);
  const sy = (y) => H - PAD.b - ((y - y0) / (y1 - y0)) * (H - PAD.t - PAD.b);
  for (let i = 0; i <= 4; i++) {
    const y = y0 + ((y1 - y0) * i) / 4;
    svg.append(el("line", { x1: PAD.l, x2: W - PAD.r, y1: sy(y), y2: sy(y), stroke: "#eaeef2" }));
    svg.append(el("text", { x: PAD.l - 6, y: sy(y) + 4, "text-anchor": "end" }, fmt(y)));
  }
  svg.append(el("text", { x: PAD.l, y: H - 8 }, `${xLabel} ${x0}`));
  svg.append(el("text", { x: W - PAD.r, y: H - 8, "text-anchor": "end" }, `${xLabel} ${x1}`));
  for (const step of markers) {
    const g = el("line", { x1: sx(step), x2: sx(step), y1: PAD.t, y2: H - PAD.b, stroke: "#8c959f",
      "stroke-dasharray": "4 3", class: "checkpoint", "data-step": step });
    g.append(el("title", {}, `checkpoint at step ${step}`));
    svg.append(g);
  }
  for (const s of series) {
    if (!s.points.length) continue;
    const g = el("g", { class: "series", "data-series": s.name });
    g.append(el("polyline", { fill: "none", stroke: s.color, "stroke-width": 2,
      points: s.points.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(" ") }));
    const stride = Math.ceil(s.points.length / MAX_MARKS);
    for (const [i, [x, y]] of s.points.entries()) {
      if (i % stride && i !== s.points.length - 1) continue;
      const c = el("circle", { cx: sx(x), cy: sy(y), r: 2.5, fill: s.color, "data-step": x, "data-value": y });
      c.append(el("title", {}, `${s.name} at step ${x}: ${y}`));
      g.append(c);
    }
    svg.append(g);
  }
  return svg;
}

/** A legend for ``series`` as HTML. */
export function legend(series) {
  const div = document.createElement("div");
  div.className = "legend";
  for (const s of series) {
    const span = document.createElement("span");
    span.style.setProperty("--c", s.color);
    span.textContent = s.name;
    div.append(span);
  }
  return div;
}
