//! The job system through its API and queue: admin enqueue, the ledger
//! lifecycle, retries to dead and manual retry, scheduler replicas, Discord
//! avatar rotation and event posting.

use std::time::Duration;

use serde_json::{Value, json};
use tests::steam_mock::{MockMatch, SteamMock};
use tests::{Caller, Mode, Options, TestApp, eventually, in_both_modes};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};
use worker::jobs::enqueue::NewJob;
use worker::jobs::ledger::Finish;

const LEAGUE: i64 = 17929;
const DEADLINE: Duration = Duration::from_secs(30);

/// Polls a job until it reaches `status`.
async fn job_reaches(staff: &Caller<'_>, id: &str, status: &str) -> Value {
    eventually(&format!("job {id} to be {status}"), DEADLINE, || async {
        let run = staff.get(&format!("/api/jobs/{id}")).await;
        (run.body["status"] == status).then_some(run.body)
    })
    .await
}

async fn admin_enqueue_runs_through_the_ledger_to_the_leaderboard(mode: Mode) {
    let steam = SteamMock::start((0..12).map(MockMatch::nth).collect()).await;
    let app = TestApp::spawn_with(mode.backend(), mode.options(steam.args(), true)).await;
    let staff = app.staff("admin").await;
    staff.post("/api/leagues", json!({"steam_league_id": LEAGUE, "name": "DTX"})).await;
    for (i, account) in tests::steam_mock::ACCOUNTS.iter().enumerate() {
        staff
            .post(
                "/api/users",
                json!({"username": format!("p{i}"), "mmr": 3000, "steamId": account + 76561197960265728_i64}),
            )
            .await;
    }
    let queued =
        staff.post("/api/jobs", json!({"kind": "sync_league_matches", "args": {"steam_league_id": LEAGUE}})).await;
    assert_eq!(queued.status, 202, "{}", queued.text);
    assert_eq!(queued.body["status"], "queued");
    let id = queued.body["id"].as_str().unwrap().to_owned();
    let done = job_reaches(&staff, &id, "succeeded").await;
    assert_eq!(done["attempts"], 1);
    assert_eq!(done["result"]["ingested"], 12, "{done}");
    assert!(done["started_at"].is_string() && done["finished_at"].is_string());

    // The sync enqueued the stats job, which the worker ran too.
    let stats_run = eventually("update_league_stats to succeed", DEADLINE, || async {
        let list = staff.get("/api/jobs?kind=update_league_stats&status=succeeded").await;
        (list.body["count"] == 1).then_some(list.body)
    })
    .await;
    assert_eq!(stats_run["results"][0]["result"]["players"], 20);
    let board = app.anon().get(&format!("/api/leagues/{}/leaderboard", app.league_id(LEAGUE).await)).await;
    assert_eq!(board.body["count"], 20);
    assert!(board.body["results"][0]["league_mmr"].is_i64());

    let metrics = app.metrics().await.text;
    assert!(
        metrics.lines().any(|l| l.starts_with("dtx_jobs_total")
            && l.contains(r#"kind="sync_league_matches""#)
            && l.contains(r#"outcome="succeeded""#)),
        "job outcomes are counted:\n{metrics}"
    );
    assert!(metrics.contains("dtx_steam_calls_total"), "Steam calls are counted");
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("dtx_job_last_success_timestamp_seconds")
                && l.contains(r#"kind="sync_league_matches""#)),
        "the last successful sync is exported:\n{metrics}"
    );
    let workers = metrics.lines().find(|l| l.starts_with("dtx_workers_alive ")).expect("workers gauge");
    assert_ne!(workers, "dtx_workers_alive 0", "the worker pool is alive");
    let queues = staff.get("/api/queues").await;
    let sync_queue =
        queues.body.as_array().unwrap().iter().find(|q| q["kind"] == "sync_league_matches").unwrap().clone();
    assert_eq!(sync_queue["succeeded"], 1, "{sync_queue}");
    assert!(sync_queue["workers_alive"].as_u64().unwrap() >= 1);
}

async fn enqueue_is_staff_only_and_checks_args(mode: Mode) {
    let app = TestApp::spawn_with(mode.backend(), mode.options(vec![], false)).await;
    let body = json!({"kind": "update_league_stats", "args": {"steam_league_id": 1}});
    assert_eq!(app.anon().post("/api/jobs", body.clone()).await.status, 401);
    assert_eq!(app.user("u").await.post("/api/jobs", body.clone()).await.status, 403);
    assert_eq!(app.user("u").await.get("/api/jobs").await.status, 403);
    let staff = app.staff("admin").await;
    for (bad, why) in [
        (json!({"kind": "drop_tables", "args": {}}), "unknown job kind"),
        (json!({"kind": "sync_league_matches", "args": {}}), "steam_league_id"),
        (json!({"kind": "sync_league_matches", "args": {"steam_league_id": "x"}}), "invalid args"),
        (json!({"kind": "refresh_discord_avatars", "args": {"batch_size": 0}}), "batch_size"),
        (json!({"kind": "refresh_user_avatar", "args": {"user_id": 1, "extra": true}}), "unknown field"),
    ] {
        let resp = staff.post("/api/jobs", bad.clone()).await;
        assert_eq!((resp.status, resp.error_code().as_str()), (422, "invalid_job"), "{bad}");
        assert!(resp.body["error"]["message"].as_str().unwrap().contains(why), "{}", resp.text);
    }
    assert_eq!(app.count("job_runs").await, 0, "refused jobs leave no ledger row");
    let missing = staff.get("/api/jobs/nope").await;
    assert_eq!(missing.status, 404);
    let not_retryable = staff.post("/api/jobs", body).await;
    let id = not_retryable.body["id"].as_str().unwrap();
    let retry = staff.post(&format!("/api/jobs/{id}/retry"), json!({})).await;
    assert_eq!((retry.status, retry.error_code().as_str()), (409, "not_retryable"));
}

async fn failing_jobs_retry_with_backoff_then_die_and_can_be_retried(mode: Mode) {
    // Steam is unreachable: every attempt fails transiently.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let args =
        ["--steam-api-key", "k", "--steam-api-base", &format!("http://{closed}"), "--steam-rate-per-sec", "1000"];
    let app = TestApp::spawn_with(mode.backend(), mode.options(args.map(String::from).to_vec(), true)).await;
    let staff = app.staff("admin").await;
    staff.post("/api/leagues", json!({"steam_league_id": LEAGUE, "name": "DTX"})).await;
    let queued =
        staff.post("/api/jobs", json!({"kind": "sync_league_matches", "args": {"steam_league_id": LEAGUE}})).await;
    let id = queued.body["id"].as_str().unwrap().to_owned();
    let dead = job_reaches(&staff, &id, "dead").await;
    assert_eq!(dead["attempts"], 5, "max_attempts of the sync kind: {dead}");
    assert!(dead["error"].as_str().unwrap().contains("Steam unreachable"), "{dead}");

    let metrics = app.metrics().await.text;
    assert!(
        metrics.lines().any(|l| l.starts_with("dtx_queue_depth{")
            && l.contains(r#"kind="sync_league_matches""#)
            && l.contains(r#"status="dead""#)
            && l.ends_with(" 1")),
        "dead jobs are a gauge to alert on:\n{metrics}"
    );
    let queues = staff.get("/api/queues").await.body;
    let sync = queues.as_array().unwrap().iter().find(|q| q["kind"] == "sync_league_matches").unwrap();
    assert_eq!((sync["dead"].as_u64(), sync["last_succeeded_at"].is_null()), (Some(1), true), "{sync}");

    let retried = staff.post(&format!("/api/jobs/{id}/retry"), json!({})).await;
    assert_eq!(retried.status, 202, "{}", retried.text);
    assert_eq!(retried.body["status"], "queued");
    let again = eventually("the retried job to run again", DEADLINE, || async {
        let run = staff.get(&format!("/api/jobs/{id}")).await;
        (run.body["attempts"].as_i64() > Some(5)).then_some(run.body)
    })
    .await;
    assert!(again["attempts"].as_i64().unwrap() > 5);

    // Bad input is permanent: straight to dead, one attempt.
    let unknown =
        staff.post("/api/jobs", json!({"kind": "update_league_stats", "args": {"steam_league_id": 4242}})).await;
    let dead = job_reaches(&staff, unknown.body["id"].as_str().unwrap(), "dead").await;
    assert_eq!(dead["attempts"], 1);
    assert!(dead["error"].as_str().unwrap().contains("unknown league"), "{dead}");
}

/// Ledger rows of every status, some finished long ago: the prune removes
/// exactly the old succeeded and dead ones.
async fn finished_runs_older_than_the_retention_are_pruned(mode: Mode) {
    use entity::{JobStatus, job_run};
    use sea_orm::{ActiveModelTrait, EntityTrait, Set};
    let app = TestApp::spawn_with(mode.backend(), mode.options(vec![], true)).await;
    let staff = app.staff("admin").await;
    let now = chrono::Utc::now();
    let mut kept = Vec::new();
    for (status, age_days, finished) in [
        (JobStatus::Succeeded, 40, true),
        (JobStatus::Dead, 40, true),
        (JobStatus::Succeeded, 2, true),
        (JobStatus::Dead, 2, true),
        (JobStatus::Failed, 40, false),
        (JobStatus::Queued, 40, false),
    ] {
        let at = now - chrono::Duration::days(age_days);
        let id = worker::jobs::enqueue::new_run_id();
        job_run::ActiveModel {
            id: Set(id.clone()),
            kind: Set("check_scheduled_events".into()),
            args: Set(json!({})),
            status: Set(status),
            attempts: Set(1),
            max_attempts: Set(3),
            progress: Set(None),
            result: Set(None),
            error: Set(None),
            enqueued_by: Set(None),
            enqueued_at: Set(at),
            started_at: Set(Some(at)),
            finished_at: Set(finished.then_some(at)),
            idempotency_key: Set(None),
            attempt_log: Set(None),
            run_at: Set(None),
            cancel_requested_at: Set(None),
            queue_key: Set(None),
        }
        .insert(app.db())
        .await
        .unwrap();
        if age_days < 30 || !finished {
            kept.push(id);
        }
    }
    let bad = staff.post("/api/jobs", json!({"kind": "prune_job_runs", "args": {"keep_days": 0}})).await;
    assert_eq!(bad.status, 422, "{}", bad.text);
    let queued = staff.post("/api/jobs", json!({"kind": "prune_job_runs", "args": {"keep_days": 30}})).await;
    let id = queued.body["id"].as_str().unwrap().to_owned();
    let done = job_reaches(&staff, &id, "succeeded").await;
    assert_eq!(done["result"]["deleted"], 2, "{done}");
    kept.push(id);
    kept.sort();
    let mut left: Vec<String> =
        job_run::Entity::find().all(app.db()).await.unwrap().into_iter().map(|r| r.id).collect();
    left.sort();
    assert_eq!(left, kept, "only old succeeded and dead runs go");
}

/// Whether the queue still holds a task of run `run_id` (apalis keeps a
/// finished task's data: the Redis task hash, the SQLite `Jobs` table).
async fn queue_holds(app: &TestApp, run_id: &str) -> bool {
    use redis::AsyncCommands;
    match &app.state.jobs.enqueuer.queue {
        worker::infra::queue::Queue::Redis { configs, conn, .. } => {
            let tasks: Vec<String> = conn.clone().hvals(configs.bulk.job_data_hash()).await.unwrap();
            tasks.iter().any(|task| task.contains(run_id))
        }
        _ => !app.db_rows(&format!("SELECT id FROM Jobs WHERE CAST(job AS TEXT) LIKE '%{run_id}%'")).await.is_empty(),
    }
}

/// Puts `count` finished tasks straight into the queue's storage, as apalis
/// leaves a done task (more than one forget step takes).
async fn finished_tasks(app: &TestApp, count: usize) {
    match &app.state.jobs.enqueuer.queue {
        worker::infra::queue::Queue::Redis { configs, conn, .. } => {
            let config = &configs.bulk;
            let mut pipe = redis::pipe();
            for n in 0..count {
                let task = format!("synthetic-{n}");
                pipe.sadd(config.done_jobs_set(), &task).hset(config.job_data_hash(), &task, "{}").hset(
                    format!("{}:{task}", config.job_meta_hash()),
                    "status",
                    "Done",
                );
            }
            pipe.query_async::<()>(&mut conn.clone()).await.unwrap();
        }
        _ => {
            use sea_orm::ConnectionTrait;
            let sql = format!(
                "INSERT INTO Jobs (job, id, job_type, status, attempts, max_attempts, run_at, priority) \
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count}) \
                 SELECT x'7b7d', 'synthetic-' || i, 'dtx_jobs', 'Done', 1, 25, 0, 0 FROM n"
            );
            app.db().execute_unprepared(&sql).await.unwrap();
        }
    }
}

/// The daily prune also has the queue forget its finished tasks (the ledger
/// keeps the runs), and leaves a task that still waits.
async fn the_prune_makes_the_queue_forget_finished_tasks(mode: Mode) {
    let app = TestApp::spawn_with(mode.backend(), mode.options(vec![], true)).await;
    let staff = app.staff("admin").await;
    let ran = staff.post("/api/jobs", json!({"kind": "check_scheduled_events"})).await;
    let ran = ran.body["id"].as_str().unwrap().to_owned();
    job_reaches(&staff, &ran, "succeeded").await;
    let job = worker::jobs::Job::CheckScheduledEvents(worker::jobs::payload::CheckScheduledEvents {});
    let (waiting, _) =
        app.state.jobs.enqueuer.enqueue(NewJob::new(job).after(Duration::from_secs(3600))).await.unwrap();
    assert!(queue_holds(&app, &ran).await, "apalis keeps a finished task");
    assert!(queue_holds(&app, &waiting.id).await);
    finished_tasks(&app, 1_500).await;

    let prune = staff.post("/api/jobs", json!({"kind": "prune_job_runs", "args": {"keep_days": 30}})).await;
    let done = job_reaches(&staff, prune.body["id"].as_str().unwrap(), "succeeded").await;
    assert_eq!(done["result"]["queue_tasks_forgotten"], 1 + 1_500, "{done}");
    assert!(!queue_holds(&app, &ran).await, "the finished task is forgotten");
    assert!(queue_holds(&app, &waiting.id).await, "a waiting task stays");
    assert_eq!(job_reaches(&staff, &ran, "succeeded").await["id"], ran, "the ledger keeps the run");
}

/// Two scheduler replicas ticking every second: each tick is enqueued once
/// and none is lost; a replica that fires a tick again enqueues nothing; and
/// while a league's sync waits (no worker here), the next ticks' syncs are
/// that same run, not a pile of new ones.
async fn scheduler_replicas_enqueue_each_tick_once(mode: Mode) {
    let steam = SteamMock::start(vec![]).await;
    let app = TestApp::spawn_with(mode.backend(), mode.options(steam.args(), false)).await;
    app.staff("admin").await.post("/api/leagues", json!({"steam_league_id": LEAGUE, "name": "DTX"})).await;
    let every_second = |kind| worker::runtime::schedule::parse(kind, "* * * * * *", apalis_cron_tz()).unwrap();
    let (stop, rx) = tokio::sync::watch::channel(false);
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let ctx = app.state.jobs.clone();
        let defs = vec![every_second("prune_job_runs"), every_second("sync_league_matches")];
        let mut rx = rx.clone();
        replicas.push(tokio::spawn(worker::runtime::schedule::run(ctx, defs, async move {
            let _ = rx.wait_for(|s| *s).await;
        })));
    }
    let keys = eventually("four ticks", DEADLINE, || async {
        let keys = app.tick_keys("prune_job_runs").await;
        (keys.len() >= 4).then_some(keys)
    })
    .await;
    let _ = stop.send(true);
    for r in replicas {
        let _ = r.await;
    }
    let ticks: Vec<i64> = keys.iter().map(|k| k.rsplit(':').next().unwrap().parse().unwrap()).collect();
    let mut distinct = ticks.clone();
    distinct.dedup();
    assert_eq!(distinct, ticks, "each tick enqueued once: {keys:?}");
    for pair in ticks.windows(2) {
        assert_eq!(pair[1] - pair[0], 1, "no tick lost between {} and {}", pair[0], pair[1]);
    }
    // A replica that fires a tick again (restart) enqueues nothing.
    assert_eq!(worker::runtime::schedule::fire(&app.state.jobs, "prune_job_runs", ticks[0]).await.unwrap(), 0);
    let syncs = app.db_rows("SELECT status FROM job_runs WHERE kind = 'sync_league_matches'").await;
    assert_eq!(syncs, ["queued"], "the waiting sync took every later tick");
}

fn apalis_cron_tz() -> chrono_tz::Tz {
    chrono_tz::Tz::UTC
}

async fn mock_discord() -> MockServer {
    let discord = MockServer::start().await;
    Mock::given(method("HEAD"))
        .and(path_regex("^/avatars/.*"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&discord)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/v10/users/\d+$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "1", "avatar": "fresh_hash"})))
        .mount(&discord)
        .await;
    Mock::given(method("POST"))
        .and(path("/v10/channels/555/messages"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "999"})))
        .mount(&discord)
        .await;
    Mock::given(method("PUT"))
        .and(path_regex("^/v10/channels/555/messages/999/reactions/.*"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&discord)
        .await;
    discord
}

fn discord_args(discord: &MockServer) -> Vec<String> {
    ["--discord-bot-token", "bot-token", "--discord-api-base", &discord.uri(), "--discord-cdn-base", &discord.uri()]
        .map(String::from)
        .to_vec()
}

async fn avatar_batches_check_everyone_before_anyone_twice(mode: Mode) {
    let discord = mock_discord().await;
    let app = TestApp::spawn_with(mode.backend(), mode.options(discord_args(&discord), false)).await;
    let staff = app.staff("admin").await;
    for i in 0..7 {
        staff.post("/api/users", json!({"username": format!("d{i}"), "discordId": format!("{}", 100 + i)})).await;
    }
    let batch = worker::jobs::payload::RefreshDiscordAvatars { batch_size: 3 };
    for _ in 0..3 {
        let result = batch.run(&app.state.jobs).await.unwrap();
        assert_eq!(result["checked"], 3, "{result}");
    }
    let checked: Vec<String> = discord
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.method.as_str() == "GET")
        .map(|r| r.url.path().rsplit('/').next().unwrap().to_owned())
        .collect();
    assert_eq!(checked.len(), 9);
    let mut first_seven = checked[..7].to_vec();
    first_seven.sort();
    first_seven.dedup();
    assert_eq!(first_seven.len(), 7, "every user once before anyone twice: {checked:?}");
    let users = app.anon().get("/api/users?page_size=100").await;
    let fresh = users.body["results"].as_array().unwrap().iter().filter(|u| u["avatar"] == "fresh_hash").count();
    assert_eq!(fresh, 7, "new hashes stored");
}

async fn a_due_event_is_posted_once_and_moves_to_its_next_week(mode: Mode) {
    use chrono::Utc;
    use sea_orm::{ActiveModelTrait, EntityTrait, Set};
    let discord = mock_discord().await;
    let app = TestApp::spawn_with(mode.backend(), mode.options(discord_args(&discord), false)).await;
    let template = entity::discord_event_template::ActiveModel {
        title: Set("In-house night".into()),
        description: Set("Sign up!".into()),
        colour: Set(0x00ff00),
        channel_id: Set("555".into()),
        include_rsvp: Set(true),
        ..Default::default()
    }
    .insert(app.db())
    .await
    .unwrap();
    // Whole seconds: PostgreSQL keeps microseconds, chrono nanoseconds.
    let scheduled = chrono::DateTime::from_timestamp(Utc::now().timestamp() - 20 * 86_400, 0).unwrap();
    let event = entity::scheduled_discord_event::ActiveModel {
        template_id: Set(template.id),
        next_post_at: Set(scheduled),
        is_recurring: Set(true),
        is_active: Set(true),
        ..Default::default()
    }
    .insert(app.db())
    .await
    .unwrap();
    let job = worker::jobs::payload::CheckScheduledEvents {};
    let (a, b) = tokio::join!(job.run(&app.state.jobs), job.run(&app.state.jobs));
    let posted = a.unwrap()["posted"].as_i64().unwrap() + b.unwrap()["posted"].as_i64().unwrap();
    assert_eq!(posted, 1, "two concurrent runs post the occurrence once");
    let requests = discord.received_requests().await.unwrap();
    assert_eq!(requests.iter().filter(|r| r.method.as_str() == "POST").count(), 1);
    assert_eq!(requests.iter().filter(|r| r.method.as_str() == "PUT").count(), 3, "✅ ❓ ❌");
    let after = entity::scheduled_discord_event::Entity::find_by_id(event.id).one(app.db()).await.unwrap().unwrap();
    assert!(
        after.next_post_at > Utc::now() && after.next_post_at <= Utc::now() + chrono::Duration::days(7),
        "missed weeks skipped"
    );
    assert_eq!((after.next_post_at - scheduled).num_seconds() % (7 * 86_400), 0, "stays on the weekly slot");
    assert_eq!(after.discord_message_id.as_deref(), Some("999"));
    // Nothing is due now: a third run posts nothing.
    assert_eq!(job.run(&app.state.jobs).await.unwrap()["posted"], 0);
}

/// `POST /api/jobs/batch`: many jobs in one call, idempotency keys honoured,
/// one bad job refuses the batch with its index and enqueues nothing.
async fn a_batch_enqueues_many_jobs_at_once(mode: Mode) {
    let app = TestApp::spawn_with(mode.backend(), mode.options(vec![], true)).await;
    let staff = app.staff("admin").await;
    let stats = |key: Option<&str>| json!({"kind": "recalculate_league_mmr", "args": {}, "idempotency_key": key});
    let batch = json!({"jobs": [stats(Some("night-1")), stats(None), stats(Some("night-1")), stats(Some("night-2"))]});
    let queued = staff.post("/api/jobs/batch", batch).await;
    assert_eq!(queued.status, 202, "{}", queued.text);
    let runs = queued.body["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 4);
    assert_eq!(runs[0]["id"], runs[2]["id"], "a key reused in the batch names the same run");
    let distinct: std::collections::BTreeSet<&str> = runs.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(distinct.len(), 3);
    for id in &distinct {
        job_reaches(&staff, id, "succeeded").await;
    }
    assert_eq!(app.count("job_runs").await, 3, "one run per key");
    let again = staff.post("/api/jobs/batch", json!({"jobs": [stats(Some("night-2"))]})).await;
    assert_eq!(again.body["runs"][0]["id"], runs[3]["id"], "a key used in an earlier batch too");

    let bad = json!({"jobs": [stats(None), {"kind": "sync_league_matches", "args": {}}]});
    let refused = staff.post("/api/jobs/batch", bad).await;
    assert_eq!((refused.status, refused.error_code().as_str()), (422, "invalid_job"), "{}", refused.text);
    assert_eq!(refused.body["error"]["details"]["index"], 1);
    assert_eq!(app.count("job_runs").await, 3, "a refused batch enqueues nothing");
    let too_many: Vec<Value> = (0..1001).map(|_| stats(None)).collect();
    assert_eq!(staff.post("/api/jobs/batch", json!({"jobs": too_many})).await.status, 400);
    assert_eq!(app.user("player").await.post("/api/jobs/batch", json!({"jobs": [stats(None)]})).await.status, 403);
}

/// Group commit keeps the single-row guarantees: 300 concurrent enqueues
/// all land; a redelivery of a claimed attempt claims it again; a later
/// attempt refuses the earlier one; a finished run refuses every delivery;
/// a burst of claims and finishes is written in batches, every row right.
async fn the_ledger_keeps_its_rules_under_bursts(mode: Mode) {
    let app = TestApp::spawn_with(mode.backend(), mode.options(vec![], false)).await;
    let enqueuer = app.state.jobs.enqueuer.clone();
    let job = || worker::jobs::Job::CheckScheduledEvents(worker::jobs::payload::CheckScheduledEvents {});
    let singles = futures_util::future::join_all((0..300).map(|_| enqueuer.enqueue(NewJob::new(job())))).await;
    let ids: Vec<String> = singles.into_iter().map(|r| r.unwrap().0.id).collect();
    let ledger = &enqueuer.ledger;
    // Distributed mode records through the Redis journal: a direct reader settles first.
    ledger.settle().await.unwrap();
    assert_eq!(app.count("job_runs").await, 300);
    assert!(tests::claims(ledger, &ids[0], 1).await, "the first delivery claims");
    assert!(tests::claims(ledger, &ids[0], 1).await, "a redelivery re-claims its attempt");
    assert!(tests::claims(ledger, &ids[0], 2).await, "the retry's attempt");
    assert!(!tests::claims(ledger, &ids[0], 1).await, "an earlier attempt is refused");
    ledger.finish(Finish::succeeded(&ids[0], 1, json!({"ok": 1}))).await.unwrap();
    assert!(!tests::claims(ledger, &ids[0], 2).await, "a finished run is refused");
    let many = futures_util::future::join_all(ids[1..].iter().map(|id| tests::claims(ledger, id, 1))).await;
    assert!(many.into_iter().all(|won| won), "every first claim of a burst takes");
    let finishes =
        ids[1..].iter().map(|id| ledger.finish(Finish::errored(id, 1, entity::JobStatus::Failed, "boom".into())));
    assert!(futures_util::future::join_all(finishes).await.into_iter().all(|r| r.is_ok()));
    ledger.settle().await.unwrap();
    let rows = app.db_rows("SELECT status || ':' || COALESCE(error, '') FROM job_runs").await;
    assert_eq!(rows.iter().filter(|r| *r == "failed:boom").count(), 299, "{:?}", &rows[..3]);
    assert_eq!(rows.iter().filter(|r| *r == "succeeded:").count(), 1);
}

in_both_modes!(
    a_batch_enqueues_many_jobs_at_once,
    the_ledger_keeps_its_rules_under_bursts,
    admin_enqueue_runs_through_the_ledger_to_the_leaderboard,
    enqueue_is_staff_only_and_checks_args,
    failing_jobs_retry_with_backoff_then_die_and_can_be_retried,
    finished_runs_older_than_the_retention_are_pruned,
    the_prune_makes_the_queue_forget_finished_tasks,
    scheduler_replicas_enqueue_each_tick_once,
    avatar_batches_check_everyone_before_anyone_twice,
    a_due_event_is_posted_once_and_moves_to_its_next_week,
);

#[tokio::test]
async fn jobs_without_secrets_report_not_configured() {
    let app = TestApp::spawn_with(tests::Backend::Sqlite, Options { worker: true, ..Default::default() }).await;
    let staff = app.staff("admin").await;
    let queued = staff.post("/api/jobs", json!({"kind": "refresh_discord_avatars"})).await;
    let done = job_reaches(&staff, queued.body["id"].as_str().unwrap(), "succeeded").await;
    assert_eq!(done["result"]["skipped"], "not_configured: DISCORD_BOT_TOKEN");
}

/// Embedded mode: apalis-sqlite acks a batch of finished tasks by their ids.
/// Planned from the index on `lock_by` — which every task a worker finished
/// keeps — each ack read its batch again per task the worker had ever
/// finished, and the embedded worker slowed down with the queue's history.
#[tokio::test]
async fn an_embedded_ack_finds_its_tasks_by_id_whatever_the_worker_finished_before() {
    let app = TestApp::spawn_with(tests::Backend::Sqlite, Options { worker: true, ..Default::default() }).await;
    // apalis-sqlite 1.0's acknowledgement (its queries/task/ack.sql).
    const ACK: &str = "WITH j AS (SELECT value ->> 'task_id' AS task_id, value ->> 'attempt' AS attempt, \
        value ->> 'result' AS result, value ->> 'status' AS status FROM json_each(?1)) \
        UPDATE Jobs SET status = j.status, attempts = j.attempt, last_result = j.result, \
        done_at = strftime('%s', 'now') FROM j WHERE Jobs.id = j.task_id AND Jobs.lock_by = ?2";
    use sea_orm::ConnectionTrait;
    let backend = app.db().get_database_backend();
    let plan = app
        .db()
        .query_all_raw(sea_orm::Statement::from_sql_and_values(
            backend,
            format!("EXPLAIN QUERY PLAN {ACK}"),
            ["[]".into(), "a-worker".into()],
        ))
        .await
        .expect("plan");
    let steps: Vec<String> = plan.iter().map(|row| row.try_get_by_index::<String>(3).expect("detail")).collect();
    assert!(steps.iter().any(|s| s.starts_with("SEARCH Jobs") && s.ends_with("(id=?)")), "{steps:?}");
    assert!(!steps.iter().any(|s| s.contains("lock_by")), "{steps:?}");
}

/// Distributed mode: an enqueue writes its run's `queued` record, the run's
/// claim state and its first task in one Redis step, the task exactly as
/// apalis-redis' own push writes one (a task pushed by apalis is the
/// reference), due now or after its delay.
#[tokio::test]
async fn an_enqueue_writes_its_record_and_its_task_in_one_step() {
    let app = TestApp::spawn_with(Mode::Distributed.backend(), Mode::Distributed.options(vec![], false)).await;
    let enqueuer = app.state.jobs.enqueuer.clone();
    let queue = format!("{}:jobs", app.redis_prefix.clone().unwrap());
    let mut redis = app.state.jobs.redis.clone().unwrap();
    let job = || worker::jobs::Job::CheckScheduledEvents(worker::jobs::payload::CheckScheduledEvents {});

    let (run, fresh) = enqueuer.enqueue(NewJob::new(job())).await.unwrap();
    assert_eq!(fresh, worker::jobs::ledger::Inserted::Fresh);
    let active: Vec<String> =
        redis::cmd("LRANGE").arg(format!("{queue}:active")).arg(0).arg(-1).query_async(&mut redis).await.unwrap();
    assert_eq!(active.len(), 1, "the task is on the queue as soon as the enqueue answers");
    let task: String =
        redis::cmd("HGET").arg(format!("{queue}:data")).arg(&active[0]).query_async(&mut redis).await.unwrap();
    let envelope: Value = serde_json::from_str(&task).unwrap();
    assert_eq!((envelope["run_id"].as_str(), envelope["attempt"].as_i64()), (Some(run.id.as_str()), Some(1)));
    assert_eq!(envelope["job"]["kind"], "check_scheduled_events", "{envelope}");
    let state: std::collections::BTreeMap<String, String> =
        redis::cmd("HGETALL").arg(format!("{queue}:ledger:run:{}", run.id)).query_async(&mut redis).await.unwrap();
    assert_eq!(state.get("status").map(String::as_str), Some("queued"));
    assert_eq!(state.get("attempts").map(String::as_str), Some("0"));
    let signal: bool = redis::cmd("EXISTS").arg(format!("{queue}:signal")).query_async(&mut redis).await.unwrap();
    assert!(!signal, "apalis-redis' signal list, which nothing reads, is left alone");

    // apalis-redis' own push, for reference: the same task metadata.
    let reference = worker::jobs::payload::Envelope::new("reference".into(), 1, 3, job(), None);
    let reference = worker::jobs::enqueue::envelope_value(&reference);
    enqueuer.queue.push(worker::jobs::payload::Lane::Bulk, reference, None).await.unwrap();
    let scheduled: Vec<String> =
        redis::cmd("ZRANGE").arg(format!("{queue}:scheduled")).arg(0).arg(-1).query_async(&mut redis).await.unwrap();
    assert_eq!(scheduled.len(), 1, "apalis-redis puts even a due task in the scheduled set");
    let meta = |task: String| {
        let (mut redis, queue) = (redis.clone(), queue.clone());
        async move {
            let meta: std::collections::BTreeMap<String, String> =
                redis::cmd("HGETALL").arg(format!("{queue}:meta:{task}")).query_async(&mut redis).await.unwrap();
            meta
        }
    };
    assert_eq!(meta(active[0].clone()).await, meta(scheduled[0].clone()).await);

    let hour = Duration::from_secs(3600);
    let before = chrono::Utc::now().timestamp();
    let (later, _) = enqueuer.enqueue(NewJob::new(job()).after(hour)).await.unwrap();
    let due: Vec<(String, i64)> = redis::cmd("ZRANGE")
        .arg(format!("{queue}:scheduled"))
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query_async(&mut redis)
        .await
        .unwrap();
    let (task, at) = due.iter().find(|(task, _)| *task != scheduled[0]).expect("the delayed task");
    assert!((before + 3600..=before + 3602).contains(at), "due in an hour: {at} vs {before}");
    let task: String = redis::cmd("HGET").arg(format!("{queue}:data")).arg(task).query_async(&mut redis).await.unwrap();
    assert!(task.contains(&later.id));
    enqueuer.ledger.settle().await.unwrap();
    assert_eq!(app.count("job_runs").await, 2, "both runs reached the ledger");
}

/// Distributed mode: an enqueue does not queue behind the process' other
/// Redis calls. The process' shared connection is multiplexed (Redis
/// answers its calls in order): a blocking call on it — here a `BLPOP`,
/// standing for a worker pool's fetches or an API's cache reads — held every
/// enqueue of the process until it answered.
#[tokio::test]
async fn an_enqueue_does_not_wait_behind_the_process_other_redis_calls() {
    let app = TestApp::spawn_with(Mode::Distributed.backend(), Mode::Distributed.options(vec![], false)).await;
    let shared = app.state.jobs.redis.clone().unwrap();
    let held = format!("{}:test:held", app.redis_prefix.clone().unwrap());
    let blocking = tokio::spawn({
        let (mut shared, held) = (shared.clone(), held.clone());
        // Below the connection's 3 s response timeout.
        async move { redis::cmd("BLPOP").arg(&held).arg(2).query_async::<Option<(String, String)>>(&mut shared).await }
    });
    let mut other = worker::infra::db::connect_redis(&tests::redis_url()).await.unwrap();
    eventually("the BLPOP to block", DEADLINE, || {
        let mut other = other.clone();
        async move {
            let info: String = redis::cmd("INFO").arg("clients").query_async(&mut other).await.unwrap();
            info.lines().any(|l| l.strip_prefix("blocked_clients:").is_some_and(|n| n.trim() != "0")).then_some(())
        }
    })
    .await;

    let job = worker::jobs::Job::CheckScheduledEvents(worker::jobs::payload::CheckScheduledEvents {});
    app.state.jobs.enqueuer.enqueue(NewJob::new(job)).await.unwrap();
    let _: i64 = redis::cmd("LPUSH").arg(&held).arg("released").query_async(&mut other).await.unwrap();
    let answered = blocking.await.unwrap().unwrap();
    assert_eq!(
        answered,
        Some((held, "released".to_owned())),
        "the enqueue answered only after the blocking call timed out"
    );
}

/// Distributed mode: a run's `queued` record waits in Redis for its claim,
/// so a job that waited on the queue still reaches `job_runs` whole, in one
/// write; a reader that must see a waiting run (the jobs API) gets it at
/// once, and one nobody claims is written after a while anyway.
#[tokio::test]
async fn a_queued_record_waits_for_its_claim_but_never_hides_the_run() {
    let app = TestApp::spawn_with(Mode::Distributed.backend(), Mode::Distributed.options(vec![], false)).await;
    let enqueuer = app.state.jobs.enqueuer.clone();
    let ledger = &enqueuer.ledger;
    let staff = app.staff("admin").await;
    let job = || worker::jobs::Job::CheckScheduledEvents(worker::jobs::payload::CheckScheduledEvents {});
    let rows = |id: String| {
        let app = &app;
        async move {
            app.db_rows(&format!(
                "SELECT status || '|' || attempts || '|' || \
                 CASE WHEN started_at IS NULL OR finished_at IS NULL THEN 'open' ELSE 'closed' END \
                 FROM job_runs WHERE id = '{id}'"
            ))
            .await
        }
    };

    let (claimed, _) = enqueuer.enqueue(NewJob::new(job())).await.unwrap();
    let (unclaimed, _) = enqueuer.enqueue(NewJob::new(job())).await.unwrap();
    // A flush every 25 ms would have written both `queued` rows many times over.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(app.count("job_runs").await, 0, "the queued records wait for their claims");

    // Claimed and finished: the run reaches the ledger whole, with no settle. (Usually in one write;
    // a flush that falls between the claim and the finish — a loaded machine — writes it `running`
    // first, which the rule allows: the row is never missing nor behind for long.)
    assert!(tests::claims(ledger, &claimed.id, 1).await);
    ledger.finish(Finish::succeeded(&claimed.id, 1, json!({}))).await.unwrap();
    let row = eventually("the claimed run succeeded in job_runs", DEADLINE, || async {
        let row = rows(claimed.id.clone()).await;
        (row == ["succeeded|1|closed"]).then_some(row)
    })
    .await;
    assert_eq!(row, ["succeeded|1|closed"]);

    // Nobody claims the other: it is written as queued after a while.
    let row = eventually("the unclaimed run in job_runs", DEADLINE, || async {
        let row = rows(unclaimed.id.clone()).await;
        (!row.is_empty()).then_some(row)
    })
    .await;
    assert_eq!(row, ["queued|0|open"]);

    // The jobs API sees a run the moment it is queued.
    let queued = staff.post("/api/jobs", json!({"kind": "check_scheduled_events", "args": {}})).await;
    assert_eq!(queued.status, 202, "{}", queued.text);
    let id = queued.body["id"].as_str().unwrap();
    let read = staff.get(&format!("/api/jobs/{id}")).await;
    assert_eq!((read.status, read.body["status"].as_str()), (200, Some("queued")), "{}", read.text);
    assert_eq!(rows(id.to_owned()).await, ["queued|0|open"]);
}

/// Distributed mode: the journal holds each run's claim state in Redis. A
/// run whose state is gone (expired, or older than the journal) is claimed
/// by the database's rule instead, and the journal carries on from there;
/// every record reaches `job_runs`, a whole life folded into one row.
#[tokio::test]
async fn a_run_without_journal_state_is_claimed_by_the_database() {
    let app = TestApp::spawn_with(Mode::Distributed.backend(), Mode::Distributed.options(vec![], false)).await;
    let enqueuer = app.state.jobs.enqueuer.clone();
    let ledger = &enqueuer.ledger;
    let job = || worker::jobs::Job::CheckScheduledEvents(worker::jobs::payload::CheckScheduledEvents {});
    let (folded, _) = enqueuer.enqueue(NewJob::new(job())).await.unwrap();
    assert!(tests::claims(ledger, &folded.id, 1).await);
    ledger.finish(Finish::succeeded(&folded.id, 1, json!({"n": 1}))).await.unwrap();
    ledger.settle().await.unwrap();
    let row = |id: String| {
        let app = &app;
        async move {
            app.db_rows(&format!(
                "SELECT status || '|' || attempts || '|' || COALESCE(CAST(result AS TEXT), '') || '|' || \
                 CASE WHEN started_at IS NULL OR finished_at IS NULL THEN 'open' ELSE 'closed' END \
                 FROM job_runs WHERE id = '{id}'"
            ))
            .await
        }
    };
    assert_eq!(row(folded.id.clone()).await, ["succeeded|1|{\"n\": 1}|closed"]);

    let (orphan, _) = enqueuer.enqueue(NewJob::new(job())).await.unwrap();
    ledger.settle().await.unwrap();
    let prefix = app.redis_prefix.clone().unwrap();
    let mut redis = app.state.jobs.redis.clone().unwrap();
    let state_key = format!("{prefix}:jobs:ledger:run:{}", orphan.id);
    let removed: i64 = redis::cmd("DEL").arg(&state_key).query_async(&mut redis).await.unwrap();
    assert_eq!(removed, 1, "the run's state lives under {state_key}");
    assert!(tests::claims(ledger, &orphan.id, 1).await, "claimed by the database's rule");
    assert!(tests::claims(ledger, &orphan.id, 1).await, "a redelivery re-claims");
    ledger.finish(Finish::errored(&orphan.id, 1, entity::JobStatus::Dead, "gone".into())).await.unwrap();
    assert!(!tests::claims(ledger, &orphan.id, 2).await, "a dead run is refused");
    ledger.settle().await.unwrap();
    assert_eq!(row(orphan.id.clone()).await, ["dead|1||closed"]);
    assert!(!tests::claims(ledger, "01notarun", 1).await, "an unknown run is refused");
}

/// Distributed mode (issue 28): a claim that overtakes its run's record — the
/// task reached the queue, the record is still on its way — is not refused:
/// the task comes back until the run is recorded, then the run is claimed
/// once and runs. (Before, the claim found no run anywhere, the delivery was
/// skipped as a duplicate and the run, once recorded, never ran.)
#[tokio::test]
async fn a_claim_that_overtakes_its_record_is_delivered_again_then_claimed_once() {
    let app = TestApp::spawn_with(Mode::Distributed.backend(), Mode::Distributed.options(vec![], true)).await;
    let staff = app.staff("admin").await;
    let enqueuer = app.state.jobs.enqueuer.clone();
    let job = worker::jobs::Job::CheckScheduledEvents(worker::jobs::payload::CheckScheduledEvents {});
    let run_id = worker::jobs::enqueue::new_run_id();
    let envelope = worker::jobs::payload::Envelope::new(run_id.clone(), 1, 3, job.clone(), None);
    let task = worker::jobs::enqueue::envelope_value(&envelope);
    enqueuer.queue.push(worker::jobs::payload::Lane::Bulk, task, None).await.unwrap();

    // Delivered (the pool polls every 200 ms; a redelivery comes a second later)
    // more than once while the run is unknown: the task stays with the queue.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert!(queue_holds(&app, &run_id).await, "the task is kept");
    let (prefix, mut redis) = (app.redis_prefix.clone().unwrap(), app.state.jobs.redis.clone().unwrap());
    let done: Vec<String> =
        redis::cmd("SMEMBERS").arg(format!("{prefix}:jobs:done")).query_async(&mut redis).await.unwrap();
    assert!(done.is_empty(), "no delivery was dropped as a duplicate: {done:?}");
    assert_eq!(app.count("job_runs").await, 0);

    // The record arrives: the next delivery claims the run, once.
    let run = worker::jobs::ledger::NewRun {
        id: run_id.clone(),
        job,
        enqueued_by: None,
        idempotency_key: None,
        run_at: None,
    };
    enqueuer.ledger.insert(run).await.unwrap();
    let ran = job_reaches(&staff, &run_id, "succeeded").await;
    let attempts: Vec<(i64, String)> = ran["attempt_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["attempt"].as_i64().unwrap(), a["outcome"].as_str().unwrap_or("").to_owned()))
        .collect();
    assert_eq!(attempts, [(1, "succeeded".to_owned())], "{ran}");
}

/// Distributed mode: the pool's workers acknowledge their own deliveries —
/// a run's finish in the same script call as its ledger record, the others
/// (a duplicate delivery skipped, an undecodable task dead-lettered) apart.
/// Every delivery ends in the queue's done set and none stays in a worker's
/// in-flight set, where a restart would find it again.
#[tokio::test]
async fn every_delivery_is_acknowledged_once_its_run_ends() {
    let app = TestApp::spawn_with(Mode::Distributed.backend(), Mode::Distributed.options(vec![], true)).await;
    let staff = app.staff("admin").await;
    let enqueuer = app.state.jobs.enqueuer.clone();
    let job = worker::jobs::Job::CheckScheduledEvents(worker::jobs::payload::CheckScheduledEvents {});
    let (run, _) = enqueuer.enqueue(NewJob::new(job.clone())).await.unwrap();
    job_reaches(&staff, &run.id, "succeeded").await;
    // The same attempt delivered again (refused by its claim), and a task no build can read.
    let again = worker::jobs::payload::Envelope::new(run.id.clone(), 1, 3, job, None);
    let bulk = worker::jobs::payload::Lane::Bulk;
    enqueuer.queue.push(bulk, worker::jobs::enqueue::envelope_value(&again), None).await.unwrap();
    enqueuer.queue.push(bulk, json!({"v": 2, "run_id": "unreadable", "attempt": 1}), None).await.unwrap();

    let (prefix, redis) = (app.redis_prefix.clone().unwrap(), app.state.jobs.redis.clone().unwrap());
    let queue = format!("{prefix}:jobs");
    let done = eventually("three deliveries acknowledged", DEADLINE, || {
        let (mut redis, queue) = (redis.clone(), queue.clone());
        async move {
            let done: Vec<String> =
                redis::cmd("SMEMBERS").arg(format!("{queue}:done")).query_async(&mut redis).await.unwrap();
            (done.len() == 3).then_some(done)
        }
    })
    .await;
    let mut redis = redis.clone();
    let in_flight: Vec<String> =
        redis::cmd("KEYS").arg(format!("{queue}:inflight:*")).query_async(&mut redis).await.unwrap();
    for set in in_flight {
        let left: Vec<String> = redis::cmd("SMEMBERS").arg(&set).query_async(&mut redis).await.unwrap();
        assert!(left.is_empty(), "{set} still holds {left:?}");
    }
    for task in &done {
        let status: Option<String> =
            redis::cmd("HGET").arg(format!("{queue}:meta:{task}")).arg("status").query_async(&mut redis).await.unwrap();
        assert_eq!(status.as_deref(), Some("Done"), "task {task}");
    }
    let active: i64 = redis::cmd("LLEN").arg(format!("{queue}:active")).query_async(&mut redis).await.unwrap();
    let scheduled: i64 = redis::cmd("ZCARD").arg(format!("{queue}:scheduled")).query_async(&mut redis).await.unwrap();
    assert_eq!((active, scheduled), (0, 0), "nothing comes back");
}

/// PostgreSQL: a flush updates its known runs by their key even while
/// `job_runs` has grown past its statistics (a busy ledger's first minutes,
/// before autovacuum analyzes it). Without the flush's planner settings the
/// same statement hashes the whole table — every flush read every run.
#[tokio::test]
async fn a_flush_looks_its_runs_up_by_key_while_the_ledger_grows() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    use worker::jobs::journal::{FLUSH_PLANNER, Record, fold, update_statement};
    let app = TestApp::spawn_with(Mode::Distributed.backend(), Mode::Distributed.options(vec![], false)).await;
    let db = app.db();
    db.execute_unprepared(
        "INSERT INTO job_runs (id, kind, args, status, attempts, max_attempts, enqueued_at) \
         SELECT lpad(i::text, 26, '0'), 'check_scheduled_events', '{}', 'queued', 0, 3, now() \
         FROM generate_series(1, 30000) i",
    )
    .await
    .unwrap();
    let at = chrono::Utc::now();
    let id = format!("{:026}", 17);
    let records = vec![
        Record::Claimed { id: id.clone(), attempt: 1, at, worker: "w".into() },
        Record::Finished {
            id: id.clone(),
            status: entity::JobStatus::Succeeded,
            result: Some(json!({})),
            error: None,
            at,
            attempt: 1,
        },
    ];
    let update = update_statement(db.get_database_backend(), &fold(records));
    let plan = |planner: Option<&'static str>| {
        let update = update.clone();
        async move {
            let txn = db.begin().await.unwrap();
            if let Some(settings) = planner {
                txn.execute_unprepared(settings).await.unwrap();
            }
            let explain = sea_orm::Statement::from_sql_and_values(
                txn.get_database_backend(),
                format!("EXPLAIN {}", update.sql),
                update.values.clone().map(|v| v.0).unwrap_or_default(),
            );
            let rows = txn.query_all_raw(explain).await.unwrap();
            let plan: Vec<String> = rows.iter().map(|r| r.try_get_by_index::<String>(0).unwrap()).collect();
            txn.rollback().await.unwrap();
            plan.join("\n")
        }
    };
    let unguided = plan(None).await;
    assert!(unguided.contains("Seq Scan on job_runs"), "the planner's own choice here scans the table:\n{unguided}");
    let flush = plan(Some(FLUSH_PLANNER)).await;
    assert!(flush.contains("Index Scan using job_runs_pkey"), "{flush}");
    assert!(!flush.contains("Seq Scan on job_runs"), "{flush}");
}
