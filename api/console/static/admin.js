// Admin (admin keys only): projects with their keys, admin keys, the audit log and a chart of it.
// Usage and limits have their own pages (admin_usage.js, admin_limits.js); the header's project
// switcher (app.js) makes every other page act in the chosen project.
import { api, listAll, session } from "./api.js";
import { poll, showError } from "./app.js";
import { legend, lineChart } from "./chart.js";
import { field, h, table, when } from "./dom.js";

const COLORS = ["#0b57d0", "#e8710a", "#1a7f37", "#a142f4", "#b3261e", "#57606a"];
export const color = (i) => COLORS[i % COLORS.length];

/** The admin pages' own menu, ``current`` marked. */
export function adminTabs(current) {
  const tabs = [["#/admin", "Overview"], ["#/admin/usage", "Usage"], ["#/admin/limits", "Limits"]];
  return h("nav", { "aria-label": "Admin", class: "row tabs" }, tabs.map(([href, text]) =>
    h("a", { href, "aria-current": href === current ? "page" : null }, text)));
}

/** Active projects, oldest first (the admin API's order). */
export const activeProjects = async () => listAll("/organization/projects", 500);

/** Switch the console to project ``id`` ("" = the key's own) and say so. */
export function switchProject(id) {
  session.switchProject(id);
  window.dispatchEvent(new Event("openft:project"));
}

/** Audit events per day, one series per event type (jobs created, cancelled, models deleted …). */
function activityChart(events) {
  const day = (t) => Math.floor(t / 86400);
  const types = [...new Set(events.map((e) => e.type))].sort();
  const series = types.map((type, i) => {
    const counts = new Map();
    for (const e of events.filter((x) => x.type === type)) counts.set(day(e.effective_at), (counts.get(day(e.effective_at)) || 0) + 1);
    return { name: type, color: color(i), points: [...counts].sort((a, b) => a[0] - b[0]) };
  });
  return h("figure", { "data-chart": "activity" }, h("figcaption", {}, "Audit events per day (x: days since 1970-01-01)"),
    legend(series), lineChart("Audit events per day", series, [], "day"));
}

export async function adminPage(root) {
  const projects = h("div"), keys = h("div"), audit = h("div");
  const type = h("input", { id: "audit-type", placeholder: "e.g. fine_tuning.job.created" });
  root.append(h("h1", {}, "Admin"), adminTabs("#/admin"), projects, keys,
    h("h2", {}, "Audit log"), h("form", { class: "row", onsubmit: (e) => { e.preventDefault(); refreshAudit().catch(showError); } },
      field("Event type", type), h("button", { type: "submit" }, "Filter")), audit);
  const showKeys = async (p) => {
    const list = await listAll(`/organization/projects/${p.id}/api_keys`, 500);
    keys.replaceChildren(h("h2", {}, `API keys of ${p.name || p.id}`), table(`${list.length} key(s)`, ["Key", "Name", "Value", "Created", "Last used"],
      list.map((k) => [k.id, k.name || "—", k.redacted_value, when(k.created_at), when(k.last_used_at)])));
  };
  const refreshAudit = async () => {
    const q = type.value.trim() ? `?event_types[]=${encodeURIComponent(type.value.trim())}` : "";
    const events = await listAll(`/organization/audit_logs${q}`, 1000);
    audit.replaceChildren(activityChart(events), table(`${events.length} event(s)`, ["When", "Type", "Project", "Actor"],
      events.slice(0, 200).map((e) => [when(e.effective_at), e.type, e.project?.id || "—",
        e.actor?.api_key?.id || e.actor?.type || "—"])));
  };
  await poll(async () => {
    const [list, admins] = await Promise.all([listAll("/organization/projects?include_archived=true", 500),
      listAll("/organization/admin_api_keys", 500)]);
    const current = session.project();
    projects.replaceChildren(h("h2", {}, "Projects"), table(`${list.length} project(s)`, ["Project", "Name", "Status", "Created", ""],
      list.map((p) => [p.id, p.name || "—", p.status, when(p.created_at), h("span", { class: "row" },
        h("button", { type: "button", class: "secondary", "aria-label": `Keys of ${p.id}`, onclick: () => showKeys(p).catch(showError) }, "Keys"),
        p.status === "active" && h("button", { type: "button", class: "secondary", "aria-label": `Work in ${p.id}`,
          disabled: p.id === current, onclick: () => switchProject(p.id) }, p.id === current ? "Current" : "Work in"))])),
      h("h2", {}, "Admin keys"), table(`${admins.length} admin key(s)`, ["Key", "Name", "Value", "Created"],
        admins.map((k) => [k.id, k.name || "—", k.redacted_value, when(k.created_at)])));
    if (!audit.childElementCount) await refreshAudit();
  }, 10000);
}

/** Whether the signed-in key may use the admin routes (a project key gets 403 there). */
export async function isAdmin() {
  try { await api("/organization/projects?limit=1"); return true; } catch { return false; }
}
