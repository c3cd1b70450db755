// New job: upload with progress, the server's check of the file (line numbers), then the job form.
import { api, listAll, uploadFile } from "./api.js";
import { showError } from "./app.js";
import { field, h } from "./dom.js";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Wait for the server's check of a just-uploaded file: processed, or error with its message. */
async function checked(id) {
  for (let i = 0; i < 600; i++) {
    const f = await api(`/files/${id}`);
    if (f.status !== "uploaded") return f;
    await sleep(250);
  }
  throw new Error(`the server has not checked ${id} yet; look at Files later`);
}

const num = (id, min, max, step) => h("input", { id, type: "number", min, max, step, placeholder: "auto", inputmode: "decimal" });

export async function newJobPage(root) {
  const [models, files] = await Promise.all([listAll("/models"), listAll("/files?purpose=fine-tune")]);
  const usable = files.filter((f) => f.status === "processed");
  const fileOptions = () => usable.map((f) => h("option", { value: f.id }, `${f.filename} (${f.id})`));
  const training = h("select", { id: "training-file", required: true }, fileOptions());
  const validation = h("select", { id: "validation-file" }, h("option", { value: "" }, "none"), fileOptions());
  const picker = h("input", { id: "upload-file", type: "file", accept: ".jsonl,application/jsonl" });
  const bar = h("progress", { id: "upload-progress", max: 1, value: 0, "aria-label": "upload progress" });
  const report = h("div", { id: "file-check", role: "status", "aria-live": "polite" });
  const upload = async () => {
    const file = picker.files[0];
    if (!file) { report.textContent = "Choose a .jsonl file first."; return; }
    report.replaceChildren(h("span", {}, `Uploading ${file.name}…`));
    try {
      const f = await uploadFile(file, "fine-tune", (p) => { bar.value = p; });
      bar.value = 1;
      report.textContent = `Uploaded ${f.id}; the server is checking it…`;
      const done = await checked(f.id);
      if (done.status === "error") {
        report.replaceChildren(h("p", { class: "bad" }, `${file.name} was rejected: ${done.status_details}`),
          h("p", {}, "Fix the file and upload it again."));
        return;
      }
      usable.unshift(done);
      training.replaceChildren(...fileOptions()); training.value = done.id;
      validation.replaceChildren(h("option", { value: "" }, "none"), ...fileOptions());
      await fullCheck();
    } catch (err) { report.textContent = ""; showError(err); }
  };
  /** The job's own validator on the chosen training file, base model and method. */
  const fullCheck = async () => {
    if (!training.value || !model.value) return;
    const q = `model=${encodeURIComponent(model.value)}&method=${kind.value}`;
    report.textContent = `Checking ${training.value} for ${model.value} (${kind.value})…`;
    try {
      const v = await api(`/files/${training.value}/validation?${q}`);
      if (!v.valid) {
        report.replaceChildren(h("p", { class: "bad" }, `${training.value} is not valid for ${model.value}: `
          + (v.error.line ? `line ${v.error.line}: ` : "") + v.error.message), h("p", {}, "Fix the file and upload it again."));
        return;
      }
      const st = v.stats;
      report.replaceChildren(h("p", { class: "ok" }, `${training.value} is valid for ${model.value}: ${st.n_examples} examples, `
        + `${st.total_tokens} tokens (${st.min_example_tokens}–${st.max_example_tokens} per example), `
        + `${st.n_truncated} truncated at ${st.max_length} tokens`));
    } catch (err) { report.textContent = ""; showError(err); }
  };
  const bases = models.filter((m) => !m.id.startsWith("ft:"));
  const model = h("select", { id: "base-model", required: true }, bases.map((m) => h("option", { value: m.id }, m.id)));
  const kind = h("select", { id: "method" }, ["supervised", "dpo"].map((m) => h("option", { value: m }, m)));
  const epochs = num("n-epochs", 1, 50, 1), batch = num("batch-size", 1, 256, 1), lr = num("lr-multiplier", 0.00001, 10, "any");
  for (const control of [training, model, kind]) control.addEventListener("change", fullCheck);
  const suffix = h("input", { id: "suffix", maxlength: 64, pattern: "[A-Za-z0-9_\\-]*" });
  const submit = async (e) => {
    e.preventDefault();
    const hp = {};
    for (const [key, input, parse] of [["n_epochs", epochs, parseInt], ["batch_size", batch, parseInt], ["learning_rate_multiplier", lr, parseFloat]]) {
      if (input.value) hp[key] = parse(input.value);
    }
    const body = { model: model.value, training_file: training.value,
      method: { type: kind.value, [kind.value]: { hyperparameters: hp } } };
    if (validation.value) body.validation_file = validation.value;
    if (suffix.value) body.suffix = suffix.value;
    try {
      const job = await api("/fine_tuning/jobs", { method: "POST", body });
      location.hash = `#/jobs/${job.id}`;
    } catch (err) { showError(err); }
  };
  root.append(h("h1", {}, "New fine-tuning job"),
    h("section", { "aria-labelledby": "up-title" }, h("h2", { id: "up-title" }, "1. Upload a training file"),
      h("form", { onsubmit: (e) => { e.preventDefault(); upload(); } },
        field("JSONL file (chat or preference format)", picker), bar,
        h("div", {}, h("button", { type: "submit", id: "upload-button" }, "Upload and check")), report)),
    h("section", { "aria-labelledby": "job-title" }, h("h2", { id: "job-title" }, "2. Configure the job"),
      h("form", { onsubmit: submit, id: "job-form" },
        field("Base model", model), field("Method", kind), field("Training file", training),
        field("Validation file", validation),
        h("div", { class: "row" }, field("Epochs (1–50)", epochs), field("Batch size (1–256)", batch),
          field("Learning-rate multiplier", lr)),
        field("Suffix (up to 64 characters)", suffix),
        h("p", { class: "muted" }, "Leave a hyperparameter empty for auto."),
        h("div", {}, h("button", { type: "submit", id: "create-job" }, "Create job")))));
}
