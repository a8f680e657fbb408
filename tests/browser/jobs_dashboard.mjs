// Drives the jobs dashboard in headless Chromium, as a staff member would:
// sees the queues and the dead job, clicks Retry, watches it succeed, runs a
// job from the form (bad args first), checks the schedules, and saves a
// full-page screenshot.
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
  const schedules = await page.$$eval("#schedules tbody tr", (rows) =>
    rows.map((r) => ({ kind: r.dataset.schedule, next: r.cells[3].textContent })));
  await page.screenshot({ path: screenshot, fullPage: true });

  console.log(JSON.stringify({
    queueKinds, deadCount: Number(deadCount), statusBefore, errorShown, statusAfter: "succeeded", flash, refused,
    enqueued, lastSuccess, schedules, consoleErrors,
  }));
} finally {
  await browser.close();
}
