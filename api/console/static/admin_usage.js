// Admin › Usage: tokens and requests per day for the last days, one series per project
// (GET /v1/organization/usage/completions, grouped by project).
import { api } from "./api.js";
import { poll } from "./app.js";
import { legend, lineChart } from "./chart.js";
import { field, h, table } from "./dom.js";
import { adminTabs, color } from "./admin.js";

const DAY = 86400;
const date = (t) => new Date(t * 1000).toISOString().slice(0, 10);

/** The usage buckets of the last ``days`` days (today included), by project. */
async function usageByProject(days) {
  const start = Math.floor(Date.now() / 1000 / DAY) * DAY - (days - 1) * DAY;
  const page = await api(`/organization/usage/completions?start_time=${start}&bucket_width=1d&limit=${days}&group_by[]=project_id`);
  return page.data;
}

/** One chart: ``value(result)`` per day, a series per project (x: the day's index, 0 = the first day). */
function perDay(title, buckets, value) {
  const projects = [...new Set(buckets.flatMap((b) => b.results.map((r) => r.project_id)))].sort();
  const series = projects.map((p, i) => ({ name: p, color: color(i), points: buckets.map((b, day) =>
    [day, b.results.filter((r) => r.project_id === p).reduce((n, r) => n + value(r), 0)]) }));
  return h("figure", { "data-chart": title }, h("figcaption", {}, `${title} (x: day ${date(buckets[0].start_time)} = 0)`),
    legend(series), lineChart(title, series, [], "day"));
}

export async function usagePage(root) {
  const days = h("select", { id: "usage-days" }, [7, 14, 31].map((n) => h("option", { value: n }, `${n} days`)));
  const holder = h("div");
  root.append(h("h1", {}, "Usage"), adminTabs("#/admin/usage"),
    h("form", { class: "row", onsubmit: (e) => e.preventDefault(), oninput: () => refresh() }, field("Period", days)),
    holder);
  const refresh = async () => {
    const buckets = await usageByProject(Number(days.value));
    const rows = buckets.flatMap((b) => b.results.map((r) => [date(b.start_time), r.project_id, String(r.num_model_requests),
      String(r.input_tokens), String(r.output_tokens)]));
    holder.replaceChildren(
      perDay("Tokens per day", buckets, (r) => r.input_tokens + r.output_tokens),
      perDay("Requests per day", buckets, (r) => r.num_model_requests),
      table(`chat and completions usage, ${rows.length} project-day(s)`, ["Day (UTC)", "Project", "Requests", "Input tokens", "Output tokens"], rows));
  };
  await poll(refresh, 30000);
}
