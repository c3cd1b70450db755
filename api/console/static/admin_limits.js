// Admin › Limits: a project's fine-tuning quotas (POST /v1/organization/projects/{id}) and its
// per-model chat/completions rate limits (…/rate_limits/{id}), viewed and edited.
import { api, listAll, session } from "./api.js";
import { clearError, showError } from "./app.js";
import { field, h, table } from "./dom.js";
import { activeProjects, adminTabs } from "./admin.js";

const QUOTAS = [
  ["max_running_jobs", "Jobs running at once", "1"],
  ["max_queued_jobs", "Jobs waiting at once", "1"],
  ["max_gpu_hours_per_month", "GPU-hours per month", "any"],
];

const numberInput = (id, value, step, label) => h("input", { id, type: "number", min: 0, step, value: value ?? "",
  placeholder: "unlimited", inputmode: "decimal", "aria-label": label });

function quotaForm(project, saved) {
  const inputs = QUOTAS.map(([key, label, step]) => [key, numberInput(`quota-${key}`, project.quotas?.[key], step)]);
  const submit = async (e) => {
    e.preventDefault();
    const quotas = Object.fromEntries(inputs.map(([key, input]) => [key, input.value === "" ? null : Number(input.value)]));
    try {
      const now = await api(`/organization/projects/${project.id}`, { method: "POST", body: { quotas } });
      for (const [key, input] of inputs) input.value = now.quotas?.[key] ?? "";
      clearError();
      saved(`Saved the quotas of ${project.id}.`);
    } catch (err) { showError(err); }
  };
  return h("form", { onsubmit: submit, id: "quota-form" },
    h("div", { class: "row" }, inputs.map(([key, input], i) => field(QUOTAS[i][1], input))),
    h("p", { class: "muted" }, "Empty = unlimited."),
    h("div", {}, h("button", { type: "submit" }, "Save quotas")));
}

function rateLimitTable(projectId, limits, saved) {
  return table(`${limits.length} model(s)`, ["Model", "Requests per minute", "Tokens per minute", ""], limits.map((rl) => {
    const rpm = numberInput(`rpm-${rl.model}`, rl.max_requests_per_1_minute, 1, `Requests per minute for ${rl.model}`);
    const tpm = numberInput(`tpm-${rl.model}`, rl.max_tokens_per_1_minute, 1, `Tokens per minute for ${rl.model}`);
    rpm.min = tpm.min = 1;
    const save = async () => {
      try {
        const now = await api(`/organization/projects/${projectId}/rate_limits/${encodeURIComponent(rl.id)}`, { method: "POST",
          body: { max_requests_per_1_minute: Number(rpm.value), max_tokens_per_1_minute: Number(tpm.value) } });
        rpm.value = now.max_requests_per_1_minute; tpm.value = now.max_tokens_per_1_minute;
        clearError();
        saved(`Saved the limits of ${rl.model} for ${projectId}.`);
      } catch (err) { showError(err); }
    };
    return [rl.model, rpm, tpm, h("button", { type: "button", class: "secondary", onclick: save, "aria-label": `Save limits of ${rl.model}` }, "Save")];
  }));
}

export async function limitsPage(root) {
  const projects = await activeProjects();
  const pick = h("select", { id: "limits-project" }, projects.map((p) => h("option", { value: p.id }, p.name && p.name !== p.id ? `${p.name} (${p.id})` : p.id)));
  if (projects.some((p) => p.id === session.project())) pick.value = session.project();
  const done = h("p", { id: "limits-saved", role: "status", class: "ok" });
  const holder = h("div");
  root.append(h("h1", {}, "Limits"), adminTabs("#/admin/limits"),
    h("form", { class: "row", onsubmit: (e) => e.preventDefault(), oninput: () => draw().catch(showError) }, field("Project", pick)),
    done, holder);
  // a save shows what the API answered in the same inputs (no redraw under the user's cursor)
  const saved = (text) => { done.textContent = text; };
  const draw = async () => {
    if (!pick.value) { holder.replaceChildren(h("p", {}, "No active project.")); return; }
    const [project, limits] = await Promise.all([api(`/organization/projects/${pick.value}`),
      listAll(`/organization/projects/${pick.value}/rate_limits`, 500)]);
    holder.replaceChildren(
      h("h2", {}, `Fine-tuning quotas of ${project.id}`), quotaForm(project, saved),
      h("h2", {}, "Chat and completions rate limits"),
      h("p", { class: "muted" }, "Per model and minute; fine-tuned models count against their base model."),
      rateLimitTable(project.id, limits, saved));
  };
  await draw();
}
