//! What every request handler can reach.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;

use worker::JobContext;
use worker::infra::cache::Cache;

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
    /// The core's services (shares the job context's connections).
    pub services: worker::Services,
    /// WebSocket bookkeeping of this instance.
    pub realtime: crate::realtime::Realtime,
    /// Write limits per user / per client address.
    pub write_limiter: crate::ratelimit::WriteLimiter,
    /// Steam lookups per user (they spend the shared Steam budget).
    pub lookup_limiter: crate::ratelimit::WriteLimiter,
    /// "Sign in through Steam", to prove a Steam account.
    pub steam_openid: worker::clients::steam_openid::SteamOpenId,
    /// `/readyz`: the connections, and whether the api drains for a shutdown.
    pub probe: worker::runtime::ops::Probe,
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
        let db = worker::infra::db::connect_ready(&settings.core.database_url, settings.core.migrate_on_start)
            .await
            .map_err(|e| anyhow::anyhow!("cannot open DATABASE_URL: {e}"))?;
        let redis = match &settings.core.redis_url {
            Some(url) => Some(worker::infra::db::connect_redis_url(url).await?),
            None => None,
        };
        let prefix = settings.core.redis_prefix.clone();
        let budgets = crate::ratelimit::Budgets {
            per_address: settings.rate_limit_per_minute,
            per_user: settings.rate_limit_user_per_minute,
            per_staff: settings.rate_limit_staff_per_minute,
        };
        let write_limiter = crate::ratelimit::WriteLimiter::for_mode(budgets, &redis, &prefix, "ratelimit");
        let lookups = crate::ratelimit::Budgets {
            per_address: 0,
            per_user: settings.steam_lookups_per_minute,
            per_staff: settings.steam_lookups_per_minute.saturating_mul(5),
        };
        let lookup_limiter = crate::ratelimit::WriteLimiter::for_mode(lookups, &redis, &prefix, "lookups");
        let socket_caps = crate::realtime::limits_caps(&settings);
        let settings_openid_base = settings.steam_openid_base.clone();
        let kv = match &redis {
            Some(conn) => KvStore::Redis { conn: conn.clone(), prefix: prefix.clone() },
            None => KvStore::Db(db.clone()),
        };
        let cache =
            if settings.disable_cache { Cache::disabled() } else { JobContext::default_cache(&settings.core, &redis) };
        let jobs = JobContext::build(settings.core.clone(), db.clone(), redis.clone(), cache.clone()).await?;
        worker::runtime::telemetry::install_metrics("api")?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .user_agent(concat!("dtx-api/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let probe = worker::runtime::ops::Probe::new(db.clone(), redis.clone());
        Ok(Self(Arc::new(Inner {
            db,
            redis,
            kv,
            cache,
            http,
            settings,
            services: jobs.services(),
            jobs,
            realtime: crate::realtime::Realtime::new(crate::realtime::SocketLimits::new(socket_caps)),
            write_limiter,
            lookup_limiter,
            steam_openid: worker::clients::steam_openid::SteamOpenId::new(&settings_openid_base),
            probe,
        })))
    }

    /// Worker processes with a fresh heartbeat (the embedded pool counts as one).
    pub async fn workers_alive(&self) -> u64 {
        self.jobs.enqueuer.queue.workers_alive(self.jobs.heartbeat(), self.settings.runs_embedded_worker()).await
    }
}
