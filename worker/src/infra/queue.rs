//! The queue that carries [`Envelope`]s: apalis-redis in distributed mode,
//! apalis-sqlite (durable, same file as the data) in embedded mode. The
//! handlers are the same for both.

use std::time::Duration;

use apalis::prelude::{TaskBuilder, TaskSink};
use apalis_redis::RedisStorage;
use apalis_sqlite::SqliteStorage;
use redis::AsyncCommands;

use crate::jobs::payload::Envelope;

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

/// The embedded queue's name (apalis-sqlite's `job_type`).
const SQLITE_QUEUE: &str = "dtx_jobs";

/// Finished tasks one forget step takes at most (from each Redis set).
const FORGET_STEP: usize = 1_000;

/// Forgets at most ARGV[2] tasks of each of the done and dead sets: their
/// data and metadata go with them (apalis-redis keeps both forever).
/// KEYS: done set, dead set, task data hash. ARGV: task metadata prefix, limit.
const FORGET: &str = r"
local forgotten = 0
for set = 1, 2 do
  local tasks = redis.call('SPOP', KEYS[set], tonumber(ARGV[2]))
  for _, task in ipairs(tasks) do
    redis.call('HDEL', KEYS[3], task)
    redis.call('DEL', ARGV[1] .. ':' .. task)
    forgotten = forgotten + 1
  end
end
return forgotten
";

/// Runs `step` until it forgets fewer than [`FORGET_STEP`] tasks, so no one
/// call holds Redis or SQLite's one writer for long (the first prune of a
/// long-running install has a lot to forget); answers the total.
async fn in_steps<F, Fut>(mut step: F) -> Result<u64, QueueError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<u64, QueueError>>,
{
    let mut forgotten = 0;
    loop {
        let taken = step().await?;
        forgotten += taken;
        if taken < FORGET_STEP as u64 {
            return Ok(forgotten);
        }
    }
}

/// Moves at most ARGV[2] due tasks from the scheduled set to the active list
/// (the same moves apalis-redis' fetch makes, but bounded) and answers how
/// many due tasks are left.
const PROMOTE: &str = r"
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], 0, ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #ids > 0 then
  redis.call('RPUSH', KEYS[2], unpack(ids))
  redis.call('ZREM', KEYS[1], unpack(ids))
  redis.call('DEL', KEYS[3])
  redis.call('LPUSH', KEYS[3], 1)
end
return redis.call('ZCOUNT', KEYS[1], 0, ARGV[1])
";

/// Due tasks promoted per script call; far below Lua's unpack limit (~8 000).
const PROMOTE_CHUNK: u64 = 1000;

/// apalis-redis 1.0's fetch promotes every due task with one Lua `unpack`,
/// which fails past ~8 000 due tasks (and the worker dies): a backlog after
/// an outage would stop the queue. This keeps the due set small by promoting
/// in chunks, every `every`, until `stop` resolves.
pub async fn promote_due_forever(
    conn: redis::aio::ConnectionManager,
    queue: String,
    every: Duration,
    stop: impl std::future::Future<Output = ()>,
) {
    let mut ticker = tokio::time::interval(every);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = ticker.tick() => {}
        }
        if let Err(err) = promote_due(&conn, &queue).await {
            tracing::warn!(error = %err, "promoting due jobs failed");
        }
    }
}

/// Promotes every due task now, in chunks.
pub async fn promote_due(conn: &redis::aio::ConnectionManager, queue: &str) -> redis::RedisResult<()> {
    let script = redis::Script::new(PROMOTE);
    loop {
        let left: u64 = script
            .key(format!("{queue}:scheduled"))
            .key(format!("{queue}:active"))
            .key(format!("{queue}:signal"))
            .arg(chrono::Utc::now().timestamp())
            .arg(PROMOTE_CHUNK)
            .invoke_async(&mut conn.clone())
            .await?;
        if left == 0 {
            return Ok(());
        }
    }
}

/// The apalis-redis settings of a queue named `name` (its Redis key).
///
/// Task leases are off: apalis-redis 1.0 takes a lease with
/// `LREM <active list> 1 <id>` per task, a scan of the whole waiting list
/// (the task already left it when fetched), so with 10 000 jobs queued every
/// job cost Redis ~100 µs and a backlog drained slower the longer it was.
/// Nothing is lost without them: a fetched task sits in its worker's
/// in-flight set, which is what a dead worker's jobs are recovered from, and
/// duplicate deliveries are refused by the ledger's claim.
pub fn redis_config(name: &str, batch_size: usize) -> apalis_redis::Config {
    apalis_redis::Config::default().queue(name).batch_size(batch_size.max(1)).lock_tasks(false)
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
    #[error("queue cleanup failed: {0}")]
    Cleanup(String),
}

impl Queue {
    pub const MISSED_HEARTBEATS: usize = 3;

    pub fn redis(conn: redis::aio::ConnectionManager, config: &QueueConfig) -> Self {
        let name = format!("{}:jobs", config.prefix);
        let cfg = redis_config(&name, config.batch_size)
            .heartbeat_interval(config.heartbeat)
            .missed_heartbeats(Self::MISSED_HEARTBEATS);
        let storage = RedisStorage::new(conn.clone()).with_config(cfg);
        Self::Redis { storage, conn, name }
    }

    /// The SQLite queue in the database file itself (tables created once).
    pub async fn sqlite(pool: &apalis_sqlite::SqlitePool, config: &QueueConfig) -> Result<Self, apalis_sqlite::Error> {
        SqliteStorage::setup(pool).await?;
        // apalis-sqlite 1.0 plans its ack (`UPDATE Jobs … FROM json_each(?1) …
        // AND Jobs.lock_by = ?2`) from this index on `lock_by`, which every task
        // a worker finished keeps: each ack then read its whole batch again per
        // task the worker ever finished, and a busy embedded worker slowed down
        // with its history (10 000 jobs: 5.8 ms of CPU a job). Without it SQLite
        // looks the batch's ids up by primary key. None of apalis-sqlite's
        // other statements plans from it.
        sea_orm::sqlx::query("DROP INDEX IF EXISTS LIdx").execute(pool).await?;
        let cfg = apalis_sqlite::Config::default()
            .queue(SQLITE_QUEUE)
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

    /// Forgets the queue's finished tasks — done, or dead to the queue — and
    /// answers how many went. The ledger is the record of every run; the
    /// queue's copies would otherwise stay forever (Redis memory, the SQLite
    /// file). Tasks waiting, running or due for a retry are untouched.
    pub async fn forget_finished(&self) -> Result<u64, QueueError> {
        match self {
            Self::Redis { storage, conn, .. } => {
                let config = storage.get_config();
                let script = redis::Script::new(FORGET);
                in_steps(|| async {
                    script
                        .key(config.done_jobs_set())
                        .key(config.dead_jobs_set())
                        .key(config.job_data_hash())
                        .arg(config.job_meta_hash())
                        .arg(FORGET_STEP)
                        .invoke_async::<u64>(&mut conn.clone())
                        .await
                        .map_err(|e| QueueError::Cleanup(e.to_string()))
                })
                .await
            }
            Self::Sqlite(storage) => {
                in_steps(|| async {
                    sea_orm::sqlx::query(
                        "DELETE FROM Jobs WHERE rowid IN (SELECT rowid FROM Jobs WHERE job_type = ?1 \
                         AND (status IN ('Done', 'Killed') OR (status = 'Failed' AND attempts >= max_attempts)) \
                         LIMIT ?2)",
                    )
                    .bind(SQLITE_QUEUE)
                    .bind(FORGET_STEP as i64)
                    .execute(storage.pool())
                    .await
                    .map(|done| done.rows_affected())
                    .map_err(|e| QueueError::Cleanup(e.to_string()))
                })
                .await
            }
            Self::Unavailable => Ok(0),
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
