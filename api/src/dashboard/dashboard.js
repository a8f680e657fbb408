// The jobs dashboard: reads /api/queues, /api/jobs and /api/schedules with
// the session cookie; enqueues (now or at a time) through POST /api/jobs,
// retries and cancels a run (POST /api/jobs/{id}/retry, /cancel), applies
// bulk retries and cancels (POST /api/jobs/bulk), pauses and resumes a kind
// (POST /api/queues/{kind}/pause, /resume) and shows a run's detail with its
// attempts. Every cell is set with textContent, never parsed as markup: job
// errors quote outside data.
"use strict";

const PAGE_SIZE = 25;
const REFRESH_MS = 5000;
const view = { page: 1, status: "", kind: "", count: 0, detail: null };
const UNFINISHED = ["queued", "scheduled", "failed", "running"];

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

/// A button that POSTs to `path` and says what happened.
function actionButton(label, attrs, path, done) {
  const button = el("button", { type: "button", ...attrs }, label);
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const body = await api(path, { method: "POST" });
      flash(done(body), false);
    } catch (err) {
      flash(`${label} refused: ${err.message}`, true);
    }
    await refresh();
  });
  return button;
}

function pauseButton(q) {
  const action = q.paused ? "resume" : "pause";
  return actionButton(q.paused ? "Resume" : "Pause", { [`data-${action}`]: q.kind },
    `/api/queues/${encodeURIComponent(q.kind)}/${action}`, (s) => `${s.kind} ${s.paused ? "paused" : "resumed"}.`);
}

function renderQueues(queues) {
  fill($("queues").tBodies[0], queues.map((q) => el("tr",
    { "data-kind": q.kind, "data-paused": q.paused, class: q.dead > 0 ? "alert" : "" },
    el("td", {}, q.kind, q.paused ? el("span", { class: "badge paused" }, "paused") : ""),
    el("td", { "data-lane": q.lane }, q.lane),
    num(q.queued), num(q.scheduled), num(q.running), num(q.failed), el("td", { class: "num", "data-dead": q.dead }, q.dead),
    num(q.succeeded), num(q.cancelled), num(age(q.oldest_queued_age_s)),
    el("td", { class: "num", "data-last-success": "" }, when(q.last_succeeded_at)),
    num(q.workers_alive), el("td", {}, pauseButton(q)))));
  const kinds = $("kind");
  if (kinds.options.length === 1) {
    for (const q of queues) {
      kinds.append(el("option", { value: q.kind }, q.kind));
      $("enqueue-kind").append(el("option", { value: q.kind }, q.kind));
      $("bulk-kind").append(el("option", { value: q.kind }, q.kind));
    }
  }
}

/// A `datetime-local` value (the browser's time zone) as RFC 3339, or null.
function instant(input) {
  return input.value ? new Date(input.value).toISOString() : null;
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
  const request = { kind, args };
  const runAt = instant($("enqueue-run-at"));
  if (runAt) request.run_at = runAt;
  try {
    const run = await api("/api/jobs", {
      method: "POST",
      headers: { accept: "application/json", "content-type": "application/json" },
      body: JSON.stringify(request),
    });
    const what = run.deduplicated ? "already waits" : run.status === "scheduled" ? `scheduled for ${when(run.run_at)}` : "queued";
    flash(`Job ${run.id} (${run.kind}) ${what}.`, false);
  } catch (err) {
    flash(`Not queued: ${err.message}`, true);
  }
  await refresh();
}

async function bulk(event) {
  event.preventDefault();
  const request = { action: $("bulk-action").value };
  if ($("bulk-kind").value) request.kind = $("bulk-kind").value;
  if ($("bulk-status").value) request.status = $("bulk-status").value;
  const after = instant($("bulk-after"));
  const before = instant($("bulk-before"));
  if (after) request.enqueued_after = after;
  if (before) request.enqueued_before = before;
  try {
    const done = await api("/api/jobs/bulk", {
      method: "POST",
      headers: { accept: "application/json", "content-type": "application/json" },
      body: JSON.stringify(request),
    });
    flash(`Bulk ${request.action}: ${done.matched} matched, ${done.changed} changed.`, false);
  } catch (err) {
    flash(`Bulk ${request.action} refused: ${err.message}`, true);
  }
  await refresh();
}

function runButtons(job) {
  const id = encodeURIComponent(job.id);
  const buttons = [el("button", { type: "button", "data-detail": job.id, onclick: () => showDetail(job.id) }, "Detail")];
  if (job.status === "failed" || job.status === "dead") {
    buttons.push(actionButton("Retry", { "data-retry": job.id }, `/api/jobs/${id}/retry`,
      () => `Job ${job.id} (${job.kind}) queued again.`));
  }
  if (UNFINISHED.includes(job.status)) {
    buttons.push(actionButton("Cancel", { "data-cancel": job.id }, `/api/jobs/${id}/cancel`,
      (run) => `Job ${job.id} (${job.kind}) ${run.status === "cancelled" ? "cancelled" : "stops at its next safe point"}.`));
  }
  return el("span", { class: "actions" }, ...buttons);
}

async function showDetail(id) {
  view.detail = id;
  await renderDetail();
}

function pretty(value) {
  return value == null ? "—" : JSON.stringify(value, null, 2);
}

async function renderDetail() {
  const box = $("detail");
  if (!view.detail) {
    box.hidden = true;
    return;
  }
  const run = await api(`/api/jobs/${encodeURIComponent(view.detail)}`);
  $("detail-id").textContent = run.id;
  $("detail-kind").textContent = run.kind;
  $("detail-status").textContent = run.cancel_requested_at && run.status === "running" ? "running (cancel asked)" : run.status;
  $("detail-lane").textContent = run.lane;
  $("detail-args").textContent = pretty(run.args);
  $("detail-progress").textContent = pretty(run.progress);
  $("detail-result").textContent = pretty(run.result);
  $("detail-error").textContent = run.error || "—";
  fill($("attempts").tBodies[0], run.attempt_history.map((a) => el("tr", { "data-attempt": a.attempt },
    num(a.attempt), el("td", {}, a.worker || "—"), el("td", {}, when(a.started_at)), el("td", {}, when(a.finished_at)),
    el("td", { "data-outcome": a.outcome || "running" }, a.outcome || "running"), el("td", { class: "error" }, a.error || ""))));
  box.dataset.run = run.id;
  box.hidden = false;
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
    el("td", {}, runButtons(job)))));
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
    await renderDetail();
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
  $("bulk").addEventListener("submit", bulk);
  $("detail-close").addEventListener("click", () => { view.detail = null; renderDetail(); });
  $("status").addEventListener("change", (e) => { view.status = e.target.value; view.page = 1; refresh(); });
  $("kind").addEventListener("change", (e) => { view.kind = e.target.value; view.page = 1; refresh(); });
  $("prev").addEventListener("click", () => { view.page -= 1; refresh(); });
  $("next").addEventListener("click", () => { view.page += 1; refresh(); });
  setInterval(() => { if ($("auto").checked && !document.hidden) refresh(); }, REFRESH_MS);
  refresh();
}

document.addEventListener("DOMContentLoaded", start);
