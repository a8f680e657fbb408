//! The queue that carries [`Envelope`]s: apalis-redis in distributed mode,
//! apalis-sqlite (durable, same file as the data) in embedded mode. The
//! handlers are the same for both.

use std::time::Duration;

use apalis::prelude::{TaskBuilder, TaskSink};
use apalis_redis::RedisStorage;
use apalis_sqlite::SqliteStorage;
use redis::AsyncCommands;

use crate::jobs::Envelope;

/// Tunables of the queue.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    /// Redis key prefix (`{prefix}:jobs`).
    pub prefix: String,
    /// How often a worker proves it is alive; a worker silent for three
    /// intervals is dead and its jobs go to another worker.
    pub heartbeat: Duration,
    /// Tasks a worker takes at once (keep ≈ concurrency so long jobs spread).
    pub batch_size: usize,
}

#[derive(Clone)]
pub enum Queue {
    Redis {
        storage: RedisStorage<Envelope>,
        conn: redis::aio::ConnectionManager,
        name: String,
    },
    Sqlite(SqliteStorage<Envelope>),
    /// PostgreSQL without Redis: the API runs, jobs cannot be queued.
    Unavailable,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("no job queue: PostgreSQL needs REDIS_URL for jobs")]
    Unavailable,
    #[error("queue push failed: {0}")]
    Push(String),
}

impl Queue {
    pub const MISSED_HEARTBEATS: usize = 3;

    pub fn redis(conn: redis::aio::ConnectionManager, config: &QueueConfig) -> Self {
        let name = format!("{}:jobs", config.prefix);
        let cfg = apalis_redis::Config::default()
            .queue(&name)
            .batch_size(config.batch_size.max(1))
            .heartbeat_interval(config.heartbeat)
            .missed_heartbeats(Self::MISSED_HEARTBEATS);
        let storage = RedisStorage::new(conn.clone()).with_config(cfg);
        Self::Redis { storage, conn, name }
    }

    /// The SQLite queue in the database file itself (tables created once).
    pub async fn sqlite(pool: &apalis_sqlite::SqlitePool, config: &QueueConfig) -> Result<Self, apalis_sqlite::Error> {
        SqliteStorage::setup(pool).await?;
        let cfg = apalis_sqlite::Config::default()
            .queue("dtx_jobs")
            .batch_size(config.batch_size.max(1))
            .heartbeat_interval(config.heartbeat)
            .missed_heartbeats(Self::MISSED_HEARTBEATS);
        Ok(Self::Sqlite(SqliteStorage::new(pool).with_config(cfg)))
    }

    /// Pushes an envelope, to run after `delay`.
    pub async fn push(&self, envelope: Envelope, delay: Duration) -> Result<(), QueueError> {
        let mut builder = TaskBuilder::new(envelope);
        if !delay.is_zero() {
            builder = builder.run_after(delay);
        }
        let task = builder.build();
        match self {
            Self::Redis { storage, .. } => {
                storage.clone().push_task(task).await.map_err(|e| QueueError::Push(e.to_string()))
            }
            Self::Sqlite(storage) => storage.clone().push_task(task).await.map_err(|e| QueueError::Push(e.to_string())),
            Self::Unavailable => Err(QueueError::Unavailable),
        }
    }

    /// Worker processes that heartbeated recently (Redis), or 0/1 in-process.
    pub async fn workers_alive(&self, heartbeat: Duration, in_process: bool) -> u64 {
        match self {
            Self::Redis { conn, name, .. } => {
                let horizon =
                    chrono::Utc::now().timestamp() - (heartbeat.as_secs() as i64) * Self::MISSED_HEARTBEATS as i64;
                let alive: redis::RedisResult<u64> =
                    conn.clone().zcount(format!("{name}:workers"), horizon, "+inf").await;
                alive.unwrap_or(0)
            }
            _ => u64::from(in_process),
        }
    }
}
