// One job: timeline, live loss/accuracy/reward charts with checkpoint markers, events, actions.
import { api, download, listAll } from "./api.js";
import { poll, showError } from "./app.js";
import { legend, lineChart } from "./chart.js";
import { duration, h, table, when } from "./dom.js";
import { method } from "./jobs.js";

const CHARTS = [
  ["Loss", [["train_loss", "#0b57d0"], ["valid_loss", "#e8710a"], ["full_valid_loss", "#a142f4"]]],
  ["Token accuracy", [["train_mean_token_accuracy", "#0b57d0"], ["valid_mean_token_accuracy", "#e8710a"],
    ["full_valid_mean_token_accuracy", "#a142f4"]]],
  ["Reward", [["reward", "#1a7f37"], ["train_reward", "#1a7f37"], ["valid_reward", "#e8710a"]]],
];
const ACTIONS = { cancel: ["validating_files", "queued", "running", "paused"], pause: ["running", "queued"], resume: ["paused"] };

function hyperparameters(job) {
  const hp = job.method?.[method(job)]?.hyperparameters || job.hyperparameters || {};
  return h("dl", { class: "kv" }, Object.entries(hp).flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, String(v))]));
}

function charts(events, checkpoints) {
  const metrics = events.filter((e) => e.type === "metrics" && e.data).sort((a, b) => a.data.step - b.data.step);
  const marks = checkpoints.map((c) => c.step_number);
  const out = [];
  for (const [title, keys] of CHARTS) {
    const series = keys.map(([key, color]) => ({ name: key, color,
      points: metrics.filter((e) => typeof e.data[key] === "number").map((e) => [e.data.step, e.data[key]]) }))
      .filter((s) => s.points.length);
    if (!series.length && title !== "Loss") continue;
    out.push(h("figure", { "data-chart": title }, h("figcaption", {}, title), legend(series), lineChart(`${title} by step`, series, marks)));
  }
  return out;
}

export async function jobPage(root, id) {
  const head = h("div"), body = h("div", { "aria-live": "off" });
  root.append(h("p", {}, h("a", { href: "#/jobs" }, "← all jobs")), head, body);
  let events = new Map(), lastStatus = null;
  const act = (name) => async () => {
    if (name === "cancel" && !confirm(`Cancel ${id}?`)) return;
    try { await api(`/fine_tuning/jobs/${id}/${name}`, { method: "POST" }); await refresh(); } catch (err) { showError(err); }
  };
  const refresh = async (signal) => {
    const job = await api(`/fine_tuning/jobs/${id}`, { signal });
    const page = events.size ? (await api(`/fine_tuning/jobs/${id}/events?limit=100`, { signal })).data
      : await listAll(`/fine_tuning/jobs/${id}/events`);
    for (const e of page) events.set(e.id, e);
    const all = [...events.values()].sort((a, b) => a.created_at - b.created_at || (a.id < b.id ? -1 : 1));
    const checkpoints = await listAll(`/fine_tuning/jobs/${id}/checkpoints`);
    head.replaceChildren(...[
      h("h1", {}, `Job ${job.id}`),
      h("p", {}, "Status: ", h("span", { class: `status ${job.status}`, id: "job-status" }, job.status),
        ` · ${job.model} · ${method(job)} · created ${when(job.created_at)} · ${duration(job.created_at, job.finished_at)}`),
      job.error?.message ? h("p", { class: "bad", role: "status" }, `Error: ${job.error.message}`) : null,
      h("div", { class: "row" }, Object.entries(ACTIONS).map(([name, ok]) =>
        h("button", { type: "button", class: "secondary", id: `${name}-job`, disabled: !ok.includes(job.status), onclick: act(name) },
          name[0].toUpperCase() + name.slice(1))))].filter(Boolean));
    if (job.status === lastStatus && job.status !== "running" && body.childElementCount) return;
    lastStatus = job.status;
    const timeline = all.filter((e) => e.type !== "metrics");
    const model = job.fine_tuned_model;
    body.replaceChildren(
      h("h2", {}, "Curves"), ...charts(all, checkpoints),
      h("h2", {}, "Lineage"),
      h("dl", { class: "kv" },
        h("dt", {}, "Base model"), h("dd", {}, job.model),
        h("dt", {}, "Training file"), h("dd", {}, h("a", { href: `#/files?id=${job.training_file}` }, job.training_file)),
        h("dt", {}, "Validation file"), h("dd", {}, job.validation_file || "—"),
        h("dt", {}, "Fine-tuned model"), h("dd", {}, model || "—"),
        h("dt", {}, "Results file"), h("dd", {}, job.result_files?.length
          ? h("button", { type: "button", class: "secondary", onclick: () => download(`/files/${job.result_files[0]}/content`, "results.csv").catch(showError) }, "Download results.csv")
          : "—"),
        h("dt", {}, "Export"), h("dd", {}, model
          ? h("button", { type: "button", class: "secondary", onclick: () => download(`/models/${encodeURIComponent(model)}/content`, "adapter.tar").catch(showError) }, "Download adapter")
          : "—")),
      h("h2", {}, "Hyperparameters"), hyperparameters(job),
      h("h2", {}, "Checkpoints"), checkpoints.length
        ? table(`${checkpoints.length} checkpoint(s)`, ["Step", "Model", "Metrics"], checkpoints.map((c) =>
          [String(c.step_number), c.fine_tuned_model_checkpoint,
            Object.entries(c.metrics || {}).filter(([k, v]) => v !== null && k !== "step").map(([k, v]) => `${k}=${Number(v).toPrecision(4)}`).join(" ")]))
        : h("p", { class: "muted" }, "none yet"),
      h("h2", {}, "Timeline"),
      h("ol", { class: "timeline" }, timeline.map((e) => h("li", {}, `${when(e.created_at)} — ${e.message}`))),
      h("h2", {}, `Events (${all.length})`),
      h("pre", { tabindex: 0, "aria-label": "events" }, all.slice(-200).map((e) => `${when(e.created_at)} ${e.level} ${e.message}`).join("\n")));
  };
  await poll(refresh, 2000);
}
