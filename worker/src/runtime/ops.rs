//! What an orchestrator and Prometheus ask a process (SPEC §22). `/livez`
//! answers 200 while the process runs, whatever its dependencies (a restart
//! would not bring a database back); `/readyz` is 200 when the database and
//! Redis answer — each check bounded to 1 s — and 503 once the process
//! drains for a shutdown; `/metrics` is the Prometheus text. The api serves
//! these on its own listener; the worker and the scheduler serve them on
//! `METRICS_BIND`.

use std::net::SocketAddr;
use std::time::Duration;

use poem::listener::TcpListener;
use poem::{EndpointExt, IntoResponse, Route, get, handler, http::StatusCode, web::Json};
use sea_orm::DatabaseConnection;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::runtime::context::JobContext;

/// How long one readiness check may take.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// The readiness of one process: its connections, and whether it drains.
#[derive(Clone)]
pub struct Probe {
    db: DatabaseConnection,
    redis: Option<redis::aio::ConnectionManager>,
    draining: CancellationToken,
}

/// How one dependency answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    Ok,
    Down,
    Timeout,
}

/// What `/readyz` says.
#[derive(Debug, Clone, Serialize)]
pub struct Readiness {
    pub ready: bool,
    pub draining: bool,
    pub database: Check,
    /// `None` in embedded mode (no Redis).
    pub redis: Option<Check>,
}

impl Probe {
    pub fn new(db: DatabaseConnection, redis: Option<redis::aio::ConnectionManager>) -> Self {
        Self { db, redis, draining: CancellationToken::new() }
    }

    pub fn of(ctx: &JobContext) -> Self {
        Self::new(ctx.db.clone(), ctx.redis.clone())
    }

    /// From now on `/readyz` answers 503: the process is on its way out.
    pub fn drain(&self) {
        self.draining.cancel();
    }

    pub fn is_draining(&self) -> bool {
        self.draining.is_cancelled()
    }

    pub async fn readiness(&self) -> Readiness {
        let database = bounded(async { self.db.ping().await.is_ok() });
        let redis = async {
            match &self.redis {
                Some(conn) => {
                    let mut conn = conn.clone();
                    Some(
                        bounded(async move { redis::cmd("PING").query_async::<String>(&mut conn).await.is_ok() }).await,
                    )
                }
                None => None,
            }
        };
        let (database, redis) = tokio::join!(database, redis);
        let draining = self.is_draining();
        Readiness {
            ready: !draining && database == Check::Ok && redis.is_none_or(|r| r == Check::Ok),
            draining,
            database,
            redis,
        }
    }
}

async fn bounded(check: impl Future<Output = bool>) -> Check {
    match tokio::time::timeout(CHECK_TIMEOUT, check).await {
        Ok(true) => Check::Ok,
        Ok(false) => Check::Down,
        Err(_) => Check::Timeout,
    }
}

#[handler]
pub fn livez() -> &'static str {
    "ok"
}

/// `/readyz` of `probe`: 200 or 503 with the checks as JSON.
pub async fn readyz(probe: &Probe) -> poem::Response {
    let readiness = probe.readiness().await;
    let status = if readiness.ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    Json(readiness).with_status(status).into_response()
}

/// Serves `/livez`, `/readyz` and `/metrics` of a worker or scheduler on
/// `addr` until the process ends.
pub async fn serve(addr: SocketAddr, probe: Probe, ctx: JobContext) -> anyhow::Result<()> {
    let acceptor = poem::listener::Listener::into_acceptor(TcpListener::bind(addr))
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on METRICS_BIND={addr}: {e}"))?;
    let app = Route::new()
        .at("/livez", get(livez))
        .at(
            "/readyz",
            get(poem::endpoint::make({
                let probe = probe.clone();
                move |_| {
                    let probe = probe.clone();
                    async move { readyz(&probe).await }
                }
            })),
        )
        .at(
            "/metrics",
            get(poem::endpoint::make(move |_| {
                let ctx = ctx.clone();
                async move {
                    record_backlog(&ctx).await;
                    super::telemetry::render_metrics()
                }
            })),
        )
        .map_to_response();
    tracing::info!(%addr, "probes at /livez and /readyz, metrics at /metrics");
    tokio::spawn(async move { poem::Server::new_with_acceptor(acceptor).run(app).await });
    Ok(())
}

/// Sets `dtx_ledger_journal_backlog`: ledger records in Redis not yet
/// written to the database (distributed mode).
pub async fn record_backlog(ctx: &JobContext) {
    if let Some(backlog) = ctx.enqueuer.ledger.backlog().await {
        metrics::gauge!("dtx_ledger_journal_backlog").set(backlog as f64);
    }
}
