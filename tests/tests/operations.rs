//! Running it for real (issue 26, SPEC §22), from the operator's seat with
//! the real binaries: replicas that start together on a fresh or an older
//! database, `MIGRATE_ON_START=false`, an older build on a newer schema,
//! probes through dependencies the test cuts, SIGTERM with a socket and a
//! slow request open, safe configuration, and two workers on one host with
//! the shipped unit's settings.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use migration::MigratorTrait;
use serde_json::{Value, json};
use tests::processes::{Process, free_port};
use tests::services::CuttableProxy;
use tests::steam_mock::SteamMock;
use tests::{Backend, Options, TestApp, TestDb, eventually, redis_url, unique_name, workspace_binary};
use tokio_tungstenite::tungstenite::Message;

/// A workspace binary started with exactly `env` (plus PATH), its output in
/// a log file the test reads afterwards.
struct Started {
    process: Process,
    log: PathBuf,
}

impl Started {
    fn new(binary: &str, args: &[&str], env: &[(&str, String)], dir: &Path) -> Self {
        // The test's own HTTP clients need a TLS provider installed, as the binaries do.
        rustls::crypto::ring::default_provider().install_default().ok();
        let log = dir.join(format!("{}.log", unique_name(binary)));
        let file = std::fs::File::create(&log).expect("log file");
        let mut cmd = Command::new(workspace_binary(binary));
        cmd.args(args)
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "info")
            .stdout(file.try_clone().expect("log file"))
            .stderr(file);
        for (key, value) in env {
            cmd.env(key, value);
        }
        Self { process: Process(cmd.spawn().expect("the binary starts")), log }
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.process.0.try_wait().expect("child status")
    }

    fn signal(&self, signal: &str) {
        self.process.signal(signal);
    }

    /// Waits until `url` answers 200; fails if the process exits first.
    async fn until_ok(&mut self, url: &str, within: Duration) {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.exited() {
                panic!("{url}: the process exited ({status}) first:\n{}", self.output());
            }
            if http.get(url).send().await.is_ok_and(|r| r.status() == 200) {
                return;
            }
            assert!(Instant::now() < deadline, "{url} not ready within {within:?}:\n{}", self.output());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits for the process to exit; its status.
    async fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.exited() {
                return status;
            }
            assert!(Instant::now() < deadline, "still running after {within:?}:\n{}", self.output());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(unique_name("ops"));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// The environment of a distributed process on `db_url` and the shared Redis under `prefix`.
fn distributed(db_url: &str, prefix: &str) -> Vec<(&'static str, String)> {
    vec![("DATABASE_URL", db_url.to_owned()), ("REDIS_URL", redis_url()), ("DTX_REDIS_PREFIX", prefix.to_owned())]
}

fn api_env(base: &[(&'static str, String)], port: u16) -> Vec<(&'static str, String)> {
    let mut env = base.to_vec();
    env.extend([
        ("BIND", format!("127.0.0.1:{port}")),
        ("API_METRICS_BIND", "off".to_owned()),
        ("DTX_ENV", "development".to_owned()),
    ]);
    env
}

fn ops_env(base: &[(&'static str, String)], port: u16) -> Vec<(&'static str, String)> {
    let mut env = base.to_vec();
    env.push(("METRICS_BIND", format!("127.0.0.1:{port}")));
    env
}

/// Three api instances, two workers and a scheduler started at the same
/// moment on a fresh database, then on an older one (every migration but
/// the last): all come up — one migrates, the others wait for its lock.
#[tokio::test]
async fn replicas_that_start_together_all_come_up_on_a_fresh_and_an_older_database() {
    let dir = scratch();
    for older in [false, true] {
        let db = TestDb::create(Backend::Postgres).await;
        if older {
            let conn = sea_orm::Database::connect(&db.url).await.unwrap();
            let all = migration::Migrator::migrations().len() as u32;
            migration::Migrator::up(&conn, Some(all - 1)).await.unwrap();
            conn.close().await.unwrap();
        }
        let base = distributed(&db.url, &unique_name("redis"));
        let mut started = Vec::new();
        for _ in 0..3 {
            let port = free_port();
            started.push((
                Started::new("api", &[], &api_env(&base, port), &dir),
                format!("http://127.0.0.1:{port}/readyz"),
            ));
        }
        for binary in ["worker", "worker", "scheduler"] {
            let port = free_port();
            started.push((
                Started::new(binary, &[], &ops_env(&base, port), &dir),
                format!("http://127.0.0.1:{port}/readyz"),
            ));
        }
        for (process, ready) in &mut started {
            process.until_ok(ready, Duration::from_secs(60)).await;
        }
        let migrated: Vec<String> = started
            .iter()
            .flat_map(|(p, _)| {
                p.output()
                    .lines()
                    .filter(|l| l.contains("database schema migrated"))
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(migrated.len(), 1, "one process migrated (older: {older}): {migrated:?}");
    }

    // Five `api migrate` at once, three times over, on fresh PostgreSQL databases and a SQLite file.
    for round in 0..4 {
        let db = TestDb::create(if round < 3 { Backend::Postgres } else { Backend::Sqlite }).await;
        let mut migrating: Vec<Started> =
            (0..5).map(|_| Started::new("api", &["migrate", "--database-url", &db.url], &[], &dir)).collect();
        for m in &mut migrating {
            let status = m.wait_exit(Duration::from_secs(60)).await;
            assert!(status.success(), "round {round}: {}", m.output());
        }
        let check = Command::new(workspace_binary("api"))
            .args(["migrate", "--check", "--database-url", &db.url])
            .output()
            .unwrap();
        assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stdout));
    }
}

/// With `MIGRATE_ON_START=false` a worker waits (saying why) until
/// `api migrate` ran; `api migrate --check` exits 1 before and 0 after. An
/// older build meets a schema a newer build migrated: it runs, and says so.
#[tokio::test]
async fn migrating_is_left_to_api_migrate_and_an_older_build_runs_on_a_newer_schema() {
    let dir = scratch();
    let db = TestDb::create(Backend::Postgres).await;
    let check = || {
        Command::new(workspace_binary("api"))
            .args(["migrate", "--check"])
            .env("DATABASE_URL", &db.url)
            .output()
            .unwrap()
    };
    let before = check();
    assert_eq!(before.status.code(), Some(1), "{}", String::from_utf8_lossy(&before.stdout));
    assert!(String::from_utf8_lossy(&before.stdout).contains("pending migrations"));

    let port = free_port();
    let mut env = ops_env(&distributed(&db.url, &unique_name("redis")), port);
    env.push(("MIGRATE_ON_START", "false".to_owned()));
    let mut waiting = Started::new("worker", &[], &env, &dir);
    let output = eventually("the worker says it waits", Duration::from_secs(20), || async {
        let out = waiting.output();
        out.contains("waiting for `api migrate`").then_some(out)
    })
    .await;
    assert!(waiting.exited().is_none(), "it waits, it does not exit: {output}");
    let migrate = Command::new(workspace_binary("api")).arg("migrate").env("DATABASE_URL", &db.url).output().unwrap();
    assert!(migrate.status.success());
    waiting.until_ok(&format!("http://127.0.0.1:{port}/readyz"), Duration::from_secs(20)).await;
    assert!(check().status.success(), "current after `api migrate`");

    // A newer build's migration is in the schema: this build runs on it.
    let conn = sea_orm::Database::connect(&db.url).await.unwrap();
    sea_orm::ConnectionTrait::execute_unprepared(
        &conn,
        "INSERT INTO seaql_migrations (version, applied_at) VALUES ('m20991231_000001_from_a_newer_build', 0)",
    )
    .await
    .unwrap();
    let port = free_port();
    let mut older = Started::new("worker", &[], &ops_env(&distributed(&db.url, &unique_name("redis")), port), &dir);
    older.until_ok(&format!("http://127.0.0.1:{port}/readyz"), Duration::from_secs(30)).await;
    assert!(older.output().contains("newer than this build"), "{}", older.output());
    assert!(check().status.success(), "nothing of this build's is pending");
}

/// `/livez` answers while the process runs whatever its dependencies;
/// `/readyz` turns 503 within its 1 s bound when PostgreSQL or Redis hangs
/// (a partition, through a proxy the test cuts) and 200 again after — on
/// the api and on the scheduler, which also serves `/metrics`.
#[tokio::test]
async fn probes_answer_within_their_bounds_when_a_dependency_hangs() {
    let db = TestDb::create(Backend::Postgres).await;
    let pg = CuttableProxy::start(url::Url::parse(&db.url).unwrap().port().unwrap_or(5432)).await;
    let redis = CuttableProxy::start(url::Url::parse(&redis_url()).unwrap().port().unwrap_or(6379)).await;
    let mut proxied_db = url::Url::parse(&db.url).unwrap();
    proxied_db.set_port(Some(pg.port)).unwrap();
    let proxied_redis = format!("redis://127.0.0.1:{}/", redis.port);
    let app = TestApp::spawn_with(
        Backend::Postgres,
        Options {
            redis: true,
            redis_url: Some(proxied_redis.clone()),
            database_url: Some(proxied_db.to_string()),
            ..Default::default()
        },
    )
    .await;
    let dir = scratch();
    let ops_port = free_port();
    let through_proxies = vec![
        ("DATABASE_URL", proxied_db.to_string()),
        ("REDIS_URL", proxied_redis),
        ("DTX_REDIS_PREFIX", app.redis_prefix.clone().unwrap()),
    ];
    let env = ops_env(&through_proxies, ops_port);
    let mut scheduler = Started::new("scheduler", &[], &env, &dir);
    scheduler.until_ok(&format!("http://127.0.0.1:{ops_port}/readyz"), Duration::from_secs(30)).await;

    let http = reqwest::Client::new();
    let probe = |url: String| {
        let http = http.clone();
        async move {
            let started = Instant::now();
            let resp = http.get(url).timeout(Duration::from_secs(10)).send().await.expect("an answer");
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            (status, body, started.elapsed())
        }
    };
    let targets = [app.base.clone(), format!("http://127.0.0.1:{ops_port}")];
    for target in &targets {
        let (status, body, _) = probe(format!("{target}/readyz")).await;
        assert_eq!(
            (status, body["database"].as_str(), body["redis"].as_str()),
            (200, Some("ok"), Some("ok")),
            "{target}"
        );
    }
    for (cut, which) in [(&pg, "database"), (&redis, "redis")] {
        cut.cut();
        for target in &targets {
            let (status, body, took) = probe(format!("{target}/readyz")).await;
            assert_eq!((status, body[which].as_str()), (503, Some("timeout")), "{target} with the {which} cut: {body}");
            assert!(took < Duration::from_millis(2500), "bounded: {took:?}");
            let (live, _, took) = probe(format!("{target}/livez")).await;
            assert!(live == 200 && took < Duration::from_millis(500), "alive whatever the {which}: {live} {took:?}");
        }
        cut.restore();
        for target in &targets {
            eventually(
                &format!("{target} ready again after the {which} came back"),
                Duration::from_secs(30),
                || async { (probe(format!("{target}/readyz")).await.0 == 200).then_some(()) },
            )
            .await;
        }
    }
    let metrics = http.get(format!("http://127.0.0.1:{ops_port}/metrics")).send().await.unwrap().text().await.unwrap();
    for expected in [
        "# HELP dtx_build_info",
        "dtx_build_info{",
        "process=\"scheduler\"",
        "process_resident_memory_bytes",
        "dtx_ledger_journal_backlog",
    ] {
        assert!(metrics.contains(expected), "{expected} in the scheduler's metrics:\n{metrics}");
    }
}

/// SIGTERM with a socket and a slow request open: `/readyz` is 503 at once
/// while the api still serves (the drain), the socket gets a close frame
/// 1001, the slow request is cut when the grace ends — and that is logged —
/// and the process exits within drain + grace + a few seconds.
#[tokio::test]
async fn sigterm_drains_says_going_away_and_logs_what_it_cuts() {
    let steam = SteamMock::start(vec![]).await;
    wiremock::Mock::given(wiremock::matchers::path("/ISteamUser/ResolveVanityURL/v1/"))
        .respond_with(
            wiremock::ResponseTemplate::new(200)
                .set_body_json(json!({"response": {"success": 1, "steamid": "76561197960287930"}}))
                .set_delay(Duration::from_secs(60)),
        )
        .mount(&steam.server)
        .await;
    let dir = scratch();
    let db = TestDb::create(Backend::Sqlite).await;
    let port = free_port();
    let mut env = api_env(&[("DATABASE_URL", db.url.clone())], port);
    env.extend([
        ("DTX_TEST_ENDPOINTS", "true".to_owned()),
        ("SHUTDOWN_DRAIN_SECS", "1".to_owned()),
        ("SHUTDOWN_GRACE_SECS", "2".to_owned()),
        ("STEAM_API_KEY", tests::steam_mock::API_KEY.to_owned()),
        ("STEAM_API_BASE", steam.uri()),
    ]);
    let mut api = Started::new("api", &[], &env, &dir);
    let base = format!("http://127.0.0.1:{port}");
    api.until_ok(&format!("{base}/readyz"), Duration::from_secs(30)).await;
    let login = reqwest::Client::new()
        .post(format!("{base}/api/tests/login"))
        .json(&json!({"username": "admin", "is_staff": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let cookies: Vec<String> = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
        .collect();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("cookie", cookies.join("; ").parse().unwrap());
    let http = reqwest::Client::builder().default_headers(headers).build().unwrap();
    let league = http
        .post(format!("{base}/api/leagues"))
        .json(&json!({"steam_league_id": 17929, "name": "DTX"}))
        .send()
        .await
        .unwrap();
    let league: Value = league.json().await.unwrap();
    let t: Value = http
        .post(format!("{base}/api/tournaments"))
        .json(&json!({"name": "Night", "date_played": "2026-12-10T18:00:00Z", "league_id": league["id"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (mut socket, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/api/tournament/{}/", t["id"])).await.unwrap();
    let first = socket.next().await.unwrap().unwrap();
    assert!(first.to_text().unwrap().contains("initial_state"), "{first:?}");
    let slow = tokio::spawn({
        let http = http.clone();
        let url = format!("{base}/api/steam/resolve?vanity=slowname");
        async move { http.get(url).send().await.map(|r| r.status().as_u16()) }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let signalled = Instant::now();
    api.signal("TERM");
    let readyz = reqwest::get(format!("{base}/readyz")).await.expect("still serving while draining");
    assert_eq!(readyz.status(), 503, "not ready from the signal on");
    let health = reqwest::get(format!("{base}/api/health")).await.expect("still serving");
    assert_eq!(health.status(), 200, "requests are still served during the drain");

    let close = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(frame))) => return frame,
                Some(Ok(_)) => continue,
                other => panic!("the socket ended without a close frame: {other:?}"),
            }
        }
    })
    .await
    .expect("a close frame");
    assert_eq!(close.map(|f| u16::from(f.code)), Some(1001), "going away");
    let cut = slow.await.unwrap();
    assert!(cut.is_err(), "the 60 s request was cut, not answered: {cut:?}");
    let status = api.wait_exit(Duration::from_secs(10)).await;
    let took = signalled.elapsed();
    assert!(took < Duration::from_secs(1 + 2 + 5), "exited {took:?} after SIGTERM ({status})");
    let output = api.output();
    let cut_line =
        output.lines().find(|l| l.contains("request cut")).unwrap_or_else(|| panic!("no cut line:\n{output}"));
    assert!(cut_line.contains("/api/steam/resolve"), "the line names the request: {cut_line}");
}

/// Safe configuration: `--help` never prints a password from a URL and the
/// scheduler's lists every schedule; a standalone worker or scheduler with
/// no `DATABASE_URL` refuses to start (no SQLite file appears); a malformed
/// `.env` line is an error naming it; flags may follow the subcommand;
/// production needs an https `PUBLIC_URL`.
#[tokio::test]
async fn configuration_is_safe_and_says_what_is_wrong() {
    let dir = scratch();
    let run = |binary: &str, args: &[&str], env: &[(&str, &str)], cwd: &Path| {
        let mut cmd = Command::new(workspace_binary(binary));
        cmd.args(args).current_dir(cwd).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null());
        let out = cmd.output().expect("runs");
        (out.status.code(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    };
    let secrets = [
        ("DATABASE_URL", "postgres://dtx:hunter2PW@db.internal/dtx"),
        ("REDIS_URL", "redis://:s3cretRedisPW@redis.internal:6379/"),
    ];
    for binary in ["api", "worker", "scheduler"] {
        let (code, help) = run(binary, &["--help"], &secrets, &dir);
        assert_eq!(code, Some(0), "{help}");
        assert!(
            !help.contains("hunter2PW") && !help.contains("s3cretRedisPW"),
            "{binary} --help shows a password:\n{help}"
        );
        assert!(help.contains("DATABASE_URL"), "{help}");
    }
    let (_, help) = run("scheduler", &["--help"], &[], &dir);
    for (kind, _) in worker::runtime::schedule::DEFAULTS {
        let variable = format!("SCHEDULE_{}", kind.to_uppercase());
        assert!(help.contains(&variable), "{variable} in the scheduler's --help:\n{help}");
    }

    for binary in ["worker", "scheduler"] {
        let empty = scratch();
        let (code, said) = run(binary, &[], &[("REDIS_URL", &redis_url())], &empty);
        assert_eq!(code, Some(2), "{binary}: {said}");
        assert!(said.contains("DATABASE_URL"), "names the variable: {said}");
        assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0, "{binary} created no file");
    }

    let with_env = scratch();
    std::fs::write(with_env.join(".env"), "DTX_REDIS_PREFIX=ok\nTHIS LINE IS BROKEN\nBIND=127.0.0.1:1\n").unwrap();
    let (code, said) = run("api", &["openapi"], &[], &with_env);
    assert_eq!(code, Some(2), "{said}");
    assert!(said.contains(".env") && said.contains("line 2"), "names the line: {said}");

    let db = TestDb::create(Backend::Sqlite).await;
    let (code, said) = run("api", &["migrate", "--database-url", &db.url], &[], &dir);
    assert_eq!(code, Some(0), "flags after the subcommand: {said}");
    let (code, said) = run("api", &["migrate", "--check", "--database-url", &db.url], &[], &dir);
    assert_eq!((code, said.contains("current")), (Some(0), true), "{said}");

    let (code, said) = run("api", &["serve"], &[("DTX_ENV", "production"), ("DATABASE_URL", &db.url)], &dir);
    assert_eq!(code, Some(2), "{said}");
    assert!(said.contains("PUBLIC_URL"), "{said}");
}

/// Two workers on one host started with the shipped unit's settings
/// (`deploy/systemd/dtx-worker@.service`: instance N on 127.0.0.1:946N) both
/// come up; the api counts two live worker processes — one after a stop —
/// and its metrics carry HELP text, process metrics and the build.
#[tokio::test]
async fn two_workers_on_one_host_with_the_unit_settings_and_what_the_metrics_say() {
    let unit =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/systemd/dtx-worker@.service"))
            .expect("the worker unit");
    let bind = unit
        .lines()
        .find_map(|l| l.strip_prefix("Environment=METRICS_BIND="))
        .expect("the unit sets METRICS_BIND per instance")
        .to_owned();
    let app = TestApp::spawn_with(Backend::Postgres, Options { redis: true, ..Default::default() }).await;
    let dir = scratch();
    let base = distributed(app.db_url(), app.redis_prefix.as_deref().unwrap());
    let mut workers = Vec::new();
    for instance in ["1", "2"] {
        let mut env = base.clone();
        let addr = bind.replace("%i", instance);
        env.push(("METRICS_BIND", addr.clone()));
        let mut worker = Started::new("worker", &[], &env, &dir);
        worker.until_ok(&format!("http://{addr}/livez"), Duration::from_secs(30)).await;
        workers.push(worker);
    }
    let alive = |want: u64| {
        let app = &app;
        async move {
            eventually(&format!("{want} workers alive"), Duration::from_secs(20), || async {
                let text = app.metrics().await.text;
                text.lines().any(|l| l == format!("dtx_workers_alive {want}")).then_some(text)
            })
            .await
        }
    };
    assert_eq!(app.anon().get("/api/health").await.status, 200);
    let text = alive(2).await;
    for expected in [
        "# HELP dtx_http_requests_total",
        "# HELP dtx_workers_alive",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "dtx_build_info{",
        "dtx_ledger_journal_backlog",
    ] {
        assert!(text.contains(expected), "{expected} in the api's metrics");
    }
    workers[1].signal("TERM");
    workers[1].wait_exit(Duration::from_secs(40)).await;
    alive(1).await;
    let mut buf = String::new();
    let _ = std::fs::File::open(&workers[0].log).map(|mut f| f.read_to_string(&mut buf));
    assert!(buf.contains("starting") && buf.contains("distributed"), "one start-up line: {buf}");
}
