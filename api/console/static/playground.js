// Playground: one prompt, up to three models side by side, each answer streamed as it comes.
import { listAll, streamChat } from "./api.js";
import { showError } from "./app.js";
import { field, h } from "./dom.js";

export async function playgroundPage(root) {
  const models = (await listAll("/models")).map((m) => m.id);
  const picks = h("div", { class: "row" });
  const answers = h("div", { class: "cards" });
  const addModel = (value) => {
    if (picks.childElementCount >= 3) return;
    const n = picks.childElementCount + 1;
    const select = h("select", { id: `model-${n}`, class: "model-pick" }, models.map((m) => h("option", { value: m }, m)));
    if (value) select.value = value;
    picks.append(field(`Model ${n}`, select));
  };
  addModel(models.find((m) => !m.startsWith("ft:")));
  const prompt = h("textarea", { id: "prompt", required: true });
  const temperature = h("input", { id: "temperature", type: "number", min: 0, max: 2, step: 0.1, value: 0 });
  const maxTokens = h("input", { id: "max-tokens", type: "number", min: 1, max: 4096, step: 1, value: 64 });
  const send = async (e) => {
    e.preventDefault();
    const chosen = [...picks.querySelectorAll("select")].map((s) => s.value);
    answers.replaceChildren();
    await Promise.all(chosen.map(async (model, i) => {
      const out = h("div", { class: "answer", id: `answer-${i + 1}`, "aria-live": "polite", "aria-busy": "true" });
      answers.append(h("div", { class: "card" }, h("h2", {}, model), out));
      try {
        await streamChat({ model, messages: [{ role: "user", content: prompt.value }],
          temperature: Number(temperature.value), max_tokens: Number(maxTokens.value) }, (d) => out.append(d));
      } catch (err) { out.append(h("p", { class: "bad" }, `Error: ${err.message}`)); showError(err); }
      out.setAttribute("aria-busy", "false");
    }));
  };
  root.append(h("h1", {}, "Playground"),
    h("form", { onsubmit: send, style: "max-width:none" }, picks,
      h("div", {}, h("button", { type: "button", class: "secondary", id: "add-model", onclick: () => addModel() }, "Add a model to compare")),
      field("Prompt", prompt),
      h("div", { class: "row" }, field("Temperature (0–2)", temperature), field("Max tokens", maxTokens)),
      h("div", {}, h("button", { type: "submit", id: "send" }, "Send"))),
    answers);
}
