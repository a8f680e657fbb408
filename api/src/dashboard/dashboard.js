// The jobs dashboard: reads /api/queues, /api/jobs and /api/schedules with
// the session cookie, enqueues through POST /api/jobs and retries through
// POST /api/jobs/{id}/retry. Every cell
// is set with textContent, never parsed as markup: job errors quote outside data.
"use strict";

const PAGE_SIZE = 25;
const REFRESH_MS = 5000;
const view = { page: 1, status: "", kind: "", count: 0 };

const $ = (id) => document.getElementById(id);

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

async function api(path, options = {}) {
  const resp = await fetch(path, { credentials: "same-origin", headers: { accept: "application/json" }, ...options });
  const body = resp.status === 204 ? null : await resp.json().catch(() => null);
  if (!resp.ok) {
    const message = body && body.error ? body.error.message : resp.statusText;
    throw new Error(`${resp.status}: ${message}`);
  }
  return body;
}

function age(seconds) {
  if (seconds == null) return "—";
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 3600)} h`;
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" }) : "—";
}

function flash(text, isError) {
  const box = $("flash");
  box.textContent = text;
  box.className = isError ? "error" : "";
  box.hidden = false;
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

function num(value) {
  return el("td", { class: "num" }, value);
}

function renderQueues(queues) {
  fill($("queues").tBodies[0], queues.map((q) => el("tr", { "data-kind": q.kind, class: q.dead > 0 ? "alert" : "" },
    el("td", {}, q.kind), num(q.queued), num(q.running), num(q.failed), el("td", { class: "num", "data-dead": q.dead }, q.dead),
    num(q.succeeded), num(age(q.oldest_queued_age_s)), el("td", { class: "num", "data-last-success": "" }, when(q.last_succeeded_at)),
    num(q.workers_alive))));
  const kinds = $("kind");
  if (kinds.options.length === 1) {
    for (const q of queues) {
      kinds.append(el("option", { value: q.kind }, q.kind));
      $("enqueue-kind").append(el("option", { value: q.kind }, q.kind));
    }
  }
}

async function enqueue(event) {
  event.preventDefault();
  const kind = $("enqueue-kind").value;
  let args;
  try {
    args = JSON.parse($("enqueue-args").value || "{}");
  } catch (err) {
    flash(`Args are not JSON: ${err.message}`, true);
    return;
  }
  try {
    const run = await api("/api/jobs", {
      method: "POST",
      headers: { accept: "application/json", "content-type": "application/json" },
      body: JSON.stringify({ kind, args }),
    });
    flash(`Job ${run.id} (${run.kind}) queued.`, false);
  } catch (err) {
    flash(`Not queued: ${err.message}`, true);
  }
  await refresh();
}

function retryButton(job) {
  if (job.status !== "failed" && job.status !== "dead") return "";
  const button = el("button", { type: "button", "data-retry": job.id }, "Retry");
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await api(`/api/jobs/${encodeURIComponent(job.id)}/retry`, { method: "POST" });
      flash(`Job ${job.id} (${job.kind}) queued again.`, false);
    } catch (err) {
      flash(`Retry of ${job.id} refused: ${err.message}`, true);
    }
    await refresh();
  });
  return button;
}

function renderJobs(page) {
  view.count = page.count;
  fill($("jobs").tBodies[0], page.results.map((job) => el("tr", { "data-job-id": job.id },
    el("td", { title: job.id }, job.id.slice(-8)),
    el("td", {}, job.kind),
    el("td", { class: "args" }, JSON.stringify(job.args)),
    el("td", { "data-status": job.status }, el("span", { class: `badge ${job.status}` }, job.status)),
    num(`${job.attempts}/${job.max_attempts}`),
    el("td", {}, when(job.enqueued_at)),
    el("td", {}, when(job.finished_at)),
    el("td", { class: "error" }, job.error || ""),
    el("td", {}, retryButton(job)))));
  const pages = Math.max(1, Math.ceil(page.count / PAGE_SIZE));
  $("page").textContent = `page ${view.page} of ${pages} · ${page.count} jobs`;
  $("prev").disabled = view.page <= 1;
  $("next").disabled = view.page >= pages;
}

function renderSchedules(schedules) {
  fill($("schedules").tBodies[0], schedules.map((s) => el("tr", { "data-schedule": s.kind },
    el("td", {}, s.kind),
    el("td", { class: "args" }, s.expression),
    el("td", {}, s.timezone),
    el("td", {}, s.enabled ? s.next_runs.map(when).join(" · ") : "off"))));
}

function jobsQuery() {
  const query = new URLSearchParams({ page: view.page, page_size: PAGE_SIZE });
  if (view.status) query.set("status", view.status);
  if (view.kind) query.set("kind", view.kind);
  return `/api/jobs?${query}`;
}

async function refresh() {
  try {
    const [queues, jobs, schedules] = await Promise.all([api("/api/queues"), api(jobsQuery()), api("/api/schedules")]);
    renderQueues(queues);
    renderJobs(jobs);
    renderSchedules(schedules);
    $("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
    document.body.dataset.loaded = "true";
  } catch (err) {
    flash(`Could not load: ${err.message}`, true);
  }
}

function start() {
  api("/api/me").then((me) => { $("who").textContent = me.username; }).catch(() => {});
  $("refresh").addEventListener("click", refresh);
  $("enqueue").addEventListener("submit", enqueue);
  $("status").addEventListener("change", (e) => { view.status = e.target.value; view.page = 1; refresh(); });
  $("kind").addEventListener("change", (e) => { view.kind = e.target.value; view.page = 1; refresh(); });
  $("prev").addEventListener("click", () => { view.page -= 1; refresh(); });
  $("next").addEventListener("click", () => { view.page += 1; refresh(); });
  setInterval(() => { if ($("auto").checked && !document.hidden) refresh(); }, REFRESH_MS);
  refresh();
}

document.addEventListener("DOMContentLoaded", start);
