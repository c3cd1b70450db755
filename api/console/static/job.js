// One job: timeline, live loss/accuracy/reward charts with checkpoint markers, events, actions.
//
// Cheap to keep open (bench/console_overhead.py): each tick asks only for the events newer than
// the last one seen (newest first, stopping at a known id), reads the job and its checkpoints only
// when an event says they changed, redraws only the parts that changed, backs off while nothing
// happens and stops once the job is finished.
import { api, download, listAll } from "./api.js";
import { poll, showError } from "./app.js";
import { legend, lineChart } from "./chart.js";
import { duration, h, table, when } from "./dom.js";
import { method } from "./jobs.js";

const CHARTS = [
  ["Loss", [["train_loss", "#0b57d0"], ["valid_loss", "#e8710a"], ["full_valid_loss", "#a142f4"]]],
  ["Token accuracy", [["train_mean_token_accuracy", "#0b57d0"], ["valid_mean_token_accuracy", "#e8710a"],
    ["full_valid_mean_token_accuracy", "#a142f4"]]],
  ["Reward", [["train_reward_mean", "#1a7f37"], ["valid_reward_mean", "#e8710a"], ["full_valid_reward_mean", "#a142f4"]]],
];
const ACTIONS = { cancel: ["validating_files", "queued", "running", "paused"], pause: ["running", "queued"], resume: ["paused"] };
const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);
const FAST = 2000, SLOW = 16000;

function hyperparameters(job) {
  const hp = job.method?.[method(job)]?.hyperparameters || job.hyperparameters || {};
  return h("dl", { class: "kv" }, Object.entries(hp).flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, String(v))]));
}

function charts(metrics, checkpoints) {
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

function lineage(job) {
  const model = job.fine_tuned_model;
  return h("dl", { class: "kv" },
    h("dt", {}, "Base model"), h("dd", {}, job.model),
    h("dt", {}, "Training file"), h("dd", {}, h("a", { href: `#/files?id=${job.training_file}` }, job.training_file)),
    h("dt", {}, "Validation file"), h("dd", {}, job.validation_file || "—"),
    h("dt", {}, "Fine-tuned model"), h("dd", {}, model || "—"),
    h("dt", {}, "Results file"), h("dd", {}, job.result_files?.length
      ? h("button", { type: "button", class: "secondary", onclick: () => download(`/files/${job.result_files[0]}/content`, "results.csv").catch(showError) }, "Download results.csv")
      : "—"),
    h("dt", {}, "Export"), h("dd", {}, model
      ? h("button", { type: "button", class: "secondary", onclick: () => download(`/models/${encodeURIComponent(model)}/content`, "adapter.tar").catch(showError) }, "Download adapter")
      : "—"));
}

function checkpointTable(checkpoints) {
  return checkpoints.length
    ? table(`${checkpoints.length} checkpoint(s)`, ["Step", "Model", "Metrics"], checkpoints.map((c) =>
      [String(c.step_number), c.fine_tuned_model_checkpoint,
        Object.entries(c.metrics || {}).filter(([k, v]) => v !== null && k !== "step").map(([k, v]) => `${k}=${Number(v).toPrecision(4)}`).join(" ")]))
    : h("p", { class: "muted" }, "none yet");
}

/**
 * The events of job ``id`` newer than any in ``known`` (newest first): pages of ``limit`` (all
 * of them at first), back until a known one.
 */
async function newerEvents(id, known, limit, signal) {
  const fresh = [];
  let after = null;
  for (;;) {
    const page = await api(`/fine_tuning/jobs/${id}/events?limit=${known.size ? limit : 1000}${after ? `&after=${encodeURIComponent(after)}` : ""}`, { signal });
    const unseen = page.data.filter((e) => !known.has(e.id));
    fresh.push(...unseen);
    if (unseen.length < page.data.length || !page.has_more || !page.data.length) return fresh;
    after = page.data[page.data.length - 1].id;
  }
}

const progressText = (m) => (m ? ` · step ${m.data.step}/${m.data.total_steps}` : "");

export async function jobPage(root, id) {
  const head = h("div"), curves = h("div"), lineageBox = h("div"), hpBox = h("div"), ckptBox = h("div");
  const timeline = h("ol", { class: "timeline" }), eventsTitle = h("h2", {}, "Events");
  const log = h("pre", { tabindex: 0, "aria-label": "events" });
  root.append(h("p", {}, h("a", { href: "#/jobs" }, "← all jobs")), head,
    h("div", { "aria-live": "off" }, h("h2", {}, "Curves"), curves, h("h2", {}, "Lineage"), lineageBox,
      h("h2", {}, "Hyperparameters"), hpBox, h("h2", {}, "Checkpoints"), ckptBox,
      h("h2", {}, "Timeline"), timeline, eventsTitle, log));
  const events = new Map(); // id -> event, everything seen so far
  let metrics = [], checkpoints = [], shown = "", delay = FAST, status = null, job = null;
  let limit = 10, ticks = 0; // events asked per tick (about twice the last tick's new ones)

  const act = (name) => async () => {
    if (name === "cancel" && !confirm(`Cancel ${id}?`)) return;
    try { await api(`/fine_tuning/jobs/${id}/${name}`, { method: "POST" }); delay = FAST; await refresh(); } catch (err) { showError(err); }
  };
  const drawHead = (job) => head.replaceChildren(...[
    h("h1", {}, `Job ${job.id}`),
    h("p", {}, "Status: ", h("span", { class: `status ${job.status}`, id: "job-status" }, job.status),
      ` · ${job.model} · ${method(job)} · created ${when(job.created_at)} · ${duration(job.created_at, job.finished_at)}`,
      h("span", { id: "job-progress" }, progressText(metrics[metrics.length - 1]))),
    job.error?.message ? h("p", { class: "bad", role: "status" }, `Error: ${job.error.message}`) : null,
    h("div", { class: "row" }, Object.entries(ACTIONS).map(([name, ok]) =>
      h("button", { type: "button", class: "secondary", id: `${name}-job`, disabled: !ok.includes(job.status), onclick: act(name) },
        name[0].toUpperCase() + name.slice(1))))].filter(Boolean));

  const refresh = async (signal) => {
    // oldest first; an action's refresh may have raced this tick, hence the second check
    const fresh = (await newerEvents(id, events, limit, signal)).reverse().filter((e) => !events.has(e.id));
    for (const e of fresh) events.set(e.id, e);
    limit = Math.min(100, Math.max(5, 2 * fresh.length + 2));
    // every status change, checkpoint and new model comes with a (non-metrics) event; metrics
    // alone change no field the page shows, so the job itself is read only then (or every 5th tick)
    if (!job || fresh.some((e) => e.type !== "metrics") || ++ticks % 5 === 0) {
      job = await api(`/fine_tuning/jobs/${id}`, { signal });
    }
    const statusChanged = job.status !== status;
    status = job.status;
    const freshMetrics = fresh.filter((e) => e.type === "metrics" && e.data);
    if (freshMetrics.length) metrics = metrics.concat(freshMetrics).sort((a, b) => a.data.step - b.data.step);
    const ckptChanged = statusChanged || fresh.some((e) => e.message.startsWith("Checkpoint"));
    if (ckptChanged) checkpoints = await listAll(`/fine_tuning/jobs/${id}/checkpoints`);
    // the parts of the job object the page shows, apart from the step counter
    const key = JSON.stringify([job.status, job.error, job.fine_tuned_model, job.result_files, job.finished_at]);
    if (key !== shown) {
      shown = key;
      drawHead(job);
      lineageBox.replaceChildren(lineage(job));
      hpBox.replaceChildren(hyperparameters(job));
    } else if (freshMetrics.length) {
      head.querySelector("#job-progress").textContent = progressText(metrics[metrics.length - 1]);
    }
    if (freshMetrics.length || ckptChanged) curves.replaceChildren(...charts(metrics, checkpoints));
    if (ckptChanged) ckptBox.replaceChildren(checkpointTable(checkpoints));
    if (fresh.length) {
      timeline.append(...fresh.filter((e) => e.type !== "metrics").map((e) => h("li", {}, `${when(e.created_at)} — ${e.message}`)));
      eventsTitle.textContent = `Events (${events.size})`;
      log.textContent = [...events.values()].slice(-200).map((e) => `${when(e.created_at)} ${e.level} ${e.message}`).join("\n");
    }
    if (TERMINAL.has(job.status)) return false; // nothing will change any more
    delay = fresh.length || statusChanged ? FAST : Math.min(SLOW, delay * 2);
    return delay;
  };
  await poll(refresh, FAST);
}
