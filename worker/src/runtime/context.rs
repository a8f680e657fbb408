//! What every job handler can reach, built once per process.

use std::time::Duration;

use sea_orm::DatabaseConnection;

use crate::clients::discord::DiscordClient;
use crate::clients::steam::client::SteamClient;
use crate::config::CoreSettings;
use crate::infra::bus::Bus;
use crate::infra::cache::Cache;
use crate::infra::lock::Locks;
use crate::infra::presence::Presence;
use crate::infra::queue::{Queue, QueueConfig};
use crate::jobs::enqueue::Enqueuer;

#[derive(Clone)]
pub struct JobContext {
    pub db: DatabaseConnection,
    pub settings: CoreSettings,
    pub enqueuer: Enqueuer,
    pub locks: Locks,
    pub steam: SteamClient,
    pub discord: DiscordClient,
    pub redis: Option<redis::aio::ConnectionManager>,
    /// The read cache the API serves from; jobs invalidate what they change.
    pub cache: Cache,
    /// Realtime fan-out to WebSocket clients on every api instance.
    pub bus: Bus,
    /// Captains' last heartbeats.
    pub presence: Presence,
    /// The ledger id of the run being executed (set by the runner).
    pub current_run: Option<String>,
}

impl JobContext {
    /// Wires the queue, locks and clients for the mode the settings select.
    pub async fn build(
        settings: CoreSettings,
        db: DatabaseConnection,
        redis: Option<redis::aio::ConnectionManager>,
        cache: Cache,
    ) -> anyhow::Result<Self> {
        let queue_config = QueueConfig {
            prefix: settings.redis_prefix.clone(),
            heartbeat: Duration::from_secs(settings.job_heartbeat_secs),
            batch_size: settings.worker_concurrency as usize,
        };
        let queue = match (&redis, db.get_database_backend()) {
            (Some(conn), _) => Queue::redis(conn.clone(), &queue_config),
            (None, sea_orm::DatabaseBackend::Sqlite) => Queue::sqlite(db.get_sqlite_connection_pool(), &queue_config)
                .await
                .map_err(|e| anyhow::anyhow!("job queue set-up: {e}"))?,
            (None, _) => {
                tracing::warn!("PostgreSQL without REDIS_URL: jobs cannot be queued; set REDIS_URL");
                Queue::Unavailable
            }
        };
        let locks = match &redis {
            Some(conn) => Locks::Redis { conn: conn.clone(), prefix: settings.redis_prefix.clone() },
            None => Locks::local(),
        };
        let steam = SteamClient::new(&settings, redis.clone())?;
        let discord = DiscordClient::new(&settings)?;
        let bus = match (&settings.redis_url, &redis) {
            (Some(url), Some(conn)) => Bus::redis(url, conn.clone(), &settings.redis_prefix).await?,
            _ => Bus::local(),
        };
        let presence = match &redis {
            Some(conn) => Presence::Redis { conn: conn.clone(), prefix: settings.redis_prefix.clone() },
            None => Presence::local(),
        };
        Ok(Self {
            presence,
            enqueuer: Enqueuer::new(db.clone(), queue),
            db,
            settings,
            locks,
            steam,
            discord,
            redis,
            cache,
            bus,
            current_run: None,
        })
    }

    /// A cache that matches the mode: Redis when connected, else in-process.
    pub fn default_cache(settings: &CoreSettings, redis: &Option<redis::aio::ConnectionManager>) -> Cache {
        match redis {
            Some(conn) => Cache::redis(conn.clone(), &settings.redis_prefix),
            None => Cache::local(),
        }
    }

    /// The domain services' handle (shares this context's connections).
    pub fn services(&self) -> crate::domain::Services {
        crate::domain::Services {
            db: self.db.clone(),
            bus: self.bus.clone(),
            cache: self.cache.clone(),
            enqueuer: self.enqueuer.clone(),
            presence: self.presence.clone(),
            locks: self.locks.clone(),
            settings: self.settings.clone(),
        }
    }

    /// This context, executing run `run_id`.
    pub fn for_run(&self, run_id: &str) -> Self {
        Self { current_run: Some(run_id.to_owned()), ..self.clone() }
    }

    /// Who holds locks taken by this execution: the run (stable across
    /// redeliveries), or a one-off owner outside a job.
    pub fn lock_owner(&self) -> String {
        self.current_run.clone().unwrap_or_else(|| ulid::Ulid::generate().to_string())
    }

    pub fn heartbeat(&self) -> Duration {
        Duration::from_secs(self.settings.job_heartbeat_secs)
    }
}

/// Start-up shared by the `worker` and `scheduler` binaries: TLS provider,
/// database (migrated), Redis when configured, and the job context. Errors
/// name the variable that points at the unreachable store.
pub async fn boot(settings: CoreSettings) -> anyhow::Result<JobContext> {
    rustls::crypto::ring::default_provider().install_default().ok();
    let db = crate::infra::db::connect_and_migrate(&settings.database_url)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open DATABASE_URL: {e}"))?;
    let redis = match &settings.redis_url {
        Some(url) => Some(
            crate::infra::db::connect_redis(url)
                .await
                .map_err(|e| anyhow::anyhow!("cannot connect to REDIS_URL: {e}"))?,
        ),
        None => None,
    };
    let cache = JobContext::default_cache(&settings, &redis);
    JobContext::build(settings, db, redis, cache).await
}
