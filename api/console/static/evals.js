// Evals: the project's evals, each eval's runs with pass rates per criterion, output items, two runs compared.
import { api, listAll } from "./api.js";
import { poll } from "./app.js";
import { field, h, table, when } from "./dom.js";

const rate = (c) => (c.passed + c.failed ? `${((100 * c.passed) / (c.passed + c.failed)).toFixed(1)}% (${c.passed}/${c.passed + c.failed})` : "—");
const criteria = (run) => Object.fromEntries((run.per_testing_criteria_results || []).map((c) => [c.testing_criteria, rate(c)]));

async function evalDetail(root, id) {
  const ev = await api(`/evals/${id}`);
  const runsHolder = h("div"), items = h("div"), compare = h("div");
  root.append(h("p", {}, h("a", { href: "#/evals" }, "← all evals")), h("h1", {}, `Eval ${ev.name || ev.id}`),
    h("p", { class: "muted" }, `${ev.id} · ${(ev.testing_criteria || []).length} criteria`), runsHolder,
    h("h2", {}, "Compare two runs"), compare, items);
  let runs = [];
  const pickA = h("select", { id: "run-a" }), pickB = h("select", { id: "run-b" });
  const drawCompare = () => {
    const a = runs.find((r) => r.id === pickA.value), b = runs.find((r) => r.id === pickB.value);
    if (!a || !b) return;
    const ca = criteria(a), cb = criteria(b);
    const names = [...new Set([...Object.keys(ca), ...Object.keys(cb)])];
    compare.querySelector(".cmp")?.remove();
    compare.append(h("div", { class: "cmp" }, table("per criterion", ["Criterion", a.name || a.id, b.name || b.id],
      names.map((n) => [n, ca[n] || "—", cb[n] || "—"]))));
  };
  compare.append(h("form", { class: "row", oninput: drawCompare, onsubmit: (e) => e.preventDefault() },
    field("Run A", pickA), field("Run B", pickB)));
  const showItems = async (run) => {
    const out = await listAll(`/evals/${id}/runs/${run.id}/output_items`, 200);
    items.replaceChildren(h("h2", {}, `Output items of ${run.name || run.id}`), table(`${out.length} item(s)`, ["Item", "Status", "Output", "Grades"],
      out.map((o) => [o.id, o.status, (o.sample?.output || []).map((m) => m.content).join(" ").slice(0, 120),
        (o.results || []).map((r) => `${r.name}: ${r.passed ? "pass" : "fail"} (${r.score})`).join("; ")])));
  };
  await poll(async () => {
    runs = await listAll(`/evals/${id}/runs`, 200);
    const opts = () => runs.map((r) => h("option", { value: r.id }, r.name || r.id));
    const [a, b] = [pickA.value, pickB.value];
    pickA.replaceChildren(...opts()); pickB.replaceChildren(...opts());
    pickA.value = a || runs[0]?.id || ""; pickB.value = b || runs[1]?.id || runs[0]?.id || "";
    drawCompare();
    const names = [...new Set(runs.flatMap((r) => Object.keys(criteria(r))))];
    runsHolder.replaceChildren(h("h2", {}, "Runs"), table(`${runs.length} run(s)`, ["Run", "Status", "Model", "Created", ...names, ""],
      runs.map((r) => [r.name || r.id, r.status, r.model || "—", when(r.created_at), ...names.map((n) => criteria(r)[n] || "—"),
        h("button", { type: "button", class: "secondary", onclick: () => showItems(r) }, "Items")])));
  }, 4000);
}

export async function evalsPage(root, id) {
  if (id) return evalDetail(root, id);
  const holder = h("div");
  root.append(h("h1", {}, "Evals"), holder);
  await poll(async () => {
    const evals = await listAll("/evals", 200);
    holder.replaceChildren(evals.length ? table(`${evals.length} eval(s)`, ["Eval", "Name", "Criteria", "Created"],
      evals.map((e) => [h("a", { href: `#/evals/${e.id}` }, e.id), e.name || "—", String((e.testing_criteria || []).length), when(e.created_at)]))
      : h("p", {}, "No evals yet: create one with the API (POST /v1/evals)."));
  }, 5000);
}
