// The console's shell: sign-in, the hash router, live polling per view, and clear error messages.
import { api, ApiError, session } from "./api.js";
import { h } from "./dom.js";
import { jobsPage } from "./jobs.js";
import { jobPage } from "./job.js";
import { newJobPage } from "./newjob.js";
import { playgroundPage } from "./playground.js";
import { filesPage, modelsPage } from "./files.js";
import { evalsPage } from "./evals.js";
import { activeProjects, adminPage, isAdmin, switchProject } from "./admin.js";
import { usagePage } from "./admin_usage.js";
import { limitsPage } from "./admin_limits.js";

const ROUTES = [
  [/^\/jobs$/, jobsPage], [/^\/jobs\/([^/]+)$/, jobPage], [/^\/new$/, newJobPage],
  [/^\/playground$/, playgroundPage], [/^\/files$/, filesPage], [/^\/models$/, modelsPage],
  [/^\/evals$/, evalsPage], [/^\/evals\/([^/]+)$/, evalsPage], [/^\/admin$/, adminPage],
  [/^\/admin\/usage$/, usagePage], [/^\/admin\/limits$/, limitsPage],
];

const main = document.getElementById("main");
const message = document.getElementById("message");
let view = null; // {controller, timers}
let adminFor = null; // [key, whether that key is an admin key]
const projectSelect = document.getElementById("project-select");

/** Show an error as a sentence a user can act on (401, 404 and network errors included). */
export function showError(err) {
  if (err?.name === "AbortError") return;
  let text = err?.message || String(err);
  if (err instanceof ApiError) {
    if (err.status === 401) {
      text = `Your API key was refused (401): ${err.message} Sign in again with a valid key.`;
      session.signOut();
      render();
    } else if (err.status === 404) text = `Not found (404): ${err.message}`;
    else if (err.status) text = `Request failed (${err.status}): ${err.message}`;
  }
  message.textContent = text;
}

export const clearError = () => { message.textContent = ""; };

/**
 * Run ``fn`` now and again while the current view is shown, paused while the tab is hidden;
 * errors go to the banner (a 404 also stops it). ``fn`` may return the milliseconds until its next run (default
 * ``ms``) or ``false`` to stop.
 */
export function poll(fn, ms = 2000) {
  const mine = view;
  const tick = async () => {
    if (view !== mine) return;
    let next = ms;
    try {
      const wanted = await fn(mine.controller.signal);
      if (wanted === false) return;
      if (typeof wanted === "number") next = wanted;
    } catch (err) {
      showError(err);
      if (err instanceof ApiError && err.status === 404) return; // gone: asking again will not bring it back
    }
    if (view === mine && !document.hidden) mine.timers.push(setTimeout(tick, next));
    else if (view === mine) document.addEventListener("visibilitychange", tick, { once: true });
  };
  return tick();
}

function signInForm() {
  const input = h("input", { id: "key", type: "password", name: "key", autocomplete: "off", required: true });
  return h("section", { "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, "Sign in"),
    h("form", { onsubmit: async (e) => {
      e.preventDefault();
      session.signIn(input.value.trim());
      try {
        await api("/models?limit=1");
        clearError();
        location.hash = "#/jobs";
        render();
      } catch (err) { showError(err); }
    } },
      h("label", { for: "key" }, "API key"), input,
      h("p", { class: "muted" }, "The key stays in this browser tab only (sessionStorage)."),
      h("div", {}, h("button", { type: "submit" }, "Sign in"))));
}

async function render() {
  if (view) { view.controller.abort(); view.timers.forEach(clearTimeout); }
  view = { controller: new AbortController(), timers: [] };
  const signedIn = Boolean(session.key());
  document.getElementById("nav").hidden = !signedIn;
  main.replaceChildren();
  if (!signedIn) { main.append(signInForm()); return; }
  const mine = view, path = location.hash.replace(/^#/, "") || "/jobs";
  const newKey = adminFor?.[0] !== session.key();
  if (newKey) adminFor = [session.key(), await isAdmin()];
  // the switcher lists the projects when the key signs in, and again on the admin pages
  if (adminFor[1] && (newKey || path.startsWith("/admin"))) await fillProjectSwitch();
  if (view !== mine) return;
  document.getElementById("admin-link").hidden = !adminFor[1];
  document.getElementById("project-switch").hidden = !adminFor[1];
  for (const a of document.querySelectorAll("nav a")) {
    if (path.startsWith(a.getAttribute("href").slice(1))) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  for (const [re, page] of ROUTES) {
    const m = path.match(re);
    if (m) {
      try { await page(main, ...m.slice(1).map(decodeURIComponent)); } catch (err) { showError(err); }
      return;
    }
  }
  main.append(h("h1", {}, "Page not found"));
  showError(new ApiError(404, `the console has no page ${path}. Use the menu above.`));
}

/** The header's project switcher (admin keys): the key's own project, or any active project. */
async function fillProjectSwitch() {
  let projects = [];
  try { projects = await activeProjects(); } catch (err) { showError(err); }
  projectSelect.replaceChildren(new Option("this key's project", ""),
    ...projects.map((p) => new Option(p.name && p.name !== p.id ? `${p.name} (${p.id})` : p.id, p.id)));
  projectSelect.value = session.project();
}

projectSelect.addEventListener("change", () => switchProject(projectSelect.value));
window.addEventListener("openft:project", () => { clearError(); render(); });
document.getElementById("signout").addEventListener("click", () => { session.signOut(); clearError(); render(); });
window.addEventListener("hashchange", () => { clearError(); render(); });
render();
