// Every call the console makes goes through here: the public /v1 API with the signed-in key.
const KEY = "openft.key", PROJECT = "openft.project";

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

/** The browser tab's sign-in: the key and, for an admin key, the project it acts in ("" = its own). */
export const session = {
  key: () => sessionStorage.getItem(KEY),
  signIn: (key) => { sessionStorage.setItem(KEY, key); sessionStorage.removeItem(PROJECT); },
  signOut: () => { sessionStorage.removeItem(KEY); sessionStorage.removeItem(PROJECT); },
  project: () => sessionStorage.getItem(PROJECT) || "",
  switchProject: (id) => (id ? sessionStorage.setItem(PROJECT, id) : sessionStorage.removeItem(PROJECT)),
};

/** The key, and the ``OpenAI-Project`` header when an admin key has switched project. */
function authHeaders() {
  const h = { Authorization: `Bearer ${session.key()}` };
  if (session.project()) h["OpenAI-Project"] = session.project();
  return h;
}

function headers(json) {
  const h = authHeaders();
  if (json) h["Content-Type"] = "application/json";
  return h;
}

async function failure(res) {
  let message = res.statusText || "request failed";
  try { message = (await res.json()).error?.message || message; } catch { /* not JSON */ }
  return new ApiError(res.status, message);
}

/** fetch("/v1" + path) with the key; JSON in and out; throws ApiError (status 0: network). */
export async function api(path, { method = "GET", body, raw = false, signal } = {}) {
  const isForm = body instanceof FormData;
  let res;
  try {
    res = await fetch(`/v1${path}`, {
      method, signal, headers: headers(body !== undefined && !isForm),
      body: body === undefined ? undefined : isForm ? body : JSON.stringify(body),
    });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, "Cannot reach the openft server (network error). Check that it is running, then retry.");
  }
  if (!res.ok) throw await failure(res);
  return raw ? res : res.json();
}

/** Every item of a cursor-paginated list (``after`` = the last id). */
export async function listAll(path, max = 10000) {
  const sep = path.includes("?") ? "&" : "?";
  const items = [];
  let after = null;
  while (items.length < max) {
    const page = await api(`${path}${sep}limit=100${after ? `&after=${encodeURIComponent(after)}` : ""}`);
    items.push(...page.data);
    if (!page.has_more || !page.data.length) break;
    after = page.data[page.data.length - 1].id;
  }
  return items;
}

/** POST multipart with upload progress (XMLHttpRequest: fetch reports none). */
export function postForm(path, form, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/v1${path}`);
    for (const [name, value] of Object.entries(authHeaders())) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded);
    xhr.onerror = () => reject(new ApiError(0, "Cannot reach the openft server (network error) during the upload."));
    xhr.onload = () => {
      let json = null;
      try { json = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300) resolve(json);
      else reject(new ApiError(xhr.status, json?.error?.message || xhr.statusText));
    };
    xhr.send(form);
  });
}

const PART = 8 * 1024 * 1024;

/** Upload a fine-tune file: /v1/files when small, /v1/uploads in 8 MiB parts when large. */
export async function uploadFile(file, purpose, onProgress) {
  if (file.size <= PART) {
    const form = new FormData();
    form.append("purpose", purpose);
    form.append("file", file);
    return postForm("/files", form, (n) => onProgress(n / file.size));
  }
  const upload = await api("/uploads", { method: "POST", body: {
    filename: file.name, purpose, bytes: file.size, mime_type: "application/jsonl" } });
  const parts = [];
  for (let start = 0; start < file.size; start += PART) {
    const form = new FormData();
    form.append("data", file.slice(start, start + PART), file.name);
    const part = await postForm(`/uploads/${upload.id}/parts`, form, (n) => onProgress((start + n) / file.size));
    parts.push(part.id);
  }
  const done = await api(`/uploads/${upload.id}/complete`, { method: "POST", body: { part_ids: parts } });
  return done.file;
}

/** Stream a chat completion, calling onDelta(text) for each piece; returns the whole text. */
export async function streamChat(body, onDelta, signal) {
  const res = await api("/chat/completions", { method: "POST", body: { ...body, stream: true }, raw: true, signal });
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "", text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const chunk = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
      for (const line of chunk.split("\n")) {
        if (!line.startsWith("data:")) continue;
        const data = line.slice(5).trim();
        if (data === "[DONE]") return text;
        const parsed = JSON.parse(data);
        if (parsed.error) throw new ApiError(500, parsed.error.message);
        const delta = parsed.choices?.[0]?.delta?.content || "";
        if (delta) { text += delta; onDelta(delta); }
      }
    }
  }
  return text;
}

/** Download a /v1 resource with the key (a plain link cannot send the Authorization header). */
export async function download(path, filename) {
  const res = await api(path, { raw: true });
  const url = URL.createObjectURL(await res.blob());
  const a = Object.assign(document.createElement("a"), { href: url, download: filename });
  document.body.append(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

/** The first ``lines`` lines of a file's content, reading no more than ``maxBytes``. */
export async function headLines(path, lines = 10, maxBytes = 65536) {
  const res = await api(path, { raw: true });
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (text.length < maxBytes && text.split("\n").length <= lines) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  reader.cancel().catch(() => {});
  return text.split("\n").slice(0, lines).join("\n");
}
