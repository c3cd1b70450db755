// Tiny DOM helpers shared by the pages.

/** h("a", {href: "#/jobs"}, "Jobs"): an element with attributes (on* are listeners) and children. */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) node.append(c);
  return node;
}

export const when = (t) => (t ? new Date(t * 1000).toLocaleString() : "—");

export function duration(start, end) {
  if (!start) return "—";
  const s = Math.max(0, Math.round((end || Date.now() / 1000) - start));
  return s < 60 ? `${s} s` : s < 3600 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${(s / 3600).toFixed(1)} h`;
}

export const bytes = (n) => (n < 1024 ? `${n} B` : n < 1048576 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1048576).toFixed(1)} MiB`);

/** A scrollable table: ``columns`` are header names, ``rows`` arrays of cells. */
export function table(caption, columns, rows) {
  return h("div", { class: "table-wrap" }, h("table", {},
    h("caption", { class: "muted", style: "text-align:left" }, caption),
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c)))))));
}

/** A labelled form control: label text and the control inside one <label>. */
export const field = (text, control) => h("label", {}, text, control);
