// Jobs: a live table with filters by status and metadata (metadata[k]=v on /v1/fine_tuning/jobs).
import { api, listAll } from "./api.js";
import { poll } from "./app.js";
import { duration, field, h, table, when } from "./dom.js";

const STATUSES = ["", "validating_files", "queued", "running", "paused", "succeeded", "failed", "cancelled"];

const ACTIVE = new Set(["validating_files", "queued", "running"]);

export const method = (job) => job.method?.type || "supervised";

async function progress(job) {
  if (job.status === "succeeded") return "100%";
  if (job.status !== "running" && job.status !== "paused") return "—";
  const events = await api(`/fine_tuning/jobs/${job.id}/events?limit=20`);
  const m = events.data.find((e) => e.type === "metrics" && e.data?.total_steps);
  return m ? `${Math.round((100 * m.data.step) / m.data.total_steps)}% (step ${m.data.step}/${m.data.total_steps})` : "—";
}

export async function jobsPage(root) {
  const status = h("select", { id: "status-filter" }, STATUSES.map((s) => h("option", { value: s }, s || "any")));
  const meta = h("input", { id: "meta-filter", placeholder: "key=value", size: 16 });
  const holder = h("div", { "aria-live": "polite" });
  const filters = h("form", { class: "row", onsubmit: (e) => e.preventDefault(), oninput: () => refresh() },
    field("Status", status), field("Metadata", meta));
  root.append(h("h1", {}, "Fine-tuning jobs"), filters, holder);
  let latest = [], drawn = null;
  const draw = async () => {
    const cells = [];
    for (const job of latest.filter((j) => !status.value || j.status === status.value)) {
      cells.push([job.id, job.status, job.model, method(job), job.user_provided_suffix || "—", await progress(job),
        when(job.created_at), duration(job.created_at, job.finished_at)]);
    }
    if (JSON.stringify(cells) === drawn) return; // nothing changed: keep the DOM (and the reader's place)
    drawn = JSON.stringify(cells);
    const rows = cells.map(([id, st, ...rest]) => [h("a", { href: `#/jobs/${id}` }, id), h("span", { class: `status ${st}` }, st), ...rest]);
    holder.replaceChildren(rows.length
      ? table(`${rows.length} job(s)`, ["Job", "Status", "Model", "Method", "Suffix", "Progress", "Created", "Duration"], rows)
      : h("p", {}, "No jobs match. ", h("a", { href: "#/new" }, "Create one.")));
  };
  const query = () => {
    const [k, ...v] = meta.value.split("=");
    return k.trim() && v.length ? `?metadata[${encodeURIComponent(k.trim())}]=${encodeURIComponent(v.join("=").trim())}` : "";
  };
  const refresh = async () => {
    latest = await listAll(`/fine_tuning/jobs${query()}`, 500);
    await draw();
    return latest.some((j) => ACTIVE.has(j.status)) ? 3000 : 15000; // slower while nothing can change
  };
  poll(refresh, 3000);
}
