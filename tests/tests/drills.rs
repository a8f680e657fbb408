//! Failure drills with real worker processes.

use std::time::Duration;

use serde_json::json;
use tests::processes::{self, Process, free_port};
use tests::steam_mock::{MockMatch, SteamMock};
use tests::{Mode, TestApp, eventually};

fn spawn_worker(app: &TestApp, steam: &SteamMock, metrics_port: u16) -> Process {
    processes::start(
        processes::command("worker", app, &tests::redis_url())
            .args(["--metrics-bind", &format!("127.0.0.1:{metrics_port}")])
            .args(["--job-heartbeat-secs", "1", "--worker-concurrency", "1", "--job-backoff-base-ms", "100"])
            .args(steam.args()),
    )
}

/// A worker SIGKILLed in the middle of a sync: after its heartbeat lapses
/// another worker takes the job over, and every match is stored exactly once.
#[tokio::test]
async fn a_worker_killed_mid_job_is_replaced_and_the_job_completes_once() {
    // Enough matches that a sync is still fetching when the worker dies: the
    // ingest stores whatever is ready in batches, so a short league would
    // be stored whole before the kill.
    const MATCHES: i64 = 600;
    let steam = SteamMock::start((0..MATCHES).map(MockMatch::nth).collect()).await;
    steam.state.lock().unwrap().details_delay = Duration::from_millis(150);
    let app = TestApp::spawn_with(Mode::Distributed.backend(), Mode::Distributed.options(steam.args(), false)).await;
    let staff = app.staff("admin").await;
    staff.post("/api/leagues", json!({"steam_league_id": 17929, "name": "DTX"})).await;

    let mut first = spawn_worker(&app, &steam, free_port());
    let queued = staff.post("/api/jobs", json!({"kind": "sync_league_matches", "args": {"steam_league_id": 17929}})).await;
    let id = queued.body["id"].as_str().unwrap().to_owned();
    eventually("the first worker to be mid-sync", Duration::from_secs(30), || async {
        (app.count("steam_matches").await >= 5).then_some(())
    })
    .await;
    first.0.kill().expect("SIGKILL");
    let _ = first.0.wait();
    let partial = app.count("steam_matches").await;
    assert!(partial < MATCHES, "killed before the end ({partial} stored)");

    let metrics_port = free_port();
    let _second = spawn_worker(&app, &steam, metrics_port);
    let done = eventually("the job to complete on the second worker", Duration::from_secs(60), || async {
        let run = staff.get(&format!("/api/jobs/{id}")).await;
        (run.body["status"] == "succeeded").then_some(run.body)
    })
    .await;
    assert_eq!(done["result"]["ingested"].as_i64().unwrap() + partial, MATCHES, "{done}");
    assert_eq!((app.count("steam_matches").await, app.count("player_match_stats").await), (MATCHES, MATCHES * 10));
    // The worker process serves its own metrics.
    let metrics = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics")).await.unwrap().text().await.unwrap();
    assert!(
        metrics.lines().any(|l| l.starts_with("dtx_jobs_total") && l.contains(r#"outcome="succeeded""#)),
        "worker /metrics counts the job:\n{metrics}"
    );
}

/// A backlog larger than Lua's unpack limit (apalis-redis 1.0 promotes every
/// due task in one call and its worker dies past ~8 000): the pool still
/// drains it, because due tasks are promoted in chunks before and while it runs.
#[tokio::test]
async fn a_backlog_of_nine_thousand_jobs_drains() {
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let app = TestApp::spawn_with(Mode::Distributed.backend(), Mode::Distributed.options(vec![], false)).await;
    let ctx = app.state.jobs.clone();
    const BACKLOG: u64 = 9_000;
    for _ in 0..BACKLOG {
        let job = worker::jobs::Job::CheckScheduledEvents(worker::jobs::payload::CheckScheduledEvents {});
        ctx.enqueuer.enqueue(worker::jobs::enqueue::NewJob::new(job)).await.unwrap();
    }
    let (stop, mut rx) = tokio::sync::watch::channel(false);
    let until = async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let pool = tokio::spawn(worker::runtime::pool::run(ctx, until, std::future::pending()));
    eventually("the backlog to drain", Duration::from_secs(120), || async {
        let done = entity::job_run::Entity::find()
            .filter(entity::job_run::Column::Status.eq(entity::JobStatus::Succeeded))
            .count(app.db())
            .await
            .unwrap();
        (done == BACKLOG).then_some(())
    })
    .await;
    let _ = stop.send(true);
    pool.await.unwrap().unwrap();
}

/// SIGTERM during a long job: the worker stops taking jobs, finishes the one
/// in flight within the shutdown deadline, and exits cleanly.
#[tokio::test]
async fn sigterm_lets_the_running_job_finish() {
    let steam = SteamMock::start((0..40).map(MockMatch::nth).collect()).await;
    steam.state.lock().unwrap().details_delay = Duration::from_millis(250);
    let app = TestApp::spawn_with(Mode::Distributed.backend(), Mode::Distributed.options(steam.args(), false)).await;
    let staff = app.staff("admin").await;
    staff.post("/api/leagues", json!({"steam_league_id": 17929, "name": "DTX"})).await;
    let mut worker = spawn_worker(&app, &steam, free_port());
    let queued = staff.post("/api/jobs", json!({"kind": "sync_league_matches", "args": {"steam_league_id": 17929}})).await;
    let id = queued.body["id"].as_str().unwrap().to_owned();
    eventually("the sync to be under way", Duration::from_secs(30), || async {
        (app.count("steam_matches").await >= 2).then_some(())
    })
    .await;
    worker.signal("TERM");
    let exited = eventually("the worker to exit", Duration::from_secs(40), || {
        let status = worker.0.try_wait().unwrap();
        async move { status }
    })
    .await;
    assert!(exited.success(), "clean exit after SIGTERM: {exited:?}");
    let run = staff.get(&format!("/api/jobs/{id}")).await;
    assert_eq!(run.body["status"], "succeeded", "the in-flight job finished before exit: {}", run.body);
    assert_eq!(app.count("steam_matches").await, 40);
}
