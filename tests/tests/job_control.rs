//! Job control from the operator's seat (SPEC §21), in both modes: run
//! later; cancel (a waiting run at once, a running sync at its next safe
//! point); pause and resume a kind, across a restart; lanes; one waiting
//! sync per league; caller-scoped idempotency keys; bulk retry and cancel;
//! undecodable tasks; progress and the attempts of a run.

use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{Value, json};
use tests::steam_mock::{MockMatch, SteamMock};
use tests::{Caller, Mode, Options, TestApp, TestDb, eventually, in_both_modes};

const LEAGUE: i64 = 17929;
const DEADLINE: Duration = Duration::from_secs(30);

async fn run_of(staff: &Caller<'_>, id: &str) -> Value {
    let run = staff.get(&format!("/api/jobs/{id}")).await;
    assert_eq!(run.status, 200, "{}", run.text);
    run.body
}

async fn reaches(staff: &Caller<'_>, id: &str, status: &str) -> Value {
    eventually(&format!("job {id} to be {status}"), DEADLINE, || async {
        let run = run_of(staff, id).await;
        (run["status"] == status).then_some(run)
    })
    .await
}

fn id_of(resp: &tests::Resp) -> String {
    resp.body["id"].as_str().unwrap_or_else(|| panic!("no run id in {}", resp.text)).to_owned()
}

async fn a_scheduled_run_starts_at_its_time_and_a_cancelled_one_never_does(mode: Mode) {
    let app = TestApp::spawn_with(mode.backend(), mode.options(vec![], true)).await;
    let staff = app.staff("admin").await;
    let run_at = Utc::now() + chrono::Duration::milliseconds(2500);
    let job = |at: chrono::DateTime<Utc>| json!({"kind": "check_scheduled_events", "run_at": at.to_rfc3339()});

    let later = staff.post("/api/jobs", job(run_at)).await;
    assert_eq!((later.status, later.body["status"].as_str()), (202, Some("scheduled")), "{}", later.text);
    let doomed = staff.post("/api/jobs", job(run_at)).await;
    let cancelled = staff.post(&format!("/api/jobs/{}/cancel", id_of(&doomed)), json!({})).await;
    assert_eq!((cancelled.status, cancelled.body["status"].as_str()), (200, Some("cancelled")), "{}", cancelled.text);
    // A run waiting right now is cancelled at once too.
    let queued = staff
        .post(
            "/api/jobs",
            json!({"kind": "prune_job_runs", "run_at": (Utc::now() + chrono::Duration::hours(1)).to_rfc3339()}),
        )
        .await;
    let gone = staff.post(&format!("/api/jobs/{}/cancel", id_of(&queued)), json!({})).await;
    assert_eq!(gone.body["status"], "cancelled");

    let done = reaches(&staff, &id_of(&later), "succeeded").await;
    let started: chrono::DateTime<Utc> = done["started_at"].as_str().unwrap().parse().unwrap();
    assert!(started >= run_at, "started {started}, before its run_at {run_at}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let never = run_of(&staff, &id_of(&doomed)).await;
    assert_eq!((never["status"].as_str(), never["attempts"].as_i64()), (Some("cancelled"), Some(0)), "{never}");
    assert!(never["started_at"].is_null() && never["attempt_history"] == json!([]), "it never started: {never}");

    // Finished runs refuse a cancel; unknown ones are not found.
    for finished in [id_of(&doomed), id_of(&later)] {
        let again = staff.post(&format!("/api/jobs/{finished}/cancel"), json!({})).await;
        assert_eq!((again.status, again.error_code().as_str()), (409, "job_finished"), "{}", again.text);
    }
    assert_eq!(staff.post("/api/jobs/01nosuchrun/cancel", json!({})).await.status, 404);
    // Bad times change nothing.
    let before = app.count("job_runs").await;
    for bad in [Utc::now() - chrono::Duration::seconds(5), Utc::now() + chrono::Duration::days(31)] {
        let refused = staff.post("/api/jobs", job(bad)).await;
        assert_eq!((refused.status, refused.error_code().as_str()), (422, "invalid_run_at"), "{}", refused.text);
    }
    let malformed = staff.post("/api/jobs", json!({"kind": "check_scheduled_events", "run_at": "tomorrow"})).await;
    assert_eq!(malformed.status, 400, "{}", malformed.text);
    assert_eq!(app.count("job_runs").await, before, "refused enqueues write nothing");
}

/// A league of 300 matches behind a Steam paced at 20 calls a second: a
/// full sync takes ~15 s, long enough to cancel it mid-way.
async fn slow_league(mode: Mode) -> (SteamMock, TestApp) {
    let steam = SteamMock::start((0..300).map(MockMatch::nth).collect()).await;
    let mut args = steam.args();
    args.extend(["--steam-rate-per-sec".to_owned(), "20".to_owned()]);
    let app = TestApp::spawn_with(mode.backend(), mode.options(args, true)).await;
    app.staff("admin").await.post("/api/leagues", json!({"steam_league_id": LEAGUE, "name": "DTX"})).await;
    (steam, app)
}

async fn a_running_sync_is_cancelled_within_five_seconds_and_steam_stops_being_called(mode: Mode) {
    let (steam, app) = slow_league(mode).await;
    let staff = app.staff("admin").await;
    let sync = staff
        .post("/api/jobs", json!({"kind": "sync_league_matches", "args": {"steam_league_id": LEAGUE, "full": true}}))
        .await;
    let id = id_of(&sync);
    let progress = eventually("the sync to report stored matches", DEADLINE, || async {
        let run = run_of(&staff, &id).await;
        (run["progress"]["matches_stored"].as_i64() > Some(0)).then_some(run["progress"].clone())
    })
    .await;
    assert_eq!(progress["pages_fetched"], 3, "300 matches are three pages of 100: {progress}");

    let asked = Instant::now();
    let cancel = staff.post(&format!("/api/jobs/{id}/cancel"), json!({})).await;
    assert_eq!(cancel.status, 200, "{}", cancel.text);
    assert!(
        cancel.body["status"] == "cancelled" || !cancel.body["cancel_requested_at"].is_null(),
        "a running run shows the request: {}",
        cancel.text
    );
    let ended = reaches(&staff, &id, "cancelled").await;
    assert!(asked.elapsed() < Duration::from_secs(5), "cancelled after {:?}", asked.elapsed());
    let calls = steam.calls("GetMatchHistoryBySequenceNum");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(steam.calls("GetMatchHistoryBySequenceNum"), calls, "Steam is not called after the cancel");
    let stored = app.count("steam_matches").await;
    assert!((1..300).contains(&stored), "a prefix was stored and kept: {stored}");
    let history = ended["attempt_history"].as_array().unwrap();
    assert_eq!(history.len(), 1, "{ended}");
    assert_eq!(history[0]["outcome"], "cancelled");
    assert!(history[0]["worker"].is_string() && history[0]["started_at"].is_string(), "{ended}");
}

/// A paused kind's runs wait (no Steam call) — also across a restart of the
/// worker — and run once it is resumed; runs of other kinds go on.
async fn a_paused_kind_waits_until_resumed_also_across_a_restart(mode: Mode) {
    let steam = SteamMock::start((0..5).map(MockMatch::nth).collect()).await;
    let db = TestDb::create(mode.backend()).await;
    let on_db = |worker: bool| Options {
        redis: mode == Mode::Distributed,
        args: steam.args(),
        worker,
        database_url: Some(db.url.clone()),
        ..Default::default()
    };
    let beside = || Options { worker: true, args: steam.args(), ..Default::default() };
    // Embedded: one process. Distributed: an api that owns the Redis prefix, a worker instance beside it.
    let home = TestApp::spawn_with(mode.backend(), on_db(mode == Mode::Embedded)).await;
    let worker = match mode {
        Mode::Embedded => None,
        Mode::Distributed => Some(home.sibling_with(beside()).await),
    };
    let staff = home.staff("admin").await;
    staff.post("/api/leagues", json!({"steam_league_id": LEAGUE, "name": "DTX"})).await;

    let paused = staff.post("/api/queues/sync_league_matches/pause", json!({})).await;
    assert_eq!((paused.status, paused.body["paused"].as_bool()), (200, Some(true)), "{}", paused.text);
    assert_eq!(staff.post("/api/queues/no_such_kind/pause", json!({})).await.status, 404);
    let sync =
        staff.post("/api/jobs", json!({"kind": "sync_league_matches", "args": {"steam_league_id": LEAGUE}})).await;
    assert_eq!(sync.status, 202, "enqueues are still accepted: {}", sync.text);
    let id = id_of(&sync);
    // Other kinds run meanwhile.
    let other = staff.post("/api/jobs", json!({"kind": "check_scheduled_events"})).await;
    reaches(&staff, &id_of(&other), "succeeded").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(run_of(&staff, &id).await["status"], "queued");
    assert_eq!(steam.calls("GetMatchHistory"), 0, "no Steam call while paused");
    let queues = staff.get("/api/queues").await;
    let sync_queue = queues.body.as_array().unwrap().iter().find(|q| q["kind"] == "sync_league_matches").unwrap();
    assert_eq!((sync_queue["paused"].as_bool(), sync_queue["lane"].as_str()), (Some(true), Some("bulk")));
    drop(staff);

    // The worker restarts: the pause holds.
    let (home, _worker) = match (mode, worker) {
        (Mode::Distributed, Some(worker)) => {
            worker.stop().await;
            let restarted = home.sibling_with(beside()).await;
            (home, Some(restarted))
        }
        _ => {
            home.stop().await;
            (TestApp::spawn_with(mode.backend(), on_db(true)).await, None)
        }
    };
    let staff = home.staff("admin").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(steam.calls("GetMatchHistory"), 0, "no Steam call after the restart");
    assert_eq!(run_of(&staff, &id).await["status"], "queued");
    let resumed = staff.post("/api/queues/sync_league_matches/resume", json!({})).await;
    assert_eq!((resumed.status, resumed.body["paused"].as_bool()), (200, Some(false)));
    let done = reaches(&staff, &id, "succeeded").await;
    assert_eq!(done["result"]["ingested"], 5, "{done}");
}

/// A thousand slow bulk runs wait (each holds a Steam call for 2 s); an
/// interactive run enqueued after them starts within a second.
async fn an_interactive_run_starts_within_a_second_behind_a_thousand_bulk_runs(mode: Mode) {
    use wiremock::matchers::{method, path_regex};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let slow_steam = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path_regex("GetPlayerSummaries"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"response": {"players": []}}))
                .set_delay(Duration::from_secs(2)),
        )
        .mount(&slow_steam)
        .await;
    let args = ["--steam-api-key", "k", "--steam-api-base", &slow_steam.uri(), "--steam-rate-per-sec", "1000"];
    let app = TestApp::spawn_with(mode.backend(), mode.options(args.map(String::from).to_vec(), true)).await;
    let staff = app.staff("admin").await;
    let steamy = staff.post("/api/users", json!({"username": "steamy", "steamId": "76561197960287930"})).await;
    assert_eq!(steamy.status, 201, "{}", steamy.text);
    let bulk: Vec<Value> = (0..1000).map(|_| json!({"kind": "refresh_steam_profiles"})).collect();
    let queued = staff.post("/api/jobs/batch", json!({"jobs": bulk})).await;
    assert_eq!(queued.status, 202, "{}", queued.text);
    eventually("the bulk lane to be busy", DEADLINE, || async {
        let busy = app.db_rows("SELECT id FROM job_runs WHERE status = 'running'").await;
        (!busy.is_empty()).then_some(())
    })
    .await;

    let player = app.user("player").await.get("/api/me").await.id();
    let interactive =
        staff.post("/api/jobs", json!({"kind": "refresh_user_avatar", "args": {"user_id": player}})).await;
    assert_eq!(interactive.body["lane"], "interactive", "{}", interactive.text);
    let done = reaches(&staff, &id_of(&interactive), "succeeded").await;
    let enqueued: chrono::DateTime<Utc> = done["enqueued_at"].as_str().unwrap().parse().unwrap();
    let started: chrono::DateTime<Utc> = done["started_at"].as_str().unwrap().parse().unwrap();
    assert!(started - enqueued < chrono::Duration::seconds(1), "waited {} behind bulk work", started - enqueued);
    let waiting = staff.get("/api/jobs?kind=refresh_steam_profiles&status=queued").await.body["count"].as_u64();
    assert!(waiting > Some(980), "the bulk runs still wait ({waiting:?} of them)");
    assert!(!slow_steam.received_requests().await.unwrap_or_default().is_empty(), "the bulk runs hold Steam calls");
    staff.post("/api/jobs/bulk", json!({"action": "cancel", "kind": "refresh_steam_profiles"})).await;
}

/// One waiting sync, retry or stats run per league: a second enqueue is the
/// same run (200, deduplicated) until it starts; idempotency keys belong to
/// whoever sent them; `cron:` keys are the scheduler's.
async fn a_second_sync_of_a_waiting_league_is_the_same_run_and_keys_belong_to_their_caller(mode: Mode) {
    let app = TestApp::spawn_with(mode.backend(), mode.options(vec![], false)).await;
    let (alice, bob) = (app.staff("alice").await, app.staff("bob").await);
    alice.post("/api/leagues", json!({"steam_league_id": LEAGUE, "name": "DTX"})).await;
    let sync = json!({"kind": "sync_league_matches", "args": {"steam_league_id": LEAGUE}});
    let first = alice.post("/api/jobs", sync.clone()).await;
    assert_eq!((first.status, first.body["deduplicated"].as_bool()), (202, Some(false)), "{}", first.text);
    let second = bob.post("/api/jobs", sync.clone()).await;
    assert_eq!((second.status, second.body["deduplicated"].as_bool()), (200, Some(true)), "{}", second.text);
    assert_eq!(id_of(&second), id_of(&first), "the waiting run is returned");
    // Another kind of the same league, and the same kind of another league, are runs of their own.
    let retry =
        alice.post("/api/jobs", json!({"kind": "retry_failed_matches", "args": {"steam_league_id": LEAGUE}})).await;
    let other = alice.post("/api/jobs", json!({"kind": "sync_league_matches", "args": {"steam_league_id": 99}})).await;
    assert_eq!((retry.status, other.status), (202, 202));
    // Once the waiting run is cancelled, the next enqueue is a new run.
    alice.post(&format!("/api/jobs/{}/cancel", id_of(&first)), json!({})).await;
    let third = alice.post("/api/jobs", sync).await;
    assert_eq!(third.status, 202);
    assert_ne!(id_of(&third), id_of(&first));

    let keyed = |key: &str| json!({"kind": "check_scheduled_events", "idempotency_key": key});
    let mine = alice.post("/api/jobs", keyed("night-1")).await;
    let again = alice.post("/api/jobs", keyed("night-1")).await;
    assert_eq!(id_of(&again), id_of(&mine), "my key returns my run");
    let theirs = bob.post("/api/jobs", keyed("night-1")).await;
    assert_eq!(theirs.status, 202);
    assert_ne!(id_of(&theirs), id_of(&mine), "another caller's key is another key");
    assert_eq!(theirs.body["enqueued_by"], bob.get("/api/me").await.body["id"]);
    let rows = app.count("job_runs").await;
    for (key, code) in [
        ("cron:sync_league_matches:17929:1800000000", "reserved_key"),
        ("a\u{1}b", "invalid_idempotency_key"),
        ("a\u{0}b", "invalid_character"),
    ] {
        let refused = alice.post("/api/jobs", keyed(key)).await;
        assert_eq!((refused.status, refused.error_code().as_str()), (422, code), "{}", refused.text);
    }
    assert_eq!(app.count("job_runs").await, rows, "refused keys enqueue nothing");
}

/// Bulk retry by filter counts what it matched and changed; bulk cancel
/// cancels what still waits; more than 10 000 matches is refused whole.
async fn bulk_retry_and_cancel_by_filter_count_their_runs(mode: Mode) {
    let app = TestApp::spawn_with(mode.backend(), mode.options(vec![], true)).await;
    let staff = app.staff("admin").await;
    // Stats of leagues that do not exist die at once (bad input is permanent).
    let mut dead = Vec::new();
    for league in 1..=3 {
        let run =
            staff.post("/api/jobs", json!({"kind": "update_league_stats", "args": {"steam_league_id": league}})).await;
        dead.push(id_of(&run));
    }
    let other = staff.post("/api/jobs", json!({"kind": "auto_link_games", "args": {"steam_league_id": 4}})).await;
    for id in dead.iter().chain([&id_of(&other)]) {
        reaches(&staff, id, "dead").await;
    }
    let retried =
        staff.post("/api/jobs/bulk", json!({"action": "retry", "kind": "update_league_stats", "status": "dead"})).await;
    assert_eq!(retried.status, 200, "{}", retried.text);
    assert_eq!((retried.body["matched"].as_u64(), retried.body["changed"].as_u64()), (Some(3), Some(3)));
    for id in &dead {
        let run = eventually("the retried run to die again", DEADLINE, || async {
            let run = run_of(&staff, id).await;
            (run["status"] == "dead" && run["attempt_history"].as_array().is_some_and(|a| a.len() == 2)).then_some(run)
        })
        .await;
        assert_eq!(run["attempt_history"][1]["outcome"], "dead", "{run}");
    }
    assert_eq!(run_of(&staff, &id_of(&other)).await["attempt_history"].as_array().unwrap().len(), 1, "not matched");

    let later = (Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    for _ in 0..2 {
        staff.post("/api/jobs", json!({"kind": "prune_job_runs", "run_at": later})).await;
    }
    let cancel = json!({"action": "cancel", "kind": "prune_job_runs", "enqueued_after": (Utc::now() - chrono::Duration::minutes(1)).to_rfc3339()});
    let cancelled = staff.post("/api/jobs/bulk", cancel).await;
    assert_eq!(
        (cancelled.body["matched"].as_u64(), cancelled.body["changed"].as_u64()),
        (Some(2), Some(2)),
        "{}",
        cancelled.text
    );
    assert_eq!(staff.get("/api/jobs?status=cancelled").await.body["count"], 2);

    // 10 001 dead runs: too many for one call; nothing changes.
    tests::fixtures::dead_runs(&app, "refresh_discord_avatars", 10_001).await;
    let refused = staff.post("/api/jobs/bulk", json!({"action": "retry", "kind": "refresh_discord_avatars"})).await;
    assert_eq!((refused.status, refused.error_code().as_str()), (422, "too_many_runs"), "{}", refused.text);
    assert_eq!(refused.body["error"]["details"]["matched"], 10_001);
    assert_eq!(
        app.db_rows("SELECT id FROM job_runs WHERE kind = 'refresh_discord_avatars' AND status = 'dead'").await.len(),
        10_001
    );
    let bad = staff.post("/api/jobs/bulk", json!({"action": "retry", "kind": "nope"})).await;
    assert_eq!(bad.status, 422);
    assert_eq!(app.user("u").await.post("/api/jobs/bulk", json!({"action": "cancel"})).await.status, 403);
}

/// Puts `bytes` on the bulk queue as a task, as another build (or a broken
/// one) would have.
async fn raw_task(app: &TestApp, bytes: &[u8]) {
    match &app.state.jobs.enqueuer.queue {
        worker::infra::queue::Queue::Redis { configs, conn, .. } => {
            let config = &configs.bulk;
            let task = worker::jobs::enqueue::new_run_id().to_uppercase();
            let mut pipe = redis::pipe();
            pipe.hset(config.job_data_hash(), &task, bytes)
                .hset_multiple(
                    format!("{}:{task}", config.job_meta_hash()),
                    &[("attempts", "0"), ("max_attempts", "25"), ("status", "Pending"), ("idempotency_key", "")],
                )
                .rpush(config.active_jobs_list(), &task);
            pipe.query_async::<()>(&mut conn.clone()).await.unwrap();
        }
        _ => {
            use sea_orm::ConnectionTrait;
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            let sql = format!(
                "INSERT INTO Jobs (job, id, job_type, status, attempts, max_attempts, run_at, priority) \
                 VALUES (x'{hex}', '{}', 'dtx_jobs', 'Pending', 0, 25, 0, 0)",
                worker::jobs::enqueue::new_run_id().to_uppercase()
            );
            app.db().execute_unprepared(&sql).await.unwrap();
        }
    }
}

/// A task no build can read — an unknown field (as a newer build of the same
/// version would write), an unknown kind, bad JSON — ends `dead` once with
/// the reason, and the worker goes on.
async fn an_undecodable_task_ends_dead_once_and_the_worker_keeps_running(mode: Mode) {
    let app = TestApp::spawn_with(mode.backend(), mode.options(vec![], true)).await;
    let staff = app.staff("admin").await;
    // A queued run whose task comes with a field this build does not know.
    let run = staff
        .post(
            "/api/jobs",
            json!({"kind": "prune_job_runs", "run_at": (Utc::now() + chrono::Duration::hours(1)).to_rfc3339()}),
        )
        .await;
    let run_id = id_of(&run);
    let unknown_field = json!({"v": 2, "run_id": run_id, "attempt": 1, "max_attempts": 3, "colour": "red",
                               "job": {"kind": "prune_job_runs", "args": {"keep_days": 30}}});
    let unknown_kind = json!({"v": 2, "run_id": "01kindunknown0000000000000", "attempt": 1, "max_attempts": 3,
                              "job": {"kind": "mine_bitcoin", "args": {}}});
    raw_task(&app, &serde_json::to_vec(&unknown_field).unwrap()).await;
    raw_task(&app, &serde_json::to_vec(&unknown_kind).unwrap()).await;
    raw_task(&app, b"{\"run_id\": \"01brokenjson\", \"attempt\": ").await;

    let dead = reaches(&staff, &run_id, "dead").await;
    assert!(dead["error"].as_str().unwrap().starts_with("undecodable: unknown field `colour`"), "{dead}");
    let letters = eventually("three dead letters", DEADLINE, || async {
        let rows = app.db_rows("SELECT kind || '|' || error FROM job_runs WHERE status = 'dead' ORDER BY kind").await;
        (rows.len() == 3).then_some(rows)
    })
    .await;
    assert!(
        letters.iter().any(|r| r.starts_with("mine_bitcoin|undecodable: unknown variant `mine_bitcoin`")),
        "{letters:?}"
    );
    assert!(
        letters.iter().any(|r| r.starts_with("undecodable|undecodable: not JSON")),
        "bad JSON gets a row of its own: {letters:?}"
    );

    // The worker goes on, and nothing comes back.
    let after = staff.post("/api/jobs", json!({"kind": "check_scheduled_events"})).await;
    reaches(&staff, &id_of(&after), "succeeded").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(app.db_rows("SELECT id FROM job_runs WHERE status = 'dead'").await.len(), 3, "dead-lettered once each");
    let metrics = app.metrics().await.text;
    assert!(
        metrics.lines().any(|l| l.starts_with("dtx_jobs_undecodable_total") && l.ends_with(" 3")),
        "a counter of undecodable tasks:\n{}",
        metrics.lines().filter(|l| l.contains("undecodable")).collect::<Vec<_>>().join("\n")
    );
}

in_both_modes!(
    a_scheduled_run_starts_at_its_time_and_a_cancelled_one_never_does,
    a_running_sync_is_cancelled_within_five_seconds_and_steam_stops_being_called,
    a_paused_kind_waits_until_resumed_also_across_a_restart,
    an_interactive_run_starts_within_a_second_behind_a_thousand_bulk_runs,
    a_second_sync_of_a_waiting_league_is_the_same_run_and_keys_belong_to_their_caller,
    bulk_retry_and_cancel_by_filter_count_their_runs,
    an_undecodable_task_ends_dead_once_and_the_worker_keeps_running,
    a_request_trace_travels_in_the_envelope_of_the_job_it_enqueues,
);

/// An idle embedded worker starts a new run promptly — every enqueue wakes
/// it, no poll interval to wait out — and a healthy run logs no warning.
#[tokio::test]
async fn an_idle_embedded_worker_starts_a_new_run_within_300_ms_and_logs_no_warning() {
    let warnings = tests::CapturedLogs::default();
    tracing_subscriber::fmt().with_max_level(tracing::Level::WARN).with_writer(warnings.clone()).init();
    let app = TestApp::spawn_with(Mode::Embedded.backend(), Mode::Embedded.options(vec![], true)).await;
    let staff = app.staff("admin").await;
    let mut waits = Vec::new();
    for n in 0..20 {
        // Idle in between, as a league's night is.
        tokio::time::sleep(Duration::from_millis(400 + 37 * (n % 5))).await;
        let run = staff.post("/api/jobs", json!({"kind": "check_scheduled_events"})).await;
        let done = reaches(&staff, &id_of(&run), "succeeded").await;
        let enqueued: chrono::DateTime<Utc> = done["enqueued_at"].as_str().unwrap().parse().unwrap();
        let started: chrono::DateTime<Utc> = done["started_at"].as_str().unwrap().parse().unwrap();
        waits.push((started - enqueued).num_milliseconds());
    }
    waits.sort_unstable();
    let p95 = waits[waits.len() * 95 / 100 - 1];
    eprintln!("embedded enqueue -> start, ms: {waits:?}");
    assert!(p95 <= 300, "p95 {p95} ms: {waits:?}");
    let logged = warnings.text();
    assert!(logged.is_empty(), "a healthy run logged:\n{logged}");
}

/// Embedded mode stops as a SIGTERM stops it: a sync longer than the
/// shutdown timeout is handed back (its claim released) and the api stops
/// within the timeout + 5 s; restarted, it starts the run at once.
#[tokio::test]
async fn a_stopping_embedded_api_hands_its_running_sync_back_and_starts_it_again_when_restarted() {
    let steam = SteamMock::start((0..300).map(MockMatch::nth).collect()).await;
    let db = TestDb::create(Mode::Embedded.backend()).await;
    let on_db = |rate: &str| {
        let mut args = steam.args();
        args.extend(["--steam-rate-per-sec", rate, "--worker-shutdown-timeout-secs", "2"].map(String::from));
        Options { args, worker: true, database_url: Some(db.url.clone()), ..Default::default() }
    };
    let app = TestApp::spawn_with(Mode::Embedded.backend(), on_db("20")).await;
    let staff = app.staff("admin").await;
    staff.post("/api/leagues", json!({"steam_league_id": LEAGUE, "name": "DTX"})).await;
    let sync = staff
        .post("/api/jobs", json!({"kind": "sync_league_matches", "args": {"steam_league_id": LEAGUE, "full": true}}))
        .await;
    let id = id_of(&sync);
    eventually("the sync to be under way", DEADLINE, || async {
        (app.count("steam_matches").await >= 2).then_some(())
    })
    .await;
    drop(staff);
    let stopping = Instant::now();
    app.stop().await;
    assert!(stopping.elapsed() < Duration::from_secs(2 + 5), "stopped after {:?}", stopping.elapsed());

    let restarted = TestApp::spawn_with(Mode::Embedded.backend(), on_db("100000")).await;
    let staff = restarted.staff("admin").await;
    let handed_back = run_of(&staff, &id).await;
    assert_eq!(handed_back["attempt_history"][0]["outcome"], "handed_back", "{handed_back}");
    let again = Instant::now();
    eventually("the restarted worker to start the run", Duration::from_secs(5), || async {
        (run_of(&staff, &id).await["attempt_history"].as_array().map(Vec::len) == Some(2)).then_some(())
    })
    .await;
    eprintln!("restarted after {:?}", again.elapsed());
    let done = reaches(&staff, &id, "succeeded").await;
    assert_eq!(restarted.count("steam_matches").await, 300, "{done}");
}

/// The W3C trace of the request that enqueues a job travels in its
/// envelope: the task on the queue carries the caller's trace id (a span
/// of its own below the caller's).
async fn a_request_trace_travels_in_the_envelope_of_the_job_it_enqueues(mode: Mode) {
    let app = TestApp::spawn_with(mode.backend(), mode.options(vec![], false)).await;
    let staff = app.staff("admin").await;
    let caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let body = json!({"kind": "check_scheduled_events"}).to_string().into_bytes();
    let queued = staff
        .send(reqwest::Method::POST, "/api/jobs", Some(("application/json", body)), &[("traceparent", caller)])
        .await;
    let run = id_of(&queued);
    let tasks: Vec<String> = match &app.state.jobs.enqueuer.queue {
        worker::infra::queue::Queue::Redis { configs, conn, .. } => {
            redis::AsyncCommands::hvals(&mut conn.clone(), configs.bulk.job_data_hash()).await.unwrap()
        }
        _ => app.db_rows("SELECT CAST(job AS TEXT) FROM Jobs").await,
    };
    let task = tasks.iter().find(|t| t.contains(&run)).expect("the run's task on the queue");
    let envelope: Value = serde_json::from_str(task).unwrap();
    let carried = envelope["traceparent"].as_str().unwrap_or_else(|| panic!("no trace in {envelope}"));
    assert!(carried.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"), "{carried}");
    assert_ne!(carried, caller, "the request's own span, below the caller's");
}
