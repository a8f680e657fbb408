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
    let queued =
        staff.post("/api/jobs", json!({"kind": "sync_league_matches", "args": {"steam_league_id": 17929}})).await;
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
    let queued =
        staff.post("/api/jobs", json!({"kind": "sync_league_matches", "args": {"steam_league_id": 17929}})).await;
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

/// A worker process whose log lines a test reads (stdout, at `info`).
fn logged_worker(app: &TestApp, steam_args: Vec<String>, log: &std::path::Path, env: &[(&str, &str)]) -> Process {
    let out = std::fs::File::create(log).expect("log file");
    let mut cmd = processes::command("worker", app, &tests::redis_url());
    cmd.args(["--job-heartbeat-secs", "1", "--job-backoff-base-ms", "100"])
        .args(steam_args)
        .env("RUST_LOG", "info")
        .stdout(out);
    for (name, value) in env {
        cmd.env(name, value);
    }
    processes::start(&mut cmd)
}

fn log_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("dtx-{name}-{:x}.log", rand::random::<u64>()))
}

/// SIGTERM mid-sync with a shutdown timeout shorter than the sync: the
/// worker stops fetching at once, gives the sync WORKER_SHUTDOWN_TIMEOUT_SECS,
/// then hands it back (its claim released, a log line naming the run) and
/// exits within the timeout + 5 s; a restarted worker starts the run at once
/// (not after a heartbeat timeout), and every match is stored exactly once.
#[tokio::test]
async fn sigterm_mid_sync_hands_the_run_back_and_a_restarted_worker_starts_it_at_once() {
    const MATCHES: i64 = 300;
    let steam = SteamMock::start((0..MATCHES).map(MockMatch::nth).collect()).await;
    let app = TestApp::spawn_with(Mode::Distributed.backend(), Mode::Distributed.options(steam.args(), false)).await;
    let staff = app.staff("admin").await;
    staff.post("/api/leagues", json!({"steam_league_id": 17929, "name": "DTX"})).await;
    // A Steam paced at 20 calls a second: the full sync takes ~15 s.
    let mut paced = steam.args();
    let rate = paced.iter().position(|a| a == "--steam-rate-per-sec").expect("a rate flag");
    paced[rate + 1] = "20".into();
    let first_log = log_path("first-worker");
    let mut first = logged_worker(&app, paced, &first_log, &[("WORKER_SHUTDOWN_TIMEOUT_SECS", "2")]);
    let queued = staff
        .post("/api/jobs", json!({"kind": "sync_league_matches", "args": {"steam_league_id": 17929, "full": true}}))
        .await;
    let id = queued.body["id"].as_str().unwrap().to_owned();
    eventually("the sync to be under way", Duration::from_secs(30), || async {
        (app.count("steam_matches").await >= 2).then_some(())
    })
    .await;
    let signalled = std::time::Instant::now();
    first.signal("TERM");
    let exited = eventually("the worker to exit", Duration::from_secs(15), || {
        let status = first.0.try_wait().unwrap();
        async move { status }
    })
    .await;
    assert!(exited.success(), "clean exit after SIGTERM: {exited:?}");
    assert!(signalled.elapsed() < Duration::from_secs(2 + 5), "exited after {:?}", signalled.elapsed());
    let log = std::fs::read_to_string(&first_log).unwrap();
    let _ = std::fs::remove_file(&first_log);
    assert!(
        log.lines().any(|l| l.contains("handed back") && l.contains(&id)),
        "a log line per run handed back, naming it:\n{log}"
    );
    let run = staff.get(&format!("/api/jobs/{id}")).await.body;
    assert_eq!(run["status"], "queued", "its claim released: {run}");
    assert_eq!(run["attempt_history"][0]["outcome"], "handed_back", "{run}");
    let partial = app.count("steam_matches").await;
    assert!(partial < MATCHES, "handed back before the end ({partial} stored)");

    let restarted = std::time::Instant::now();
    let second_log = log_path("second-worker");
    let _second = logged_worker(&app, steam.args(), &second_log, &[]);
    eventually("the restarted worker to start the run", Duration::from_secs(5), || async {
        let run = staff.get(&format!("/api/jobs/{id}")).await.body;
        (run["status"] != "queued").then_some(())
    })
    .await;
    eprintln!("restarted worker took the run after {:?}", restarted.elapsed());
    let done = eventually("the sync to finish", Duration::from_secs(60), || async {
        let run = staff.get(&format!("/api/jobs/{id}")).await.body;
        (run["status"] == "succeeded").then_some(run)
    })
    .await;
    let _ = std::fs::remove_file(&second_log);
    assert_eq!(done["result"]["ingested"].as_i64().unwrap() + partial, MATCHES, "{done}");
    assert_eq!((app.count("steam_matches").await, app.count("player_match_stats").await), (MATCHES, MATCHES * 10));
}

/// A rolling upgrade: a worker of the previous payload version (1, which
/// named a Steam league `league_id`) runs beside a new one on one queue that
/// holds both versions' tasks. The old worker runs what it can read and
/// leaves the new version's tasks for the new worker; nothing is lost,
/// dead-lettered or run twice.
#[tokio::test]
async fn a_worker_of_the_previous_payload_version_runs_beside_the_new_one() {
    use sea_orm::ConnectionTrait;
    let steam = SteamMock::start(vec![]).await;
    let app = TestApp::spawn_with(Mode::Distributed.backend(), Mode::Distributed.options(steam.args(), false)).await;
    let staff = app.staff("admin").await;
    staff.post("/api/leagues", json!({"steam_league_id": 17929, "name": "DTX"})).await;

    let old_log = log_path("old-worker");
    let _old = logged_worker(&app, steam.args(), &old_log, &[("DTX_PAYLOAD_VERSION", "1")]);
    // What the old build wrote: ledger rows and tasks without `v`, the league as `league_id`.
    let config = match &app.state.jobs.enqueuer.queue {
        worker::infra::queue::Queue::Redis { configs, .. } => configs.bulk.clone(),
        _ => unreachable!("distributed"),
    };
    let mut old_runs = Vec::new();
    let mut redis = app.state.jobs.redis.clone().unwrap();
    for _ in 0..10 {
        let run = worker::jobs::enqueue::new_run_id();
        app.db()
            .execute_unprepared(&format!(
                "INSERT INTO job_runs (id, kind, args, status, attempts, max_attempts, enqueued_at) VALUES \
                 ('{run}', 'recalculate_league_mmr', '{{\"league_id\": 17929}}', 'queued', 0, 3, now())"
            ))
            .await
            .unwrap();
        let task = worker::jobs::enqueue::new_run_id().to_uppercase();
        let envelope = json!({"run_id": run, "attempt": 1, "max_attempts": 3,
                              "job": {"kind": "recalculate_league_mmr", "args": {"league_id": 17929}}});
        redis::pipe()
            .hset(config.job_data_hash(), &task, envelope.to_string())
            .hset_multiple(
                format!("{}:{task}", config.job_meta_hash()),
                &[("attempts", "0"), ("max_attempts", "25"), ("status", "Pending"), ("idempotency_key", "")],
            )
            .rpush(config.active_jobs_list(), &task)
            .query_async::<()>(&mut redis)
            .await
            .unwrap();
        old_runs.push(run);
    }
    // What the new build writes (version 2), while only the old worker runs.
    let mut new_runs = Vec::new();
    for _ in 0..10 {
        let run = staff
            .post("/api/jobs", json!({"kind": "recalculate_league_mmr", "args": {"steam_league_id": 17929}}))
            .await;
        new_runs.push(run.body["id"].as_str().unwrap().to_owned());
    }
    let status = |id: String| {
        let staff = &staff;
        async move { staff.get(&format!("/api/jobs/{id}")).await.body["status"].as_str().unwrap().to_owned() }
    };
    eventually("the old worker to run the old tasks", Duration::from_secs(30), || async {
        let done = futures_util::future::join_all(old_runs.iter().map(|id| status(id.clone()))).await;
        done.iter().all(|s| s == "succeeded").then_some(())
    })
    .await;
    for id in &new_runs {
        assert_eq!(status(id.clone()).await, "queued", "the old worker leaves version 2 alone");
    }
    let new_log = log_path("new-worker");
    let _new = logged_worker(&app, steam.args(), &new_log, &[]);
    eventually("the new worker to run the new tasks", Duration::from_secs(30), || async {
        let done = futures_util::future::join_all(new_runs.iter().map(|id| status(id.clone()))).await;
        done.iter().all(|s| s == "succeeded").then_some(())
    })
    .await;
    let log = std::fs::read_to_string(&old_log).unwrap();
    for path in [&old_log, &new_log] {
        let _ = std::fs::remove_file(path);
    }
    assert!(log.contains("left for a newer worker"), "the old worker says why it left them:\n{log}");
    let rows = app.db_rows("SELECT status || '|' || attempts FROM job_runs").await;
    assert_eq!(rows.len(), 20);
    assert!(rows.iter().all(|r| r == "succeeded|1"), "each run once, none dead: {rows:?}");
}

/// With OTEL_EXPORTER_OTLP_ENDPOINT set, a worker exports its spans over
/// OTLP/HTTP, and a job's span continues the trace of the request that
/// enqueued it; its log lines carry that trace id.
#[tokio::test]
async fn job_spans_continue_the_request_trace_and_are_exported_over_otlp() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let collector = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/traces"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&collector)
        .await;
    let steam = SteamMock::start(vec![]).await;
    let app = TestApp::spawn_with(Mode::Distributed.backend(), Mode::Distributed.options(vec![], false)).await;
    let log = log_path("traced-worker");
    let otlp = collector.uri();
    let _worker = logged_worker(
        &app,
        steam.args(),
        &log,
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.as_str()), ("OTEL_BSP_SCHEDULE_DELAY", "100")],
    );
    let staff = app.staff("admin").await;
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let body = json!({"kind": "check_scheduled_events"}).to_string().into_bytes();
    let traceparent = format!("00-{trace}-00f067aa0ba902b7-01");
    let queued = staff
        .send(reqwest::Method::POST, "/api/jobs", Some(("application/json", body)), &[("traceparent", &traceparent)])
        .await;
    let id = queued.body["id"].as_str().unwrap().to_owned();
    eventually("the job to succeed", Duration::from_secs(30), || async {
        (staff.get(&format!("/api/jobs/{id}")).await.body["status"] == "succeeded").then_some(())
    })
    .await;
    let trace_bytes: Vec<u8> = (0..16).map(|i| u8::from_str_radix(&trace[i * 2..i * 2 + 2], 16).unwrap()).collect();
    eventually("the job's span at the collector", Duration::from_secs(15), || async {
        let requests = collector.received_requests().await.unwrap_or_default();
        requests.iter().any(|r| r.body.windows(16).any(|w| w == trace_bytes.as_slice())).then_some(())
    })
    .await;
    let lines = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_file(&log);
    assert!(
        lines.lines().any(|l| l.contains(&id) && l.contains(&format!("trace_id={trace}"))),
        "the job's log lines carry the trace:\n{lines}"
    );
}
