//! The queues that carry envelopes: apalis-redis in distributed mode,
//! apalis-sqlite (durable, same file as the data) in embedded mode — one
//! queue per [`Lane`], so interactive work never waits behind bulk work. The
//! handlers are the same for both.
//!
//! Workers receive a task's bytes as they are ([`RawTask`], through
//! [`RawCodec`]): the runner decodes them, so a task no build can read is
//! dead-lettered instead of stopping the worker (apalis' own decoding would
//! end the worker and leave the task in its in-flight set, to be found again
//! and again). Pushes take JSON values, so a task from a newer build can be
//! put back as it came.
//!
//! Tasks a worker must not run now are *held*: pushed again due at a
//! far-future second that names why ([`HOLD_BASE`] + a [`Hold`] slot), where
//! nothing promotes them, until [`Queue::release`] makes them due — a paused
//! kind's tasks until it is resumed, a newer payload version's tasks until a
//! worker that reads it releases them.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, LazyLock, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use apalis::prelude::{TaskBuilder, TaskSink};
use apalis_core::backend::codec::Codec;
use apalis_redis::RedisStorage;
use apalis_sqlite::SqliteStorage;
use chrono::{DateTime, Utc};
use redis::AsyncCommands;
use tokio::sync::mpsc;

use crate::jobs::payload::{KINDS, Lane};

/// Tunables of the queue.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    /// Redis key prefix (`{prefix}:jobs`, `{prefix}:jobs:interactive`).
    pub prefix: String,
    /// How often a worker proves it is alive; a worker silent for three
    /// intervals is dead and its jobs go to another worker.
    pub heartbeat: Duration,
    /// Tasks a worker of each lane takes at once (keep ≈ its concurrency so long jobs spread).
    pub interactive_batch: usize,
    pub bulk_batch: usize,
}

/// A value per lane.
#[derive(Debug, Clone)]
pub struct Lanes<T> {
    pub interactive: T,
    pub bulk: T,
}

impl<T> Lanes<T> {
    pub fn get(&self, lane: Lane) -> &T {
        match lane {
            Lane::Interactive => &self.interactive,
            Lane::Bulk => &self.bulk,
        }
    }

    pub fn map<U>(&self, f: impl Fn(Lane, &T) -> U) -> Lanes<U> {
        Lanes { interactive: f(Lane::Interactive, &self.interactive), bulk: f(Lane::Bulk, &self.bulk) }
    }
}

/// The apalis-redis settings of both lanes.
pub type LaneConfigs = Lanes<apalis_redis::Config>;

/// A task's bytes as the queue holds them; the runner decodes them.
#[derive(Debug, Clone)]
pub struct RawTask(pub Vec<u8>);

/// Hands a worker the task's bytes untouched.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawCodec;

impl Codec<RawTask> for RawCodec {
    type Error = Infallible;
    type Compact = Vec<u8>;

    fn encode(&self, task: &RawTask) -> Result<Vec<u8>, Infallible> {
        Ok(task.0.clone())
    }

    fn decode(&self, bytes: &Vec<u8>) -> Result<RawTask, Infallible> {
        Ok(RawTask(bytes.clone()))
    }
}

/// The embedded queues' names (apalis-sqlite's `job_type`); the bulk one
/// keeps the name of the queue before lanes, so its waiting tasks still run.
fn sqlite_queue(lane: Lane) -> &'static str {
    match lane {
        Lane::Interactive => "dtx_jobs_interactive",
        Lane::Bulk => "dtx_jobs",
    }
}

/// The Redis queue of a lane; the bulk one keeps the name of the queue
/// before lanes (and the ledger journal's keys beside it).
pub fn redis_queue_name(prefix: &str, lane: Lane) -> String {
    match lane {
        Lane::Interactive => format!("{prefix}:jobs:interactive"),
        Lane::Bulk => format!("{prefix}:jobs"),
    }
}

/// A held task is due at `HOLD_BASE + its slot` (unix seconds, the year
/// 10000): never promoted, and why it waits readable from its score
/// without decoding it.
pub const HOLD_BASE: i64 = 253_402_300_800;

/// Why a task is held, as a slot after [`HOLD_BASE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// Its kind (the index in `KINDS`) is paused.
    Paused(usize),
    /// It is of this payload version, newer than the worker that held it.
    Newer(u32),
}

/// Newer versions' slots start here, far past any kind index.
const NEWER_SLOTS: i64 = 1_000;
/// Slots a release looks at: every kind's and the first thousand versions'.
const HOLD_SLOTS: i64 = 2 * NEWER_SLOTS;

impl Hold {
    /// The hold of a paused kind, if the kind is known.
    pub fn paused(kind: &str) -> Option<Self> {
        KINDS.iter().position(|k| *k == kind).map(Self::Paused)
    }

    fn slot(self) -> i64 {
        match self {
            Self::Paused(index) => index as i64,
            Self::Newer(version) => NEWER_SLOTS + i64::from(version),
        }
    }

    /// The holds a worker that reads payloads up to `understands` lifts,
    /// with `paused` kinds paused.
    pub fn lifted(paused: &[String], understands: u32) -> Vec<Self> {
        let kinds = (0..KINDS.len()).filter(|i| !paused.iter().any(|p| p == KINDS[*i])).map(Self::Paused);
        kinds.chain((1..=understands).map(Self::Newer)).collect()
    }
}

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

/// A Lua function for scripts that promote due tasks: moves at most `limit`
/// tasks due by `now` from the scheduled set to the active list (the moves
/// apalis-redis' fetch makes, but bounded). apalis-redis' own scripts also
/// ring a `{queue}:signal` list, which nothing in apalis-redis 1.0 reads (its
/// workers poll); ours leave it alone: three commands a job fewer (`bench
/// jobs`, one producer +10 % over sixteen order-swapped rounds).
pub const PROMOTE_LUA: &str = r"
local function promote(scheduled, active, now, limit)
  local ids = redis.call('ZRANGEBYSCORE', scheduled, 0, now, 'LIMIT', 0, limit)
  if #ids > 0 then
    redis.call('RPUSH', active, unpack(ids))
    redis.call('ZREM', scheduled, unpack(ids))
  end
end
";

/// Promotes at most ARGV[2] due tasks (see [`PROMOTE_LUA`]) and answers how
/// many due tasks are left.
/// KEYS: scheduled set, active list. ARGV: now, limit.
static PROMOTE: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(&[PROMOTE_LUA, PROMOTE_LUA_CALL].concat()));
const PROMOTE_LUA_CALL: &str = r"
promote(KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[2]))
return redis.call('ZCOUNT', KEYS[1], 0, ARGV[1])
";

/// Due tasks promoted per script call; far below Lua's unpack limit (~8 000).
const PROMOTE_CHUNK: u64 = 1000;

/// Makes the tasks held at the given seconds due now, at most 1 000 per
/// second per call; answers how many it moved.
/// KEYS: scheduled set, active list.
/// ARGV: the first and last held second, then the seconds to release.
const RELEASE_HELD: &str = r"
if redis.call('ZCOUNT', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
local moved = 0
for i = 3, #ARGV do
  local ids = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[i], ARGV[i], 'LIMIT', 0, 1000)
  if #ids > 0 then
    redis.call('RPUSH', KEYS[2], unpack(ids))
    redis.call('ZREM', KEYS[1], unpack(ids))
    moved = moved + #ids
  end
end
return moved
";

/// apalis-redis 1.0's fetch promotes every due task with one Lua `unpack`,
/// which fails past ~8 000 due tasks (and the worker dies): a backlog after
/// an outage would stop the queue. This keeps the due sets small by
/// promoting in chunks, every `every`, until `stop` resolves.
/// (Without a Redis connection there is nothing to promote: it waits for `stop`.)
pub async fn promote_due_forever(
    conn: Option<redis::aio::ConnectionManager>,
    queues: Vec<String>,
    every: Duration,
    stop: impl std::future::Future<Output = ()>,
) {
    let Some(conn) = conn else { return stop.await };
    let mut ticker = tokio::time::interval(every);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = ticker.tick() => {}
        }
        for queue in &queues {
            if let Err(err) = promote_due(&conn, queue).await {
                tracing::warn!(error = %err, "promoting due jobs failed");
            }
        }
    }
}

/// Promotes every due task of `queue` now, in chunks.
pub async fn promote_due(conn: &redis::aio::ConnectionManager, queue: &str) -> redis::RedisResult<()> {
    loop {
        let left: u64 = PROMOTE
            .key(format!("{queue}:scheduled"))
            .key(format!("{queue}:active"))
            .arg(chrono::Utc::now().timestamp())
            .arg(PROMOTE_CHUNK)
            .invoke_async(&mut conn.clone())
            .await?;
        if left == 0 {
            return Ok(());
        }
    }
}

/// Where a task delivered by a Redis lane sits until it is acknowledged: its
/// worker's in-flight set. The pool's Redis workers do not have apalis
/// acknowledge their tasks (`persist_results` off, see [`Queue::redis`]):
/// the ledger write that ends a run — its finish, or the release of a
/// hand-back — makes the acknowledgement's moves in the same script call,
/// and a delivery that ends without one is acknowledged by
/// [`Queue::acknowledge`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InFlight {
    pub lane: Lane,
    pub task_id: String,
    /// The worker's in-flight set (apalis-redis' key).
    pub set: String,
}

/// How a delivery ends in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ack {
    /// Done with: into the done set (forgotten by the daily prune).
    Done,
    /// To be delivered again in a second (the delivery failed before the
    /// ledger could record its end: Redis went away, a panic).
    Retry,
}

/// Acknowledges a delivery: takes the task out of its worker's in-flight
/// set and, if it was there, makes the moves of apalis-redis' own
/// acknowledgement of a done task, or schedules it again.
/// KEYS: in-flight set, done set, scheduled set. ARGV: task id, meta key,
/// 'done' | 'retry', the due second of a retry.
static ACKNOWLEDGE: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(ACKNOWLEDGE_LUA));
const ACKNOWLEDGE_LUA: &str = r"
if redis.call('SREM', KEYS[1], ARGV[1]) == 0 then return 0 end
if ARGV[3] == 'done' then
  redis.call('SADD', KEYS[2], ARGV[1])
  redis.call('HSET', ARGV[2], 'status', 'Done')
else
  redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
end
return 1
";

/// The apalis-redis settings of a queue named `name` (its Redis key).
///
/// Task leases are off: apalis-redis 1.0 takes a lease with
/// `LREM <active list> 1 <id>` per task, a scan of the whole waiting list
/// (the task already left it when fetched), so with 10 000 jobs queued every
/// job cost Redis ~100 µs and a backlog drained slower the longer it was.
/// Nothing is lost without them: a fetched task sits in its worker's
/// in-flight set, which is what a dead worker's jobs are recovered from, and
/// duplicate deliveries are refused by the ledger's claim. Parking keys
/// (the only task-level idempotency keys) live a week.
pub fn redis_config(name: &str, batch_size: usize) -> apalis_redis::Config {
    apalis_redis::Config::default()
        .queue(name)
        .batch_size(batch_size.max(1))
        .lock_tasks(false)
        .idempotency_ttl(Some(Duration::from_secs(7 * 24 * 3600)))
}

/// Wakes the embedded workers of a lane when a task is pushed in-process
/// (apalis-sqlite otherwise finds it at its next poll).
#[derive(Clone)]
pub struct Wake {
    tx: mpsc::UnboundedSender<()>,
    rx: Arc<Mutex<mpsc::UnboundedReceiver<()>>>,
}

impl Wake {
    fn new() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self { tx, rx: Arc::new(Mutex::new(rx)) }
    }

    fn ring(&self) {
        let _ = self.tx.send(());
    }
}

/// The stream a worker's poll strategy listens to.
impl futures_util::Stream for Wake {
    type Item = ();

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<()>> {
        let mut rx = self.rx.lock().expect("wake");
        match rx.poll_recv(cx) {
            Poll::Ready(Some(())) => {
                // Several pushes in a row need one fetch.
                while rx.try_recv().is_ok() {}
                Poll::Ready(Some(()))
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod holds {
    use super::*;

    #[test]
    fn a_worker_lifts_the_holds_of_running_kinds_and_of_versions_it_reads() {
        let paused = vec!["sync_league_matches".to_owned()];
        let lifted = Hold::lifted(&paused, 2);
        assert_eq!(lifted.len(), KINDS.len() - 1 + 2);
        assert!(!lifted.contains(&Hold::paused("sync_league_matches").unwrap()));
        assert!(lifted.contains(&Hold::paused("herodraft_timeout").unwrap()));
        assert!(
            lifted.contains(&Hold::Newer(1)) && lifted.contains(&Hold::Newer(2)) && !lifted.contains(&Hold::Newer(3))
        );
        assert_eq!(Hold::Newer(3).slot(), 1_003, "versions sit past every kind");
        assert_eq!(Hold::paused("nope"), None);
    }
}

#[derive(Clone)]
pub enum Queue {
    Redis {
        /// Pushes, per lane.
        storages: Lanes<RedisStorage<serde_json::Value>>,
        conn: redis::aio::ConnectionManager,
        /// The ledger journal's enqueues' own connection (see [`crate::jobs::journal::Journal::start`]).
        enqueues: redis::aio::ConnectionManager,
        configs: LaneConfigs,
    },
    Sqlite {
        storages: Lanes<SqliteStorage<serde_json::Value>>,
        configs: Lanes<apalis_sqlite::Config>,
        wake: Lanes<Wake>,
    },
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

/// The queue's due second for `run_at` (it counts whole seconds): the
/// second it falls in, or the next one when it falls inside a second, so a
/// run never starts before its time.
pub fn due_second(run_at: DateTime<Utc>) -> i64 {
    run_at.timestamp() + i64::from(run_at.timestamp_subsec_nanos() > 0)
}

/// When a pushed task becomes due.
fn due_builder(task: TaskBuilder<serde_json::Value>, run_at: Option<DateTime<Utc>>) -> TaskBuilder<serde_json::Value> {
    match run_at {
        Some(at) if at > Utc::now() => task.run_at_timestamp(u64::try_from(due_second(at)).unwrap_or(0)),
        _ => task,
    }
}

impl Queue {
    pub const MISSED_HEARTBEATS: usize = 3;

    pub fn redis(
        conn: redis::aio::ConnectionManager,
        enqueues: redis::aio::ConnectionManager,
        config: &QueueConfig,
    ) -> Self {
        let lane_config = |lane: Lane| {
            let batch = if lane == Lane::Bulk { config.bulk_batch } else { config.interactive_batch };
            redis_config(&redis_queue_name(&config.prefix, lane), batch)
                .heartbeat_interval(config.heartbeat)
                .missed_heartbeats(Self::MISSED_HEARTBEATS)
        };
        // The pool's workers acknowledge their tasks themselves (see [`InFlight`]).
        let configs = Lanes {
            interactive: lane_config(Lane::Interactive).persist_results(false),
            bulk: lane_config(Lane::Bulk).persist_results(false),
        };
        let storages = configs.map(|_, cfg| RedisStorage::new(conn.clone()).with_config(cfg.clone()));
        Self::Redis { storages, conn, enqueues, configs }
    }

    /// Where a task `worker` took from `lane` waits for its acknowledgement;
    /// `None` where apalis acknowledges (SQLite).
    pub fn in_flight(&self, lane: Lane, worker: &str, task_id: &str) -> Option<InFlight> {
        match self {
            Self::Redis { configs, .. } => Some(InFlight {
                lane,
                task_id: task_id.to_owned(),
                set: format!("{}:{worker}", configs.get(lane).inflight_jobs_set()),
            }),
            _ => None,
        }
    }

    /// Acknowledges a delivery no ledger write acknowledged (see [`InFlight`]).
    pub async fn acknowledge(&self, delivery: &InFlight, ack: Ack) -> Result<(), QueueError> {
        let Self::Redis { conn, configs, .. } = self else { return Ok(()) };
        let config = configs.get(delivery.lane);
        let (how, retry_at) = match ack {
            Ack::Done => ("done", 0),
            Ack::Retry => ("retry", Utc::now().timestamp() + 1),
        };
        let _: i64 = ACKNOWLEDGE
            .key(&delivery.set)
            .key(config.done_jobs_set())
            .key(config.scheduled_jobs_set())
            .arg(&delivery.task_id)
            .arg(format!("{}:{}", config.job_meta_hash(), delivery.task_id))
            .arg(how)
            .arg(retry_at)
            .invoke_async(&mut conn.clone())
            .await
            .map_err(|e| QueueError::Cleanup(e.to_string()))?;
        Ok(())
    }

    /// The SQLite queues in the database file itself (tables created once).
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
        let lane_config = |lane: Lane| {
            let batch = if lane == Lane::Bulk { config.bulk_batch } else { config.interactive_batch };
            apalis_sqlite::Config::default()
                .queue(sqlite_queue(lane))
                .batch_size(batch.max(1))
                .heartbeat_interval(config.heartbeat)
                .missed_heartbeats(Self::MISSED_HEARTBEATS)
        };
        let configs = Lanes { interactive: lane_config(Lane::Interactive), bulk: lane_config(Lane::Bulk) };
        let storages = configs.map(|_, cfg| SqliteStorage::new(pool).with_config(cfg.clone()));
        Ok(Self::Sqlite { storages, configs, wake: Lanes { interactive: Wake::new(), bulk: Wake::new() } })
    }

    /// Pushes a task to `lane`, due at `run_at` (now when `None` or past).
    pub async fn push(
        &self,
        lane: Lane,
        payload: serde_json::Value,
        run_at: Option<DateTime<Utc>>,
    ) -> Result<(), QueueError> {
        self.push_task(lane, due_builder(TaskBuilder::new(payload), run_at)).await
    }

    /// Holds a task until `hold` is lifted. `token` names this delivery (the
    /// task it came in), so a redelivered task is held once.
    pub async fn hold(
        &self,
        lane: Lane,
        hold: Hold,
        payload: serde_json::Value,
        token: &str,
    ) -> Result<(), QueueError> {
        let task = TaskBuilder::new(payload)
            .run_at_timestamp((HOLD_BASE + hold.slot()) as u64)
            .idempotency_key(format!("hold:{token}"));
        self.push_task(lane, task).await
    }

    async fn push_task(&self, lane: Lane, task: TaskBuilder<serde_json::Value>) -> Result<(), QueueError> {
        let task = task.build();
        let pushed = match self {
            Self::Redis { storages, .. } => storages.get(lane).clone().push_task(task).await.map_err(|e| e.to_string()),
            Self::Sqlite { storages, wake, .. } => {
                let pushed = storages.get(lane).clone().push_task(task).await.map_err(|e| e.to_string());
                wake.get(lane).ring();
                pushed
            }
            Self::Unavailable => return Err(QueueError::Unavailable),
        };
        pushed.map_err(QueueError::Push)
    }

    /// Makes the tasks of the `lifted` holds due now; answers how many it moved.
    pub async fn release(&self, lifted: &[Hold]) -> Result<u64, QueueError> {
        let seconds: Vec<i64> = lifted.iter().map(|h| HOLD_BASE + h.slot()).collect();
        let cleanup = |e: String| QueueError::Cleanup(e);
        match self {
            Self::Redis { conn, configs, .. } => {
                let script = redis::Script::new(RELEASE_HELD);
                let mut moved = 0;
                for lane in Lane::ALL {
                    let config = configs.get(lane);
                    let mut call = script.key(config.scheduled_jobs_set());
                    call.key(config.active_jobs_list());
                    call.arg(HOLD_BASE).arg(HOLD_BASE + HOLD_SLOTS).arg(&seconds);
                    moved += call.invoke_async::<u64>(&mut conn.clone()).await.map_err(|e| cleanup(e.to_string()))?;
                }
                Ok(moved)
            }
            Self::Sqlite { storages, wake, .. } => {
                if seconds.is_empty() {
                    return Ok(0);
                }
                // Whole numbers this module computed: nothing of a caller's reaches the text.
                let list: Vec<String> = seconds.iter().map(i64::to_string).collect();
                let sql = format!(
                    "UPDATE Jobs SET run_at = strftime('%s', 'now') WHERE job_type IN (?1, ?2) \
                     AND status = 'Pending' AND run_at IN ({})",
                    list.join(", ")
                );
                let moved = sea_orm::sqlx::query(sea_orm::sqlx::AssertSqlSafe(sql))
                    .bind(sqlite_queue(Lane::Interactive))
                    .bind(sqlite_queue(Lane::Bulk))
                    .execute(storages.bulk.pool())
                    .await
                    .map_err(|e| cleanup(e.to_string()))?
                    .rows_affected();
                if moved > 0 {
                    wake.interactive.ring();
                    wake.bulk.ring();
                }
                Ok(moved)
            }
            Self::Unavailable => Ok(0),
        }
    }

    /// Forgets the queue's finished tasks — done, or dead to the queue — and
    /// answers how many went. The ledger is the record of every run; the
    /// queue's copies would otherwise stay forever (Redis memory, the SQLite
    /// file). Tasks waiting, running or due for a retry are untouched.
    pub async fn forget_finished(&self) -> Result<u64, QueueError> {
        let mut forgotten = 0;
        for lane in Lane::ALL {
            forgotten += match self {
                Self::Redis { configs, conn, .. } => {
                    let config = configs.get(lane);
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
                    .await?
                }
                Self::Sqlite { storages, .. } => {
                    in_steps(|| async {
                        sea_orm::sqlx::query(
                            "DELETE FROM Jobs WHERE rowid IN (SELECT rowid FROM Jobs WHERE job_type = ?1 \
                             AND (status IN ('Done', 'Killed') OR (status = 'Failed' AND attempts >= max_attempts)) \
                             LIMIT ?2)",
                        )
                        .bind(sqlite_queue(lane))
                        .bind(FORGET_STEP as i64)
                        .execute(storages.bulk.pool())
                        .await
                        .map(|done| done.rows_affected())
                        .map_err(|e| QueueError::Cleanup(e.to_string()))
                    })
                    .await?
                }
                Self::Unavailable => 0,
            };
        }
        Ok(forgotten)
    }

    /// The set of live worker processes (Redis): each pool's process name,
    /// scored by its last beat.
    fn processes_key(configs: &LaneConfigs) -> String {
        format!("{}:processes", configs.bulk.queue.as_ref())
    }

    /// Marks the worker process `name` alive now (its pool beats every
    /// second), and forgets processes silent for an hour.
    pub async fn beat(&self, name: &str) {
        if let Self::Redis { conn, configs, .. } = self {
            let now = chrono::Utc::now().timestamp();
            let key = Self::processes_key(configs);
            let _: redis::RedisResult<()> = redis::pipe()
                .zadd(&key, name, now)
                .ignore()
                .zrembyscore(&key, "-inf", now - 3600)
                .ignore()
                .query_async(&mut conn.clone())
                .await;
        }
    }

    /// A stopping worker process leaves the live set at once.
    pub async fn forget(&self, name: &str) {
        if let Self::Redis { conn, configs, .. } = self {
            let _: redis::RedisResult<()> = conn.clone().zrem(Self::processes_key(configs), name).await;
        }
    }

    /// Worker processes — not apalis worker registrations, which a restart
    /// leaves behind under old names — that beat within the last
    /// `MISSED_HEARTBEATS` heartbeats; in-process: 0 or 1.
    pub async fn workers_alive(&self, heartbeat: Duration, in_process: bool) -> u64 {
        match self {
            Self::Redis { conn, configs, .. } => {
                let horizon =
                    chrono::Utc::now().timestamp() - (heartbeat.as_secs() as i64) * Self::MISSED_HEARTBEATS as i64;
                let alive: redis::RedisResult<u64> =
                    conn.clone().zcount(Self::processes_key(configs), horizon, "+inf").await;
                alive.unwrap_or(0)
            }
            _ => u64::from(in_process),
        }
    }

    /// The Redis queue names of both lanes (the promoter's work).
    pub fn redis_names(&self) -> Vec<String> {
        match self {
            Self::Redis { configs, .. } => {
                Lane::ALL.iter().map(|l| configs.get(*l).queue.as_ref().to_owned()).collect()
            }
            _ => Vec::new(),
        }
    }
}
