//! Dependency outages as automated drills, each on servers of its own so a
//! restart disturbs no other test: Redis restarted under load, PostgreSQL
//! restarted under requests, a scheduler crashed and restarted.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use entity::{JobStatus, job_run};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use serde_json::json;
use tests::services::{PrivatePostgres, PrivateRedis};
use tests::steam_mock::SteamMock;
use tests::{Backend, Caller, Mode, Options, Resp, TestApp, eventually, processes};

/// How fast the api and the workers must be back after a dependency returns.
const RECOVERY: Duration = Duration::from_secs(10);

/// An outage answer: 503, `Retry-After`, the SPEC error body.
fn assert_unavailable(resp: &Resp, what: &str) {
    assert_eq!(resp.status, 503, "{what}: {}", resp.text);
    let retry_after = resp.headers.get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    assert!(retry_after.is_some_and(|s| s > 0), "{what}: Retry-After missing");
    assert_eq!(resp.error_code(), "unavailable", "{what}");
}

/// What the load generator saw.
#[derive(Default)]
struct Load {
    accepted: Vec<(Instant, String)>,
    refused: Vec<Resp>,
}

/// Enqueues a cheap job every few milliseconds until `stop`.
async fn produce(staff: &Caller<'_>, load: &Mutex<Load>, stop: tokio::sync::watch::Receiver<bool>) {
    while !*stop.borrow() {
        let resp = staff.post("/api/jobs", json!({"kind": "check_scheduled_events", "args": {}})).await;
        match resp.body["id"].as_str() {
            Some(id) if resp.status == 202 => load.lock().unwrap().accepted.push((Instant::now(), id.to_owned())),
            _ => load.lock().unwrap().refused.push(resp),
        }
        // Pacing the load, not synchronising: about 40 jobs a second.
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn statuses(app: &TestApp, ids: &[String]) -> Vec<JobStatus> {
    let mut all = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let found: Vec<JobStatus> = job_run::Entity::find()
            .select_only()
            .column(job_run::Column::Status)
            .filter(job_run::Column::Id.is_in(chunk.iter().cloned()))
            .into_tuple()
            .all(app.db())
            .await
            .unwrap();
        all.extend(found);
    }
    all
}

/// A worker process that retries fast, for the load drills.
fn job_worker(app: &TestApp, redis_url: &str) -> processes::Process {
    processes::start(processes::command("worker", app, redis_url).args([
        "--job-heartbeat-secs",
        "1",
        "--job-backoff-base-ms",
        "100",
    ]))
}

/// Waits until every job the api accepted has succeeded; their ids.
async fn all_succeed(app: &TestApp, load: &Load) -> Vec<String> {
    let ids: Vec<String> = load.accepted.iter().map(|(_, id)| id.clone()).collect();
    eventually("every accepted job to succeed", Duration::from_secs(60), || async {
        let done = statuses(app, &ids).await.iter().filter(|s| **s == JobStatus::Succeeded).count();
        (done == ids.len()).then_some(())
    })
    .await;
    ids
}

/// Redis (queue, sessions, cache, bus) stops and comes back while jobs are
/// being enqueued and worked: enqueues answer 503 meanwhile, the api and a
/// worker process are back within 10 s, and every accepted job runs.
#[tokio::test]
async fn redis_restarted_under_load_loses_no_job() {
    let mut redis = PrivateRedis::start().await;
    let options = Options { redis: true, args: vec!["--redis-url".into(), redis.url()], ..Default::default() };
    let app = TestApp::spawn_with(Backend::Postgres, options).await;
    let staff = app.staff("admin").await;
    let _worker = job_worker(&app, &redis.url());

    let load = Mutex::new(Load::default());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let accepted = |since: Instant| load.lock().unwrap().accepted.iter().filter(|(at, _)| *at > since).count();
    let drill = async {
        let start = Instant::now();
        eventually("load to flow", Duration::from_secs(20), || async { (accepted(start) >= 20).then_some(()) }).await;
        redis.stop().await;
        // Down long enough for a stream of refusals, not one unlucky request.
        eventually("ten enqueues refused during the outage", Duration::from_secs(30), || async {
            (load.lock().unwrap().refused.len() >= 10).then_some(())
        })
        .await;
        redis.restart().await;
        let back = Instant::now();
        eventually("health to be ok again", RECOVERY, || async {
            (app.anon().get("/api/health").await.status == 200).then_some(())
        })
        .await;
        let first_after = eventually("enqueues to be accepted again", RECOVERY.saturating_sub(back.elapsed()), || {
            let load = &load;
            async move { load.lock().unwrap().accepted.iter().find(|(at, _)| *at > back).map(|(_, id)| id.clone()) }
        })
        .await;
        eventually("the worker to run jobs again", RECOVERY.saturating_sub(back.elapsed()), || async {
            (statuses(&app, std::slice::from_ref(&first_after)).await == [JobStatus::Succeeded]).then_some(())
        })
        .await;
        // Live draft events cross processes again: the bus resubscribed.
        let bus = &app.state.jobs.bus;
        let heard = tokio::sync::Mutex::new(bus.subscribe("drill"));
        eventually("the realtime bus to deliver again", RECOVERY.saturating_sub(back.elapsed()), || async {
            bus.publish("drill", "ping".into()).await;
            let mut heard = heard.lock().await;
            tokio::time::timeout(Duration::from_millis(200), heard.recv()).await.ok().and_then(Result::ok)
        })
        .await;
        eventually("more load after the restart", Duration::from_secs(20), || async {
            (accepted(back) >= 20).then_some(())
        })
        .await;
        let _ = stop.send(true);
    };
    tokio::join!(produce(&staff, &load, stopped), drill);

    let load = load.into_inner().unwrap();
    for refused in &load.refused {
        assert_unavailable(refused, "an enqueue during the outage");
    }
    let ids = all_succeed(&app, &load).await;
    // Nothing is left half-way: every other ledger row says why it did not run.
    let stuck = job_run::Entity::find()
        .filter(job_run::Column::Status.is_in([JobStatus::Queued, JobStatus::Running, JobStatus::Failed]))
        .all(app.db())
        .await
        .unwrap();
    assert!(stuck.is_empty(), "runs stuck after the outage: {stuck:?}");
    eprintln!("redis drill: {} jobs accepted, {} refused during the outage", ids.len(), load.refused.len());
}

/// PostgreSQL restarted: meanwhile reads and writes answer 503 with
/// `Retry-After` (and health says the database is down), nothing is half
/// written, and the api serves again within 10 s of its return.
#[tokio::test]
async fn postgres_restart_answers_503_then_recovers() {
    let pg = PrivatePostgres::start().await;
    let options = Options { redis: true, database_url: Some(pg.url()), ..Default::default() };
    let app = TestApp::spawn_with(Backend::Postgres, options).await;
    let staff = app.staff("admin").await;
    let user = staff.post("/api/users", json!({"username": "steady", "mmr": 3000})).await.id();
    let user_path = format!("/api/users/{user}");
    assert_eq!(staff.get(&user_path).await.status, 200);

    pg.stop().await;
    assert_unavailable(&staff.get(&user_path).await, "a read");
    assert_unavailable(&staff.post("/api/leagues", json!({"steam_league_id": 1, "name": "Lost"})).await, "a write");
    assert_unavailable(&staff.get("/api/jobs").await, "a staff read");
    let health = app.anon().get("/api/health").await;
    assert_eq!((health.status, health.body["db"].as_str()), (503, Some("down")), "{}", health.text);
    assert!(health.headers.contains_key("retry-after"));

    pg.restart().await;
    eventually("reads to succeed again", RECOVERY, || async {
        (staff.get(&user_path).await.status == 200).then_some(())
    })
    .await;
    let league = staff.post("/api/leagues", json!({"steam_league_id": 2, "name": "Kept"})).await;
    assert_eq!(league.status, 201, "{}", league.text);
    let leagues = staff.get("/api/leagues").await;
    assert_eq!(leagues.body["count"], 1, "the write refused during the outage left nothing: {}", leagues.text);
    assert_eq!(app.anon().get("/api/health").await.status, 200);
}

/// PostgreSQL crashes (an immediate shutdown: no checkpoint, WAL replayed on
/// start, unflushed asynchronous commits lost) while jobs are enqueued and
/// worked by a worker process. Enqueues answer 503 meanwhile; after the
/// restart every job the api acknowledged with 202 has exactly one ledger
/// row, and it ends `succeeded`. The claims lost with the crash (they are
/// committed asynchronously, see `jobs::group_commit`) only make a job run
/// again; its acknowledged insert and its finish are durable.
#[tokio::test]
async fn postgres_crashed_under_a_job_load_keeps_every_acknowledged_job() {
    let pg = PrivatePostgres::start().await;
    let options = Options { redis: true, database_url: Some(pg.url()), ..Default::default() };
    let app = TestApp::spawn_with(Backend::Postgres, options).await;
    let staff = app.staff("admin").await;
    let _worker = job_worker(&app, &tests::redis_url());

    let load = Mutex::new(Load::default());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let accepted = |since: Instant| load.lock().unwrap().accepted.iter().filter(|(at, _)| *at > since).count();
    let drill = async {
        let start = Instant::now();
        eventually("load to flow", Duration::from_secs(20), || async { (accepted(start) >= 40).then_some(()) }).await;
        pg.crash().await;
        eventually("enqueues refused during the outage", Duration::from_secs(30), || async {
            (load.lock().unwrap().refused.len() >= 5).then_some(())
        })
        .await;
        pg.restart().await;
        let back = Instant::now();
        eventually("more load after the restart", Duration::from_secs(30), || async {
            (accepted(back) >= 40).then_some(())
        })
        .await;
        let _ = stop.send(true);
    };
    tokio::join!(produce(&staff, &load, stopped), drill);

    let load = load.into_inner().unwrap();
    for refused in &load.refused {
        assert_unavailable(refused, "an enqueue while PostgreSQL is down");
    }
    let ids = all_succeed(&app, &load).await;
    // Exactly once: one row per acknowledged id, and no other row.
    let rows = job_run::Entity::find().all(app.db()).await.unwrap();
    assert_eq!(rows.len(), ids.len(), "ledger rows vs acknowledged jobs");
    assert!(rows.iter().all(|r| r.status == JobStatus::Succeeded), "{rows:?}");
    eprintln!("postgres crash drill: {} jobs acknowledged, {} refused", ids.len(), load.refused.len());
}

/// Unix seconds of a tick key `cron:kind:league:seconds`.
fn tick_second(key: &str) -> i64 {
    key.rsplit(':').next().and_then(|s| s.parse().ok()).expect("tick key ends in unix seconds")
}

/// A scheduler crashes (SIGKILL) and is restarted: no tick is enqueued twice,
/// and the only ticks missing are those while no scheduler ran.
#[tokio::test]
async fn a_restarted_scheduler_fires_no_tick_twice_and_loses_none_beyond_the_downtime() {
    let steam = SteamMock::start(vec![]).await;
    let app = TestApp::spawn_with(Mode::Distributed.backend(), Mode::Distributed.options(vec![], false)).await;
    app.staff("admin").await.post("/api/leagues", json!({"steam_league_id": 17929, "name": "DTX"})).await;
    let scheduler = || {
        processes::start(
            processes::command("scheduler", &app, &tests::redis_url())
                .args(steam.args())
                .env("SCHEDULE_SYNC_LEAGUE_MATCHES", "off")
                .env("SCHEDULE_CHECK_SCHEDULED_EVENTS", "off")
                .env("SCHEDULE_REFRESH_DISCORD_AVATARS", "off")
                .env("SCHEDULE_REFRESH_ALL_DISCORD_DATA", "off")
                .env("SCHEDULE_REFRESH_STEAM_PROFILES", "off")
                .env("SCHEDULE_PRUNE_JOB_RUNS", "* * * * * *"),
        )
    };
    let ticks = |n: usize| {
        let app = &app;
        move || async move {
            let keys = app.tick_keys("prune_job_runs").await;
            (keys.len() >= n).then_some(keys)
        }
    };

    let first = scheduler();
    let before = eventually("three ticks", Duration::from_secs(30), ticks(3)).await;
    first.signal("KILL");
    drop(first);
    let killed_at = chrono::Utc::now().timestamp();
    let crashed = app.tick_keys("prune_job_runs").await;
    // Down for two whole seconds at least.
    eventually("the downtime to pass", Duration::from_secs(5), || async {
        (chrono::Utc::now().timestamp() >= killed_at + 2).then_some(())
    })
    .await;
    let restarted_at = chrono::Utc::now().timestamp();
    let _second = scheduler();
    let all = eventually("three more ticks", Duration::from_secs(30), ticks(crashed.len() + 3)).await;

    let seconds: Vec<i64> = all.iter().map(|k| tick_second(k)).collect();
    let mut distinct = seconds.clone();
    distinct.dedup();
    assert_eq!(distinct, seconds, "a tick enqueued twice: {all:?}");
    let runs = job_run::Entity::find().filter(job_run::Column::Kind.eq("prune_job_runs")).all(app.db()).await.unwrap();
    assert_eq!(runs.len(), seconds.len(), "one run per tick");
    let gaps: Vec<(i64, i64)> = seconds.windows(2).filter(|w| w[1] - w[0] > 1).map(|w| (w[0], w[1])).collect();
    assert_eq!(gaps.len(), 1, "ticks are consecutive but for the downtime: {seconds:?}");
    let (last_before, first_after) = gaps[0];
    assert!(last_before >= tick_second(before.last().unwrap()), "{seconds:?}");
    assert!(last_before >= killed_at - 1, "a tick lost before the crash: {seconds:?}, killed at {killed_at}");
    assert!(
        first_after <= restarted_at + RECOVERY.as_secs() as i64,
        "the restarted scheduler fires again once started: {seconds:?}, restarted at {restarted_at}"
    );
}

/// Two api instances watch an unplayed hero draft (nobody acts; the round
/// timeouts drive it). Mid-draft the instance that ticks it is SIGKILLed
/// and Redis restarts: the draft still completes, and a spectator on the
/// surviving instance receives every event row exactly once, in order.
#[tokio::test]
async fn a_hero_draft_survives_a_killed_instance_and_a_redis_restart() {
    let mut redis = PrivateRedis::start().await;
    let clock = ["--herodraft-grace-ms", "300", "--herodraft-reserve-ms", "100"];
    let mut args: Vec<String> = vec!["--redis-url".into(), redis.url(), "--job-heartbeat-secs".into(), "1".into()];
    args.extend(clock.map(String::from));
    let survivor =
        TestApp::spawn_with(Backend::Postgres, Options { redis: true, worker: true, args, ..Default::default() }).await;
    let victim_port = processes::free_port();
    let victim = processes::start(
        std::process::Command::new(tests::workspace_binary("api"))
            .args(["--database-url", survivor.db_url(), "--redis-url", &redis.url()])
            .args(["--redis-prefix", survivor.redis_prefix.as_deref().unwrap()])
            .args(["--bind", &format!("127.0.0.1:{victim_port}"), "--api-metrics-bind", "off"])
            .args(["--env", "development", "--test-endpoints", "true"])
            .args(["--embedded-worker", "false", "--embedded-scheduler", "false"])
            .args(clock)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null()),
    );
    let victim_host = format!("127.0.0.1:{victim_port}");
    eventually("the second instance to serve", Duration::from_secs(20), || async {
        reqwest::get(format!("http://{victim_host}/api/health")).await.ok().filter(|r| r.status() == 200)
    })
    .await;

    let staff = survivor.staff("admin").await;
    let (id, _) = tests::fixtures::hero_draft(&survivor, &staff).await;
    let path = format!("/api/herodraft/{id}/");
    // The victim's socket comes first, so the victim holds the tick lease.
    let mut on_victim = tests::ws::connect_at(&victim_host, &path, None).await;
    tests::ws::next_of(&mut on_victim, "initial_state", Duration::from_secs(5)).await;
    let mut on_survivor = tests::ws::connect(&survivor, &path).await;
    let watcher = tokio::spawn(async move {
        tests::ws::event_ids_until(&mut on_survivor, Duration::from_secs(150), |e| {
            e["event_type"] == "round_timeout" && e["metadata"]["round"] == 24
        })
        .await
    });
    tests::fixtures::start_hero_draft(&survivor, id).await;

    let completed_rounds = |body: &serde_json::Value| {
        body["rounds"].as_array().map_or(0, |r| r.iter().filter(|r| r["state"] == "completed").count())
    };
    eventually("a few rounds to run out", Duration::from_secs(60), || async {
        (completed_rounds(&staff.get(&format!("/api/herodrafts/{id}")).await.body) >= 4).then_some(())
    })
    .await;
    victim.signal("KILL");
    drop(on_victim);
    redis.stop().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    redis.restart().await;

    let done = eventually("the draft to complete", Duration::from_secs(120), || async {
        let body = staff.get(&format!("/api/herodrafts/{id}")).await;
        (body.status == 200 && body.body["state"] == "completed").then_some(body.body)
    })
    .await;
    assert_eq!(completed_rounds(&done), 24);
    let received = watcher.await.unwrap();
    let stored: Vec<i64> = staff.get(&format!("/api/herodrafts/{id}/events?page_size=100")).await.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    assert_eq!(received, stored, "every row once, in order, on the surviving instance");
}
