// Drives the jobs dashboard in headless Chromium, as a staff member would:
// sees the queues and the dead job, clicks Retry, watches it succeed, opens
// its detail (two attempts), runs a job from the form (bad args first),
// pauses a kind and sees its run wait until resumed, schedules a run for
// later and cancels it, bulk-cancels by kind, checks the schedules, and
// saves a full-page screenshot.
//
// Input (env): BASE_URL, SESSION_COOKIE ("dtx_session=…"), DEAD_JOB_ID,
// SCREENSHOT (path), CHROMIUM_PATH (default /usr/bin/chromium).
// Output: one JSON line on stdout with what the page showed; exit 1 with the
// reason on any failed expectation.
import { chromium } from "playwright-core";

const env = (name, fallback) => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};
const base = env("BASE_URL");
const [cookieName, cookieValue] = env("SESSION_COOKIE").split("=");
const jobId = env("DEAD_JOB_ID");
const screenshot = env("SCREENSHOT");
const TIMEOUT = 20_000;

const browser = await chromium.launch({
  executablePath: env("CHROMIUM_PATH", "/usr/bin/chromium"),
  args: ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"],
});
try {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  await context.addCookies([{ name: cookieName, value: cookieValue, url: base }]);
  const page = await context.newPage();
  const consoleErrors = [];
  page.on("console", (msg) => { if (msg.type() === "error") consoleErrors.push(msg.text()); });
  page.on("pageerror", (err) => consoleErrors.push(err.message));

  const response = await page.goto(`${base}/admin/jobs`);
  if (response.status() !== 200) throw new Error(`dashboard answered ${response.status()}`);
  await page.waitForSelector("body[data-loaded=true]", { timeout: TIMEOUT });

  const queueKinds = await page.$$eval("#queues tbody tr", (rows) => rows.map((r) => r.dataset.kind));
  const deadCount = await page.textContent("#queues tr[data-kind=update_league_stats] td[data-dead]");
  const row = `#jobs tr[data-job-id="${jobId}"]`;
  const statusBefore = await page.getAttribute(`${row} td[data-status]`, "data-status");
  const errorShown = await page.textContent(`${row} td.error`);

  await page.click(`${row} button[data-retry]`);
  await page.waitForSelector(`${row} td[data-status=succeeded]`, { timeout: TIMEOUT });
  const flash = await page.textContent("#flash");

  await page.selectOption("#enqueue-kind", "update_league_stats");
  await page.fill("#enqueue-args", '{"steam_league_id": "x"}');
  await page.click("#enqueue button[type=submit]");
  await page.waitForSelector("#flash.error", { timeout: TIMEOUT });
  const refused = await page.textContent("#flash");
  await page.fill("#enqueue-args", '{"steam_league_id": 4242}');
  await page.click("#enqueue button[type=submit]");
  await page.waitForFunction(() => document.querySelector("#flash").textContent.endsWith("queued."), null, { timeout: TIMEOUT });
  const enqueued = (await page.textContent("#flash")).match(/^Job (\w+) /)[1];
  await page.waitForSelector(`#jobs tr[data-job-id="${enqueued}"] td[data-status=succeeded]`, { timeout: TIMEOUT });
  const lastSuccess = await page.textContent("#queues tr[data-kind=update_league_stats] td[data-last-success]");

  // The retried run's detail: both attempts.
  await page.click(`${row} button[data-detail]`);
  await page.waitForSelector(`#detail[data-run="${jobId}"] #attempts tbody tr:nth-child(2)`, { timeout: TIMEOUT });
  const attempts = await page.$$eval("#attempts tbody tr td[data-outcome]", (cells) => cells.map((c) => c.dataset.outcome));
  const lane = await page.textContent("#detail-lane");
  await page.click("#detail-close");

  // Pause a kind: its run waits; resume: it runs.
  await page.click("#queues tr[data-kind=check_scheduled_events] button[data-pause]");
  await page.waitForSelector("#queues tr[data-kind=check_scheduled_events][data-paused=true]", { timeout: TIMEOUT });
  await page.selectOption("#enqueue-kind", "check_scheduled_events");
  await page.fill("#enqueue-args", "{}");
  await page.click("#enqueue button[type=submit]");
  await page.waitForFunction(() => document.querySelector("#flash").textContent.endsWith("queued."), null, { timeout: TIMEOUT });
  const paused = (await page.textContent("#flash")).match(/^Job (\w+) /)[1];
  await page.waitForTimeout(1500);
  await page.click("#refresh");
  await page.waitForSelector(`#jobs tr[data-job-id="${paused}"]`, { timeout: TIMEOUT });
  const whilePaused = await page.getAttribute(`#jobs tr[data-job-id="${paused}"] td[data-status]`, "data-status");
  await page.click("#queues tr[data-kind=check_scheduled_events] button[data-resume]");
  await page.waitForSelector(`#jobs tr[data-job-id="${paused}"] td[data-status=succeeded]`, { timeout: TIMEOUT });

  // A run for later, cancelled from its row; two more, cancelled in bulk.
  await page.selectOption("#enqueue-kind", "prune_job_runs");
  await page.fill("#enqueue-args", "{}");
  // A `datetime-local` value two days ahead (within the 30 allowed), in the browser's zone.
  const inDays = (days) => {
    const at = new Date(Date.now() + days * 86_400_000);
    const pad = (n) => String(n).padStart(2, "0");
    return `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}T${pad(at.getHours())}:${pad(at.getMinutes())}`;
  };
  await page.fill("#enqueue-run-at", inDays(2));
  await page.click("#enqueue button[type=submit]");
  await page.waitForFunction(() => document.querySelector("#flash").textContent.includes("scheduled for"), null, { timeout: TIMEOUT });
  const later = (await page.textContent("#flash")).match(/^Job (\w+) /)[1];
  await page.click("#refresh");
  await page.waitForSelector(`#jobs tr[data-job-id="${later}"] button[data-cancel]`, { timeout: TIMEOUT });
  await page.click(`#jobs tr[data-job-id="${later}"] button[data-cancel]`);
  await page.waitForSelector(`#jobs tr[data-job-id="${later}"] td[data-status=cancelled]`, { timeout: TIMEOUT });
  for (let i = 0; i < 2; i++) {
    await page.fill("#enqueue-run-at", inDays(3));
    await page.click("#enqueue button[type=submit]");
    await page.waitForFunction(() => document.querySelector("#flash").textContent.includes("scheduled for"), null, { timeout: TIMEOUT });
    await page.evaluate(() => { document.querySelector("#flash").textContent = ""; });
  }
  await page.selectOption("#bulk-action", "cancel");
  await page.selectOption("#bulk-kind", "prune_job_runs");
  await page.click("#bulk button[type=submit]");
  await page.waitForFunction(() => document.querySelector("#flash").textContent.startsWith("Bulk cancel"), null, { timeout: TIMEOUT });
  const bulk = await page.textContent("#flash");
  const schedules = await page.$$eval("#schedules tbody tr", (rows) =>
    rows.map((r) => ({ kind: r.dataset.schedule, next: r.cells[3].textContent })));
  await page.screenshot({ path: screenshot, fullPage: true });

  console.log(JSON.stringify({
    queueKinds, deadCount: Number(deadCount), statusBefore, errorShown, statusAfter: "succeeded", flash, refused,
    enqueued, lastSuccess, schedules, consoleErrors, attempts, lane, paused, whilePaused, later, bulk,
  }));
} finally {
  await browser.close();
}
