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
use crate::jobs::JobError;
use crate::jobs::control::PausedKinds;
use crate::jobs::enqueue::Enqueuer;

#[derive(Clone)]
pub struct JobContext {
    pub db: DatabaseConnection,
    /// Shared: a context is cloned for every run.
    pub settings: std::sync::Arc<CoreSettings>,
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
    /// The run being executed (set by the runner).
    pub run: Option<RunHandle>,
    /// The job kinds operators paused, as this process last read them.
    pub paused: PausedKinds,
    /// Fires when a shutting-down worker pool hands its running jobs back
    /// (after `WORKER_SHUTDOWN_TIMEOUT_SECS`).
    pub hand_back: tokio_util::sync::CancellationToken,
    /// Ticks about every second while a worker pool runs: when running jobs
    /// are looked at (cancel asked? new progress?) — one clock for all of
    /// them, not a timer per job.
    pub supervision: tokio::sync::watch::Receiver<u64>,
}

/// What a running job reaches of its own run: its id, whether it was
/// cancelled, and where its progress goes.
#[derive(Clone)]
pub struct RunHandle {
    pub id: String,
    cancel: tokio_util::sync::CancellationToken,
    /// The latest report and whether it was written yet.
    progress: std::sync::Arc<std::sync::Mutex<Option<(serde_json::Value, bool)>>>,
}

impl RunHandle {
    pub fn new(id: &str) -> Self {
        Self { id: id.to_owned(), cancel: Default::default(), progress: Default::default() }
    }

    /// Asks the job to stop at its next safe point.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Keeps `progress` as the run's latest report (the runner writes it at
    /// most every second).
    pub fn report(&self, progress: serde_json::Value) {
        *self.progress.lock().expect("progress") = Some((progress, false));
    }

    /// The report not yet written, marked written.
    pub fn take_unwritten(&self) -> Option<serde_json::Value> {
        let mut slot = self.progress.lock().expect("progress");
        match slot.as_mut() {
            Some((value, written)) if !*written => {
                *written = true;
                Some(value.clone())
            }
            _ => None,
        }
    }
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
            bulk_batch: settings.worker_concurrency as usize,
            interactive_batch: settings.worker_interactive_concurrency as usize,
        };
        let queue = match (&redis, db.get_database_backend()) {
            (Some(conn), _) => {
                // The journal's enqueues get a connection of their own (see `Journal::start`).
                let enqueues = match &settings.redis_url {
                    Some(url) => crate::infra::db::connect_redis_url(url).await?,
                    None => conn.clone(),
                };
                Queue::redis(conn.clone(), enqueues, &queue_config)
            }
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
            settings: std::sync::Arc::new(settings),
            locks,
            steam,
            discord,
            redis,
            cache,
            bus,
            run: None,
            paused: PausedKinds::default(),
            hand_back: Default::default(),
            // No pool, no clock: its sender is gone, and supervision waits forever.
            supervision: tokio::sync::watch::channel(0).1,
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

    /// This context, executing `run`.
    pub fn for_run(&self, run: RunHandle) -> Self {
        Self { run: Some(run), ..self.clone() }
    }

    /// Who holds locks taken by this execution: the run (stable across
    /// redeliveries), or a one-off owner outside a job.
    pub fn lock_owner(&self) -> String {
        self.run.as_ref().map(|r| r.id.clone()).unwrap_or_else(|| ulid::Ulid::generate().to_string())
    }

    /// A safe point: `Err(Cancelled)` once an operator cancelled the run.
    pub fn checkpoint(&self) -> Result<(), JobError> {
        match &self.run {
            Some(run) if run.is_cancelled() => Err(JobError::Cancelled),
            _ => Ok(()),
        }
    }

    /// Resolves once an operator cancelled the run (never outside a run).
    pub async fn cancelled(&self) {
        match &self.run {
            Some(run) => run.cancel.cancelled().await,
            None => std::future::pending().await,
        }
    }

    /// Reports the run's progress (shown by `GET /api/jobs/{id}`).
    pub fn report(&self, progress: serde_json::Value) {
        if let Some(run) = &self.run {
            run.report(progress);
        }
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
    let db = crate::infra::db::connect_ready(&settings.database_url, settings.migrate_on_start)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open DATABASE_URL: {e}"))?;
    let redis = match &settings.redis_url {
        Some(url) => Some(crate::infra::db::connect_redis_url(url).await?),
        None => None,
    };
    let cache = JobContext::default_cache(&settings, &redis);
    JobContext::build(settings, db, redis, cache).await
}
