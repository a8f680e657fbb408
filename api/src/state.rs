//! What every request handler can reach.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;

use worker::JobContext;
use worker::cache::Cache;

use crate::kv::KvStore;
use crate::settings::ApiSettings;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub db: DatabaseConnection,
    pub redis: Option<redis::aio::ConnectionManager>,
    pub kv: KvStore,
    pub cache: Cache,
    pub http: reqwest::Client,
    pub settings: ApiSettings,
    /// The job system: enqueue, and (embedded) run.
    pub jobs: JobContext,
    /// WebSocket bookkeeping of this instance.
    pub realtime: crate::realtime::Realtime,
    /// Per-IP limit on writes and logins.
    pub write_limiter: crate::ratelimit::WriteLimiter,
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Connects to the database (migrating it) and, in distributed mode, Redis.
    pub async fn connect(settings: ApiSettings) -> anyhow::Result<Self> {
        let db = worker::infra::connect_and_migrate(&settings.core.database_url)
            .await
            .map_err(|e| anyhow::anyhow!("cannot open DATABASE_URL: {e}"))?;
        let redis = match &settings.core.redis_url {
            Some(url) => Some(
                worker::infra::connect_redis(url)
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot connect to REDIS_URL: {e}"))?,
            ),
            None => None,
        };
        let prefix = settings.core.redis_prefix.clone();
        let settings_limit = settings.rate_limit_per_minute;
        let kv = match &redis {
            Some(conn) => KvStore::Redis { conn: conn.clone(), prefix: prefix.clone() },
            None => KvStore::Db(db.clone()),
        };
        let cache =
            if settings.disable_cache { Cache::disabled() } else { JobContext::default_cache(&settings.core, &redis) };
        let jobs = JobContext::build(settings.core.clone(), db.clone(), redis.clone(), cache.clone()).await?;
        worker::telemetry::install_metrics(None)?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .user_agent(concat!("dtx-api/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self(Arc::new(Inner {
            db,
            redis,
            kv,
            cache,
            http,
            settings,
            jobs,
            realtime: crate::realtime::Realtime::new(),
            write_limiter: crate::ratelimit::WriteLimiter::new(settings_limit),
        })))
    }

    /// Worker processes with a fresh heartbeat (the embedded pool counts as one).
    pub async fn workers_alive(&self) -> u64 {
        self.jobs.enqueuer.queue.workers_alive(self.jobs.heartbeat(), self.settings.runs_embedded_worker()).await
    }
}
