// Files and Models: lists, a preview of the first lines, delete, export (download).
import { api, download, headLines, listAll } from "./api.js";
import { poll, showError } from "./app.js";
import { bytes, h, table, when } from "./dom.js";

const btn = (text, onclick, label) => h("button", { type: "button", class: "secondary", onclick, "aria-label": label }, text);

export async function filesPage(root) {
  const preview = h("pre", { id: "preview", tabindex: 0, "aria-label": "file preview", hidden: true });
  const holder = h("div");
  root.append(h("h1", {}, "Files"), holder, preview);
  const refresh = async () => {
    const files = await listAll("/files");
    holder.replaceChildren(table(`${files.length} file(s)`, ["File", "Name", "Purpose", "Size", "Status", "Created", ""],
      files.map((f) => [f.id, f.filename, f.purpose, bytes(f.bytes),
        h("span", { title: f.status_details || "" }, f.status + (f.status_details ? `: ${f.status_details}` : "")), when(f.created_at),
        h("span", { class: "row" },
          btn("Preview", async () => {
            try { preview.hidden = false; preview.textContent = await headLines(`/files/${f.id}/content`); } catch (err) { showError(err); }
          }, `Preview ${f.filename}`),
          btn("Download", () => download(`/files/${f.id}/content`, f.filename).catch(showError), `Download ${f.filename}`),
          btn("Delete", async () => {
            if (!confirm(`Delete ${f.filename}?`)) return;
            try { await api(`/files/${f.id}`, { method: "DELETE" }); await refresh(); } catch (err) { showError(err); }
          }, `Delete ${f.filename}`))])));
  };
  await poll(refresh, 5000);
}

export async function modelsPage(root) {
  const preview = h("pre", { id: "model-preview", tabindex: 0, "aria-label": "model details", hidden: true });
  const holder = h("div");
  root.append(h("h1", {}, "Models"), holder, preview);
  const refresh = async () => {
    const models = await listAll("/models");
    holder.replaceChildren(table(`${models.length} model(s)`, ["Model", "Owned by", "Created", ""],
      models.map((m) => {
        const id = encodeURIComponent(m.id), ft = m.id.startsWith("ft:");
        return [m.id, m.owned_by, when(m.created), h("span", { class: "row" },
          btn("Details", async () => {
            try { preview.hidden = false; preview.textContent = JSON.stringify(await api(`/models/${id}`), null, 2); } catch (err) { showError(err); }
          }, `Details of ${m.id}`),
          ft && btn("Export", () => download(`/models/${id}/content`, `${m.id.replaceAll(":", "_")}.tar`).catch(showError), `Export ${m.id}`),
          ft && btn("Delete", async () => {
            if (!confirm(`Delete ${m.id}?`)) return;
            try { await api(`/models/${id}`, { method: "DELETE" }); await refresh(); } catch (err) { showError(err); }
          }, `Delete ${m.id}`))];
      })));
  };
  await poll(refresh, 10000);
}
