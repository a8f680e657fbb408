//! The jobs dashboard at `/admin/jobs`: gated for staff, and driven end to
//! end in headless Chromium (Debian's chromium, Playwright-core) — a staff
//! member sees a dead job with its error, retries it and watches it succeed,
//! and runs a job from the form.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use tests::{Backend, Options, TestApp, eventually};

const DEADLINE: Duration = Duration::from_secs(30);
const UNKNOWN_LEAGUE: i64 = 4242;

#[tokio::test]
async fn the_dashboard_page_is_for_staff_only() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let anon = app.anon().get("/admin/jobs").await;
    assert_eq!(anon.status, 401);
    assert!(anon.text.contains("Log in first"), "{}", anon.text);
    let user = app.user("fan").await.get("/admin/jobs").await;
    assert_eq!(user.status, 403);
    assert!(user.text.contains("Staff only"), "{}", user.text);
    let staff = app.staff("admin").await.get("/admin/jobs").await;
    assert_eq!(staff.status, 200);
    assert!(staff.text.contains("<table id=\"jobs\">"), "{}", staff.text);
    let csp = staff.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
    let script = app.anon().get("/admin/assets/dashboard.js").await;
    assert_eq!(script.status, 200);
    assert!(script.headers["content-type"].to_str().unwrap().starts_with("text/javascript"));
    assert!(!script.text.contains("innerHTML"), "cells are built with textContent only");
}

/// Where test artifacts (screenshots) go: `<target>/<profile>/artifacts`.
fn artifacts_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.ancestors().nth(2).expect("target/<profile>").join("artifacts");
    std::fs::create_dir_all(&dir).expect("artifacts dir");
    dir
}

fn browser_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("browser");
    assert!(
        dir.join("node_modules/playwright-core").exists(),
        "playwright-core is missing: run `npm ci --prefix tests/browser` (tests/run.sh does)"
    );
    dir
}

fn chromium_path() -> String {
    let path = std::env::var("CHROMIUM_PATH").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&path).exists(),
        "{path} is missing: install Debian's chromium (apt-get install chromium; .ci/run does) or set CHROMIUM_PATH"
    );
    path
}

#[tokio::test]
async fn staff_retry_a_dead_job_in_headless_chromium() {
    let app = TestApp::spawn_with(Backend::Sqlite, Options { worker: true, ..Default::default() }).await;
    let staff = app.staff("admin").await;
    let queued = staff
        .post("/api/jobs", json!({"kind": "update_league_stats", "args": {"steam_league_id": UNKNOWN_LEAGUE}}))
        .await;
    let id = queued.body["id"].as_str().expect("job id").to_owned();
    eventually("the job to die", DEADLINE, || async {
        (staff.get(&format!("/api/jobs/{id}")).await.body["status"] == "dead").then_some(())
    })
    .await;
    // The cause is mended, so the retry from the page can succeed.
    staff.post("/api/leagues", json!({"steam_league_id": UNKNOWN_LEAGUE, "name": "Late league"})).await;

    let screenshot = artifacts_dir().join("jobs-dashboard.png");
    let _ = std::fs::remove_file(&screenshot);
    let run = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new("node")
            .arg("jobs_dashboard.mjs")
            .current_dir(browser_dir())
            .env("BASE_URL", &app.base)
            .env("SESSION_COOKIE", staff.cookie.as_deref().expect("staff session"))
            .env("DEAD_JOB_ID", &id)
            .env("SCREENSHOT", &screenshot)
            .env("CHROMIUM_PATH", chromium_path())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the browser run finishes within 2 minutes")
    .expect("node runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "browser run failed:\n{stdout}\n{}", String::from_utf8_lossy(&run.stderr));
    let seen: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("one JSON line");

    assert_eq!(seen["statusBefore"], "dead", "{seen}");
    assert!(seen["errorShown"].as_str().unwrap().contains("unknown league"), "{seen}");
    assert_eq!(seen["deadCount"], 1, "the queue table counts the dead job: {seen}");
    let kinds: Vec<&str> = seen["queueKinds"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    for kind in worker::jobs::KINDS {
        assert!(kinds.contains(&kind), "queue row for {kind}: {seen}");
    }
    assert!(seen["flash"].as_str().unwrap().contains("queued again"), "{seen}");
    assert!(seen["lastSuccess"].as_str().is_some_and(|t| t.contains(':')), "the last success is shown: {seen}");
    let refused = seen["refused"].as_str().unwrap();
    assert!(refused.starts_with("Not queued: 422") && refused.contains("invalid args"), "{seen}");
    let enqueued = seen["enqueued"].as_str().unwrap();
    let run = staff.get(&format!("/api/jobs/{enqueued}")).await.body;
    assert_eq!(
        (run["kind"].as_str(), run["status"].as_str()),
        (Some("update_league_stats"), Some("succeeded")),
        "{run}"
    );
    assert_eq!(run["enqueued_by"], staff.get("/api/me").await.body["id"], "enqueued as the staff member");
    let all = staff.get("/api/jobs?kind=update_league_stats").await.body;
    assert_eq!(all["count"], 2, "the refused form wrote nothing: {all}");
    assert_eq!(seen["attempts"], json!(["dead", "succeeded"]), "the detail lists both attempts: {seen}");
    assert_eq!(seen["lane"], "bulk");
    assert_eq!(seen["whilePaused"], "queued", "a paused kind's run waits: {seen}");
    let resumed = staff.get(&format!("/api/jobs/{}", seen["paused"].as_str().unwrap())).await.body;
    assert_eq!(resumed["status"], "succeeded", "and runs once resumed: {resumed}");
    let later = staff.get(&format!("/api/jobs/{}", seen["later"].as_str().unwrap())).await.body;
    assert_eq!((later["status"].as_str(), later["attempts"].as_i64()), (Some("cancelled"), Some(0)), "{later}");
    assert_eq!(seen["bulk"], "Bulk cancel: 2 matched, 2 changed.", "{seen}");
    let schedules = seen["schedules"].as_array().unwrap();
    assert_eq!(schedules.len(), worker::runtime::schedule::DEFAULTS.len(), "{seen}");
    assert!(schedules.iter().all(|s| s["next"].as_str().is_some_and(|n| n.contains('·'))), "next runs: {seen}");
    // The browser reports the refused enqueue, and nothing else: no script error, no missing asset.
    assert_eq!(
        seen["consoleErrors"],
        json!(["Failed to load resource: the server responded with a status of 422 (Unprocessable Entity)"]),
        "{seen}"
    );

    let run = staff.get(&format!("/api/jobs/{id}")).await.body;
    assert_eq!((run["status"].as_str(), run["attempts"].as_i64()), (Some("succeeded"), Some(2)), "{run}");
    let png = std::fs::read(&screenshot).expect("screenshot saved");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "a real PNG, {} bytes", png.len());
    eprintln!("dashboard screenshot: {}", screenshot.display());
}
