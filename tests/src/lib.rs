//! The end-to-end harness: starts the real api on a random port against a
//! fresh database (a SQLite file, or a PostgreSQL database of its own) and,
//! when asked, Redis under a key prefix of its own — so tests run in
//! parallel — and drives it over HTTP.
//!
//! PostgreSQL and Redis are found at `DTX_TEST_PG_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`) and `DTX_TEST_REDIS_URL`
//! (default `redis://127.0.0.1:6379/`).

use std::net::SocketAddr;

use api::{ApiSettings, AppState};
use clap::Parser;
use poem::listener::{Acceptor, Listener, TcpListener};
use reqwest::Method;
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::Value;

pub mod bench;
pub mod draftforge;
pub mod fixtures;
pub mod processes;
pub mod services;
pub mod steam_mock;
pub mod ws;

/// The bearer token test apps serve `/metrics` to on their public address.
pub const METRICS_TOKEN: &str = "test-metrics-token";

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates one test per database for each named `async fn(Backend)`.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $( #[tokio::test] async fn $name() { super::$name($crate::Backend::Sqlite).await } )+
        }
        mod postgres {
            $( #[tokio::test] async fn $name() { super::$name($crate::Backend::Postgres).await } )+
        }
    };
}

/// How the system runs: embedded (SQLite, in-process queue) or distributed
/// (PostgreSQL + Redis).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Embedded,
    Distributed,
}

impl Mode {
    pub fn backend(self) -> Backend {
        match self {
            Self::Embedded => Backend::Sqlite,
            Self::Distributed => Backend::Postgres,
        }
    }

    pub fn options(self, args: Vec<String>, worker: bool) -> Options {
        Options { redis: self == Self::Distributed, args, worker, ..Default::default() }
    }
}

/// Generates one test per [`Mode`] for each named `async fn(Mode)`.
#[macro_export]
macro_rules! in_both_modes {
    ($($name:ident),+ $(,)?) => {
        mod embedded_sqlite {
            $( #[tokio::test] async fn $name() { super::$name($crate::Mode::Embedded).await } )+
        }
        mod postgres_redis {
            $( #[tokio::test] async fn $name() { super::$name($crate::Mode::Distributed).await } )+
        }
    };
}

/// Whether a claim of `attempt` of run `id` (by a test worker) takes.
pub async fn claims(ledger: &worker::jobs::recorder::Recorder, id: &str, attempt: i32) -> bool {
    let claim = worker::jobs::group_commit::Claim { id: id.to_owned(), attempt, worker: "test-worker".into() };
    ledger.claim(claim).await.expect("ledger reachable") == worker::jobs::journal::ClaimOutcome::Claimed
}

/// Polls `probe` until it returns `Some`, failing after `deadline`.
pub async fn eventually<T, F, Fut>(what: &str, deadline: std::time::Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = std::time::Instant::now();
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(start.elapsed() < deadline, "timed out after {deadline:?} waiting for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

pub fn pg_admin_url() -> String {
    std::env::var("DTX_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

pub fn redis_url() -> String {
    std::env::var("DTX_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into())
}

pub fn unique_name(kind: &str) -> String {
    format!("dtx_test_{kind}_{:016x}", rand::random::<u64>())
}

/// A database made for one test, removed when dropped.
pub struct TestDb {
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    File(std::path::PathBuf),
    PgDatabase(String),
    /// Owned by another app (a sibling instance).
    None,
}

impl TestDb {
    pub async fn create(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let path = std::env::temp_dir().join(format!("{}.sqlite3", unique_name("db")));
                Self { url: format!("sqlite://{}?mode=rwc", path.display()), cleanup: Cleanup::File(path) }
            }
            Backend::Postgres => {
                let name = unique_name("db");
                let admin =
                    sea_orm::Database::connect(pg_admin_url()).await.expect("PostgreSQL reachable at DTX_TEST_PG_URL");
                admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("create test database");
                admin.close().await.ok();
                let mut url = url::Url::parse(&pg_admin_url()).expect("valid DTX_TEST_PG_URL");
                url.set_path(&name);
                Self { url: url.into(), cleanup: Cleanup::PgDatabase(name) }
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::File(path) => {
                for suffix in ["", "-wal", "-shm", ".migrate-lock"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Cleanup::None => {}
            Cleanup::PgDatabase(name) => {
                let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                run_blocking(async move {
                    if let Ok(admin) = sea_orm::Database::connect(pg_admin_url()).await {
                        let _ = admin.execute_unprepared(&sql).await;
                    }
                });
            }
        }
    }
}

/// Runs async clean-up from `Drop`, on a runtime of its own.
fn run_blocking(fut: impl std::future::Future<Output = ()> + Send + 'static) {
    let _ = std::thread::spawn(move || {
        if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
            rt.block_on(fut);
        }
    })
    .join();
}

/// Options for [`TestApp::spawn_with`].
#[derive(Default)]
pub struct Options {
    /// Use Redis (distributed mode) under a fresh key prefix.
    pub redis: bool,
    /// Extra command-line style settings, e.g. `["--discord-client-id", "1"]`.
    pub args: Vec<String>,
    /// Run the worker pool in-process (the scheduler only if `args` enable it).
    pub worker: bool,
    /// Another api instance on the same database and Redis prefix as this app.
    pub sibling_of: Option<(String, String)>,
    /// A database someone else owns (a drill's private server) instead of a fresh one.
    pub database_url: Option<String>,
    /// The Redis to use with `redis` (a private server, a proxy) instead of the shared one.
    pub redis_url: Option<String>,
}

/// A running api.
pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub http: reqwest::Client,
    pub state: AppState,
    pub redis_prefix: Option<String>,
    background: Option<api::embedded::Background>,
    /// False for a sibling: the first instance clears the prefix.
    owns_redis_prefix: bool,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    _db: TestDb,
}

#[derive(Parser)]
#[command(args_override_self = true)]
struct Cli {
    #[command(flatten)]
    settings: ApiSettings,
}

/// Settings as the api binary would parse them from `args`.
pub fn settings_from(args: &[String]) -> ApiSettings {
    let mut argv = vec!["api".to_owned()];
    argv.extend_from_slice(args);
    let settings = Cli::try_parse_from(argv).expect("test settings parse").settings;
    settings.validate().expect("test settings are valid");
    settings
}

impl TestApp {
    /// Embedded mode on `backend`, test endpoints on.
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, Options::default()).await
    }

    pub async fn spawn_with(backend: Backend, options: Options) -> Self {
        rustls::crypto::ring::default_provider().install_default().ok();
        if std::env::var_os("DTX_TEST_LOG").is_some() {
            worker::runtime::telemetry::init_logging(worker::config::LogFormat::Text);
        }
        let db = match (&options.sibling_of, &options.database_url) {
            (Some((url, _)), _) | (None, Some(url)) => TestDb { url: url.clone(), cleanup: Cleanup::None },
            (None, None) => TestDb::create(backend).await,
        };
        let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.expect("bind a free port");
        let addr = acceptor.local_addr()[0].as_socket_addr().copied().expect("tcp address");
        let worker = if options.worker { "true" } else { "false" };
        let mut args: Vec<String> = [
            "--database-url",
            &db.url,
            "--env",
            "development",
            "--test-endpoints",
            "true",
            "--bind",
            &addr.to_string(),
            "--embedded-worker",
            worker,
            "--embedded-scheduler",
            "false",
            "--job-backoff-base-ms",
            "100",
            // Suites make hundreds of writes a second from one address; the limits have their own tests.
            "--rate-limit-per-minute",
            "0",
            "--rate-limit-user-per-minute",
            "0",
            "--rate-limit-staff-per-minute",
            "0",
            "--metrics-token",
            METRICS_TOKEN,
        ]
        .map(String::from)
        .to_vec();
        let redis_prefix = match &options.sibling_of {
            Some((_, prefix)) => Some(prefix.clone()),
            None => options.redis.then(|| unique_name("redis")),
        };
        if let Some(prefix) = &redis_prefix {
            let url = options.redis_url.clone().unwrap_or_else(redis_url);
            args.extend(["--redis-url".to_owned(), url, "--redis-prefix".to_owned(), prefix.clone()]);
        }
        args.extend(options.args);
        let state = AppState::connect(settings_from(&args)).await.expect("app state");
        let background = Some(api::embedded::start(&state).expect("background tasks"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let serving = state.clone();
        tokio::spawn(async move {
            api::serve(serving, acceptor, async {
                let _ = rx.await;
            })
            .await
            .expect("server runs");
        });
        Self {
            addr,
            base: format!("http://{addr}"),
            http: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client"),
            state,
            redis_prefix,
            background,
            owns_redis_prefix: options.sibling_of.is_none(),
            shutdown: Some(tx),
            _db: db,
        }
    }

    /// Stops the server and waits for its worker pool and scheduler to stop
    /// (the pool hands back what still runs), as a SIGTERM would.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(background) = self.background.take() {
            background.stop().await;
        }
    }

    /// The database URL this app runs on (for extra processes).
    pub fn db_url(&self) -> &str {
        &self._db.url
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.state.db
    }

    /// A second api instance on this app's database and Redis prefix.
    pub async fn sibling(&self) -> TestApp {
        self.sibling_with(Options::default()).await
    }

    /// A second api instance on this app's database and Redis prefix, with
    /// `options` (a worker pool of its own, settings).
    pub async fn sibling_with(&self, options: Options) -> TestApp {
        let prefix = self.redis_prefix.clone().expect("siblings share Redis");
        let options = Options { redis: true, sibling_of: Some((self.db_url().to_owned(), prefix)), ..options };
        TestApp::spawn_with(Backend::Postgres, options).await
    }

    /// `GET /metrics` with the metrics token.
    pub async fn metrics(&self) -> Resp {
        let auth = format!("Bearer {METRICS_TOKEN}");
        self.anon().send(Method::GET, "/metrics", None, &[("authorization", &auth)]).await
    }

    /// A caller without a session.
    pub fn anon(&self) -> Caller<'_> {
        Caller { app: self, cookie: None }
    }

    /// Logs in through `POST /api/tests/login`.
    pub async fn login(&self, username: &str, is_staff: bool, is_superuser: bool) -> Caller<'_> {
        let resp = self
            .anon()
            .post(
                "/api/tests/login",
                serde_json::json!({ "username": username, "is_staff": is_staff, "is_superuser": is_superuser }),
            )
            .await;
        assert_eq!(resp.status, 200, "test login failed: {}", resp.body);
        let cookie = resp.session_cookie().expect("session cookie set");
        Caller { app: self, cookie: Some(cookie) }
    }

    pub async fn user(&self, username: &str) -> Caller<'_> {
        self.login(username, false, false).await
    }

    pub async fn staff(&self, username: &str) -> Caller<'_> {
        self.login(username, true, false).await
    }

    pub async fn superuser(&self, username: &str) -> Caller<'_> {
        self.login(username, true, true).await
    }

    /// Idempotency keys of the scheduler's ticks for `kind`
    /// (`cron:{kind}:…:{unix seconds}`), in order.
    pub async fn tick_keys(&self, kind: &str) -> Vec<String> {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
        entity::job_run::Entity::find()
            .select_only()
            .column(entity::job_run::Column::IdempotencyKey)
            .filter(entity::job_run::Column::IdempotencyKey.like(format!("cron:{kind}:%")))
            .order_by_asc(entity::job_run::Column::IdempotencyKey)
            .into_tuple::<Option<String>>()
            .all(self.db())
            .await
            .expect("ledger query")
            .into_iter()
            .flatten()
            .collect()
    }

    /// The first column of every row of `sql`, as text.
    pub async fn db_rows(&self, sql: &str) -> Vec<String> {
        let backend = self.db().get_database_backend();
        self.db()
            .query_all_raw(sea_orm::Statement::from_string(backend, sql.to_owned()))
            .await
            .expect("query")
            .iter()
            .map(|row| row.try_get_by_index::<String>(0).expect("a text column"))
            .collect()
    }

    /// The API's id of the league whose Steam league id is `steam_league_id`
    /// (paths and `league_id` take the API's id, SPEC §23).
    pub async fn league_id(&self, steam_league_id: i64) -> i64 {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        entity::league::Entity::find()
            .filter(entity::league::Column::SteamLeagueId.eq(steam_league_id))
            .one(self.db())
            .await
            .expect("league query")
            .unwrap_or_else(|| panic!("no league with Steam league id {steam_league_id}"))
            .id
    }

    /// Counts rows of a table (to prove a bad request wrote nothing).
    pub async fn count(&self, table: &str) -> i64 {
        let backend = self.db().get_database_backend();
        let row = self
            .db()
            .query_one_raw(sea_orm::Statement::from_string(backend, format!("SELECT COUNT(*) AS n FROM {table}")))
            .await
            .expect("count query")
            .expect("one row");
        row.try_get::<i64>("", "n").expect("count")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(background) = &self.background {
            background.signal_stop();
        }
        if let Some(prefix) = self.redis_prefix.clone().filter(|_| self.owns_redis_prefix) {
            run_blocking(async move {
                let Ok(client) = redis::Client::open(redis_url()) else { return };
                let Ok(mut conn) = client.get_multiplexed_async_connection().await else { return };
                // SCAN + UNLINK in pieces: a bench run leaves ~300 000 keys, and
                // one KEYS/DEL of them timed out, leaving them for every later test.
                let mut cursor = 0_u64;
                loop {
                    let Ok((next, keys)): Result<(u64, Vec<String>), _> = redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(format!("{prefix}:*"))
                        .arg("COUNT")
                        .arg(10_000)
                        .query_async(&mut conn)
                        .await
                    else {
                        return;
                    };
                    if !keys.is_empty() {
                        let _: Result<(), _> = redis::cmd("UNLINK").arg(keys).query_async(&mut conn).await;
                    }
                    if next == 0 {
                        return;
                    }
                    cursor = next;
                }
            });
        }
    }
}

/// A workspace binary built next to the test executables (`tests/run.sh`
/// builds them first).
pub fn workspace_binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.ancestors().nth(2).expect("target/<profile>");
    let path = dir.join(name);
    assert!(path.exists(), "{} is missing: build the workspace binaries first (cargo build --bins)", path.display());
    path
}

/// Someone calling the API, with or without a session.
pub struct Caller<'a> {
    pub app: &'a TestApp,
    pub cookie: Option<String>,
}

/// A response, body parsed as JSON (`Null` when empty or not JSON).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Resp {
    /// The `dtx_session=…` pair from `Set-Cookie`.
    pub fn session_cookie(&self) -> Option<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("dtx_session="))
            .and_then(|v| v.split(';').next())
            .map(str::to_owned)
    }

    /// Asserts the SPEC §3 error body and returns its code.
    pub fn error_code(&self) -> String {
        let code = self.body["error"]["code"].as_str().unwrap_or_else(|| panic!("not an error body: {}", self.text));
        assert!(self.body["error"]["message"].is_string(), "error without message: {}", self.text);
        code.to_owned()
    }

    pub fn id(&self) -> i64 {
        self.body["id"].as_i64().unwrap_or_else(|| panic!("no id in {}", self.text))
    }
}

impl Caller<'_> {
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut req = self.app.http.request(method, format!("{}{path}", self.app.base));
        if let Some(cookie) = &self.cookie {
            req = req.header("cookie", cookie);
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        if let Some((content_type, bytes)) = body {
            req = req.header("content-type", content_type).body(bytes);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        assert!(status < 500 || status == 503, "server error {status} for {path}: {text}");
        Resp { status, headers, body, text }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(Method::GET, path, None, &[]).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send(Method::DELETE, path, None, &[]).await
    }

    pub async fn post(&self, path: &str, json: Value) -> Resp {
        self.send(Method::POST, path, Some(("application/json", json.to_string().into_bytes())), &[]).await
    }

    pub async fn patch(&self, path: &str, json: Value) -> Resp {
        self.send(Method::PATCH, path, Some(("application/json", json.to_string().into_bytes())), &[]).await
    }

    /// A raw body (malformed JSON, huge bodies).
    pub async fn raw(&self, method: Method, path: &str, body: &[u8]) -> Resp {
        self.send(method, path, Some(("application/json", body.to_vec())), &[]).await
    }
}

/// What a test process logs, kept for its assertions: install with
/// `tracing_subscriber::fmt().with_writer(logs.clone())`.
#[derive(Clone, Default)]
pub struct CapturedLogs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl CapturedLogs {
    /// Everything logged so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("logs")).into_owned()
    }
}

impl std::io::Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("logs").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for CapturedLogs {
    type Writer = CapturedLogs;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
