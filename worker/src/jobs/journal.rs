//! The ledger journal (issue 13): in distributed mode every ledger write of
//! a job's life — its `queued` row, the claim of an attempt, its finish — is
//! first appended to a Redis stream next to the queue, atomically with the
//! run's small state hash that decides claims, and a flusher writes the
//! stream into `job_runs` in batches, folding each run's records into one
//! row write. A run's `queued` record waits beside the stream until the run
//! is claimed, then enters it just ahead of the claim, so a short
//! job costs PostgreSQL a single row insert instead of three committed
//! writes however long it waited on the queue (an insert and a never-HOT
//! update otherwise: `status` is indexed), and no producer or worker slot
//! ever waits for a disk. A record whose run is not claimed within
//! [`CLAIM_WAIT`] is written anyway, and [`Journal::settle`] writes the
//! waiting ones at once.
//!
//! Guarantees (README, "What a crash can lose"):
//! - the ledger is exactly as durable as the queue: an enqueue writes the
//!   run's record and its first task in one script call, before the client
//!   hears "queued", so a job and its ledger row survive or perish together
//!   (Redis' AOF policy) and a job never runs unrecorded;
//! - a PostgreSQL crash or outage loses nothing: records leave the stream
//!   only after the transaction that wrote them committed (a flusher that
//!   dies in between re-applies them; every write is idempotent);
//! - duplicate deliveries are refused by the claim script, which checks and
//!   writes the run's state hash in one step, with the old rule (the run is
//!   not finished and no later attempt was claimed); a redelivery of the
//!   same attempt after a SIGKILL claims again.
//!
//! A process sends its concurrent writes as one script call through a batch
//! writer, each caller answered on its own; the batch is one stream entry
//! whose values are its records, in order. Enqueues and the writes of runs
//! (claims, finishes) have a batch writer each, so a producer never waits
//! behind the worker's batch nor a worker slot behind the producers' (a
//! run's own writes keep their order: its task reaches the queue, and so its
//! claim, only once its enqueue was written). An enqueue's task is written
//! by the same call, with the moves of apalis-redis' own push (so the
//! queue's key layout is apalis-redis 1.0's).
//!
//! A job costs its worker two calls: the pool's fetch claims the tasks it
//! starts at once in the fetch's own script call ([`FETCH`]), and a run's
//! finish acknowledges its delivery in the finish's ([`WRITE`]; apalis'
//! own acknowledgement is off, see [`crate::infra::queue::InFlight`]).
//!
//! One flusher per deployment writes at a time (a lease in Redis), so each
//! run's records are applied in stream order. Readers that must see their
//! own writes (the jobs API, the queue summary) call [`Journal::settle`]
//! first: it waits until everything appended before the call is written.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::{JobStatus, job_run};
use redis::aio::ConnectionManager;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, Statement, TransactionTrait, Value};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, mpsc, oneshot};

use crate::infra::lock::Locks;
use crate::infra::queue::{InFlight, LaneConfigs, PROMOTE_LUA};
use crate::infra::rows::{cell, rows_per_statement, rows_table, upsert};
use crate::jobs::group_commit::Claim;
use crate::jobs::ledger::{self, Cancelled, Finish, Inserted, NewRun};
use crate::jobs::payload::{Envelope, Lane};

/// How long a run's state hash outlives its last write: far beyond any
/// redelivery (a later claim of an expired run asks the database instead).
const STATE_TTL_SECS: u64 = 7 * 24 * 3600;
/// Stream entries (batches of writes) one flush reads at most.
const FLUSH_MAX: usize = 256;
/// A busy flusher starts a flush at most this often, so each one carries
/// more records and a short job's three records mostly fold into one row.
const FLUSH_EVERY: Duration = Duration::from_millis(25);
/// The flusher's lease; it renews at a third of it.
const LEASE: Duration = Duration::from_secs(10);
/// An idle flusher looks again after at most this long (records appended by
/// another process wake it no sooner; this process' own wake it at once).
const IDLE_POLL_CAP: Duration = Duration::from_millis(20);
/// How long [`Journal::settle`] waits before reading whatever is written.
const SETTLE_LIMIT: Duration = Duration::from_secs(3);
/// How long a run's `queued` record waits for the run's claim before the
/// flusher writes it anyway (readers that must see it settle instead).
const CLAIM_WAIT: Duration = Duration::from_secs(5);
/// Runs one [`RELEASE`] call takes at most (two stream values each: below
/// Lua's `unpack` limit of ~8 000).
const RELEASE_MAX: usize = 2048;

/// Writes per batch at most (at most four stream values each: far below
/// Lua's `unpack` limit).
const WRITES_PER_BATCH: usize = 256;
/// Writes waiting for a batch at most; callers beyond it wait to be queued.
const WRITES_WAITING: usize = 4096;

/// A batch of writes, in order, in one step. Each write is an operation on
/// a run's state hash (its status, attempt and cancel flag):
/// - `e` enqueue: sets the state and puts the run's first task on its lane's
///   apalis-redis queue (the moves of apalis-redis' own `batch_push.lua`), so
///   a task is never on the queue without its record nor the record without
///   its task. Its `queued` record waits in the waiting records hash (and the
///   run in the waiting set, by time) instead of the stream: the run's next
///   write moves it to the stream just ahead of its own record, so a run that
///   is claimed, run and finished soon after reaches the flusher whole and
///   becomes one insert however long it waited on the queue. ([`RELEASE`]
///   moves the records of runs that wait long, and those a settle needs.)
/// - `c` claim: by the ledger's rule (`ledger::claim`); a running run whose
///   cancel was asked answers 2 (the runner ends it `cancelled`).
/// - `s` set: the status (and attempt, when given). A finish names its
///   delivery: the task leaves its worker's in-flight set for the done set
///   (apalis-redis' acknowledgement, made here instead: see
///   [`crate::infra::queue::InFlight`]), whatever the answer.
/// - `l` release (a hand-back): a running attempt waits again; its task
///   leaves the in-flight set for the front of the queue, whatever the
///   answer, so a restarted worker starts it at once.
/// - `x` cancel: a waiting run becomes `cancelled` (1); a running one gets
///   its cancel flag and the alternative record (2).
/// - `r` record only (progress).
///
/// Answers per write: 1 done, 0 refused (a duplicate delivery, a finished
/// run), 2 as above, -1 the run is unknown here (ask the database). The
/// records of the writes that took go to the stream as one entry.
/// KEYS: stream, waiting set, waiting records, then the interactive lane's
/// task data hash, active list, scheduled set, task metadata prefix, done
/// set, the same five of the bulk lane, then each write's state hash.
/// ARGV: ttl, then per write: op, status, attempts ('' keeps), record, run
/// id, task id (or the alternative record of a cancel), task (or the
/// in-flight set of a finish or release; '' none), due (unix seconds; 0
/// now), lane ('i' | 'b').
static WRITE: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(&[RULES_LUA, WRITE_LUA].concat()));

/// What the journal's scripts share: the claim rule of `ledger::claim` on a
/// run's state hash, and how a record joins a batch — its run's waiting
/// `queued` record first.
const RULES_LUA: &str = r"
local function waiting_state(s) return s == 'queued' or s == 'scheduled' or s == 'failed' end
-- state: HMGET status, attempts, cancel. 1 claims, 2 a cancel was asked of the
-- running run, 0 refused (a duplicate delivery, a finished run), -1 unknown here.
local function claim_answer(state, attempt)
  if not state[1] then return -1 end
  local held = tonumber(state[2])
  if state[1] == 'running' and state[3] then return 2 end
  if (waiting_state(state[1]) and held == attempt - 1)
      or (state[1] == 'running' and (held == attempt - 1 or held == attempt)) then
    return 1
  end
  return 0
end
local function append(records, waiting_set, waiting_records, run, record)
  local queued = redis.call('HGET', waiting_records, run)
  if queued then
    redis.call('HDEL', waiting_records, run)
    redis.call('ZREM', waiting_set, run)
    records[#records + 1] = 'r'
    records[#records + 1] = queued
  end
  records[#records + 1] = 'r'
  records[#records + 1] = record
end
";

const WRITE_LUA: &str = r"
local records, answers, now = {}, {}, nil
for i = 14, #KEYS do
  local b = 1 + (i - 14) * 9
  local op, status, attempts, record, run = ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4], ARGV[b + 5]
  local answer = 1
  if op ~= 'e' then
    local state = redis.call('HMGET', KEYS[i], 'status', 'attempts', 'cancel')
    local held, attempt = tonumber(state[2]), tonumber(attempts)
    if op == 'c' then
      answer = claim_answer(state, attempt)
    elseif not state[1] then
      answer = -1
    elseif op == 'l' then
      if not (state[1] == 'running' and held == attempt + 1) then answer = 0 end
    elseif op == 'x' then
      if state[1] == 'running' then
        answer = 2
        record = ARGV[b + 6]
      elseif not waiting_state(state[1]) then
        answer = 0
      end
    end
  end
  if answer == 1 or answer == 2 then
    if op == 'x' and answer == 2 then
      redis.call('HSET', KEYS[i], 'cancel', 1)
    elseif op == 'c' and answer == 2 then
      record = nil
    elseif op ~= 'r' then
      if attempts ~= '' then
        redis.call('HSET', KEYS[i], 'status', status, 'attempts', attempts)
      else
        redis.call('HSET', KEYS[i], 'status', status)
      end
    end
    if op == 'e' then
      if not now then
        local t = redis.call('TIME')
        now = t[1] * 1000 + math.floor(t[2] / 1000)
      end
      redis.call('HSET', KEYS[3], run, record)
      redis.call('ZADD', KEYS[2], now, run)
    elseif record then
      append(records, KEYS[2], KEYS[3], run, record)
    end
    redis.call('EXPIRE', KEYS[i], ARGV[1])
    if op == 'e' then
      local q = 4
      if ARGV[b + 9] == 'b' then q = 9 end
      local task, due = ARGV[b + 6], tonumber(ARGV[b + 8])
      if redis.call('HSETNX', KEYS[q], task, ARGV[b + 7]) == 1 then
        redis.call('HSET', KEYS[q + 3] .. ':' .. task, 'attempts', 0, 'max_attempts', 25, 'status', 'Pending',
          'idempotency_key', '')
        if due > 0 then
          redis.call('ZADD', KEYS[q + 2], due, task)
        else
          redis.call('RPUSH', KEYS[q + 1], task)
        end
      end
    end
  end
  if (op == 's' or op == 'l') and ARGV[b + 7] ~= '' then
    local q, task = 4, ARGV[b + 6]
    if ARGV[b + 9] == 'b' then q = 9 end
    if redis.call('SREM', ARGV[b + 7], task) == 1 then
      if op == 's' then
        redis.call('SADD', KEYS[q + 4], task)
        redis.call('HSET', KEYS[q + 3] .. ':' .. task, 'status', 'Done')
      else
        redis.call('LPUSH', KEYS[q + 1], task)
      end
    end
  end
  answers[#answers + 1] = answer
end
if #records > 0 then redis.call('XADD', KEYS[1], '*', unpack(records)) end
return answers
";

/// Moves the waiting `queued` records of runs enqueued at least ARGV[1] ms
/// ago (by Redis' clock; 0: all of them) to the stream, at most ARGV[2]
/// runs; answers how many runs it took.
/// KEYS: stream, waiting set, waiting records. ARGV: age, limit.
static RELEASE: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(RELEASE_LUA));
const RELEASE_LUA: &str = r"
local t = redis.call('TIME')
local before = t[1] * 1000 + math.floor(t[2] / 1000) - tonumber(ARGV[1])
local runs = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', before, 'LIMIT', 0, tonumber(ARGV[2]))
if #runs == 0 then return 0 end
local records = {}
for _, run in ipairs(runs) do
  local queued = redis.call('HGET', KEYS[3], run)
  if queued then
    records[#records + 1] = 'r'
    records[#records + 1] = queued
  end
end
redis.call('HDEL', KEYS[3], unpack(runs))
redis.call('ZREM', KEYS[2], unpack(runs))
if #records > 0 then redis.call('XADD', KEYS[1], '*', unpack(records)) end
return #runs
";

/// A worker's fetch of the tasks it starts at once, with their claims, in
/// one step: the moves of apalis-redis 1.0's own `fetch_next.lua` (the
/// worker must be registered; due tasks are promoted — at most 1 000, so a
/// backlog never reaches Lua's `unpack` limit; up to ARGV[2] tasks leave the
/// active list for the worker's in-flight set and come back with their data
/// and metadata), then each task whose envelope it can read (of a payload
/// version up to ARGV[7], of a kind not paused) is claimed by the claim
/// rule, the answer added to the task's metadata as `claim`. The others are
/// claimed by the runner, as before.
/// KEYS: workers set, active list, this worker's in-flight set, task data
/// hash, task metadata prefix, scheduled set, stream, waiting set, waiting
/// records.
/// ARGV: now (unix seconds), tasks at most, worker, state key prefix, state
/// ttl, the claim's time (RFC 3339), newest payload version read, then the
/// paused kinds.
static FETCH: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(&[RULES_LUA, PROMOTE_LUA, FETCH_LUA].concat()));
const FETCH_LUA: &str = r"
if not redis.call('ZSCORE', KEYS[1], ARGV[3]) then
  return redis.error_reply('Cant fetch next: worker not registered')
end
promote(KEYS[6], KEYS[2], ARGV[1], 1000)
local batch = tonumber(ARGV[2])
local tasks = redis.call('LRANGE', KEYS[2], 0, batch - 1)
local data, meta = {}, {}
if #tasks > 0 then
  redis.call('SADD', KEYS[3], unpack(tasks))
  redis.call('LTRIM', KEYS[2], #tasks, -1)
  data = redis.call('HMGET', KEYS[4], unpack(tasks))
  local paused, records = {}, {}
  for k = 8, #ARGV do paused[ARGV[k]] = true end
  for n, task in ipairs(tasks) do
    local fields = redis.call('HGETALL', KEYS[5] .. ':' .. task)
    table.insert(fields, 1, task)
    if data[n] then
      local read, envelope = pcall(cjson.decode, data[n])
      local v = read and type(envelope) == 'table' and (envelope.v or 1)
      if v and type(v) == 'number' and v >= 1 and v <= tonumber(ARGV[7]) and type(envelope.run_id) == 'string'
          and type(envelope.attempt) == 'number' and type(envelope.job) == 'table'
          and type(envelope.job.kind) == 'string' and not paused[envelope.job.kind] then
        local run, attempt, key = envelope.run_id, envelope.attempt, ARGV[4] .. envelope.run_id
        local answer = claim_answer(redis.call('HMGET', key, 'status', 'attempts', 'cancel'), attempt)
        if answer == 1 then
          redis.call('HSET', key, 'status', 'running', 'attempts', attempt)
          redis.call('EXPIRE', key, ARGV[5])
          local record = cjson.encode({t = 'claimed', id = run, attempt = attempt, at = ARGV[6], worker = ARGV[3]})
          append(records, KEYS[8], KEYS[9], run, record)
        end
        fields[#fields + 1] = 'claim'
        fields[#fields + 1] = tostring(answer)
      end
    end
    meta[n] = fields
  end
  if #records > 0 then redis.call('XADD', KEYS[7], '*', unpack(records)) end
end
return {data, meta}
";

/// A worker's fetch (see [`FETCH`]).
pub struct Fetch<'a> {
    /// Tasks it takes at most: as many as the worker starts at once.
    pub take: usize,
    /// The newest payload version the worker reads.
    pub understands: u32,
    pub paused: &'a [String],
}

/// The claim a fetch made of a delivered task, from its metadata's `claim`:
/// `None` when the fetch did not claim it, or found no state to claim by
/// (the runner claims it then, the database deciding).
pub fn fetched_claim(answer: Option<&str>) -> Option<ClaimOutcome> {
    match answer? {
        "1" => Some(ClaimOutcome::Claimed),
        "2" => Some(ClaimOutcome::CancelRequested),
        "0" => Some(ClaimOutcome::Refused),
        _ => None,
    }
}

/// The apalis-redis keys of the queue the journal sits beside.
#[derive(Clone)]
struct QueueKeys {
    task_data: String,
    active: String,
    scheduled: String,
    task_meta: String,
    done: String,
}

impl QueueKeys {
    fn of(config: &apalis_redis::Config) -> Self {
        Self {
            task_data: config.job_data_hash(),
            active: config.active_jobs_list(),
            scheduled: config.scheduled_jobs_set(),
            task_meta: config.job_meta_hash(),
            done: config.done_jobs_set(),
        }
    }
}

/// A task an enqueue puts on the queue with its record.
struct Push {
    task_id: String,
    task: Vec<u8>,
    /// Unix seconds; 0 for now.
    due: i64,
    lane: Lane,
}

/// What a write does besides recording (the script's operations).
enum Op {
    /// Sets the run's state (a finish: and acknowledges its delivery).
    Set(Option<InFlight>),
    /// Sets the run's state if the claim rule allows.
    Claim,
    /// Sets the run's state and puts its first task on the queue.
    Enqueue(Push),
    /// A running attempt waits again (and its delivery's task too).
    Release(Option<InFlight>),
    /// Cancels a waiting run, or flags a running one (with this record).
    Cancel(String),
    /// Only the record.
    Record,
}

/// One write waiting for its batch.
struct Write {
    run_id: String,
    op: Op,
    status: JobStatus,
    attempts: Option<i32>,
    record: String,
    answer: oneshot::Sender<Result<i64, String>>,
}

/// One ledger write, as the stream carries it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Record {
    Queued {
        id: String,
        kind: String,
        args: serde_json::Value,
        max_attempts: i32,
        enqueued_by: Option<i64>,
        at: DateTime<Utc>,
        /// When a scheduled run becomes due.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        run_at: Option<DateTime<Utc>>,
    },
    Claimed {
        id: String,
        attempt: i32,
        at: DateTime<Utc>,
        #[serde(default)]
        worker: String,
    },
    Finished {
        id: String,
        status: JobStatus,
        result: Option<serde_json::Value>,
        error: Option<String>,
        at: DateTime<Utc>,
        #[serde(default)]
        attempt: i32,
    },
    /// A running attempt was handed back (its worker shut down).
    Released {
        id: String,
        attempt: i32,
        at: DateTime<Utc>,
    },
    Progress {
        id: String,
        progress: serde_json::Value,
    },
    CancelRequested {
        id: String,
        at: DateTime<Utc>,
    },
}

impl Record {
    fn id(&self) -> &str {
        match self {
            Self::Queued { id, .. }
            | Self::Claimed { id, .. }
            | Self::Finished { id, .. }
            | Self::Released { id, .. }
            | Self::Progress { id, .. }
            | Self::CancelRequested { id, .. } => id,
        }
    }
}

/// What a run's records in one flush amount to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Folded {
    /// The whole row, when the run's `queued` record is in this flush.
    pub new: Option<job_run::Model>,
    pub status: Option<JobStatus>,
    pub attempts: Option<i32>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub result: Option<serde_json::Value>,
    /// `Some` when a finish set the error (to a message or to none).
    pub error: Option<Option<String>>,
    pub progress: Option<serde_json::Value>,
    pub cancel_requested_at: Option<DateTime<Utc>>,
    /// Events to append to the attempt log.
    pub log: Vec<LogEvent>,
}

/// One event of a run's attempt log as folded; it becomes JSON only when
/// written (most never are: see [`Folded::into_row`]).
#[derive(Debug, Clone, PartialEq)]
pub enum LogEvent {
    Claimed { attempt: i32, worker: String, at: DateTime<Utc> },
    Ended { attempt: i32, outcome: &'static str, at: DateTime<Utc>, error: Option<String> },
}

impl LogEvent {
    fn json(&self) -> serde_json::Value {
        match self {
            Self::Claimed { attempt, worker, at } => ledger::claimed_event(*attempt, worker, *at),
            Self::Ended { attempt, outcome, at, error } => {
                ledger::ended_event(*attempt, outcome, *at, error.as_deref())
            }
        }
    }
}

/// Whether the events are a first attempt claimed and succeeded: that says
/// nothing a row's own fields (start, finish, status) do not, so a run with
/// no earlier events keeps no log (`history::of_run` derives the attempt) —
/// most runs write none at all.
fn is_plain_success(log: &[LogEvent]) -> bool {
    matches!(
        log,
        [LogEvent::Claimed { attempt: 1, .. }, LogEvent::Ended { attempt: 1, outcome: "succeeded", error: None, .. }]
    )
}

/// The events as the JSON array the attempt log stores, `None` for none.
fn log_json(log: &[LogEvent]) -> Option<serde_json::Value> {
    (!log.is_empty()).then(|| serde_json::Value::Array(log.iter().map(LogEvent::json).collect()))
}

/// Folds records (in stream order) into one change per run, in the order
/// the runs first appear. The same rules as the single-row writes of
/// `ledger`: a claim sets `running`, the attempt and its start; a finish sets
/// the status and error, the result when there is one, and the finish time
/// unless the attempt failed (it waits for a retry); a release puts the run
/// back to `queued` before its attempt; each claim and end is an event of
/// the attempt log.
pub fn fold(records: impl IntoIterator<Item = Record>) -> Vec<(String, Folded)> {
    let mut order = Vec::new();
    let mut runs: HashMap<String, Folded> = HashMap::new();
    for record in records {
        let id = record.id().to_owned();
        let run = runs.entry(id.clone()).or_insert_with(|| {
            order.push(id.clone());
            Folded::default()
        });
        match record {
            Record::Queued { id, kind, args, max_attempts, enqueued_by, at, run_at } => {
                run.new = Some(job_run::Model {
                    id,
                    kind,
                    args,
                    status: if run_at.is_some() { JobStatus::Scheduled } else { JobStatus::Queued },
                    attempts: 0,
                    max_attempts,
                    progress: None,
                    result: None,
                    error: None,
                    enqueued_by,
                    enqueued_at: at,
                    started_at: None,
                    finished_at: None,
                    idempotency_key: None,
                    attempt_log: None,
                    run_at,
                    cancel_requested_at: None,
                    queue_key: None,
                });
            }
            Record::Claimed { attempt, at, worker, .. } => {
                run.status = Some(JobStatus::Running);
                run.attempts = Some(attempt);
                run.started_at = Some(at);
                run.log.push(LogEvent::Claimed { attempt, worker, at });
            }
            Record::Finished { status, result, error, at, attempt, .. } => {
                if attempt > 0 {
                    run.log.push(LogEvent::Ended { attempt, outcome: status.as_str(), at, error: error.clone() });
                }
                run.status = Some(status);
                run.error = Some(error);
                if result.is_some() {
                    run.result = result;
                }
                if status != JobStatus::Failed {
                    run.finished_at = Some(at);
                }
            }
            Record::Released { attempt, at, .. } => {
                run.status = Some(JobStatus::Queued);
                run.attempts = Some(attempt - 1);
                run.log.push(LogEvent::Ended { attempt, outcome: "handed_back", at, error: None });
            }
            Record::Progress { progress, .. } => run.progress = Some(progress),
            Record::CancelRequested { at, .. } => run.cancel_requested_at = Some(at),
        }
    }
    order.into_iter().map(|id| (id.clone(), runs.remove(&id).expect("folded run"))).collect()
}

impl Folded {
    /// The whole row of a run first seen in this flush.
    fn into_row(self) -> Option<job_run::Model> {
        let mut row = self.new?;
        row.status = self.status.unwrap_or(row.status);
        row.attempts = self.attempts.unwrap_or(row.attempts);
        row.started_at = self.started_at;
        row.finished_at = self.finished_at;
        row.result = self.result;
        row.error = self.error.flatten();
        row.progress = self.progress;
        row.cancel_requested_at = self.cancel_requested_at;
        row.attempt_log = if is_plain_success(&self.log) { None } else { log_json(&self.log) };
        Some(row)
    }
}

/// The journal of one queue (keys under `{queue}:ledger`).
#[derive(Clone)]
pub struct Journal {
    conn: ConnectionManager,
    stream: String,
    state_prefix: String,
    /// Runs whose `queued` record waits for their claim.
    waiting: WaitingKeys,
    /// Wakes this process' flusher when it appended (its only strong handle
    /// is here: the flusher stops when the last clone of the journal goes).
    appended: Arc<Notify>,
    /// The enqueue batch writer's queue: concurrent enqueues share one
    /// script call.
    enqueues: mpsc::Sender<Write>,
    /// The run batch writer's queue: concurrent jobs' claims and finishes
    /// share one script call.
    runs: mpsc::Sender<Write>,
    db: DatabaseConnection,
}

/// A run's claim state hash.
fn state_key(prefix: &str, id: &str) -> String {
    format!("{prefix}{id}")
}

fn redis_err(err: redis::RedisError) -> DbErr {
    DbErr::Custom(format!("ledger journal: {err}"))
}

impl Journal {
    /// Records not yet flushed to the database (flushed ones are trimmed).
    pub async fn backlog(&self) -> Option<u64> {
        redis::AsyncCommands::xlen(&mut self.conn.clone(), &self.stream).await.ok()
    }

    /// The journal next to the apalis-redis queues of both lanes (its keys
    /// under the bulk queue's name, `{prefix}:jobs:ledger`), and its flusher.
    /// The enqueues' batch writer calls Redis over `enqueue_conn`, a connection of
    /// its own: on the shared one (multiplexed: Redis answers its calls in
    /// order) an enqueue waited behind the worker pool's fetches and finishes
    /// and the API's cache and rate-limit calls of the same process. (Measured
    /// with `bench jobs`, sixteen order-swapped rounds: one producer +6 %,
    /// its enqueue p99 −8 %, eight producers +6 %.)
    pub fn start(
        conn: ConnectionManager,
        enqueue_conn: ConnectionManager,
        queues: &LaneConfigs,
        db: DatabaseConnection,
    ) -> Self {
        let prefix = format!("{}:ledger", queues.bulk.queue.as_ref());
        let (enqueues, waiting_enqueues) = mpsc::channel(WRITES_WAITING);
        let (runs, waiting_runs) = mpsc::channel(WRITES_WAITING);
        let journal = Self {
            conn: conn.clone(),
            stream: format!("{prefix}:journal"),
            state_prefix: format!("{prefix}:run:"),
            waiting: WaitingKeys { set: format!("{prefix}:waiting:set"), records: format!("{prefix}:waiting:records") },
            appended: Arc::new(Notify::new()),
            enqueues,
            runs,
            db,
        };
        let appended = Arc::downgrade(&journal.appended);
        let batches = Batches {
            conn: conn.clone(),
            stream: journal.stream.clone(),
            state_prefix: journal.state_prefix.clone(),
            waiting: journal.waiting.clone(),
            interactive: QueueKeys::of(&queues.interactive),
            bulk: QueueKeys::of(&queues.bulk),
        };
        let enqueue_batches = Batches { conn: enqueue_conn, ..batches.clone() };
        tokio::spawn(enqueue_batches.write_forever(waiting_enqueues, appended.clone()));
        tokio::spawn(batches.write_forever(waiting_runs, appended.clone()));
        let locks = Locks::Redis { conn, prefix };
        tokio::spawn(flush_forever(journal.flusher(), locks, appended));
        journal
    }

    /// A copy for the flusher that does not keep it alive.
    fn flusher(&self) -> Flusher {
        Flusher {
            waiting: self.waiting.clone(),
            conn: self.conn.clone(),
            stream: self.stream.clone(),
            db: self.db.clone(),
        }
    }

    /// Queues `record` for the batch writer and waits for its answer.
    async fn write(&self, record: &Record, op: Op, status: JobStatus, attempts: Option<i32>) -> Result<i64, DbErr> {
        let (answer, answered) = oneshot::channel();
        let write = Write { run_id: record.id().to_owned(), op, status, attempts, record: encode(record)?, answer };
        let gone = || DbErr::Custom("ledger journal: the batch writer stopped".into());
        let writer = if matches!(write.op, Op::Enqueue(_)) { &self.enqueues } else { &self.runs };
        writer.send(write).await.map_err(|_| gone())?;
        answered.await.map_err(|_| gone())?.map_err(|e| DbErr::Custom(format!("ledger journal: {e}")))
    }

    /// Records a new run and puts its first attempt on its lane's queue, in
    /// one step (batched with concurrent writes): both happen or neither.
    /// The run has no keys (those go through [`Journal::insert`]).
    pub async fn enqueue(&self, run: NewRun, traceparent: Option<String>) -> Result<job_run::Model, DbErr> {
        let now = Utc::now();
        let row = ledger::model_of(&run, now);
        let lane = run.job.lane();
        let first = Envelope::new(run.id, 1, row.max_attempts, run.job, traceparent);
        let push = Push {
            task_id: ulid::Ulid::generate().to_string(),
            task: serde_json::to_vec(&first).map_err(|e| DbErr::Custom(e.to_string()))?,
            due: row.run_at.map_or(0, crate::infra::queue::due_second),
            lane,
        };
        let record = Record::Queued {
            id: row.id.clone(),
            kind: row.kind.clone(),
            args: row.args.clone(),
            max_attempts: row.max_attempts,
            enqueued_by: row.enqueued_by,
            at: row.enqueued_at,
            run_at: row.run_at,
        };
        self.write(&record, Op::Enqueue(push), row.status, Some(0)).await?;
        Ok(row)
    }

    /// Writes a keyed run to the database at once (an idempotency key, or a
    /// kind's waiting place per league: the unique indexes decide between
    /// racing requests; rare, so not worth a second mechanism). The caller
    /// pushes a fresh run's task.
    pub async fn insert(&self, run: NewRun) -> Result<(job_run::Model, Inserted), DbErr> {
        let (row, inserted) = ledger::insert(&self.db, &run, Utc::now()).await?;
        if inserted == Inserted::Fresh {
            self.seed(&row.id, row.status, 0).await?;
        }
        Ok((row, inserted))
    }

    /// Sets a run's claim state without a record (its row was written to
    /// the database directly: a keyed enqueue, a manual retry).
    pub async fn seed(&self, id: &str, status: JobStatus, attempts: i32) -> Result<(), DbErr> {
        let mut conn = self.conn.clone();
        let key = state_key(&self.state_prefix, id);
        redis::pipe()
            .del(&key)
            .ignore()
            .hset_multiple(&key, &[("status", status.as_str().to_owned()), ("attempts", attempts.to_string())])
            .ignore()
            .expire(&key, STATE_TTL_SECS as i64)
            .ignore()
            .query_async::<()>(&mut conn)
            .await
            .map_err(redis_err)
    }

    /// Fetches tasks of `config`'s queue for `worker` and claims them in
    /// the same step (see [`FETCH`]); the tasks as apalis-redis' own fetch
    /// returns them, each claim in its metadata.
    pub async fn fetch(
        &self,
        config: &apalis_redis::Config,
        worker: &str,
        fetch: &Fetch<'_>,
    ) -> Result<Vec<apalis_redis::RedisTask>, apalis_redis::Error> {
        let at = Utc::now();
        let mut call = FETCH.prepare_invoke();
        call.key(config.workers_set()).key(config.active_jobs_list());
        call.key(format!("{}:{worker}", config.inflight_jobs_set())).key(config.job_data_hash());
        call.key(config.job_meta_hash()).key(config.scheduled_jobs_set());
        call.key(&self.stream).key(&self.waiting.set).key(&self.waiting.records);
        call.arg(at.timestamp()).arg(fetch.take).arg(worker).arg(&self.state_prefix).arg(STATE_TTL_SECS);
        call.arg(at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)).arg(fetch.understands).arg(fetch.paused);
        let fetched: Vec<redis::Value> = call.invoke_async(&mut self.conn.clone()).await?;
        let tasks = apalis_redis::queries::deserialize_with_meta(fetched)?;
        if tasks.iter().any(|task| task.meta.get("claim").is_some_and(|answer| answer == "1")) {
            self.appended.notify_one();
        }
        Ok(tasks.into_iter().map(apalis_redis::queries::CompactTask::into_full_compact).collect())
    }

    /// Claims an attempt; `Refused` for a duplicate delivery. A run whose
    /// state is not in Redis (expired, or older than the journal) is claimed
    /// in the database, by the same rule; one the database does not know
    /// either is `NotRecorded` (its task overtook its record: it is
    /// delivered again). (Here a task never reaches the queue before its
    /// run's state: an enqueue writes both in one step, a keyed enqueue or a
    /// retry seeds the state first.)
    pub async fn claim(&self, claim: &Claim) -> Result<ClaimOutcome, DbErr> {
        let record = Record::Claimed {
            id: claim.id.clone(),
            attempt: claim.attempt,
            at: Utc::now(),
            worker: claim.worker.clone(),
        };
        match self.write(&record, Op::Claim, JobStatus::Running, Some(claim.attempt)).await? {
            1 => Ok(ClaimOutcome::Claimed),
            2 => Ok(ClaimOutcome::CancelRequested),
            0 => Ok(ClaimOutcome::Refused),
            _ => self.claim_in_database(claim).await,
        }
    }

    /// The claim of a run Redis holds no state of (see [`Journal::claim`]).
    async fn claim_in_database(&self, claim: &Claim) -> Result<ClaimOutcome, DbErr> {
        self.settle().await?;
        if ledger::cancel_requested(&self.db, &claim.id).await? {
            return Ok(ClaimOutcome::CancelRequested);
        }
        let won = ledger::claim(&self.db, &claim.id, claim.attempt, &claim.worker, Utc::now()).await?;
        if !won {
            let recorded = job_run::Entity::find_by_id(claim.id.as_str()).one(&self.db).await?.is_some();
            return Ok(if recorded { ClaimOutcome::Refused } else { ClaimOutcome::NotRecorded });
        }
        self.seed(&claim.id, JobStatus::Running, claim.attempt).await?;
        Ok(ClaimOutcome::Claimed)
    }

    /// Records the end of an attempt and acknowledges its `delivery`.
    pub async fn finish(&self, finish: Finish, delivery: Option<&InFlight>) -> Result<(), DbErr> {
        let Finish { id, attempt, status, result, error } = finish;
        let record = Record::Finished { id, status, result, error, at: Utc::now(), attempt };
        self.write(&record, Op::Set(delivery.cloned()), status, None).await.map(|_| ())
    }

    /// Hands a running attempt back: the run waits again, and the task of
    /// its `delivery` goes to the front of the queue.
    pub async fn release(&self, id: &str, attempt: i32, delivery: Option<&InFlight>) -> Result<(), DbErr> {
        let record = Record::Released { id: id.to_owned(), attempt, at: Utc::now() };
        let op = Op::Release(delivery.cloned());
        if self.write(&record, op, JobStatus::Queued, Some(attempt - 1)).await? == -1 {
            self.settle().await?;
            ledger::release(&self.db, id, attempt, Utc::now()).await?;
        }
        Ok(())
    }

    /// Stores what a running job reports.
    pub async fn progress(&self, id: &str, progress: serde_json::Value) -> Result<(), DbErr> {
        let record = Record::Progress { id: id.to_owned(), progress };
        if self.write(&record, Op::Record, JobStatus::Running, None).await? == -1
            && let Record::Progress { progress, .. } = &record
        {
            ledger::progress(&self.db, id, progress).await?;
        }
        Ok(())
    }

    /// Cancels a run: a waiting one at once, a running one at its next safe point.
    pub async fn cancel(&self, id: &str) -> Result<Cancelled, DbErr> {
        let now = Utc::now();
        let finished = Record::Finished {
            id: id.to_owned(),
            status: JobStatus::Cancelled,
            result: None,
            error: None,
            at: now,
            attempt: 0,
        };
        let requested = encode(&Record::CancelRequested { id: id.to_owned(), at: now })?;
        match self.write(&finished, Op::Cancel(requested), JobStatus::Cancelled, None).await? {
            1 => Ok(Cancelled::Now),
            2 => Ok(Cancelled::Requested),
            answer => {
                self.settle().await?;
                let outcome = ledger::cancel(&self.db, id, now).await?;
                if answer == -1 && outcome == Cancelled::Now {
                    self.seed(id, JobStatus::Cancelled, 0).await?;
                }
                Ok(outcome)
            }
        }
    }

    /// Whether a cancel was asked of the running run.
    pub async fn cancel_requested(&self, id: &str) -> Result<bool, DbErr> {
        let flag: Option<String> = redis::cmd("HGET")
            .arg(state_key(&self.state_prefix, id))
            .arg("cancel")
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)?;
        Ok(flag.is_some())
    }

    /// Waits until every record appended before this call is in the
    /// database (at most [`SETTLE_LIMIT`]; after that the reader sees what
    /// is written — the flusher may be between owners).
    pub async fn settle(&self) -> Result<(), DbErr> {
        self.waiting.release(&self.conn, &self.stream, Duration::ZERO).await?;
        let newest = entries(&self.conn, "XREVRANGE", &self.stream, ["+", "-"], 1).await?;
        let Some(target) = newest.first().and_then(|(id, _)| stream_id(id)) else { return Ok(()) };
        self.appended.notify_one();
        let deadline = tokio::time::Instant::now() + SETTLE_LIMIT;
        loop {
            let oldest = entries(&self.conn, "XRANGE", &self.stream, ["-", "+"], 1).await?;
            let pending = oldest.first().and_then(|(id, _)| stream_id(id)).is_some_and(|oldest| oldest <= target);
            if !pending || tokio::time::Instant::now() >= deadline {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

fn encode(record: &Record) -> Result<String, DbErr> {
    serde_json::to_string(record).map_err(|e| DbErr::Custom(e.to_string()))
}

/// What a claim found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimOutcome {
    Claimed,
    /// A duplicate delivery (or a finished run).
    Refused,
    /// The run was cancelled while running and its worker died: end it.
    CancelRequested,
    /// The ledger has no such run (yet): its task overtook its record.
    NotRecorded,
}

/// Up to `count` entries of `stream` between `bounds`, as `(id, [field, value…])`
/// (`XRANGE` oldest first, `XREVRANGE` newest first).
async fn entries(
    conn: &ConnectionManager,
    command: &str,
    stream: &str,
    bounds: [&str; 2],
    count: usize,
) -> Result<Vec<(String, Vec<String>)>, DbErr> {
    redis::cmd(command)
        .arg(stream)
        .arg(&bounds)
        .arg("COUNT")
        .arg(count)
        .query_async(&mut conn.clone())
        .await
        .map_err(redis_err)
}

/// A stream entry id `ms-seq`, comparable.
fn stream_id(id: &str) -> Option<(u64, u64)> {
    let (ms, seq) = id.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

/// A batch writer: where a batch of writes goes.
#[derive(Clone)]
struct Batches {
    conn: ConnectionManager,
    stream: String,
    state_prefix: String,
    waiting: WaitingKeys,
    interactive: QueueKeys,
    bulk: QueueKeys,
}

impl Batches {
    /// Takes the writes waiting (at most [`WRITES_PER_BATCH`]) and sends them
    /// as one [`WRITE`] call, until every journal handle is gone. Before a
    /// call it yields once and takes what arrived meanwhile: the writes that
    /// tasks woken with the first one were about to send join its call.
    /// (Measured with `bench jobs`: the yield, one producer +6 % and its CPU
    /// a job −12 %, eight producers +11 %, drained +5 %; two or three yields
    /// no better; the enqueues' writer alone without it, one producer −8 %
    /// and eight −11 % over sixteen rounds. A writer for enqueues apart from
    /// the runs' writer, one producer ~18 % faster, eight level; four calls in
    /// flight on one shared writer, or two per writer, no gain beyond the
    /// noise and no lower enqueue p99.)
    async fn write_forever(self, mut waiting: mpsc::Receiver<Write>, appended: Weak<Notify>) {
        let mut batch = Vec::with_capacity(WRITES_PER_BATCH);
        while waiting.recv_many(&mut batch, WRITES_PER_BATCH).await > 0 {
            tokio::task::yield_now().await;
            while batch.len() < WRITES_PER_BATCH
                && let Ok(write) = waiting.try_recv()
            {
                batch.push(write);
            }
            self.answer(std::mem::take(&mut batch), &appended).await;
        }
    }

    async fn answer(&self, batch: Vec<Write>, appended: &Weak<Notify>) {
        match self.call(&batch).await {
            Ok(answers) => {
                // An enqueue's record waits beside the stream: only the others append.
                let took = |(write, answer): (&Write, &i64)| *answer >= 1 && !matches!(write.op, Op::Enqueue(_));
                if batch.iter().zip(&answers).any(took)
                    && let Some(flusher) = appended.upgrade()
                {
                    flusher.notify_one();
                }
                for (write, answer) in batch.into_iter().zip(answers) {
                    let _ = write.answer.send(Ok(answer));
                }
            }
            Err(err) => {
                for write in batch {
                    let _ = write.answer.send(Err(err.to_string()));
                }
            }
        }
    }

    async fn call(&self, batch: &[Write]) -> redis::RedisResult<Vec<i64>> {
        let mut call = WRITE.prepare_invoke();
        call.key(&self.stream).key(&self.waiting.set).key(&self.waiting.records);
        for lane in [&self.interactive, &self.bulk] {
            call.key(&lane.task_data).key(&lane.active).key(&lane.scheduled).key(&lane.task_meta).key(&lane.done);
        }
        call.arg(STATE_TTL_SECS);
        for write in batch {
            let op = match write.op {
                Op::Set(_) => "s",
                Op::Claim => "c",
                Op::Enqueue(_) => "e",
                Op::Release(_) => "l",
                Op::Cancel(_) => "x",
                Op::Record => "r",
            };
            call.key(state_key(&self.state_prefix, &write.run_id))
                .arg(op)
                .arg(write.status.as_str())
                .arg(write.attempts.map(|a| a.to_string()).unwrap_or_default())
                .arg(&write.record)
                .arg(&write.run_id);
            match &write.op {
                Op::Enqueue(push) => {
                    let lane = if push.lane == Lane::Bulk { "b" } else { "i" };
                    call.arg(&push.task_id).arg(&push.task).arg(push.due).arg(lane)
                }
                Op::Cancel(requested) => call.arg(requested).arg("").arg(0).arg(""),
                Op::Set(Some(delivery)) | Op::Release(Some(delivery)) => {
                    let lane = if delivery.lane == Lane::Bulk { "b" } else { "i" };
                    call.arg(&delivery.task_id).arg(&delivery.set).arg(0).arg(lane)
                }
                Op::Set(None) | Op::Claim | Op::Release(None) | Op::Record => call.arg("").arg("").arg(0).arg(""),
            };
        }
        call.invoke_async(&mut self.conn.clone()).await
    }
}

/// Where `queued` records wait for their runs' claims.
#[derive(Clone)]
struct WaitingKeys {
    /// Run ids by enqueue time (Redis' clock, ms).
    set: String,
    /// Run id → its `queued` record.
    records: String,
}

impl WaitingKeys {
    /// Moves the records of runs enqueued at least `age` ago to `stream`.
    async fn release(&self, conn: &ConnectionManager, stream: &str, age: Duration) -> Result<(), DbErr> {
        loop {
            let taken: usize = RELEASE
                .key(stream)
                .key(&self.set)
                .key(&self.records)
                .arg(age.as_millis() as u64)
                .arg(RELEASE_MAX)
                .invoke_async(&mut conn.clone())
                .await
                .map_err(redis_err)?;
            if taken < RELEASE_MAX {
                return Ok(());
            }
        }
    }
}

struct Flusher {
    waiting: WaitingKeys,
    conn: ConnectionManager,
    stream: String,
    db: DatabaseConnection,
}

/// Flushes while this process holds the flusher lease; stops when the
/// journal is dropped.
async fn flush_forever(flusher: Flusher, locks: Locks, appended: Weak<Notify>) {
    let owner = ulid::Ulid::generate().to_string();
    let mut lease = None;
    let mut idle = Duration::from_millis(1);
    loop {
        let Some(wake) = appended.upgrade() else { return };
        let held = match &lease {
            None => match locks.acquire_as("flusher", &owner, LEASE).await {
                Ok(Some(guard)) => {
                    lease = Some(guard);
                    true
                }
                _ => false,
            },
            Some(guard) => guard.renew_if_due().await.unwrap_or(false),
        };
        if !held {
            lease = None;
            drop(wake);
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        let started = tokio::time::Instant::now();
        match flusher.flush_once().await {
            Ok(0) => {
                tokio::select! {
                    () = wake.notified() => {}
                    () = tokio::time::sleep(idle) => {}
                }
                idle = (idle * 2).min(IDLE_POLL_CAP);
            }
            Ok(read) => {
                idle = Duration::from_millis(1);
                if read < FLUSH_MAX {
                    drop(wake);
                    tokio::time::sleep_until(started + FLUSH_EVERY).await;
                }
            }
            Err(err) => {
                drop(wake);
                tracing::warn!(error = %err, "ledger flush failed; the records wait in Redis");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

impl Flusher {
    /// Writes the oldest records in one transaction, then drops them from
    /// the stream; returns how many were written.
    async fn flush_once(&self) -> Result<usize, DbErr> {
        self.waiting.release(&self.conn, &self.stream, CLAIM_WAIT).await?;
        let entries = entries(&self.conn, "XRANGE", &self.stream, ["-", "+"], FLUSH_MAX).await?;
        if entries.is_empty() {
            return Ok(0);
        }
        // An entry holds one batch of writes: its values are the records, in order.
        let records: Vec<Record> = entries
            .iter()
            .flat_map(|(entry, fields)| fields.iter().skip(1).step_by(2).map(move |payload| (entry, payload)))
            .filter_map(|(entry, payload)| {
                let parsed = serde_json::from_str::<Record>(payload).ok();
                if parsed.is_none() {
                    tracing::warn!(entry, "unreadable ledger journal record dropped");
                }
                parsed
            })
            .collect();
        metrics::histogram!("dtx_ledger_batch_size").record(records.len() as f64);
        let folded = fold(records);
        let txn = self.db.begin().await?;
        if txn.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            txn.execute_unprepared(FLUSH_PLANNER).await?;
        }
        write_folded(&txn, folded).await?;
        txn.commit().await?;
        // Everything up to the last record written goes, whole stream nodes at a time.
        let Some((ms, seq)) = entries.last().and_then(|(id, _)| stream_id(id)) else {
            return Err(DbErr::Custom("ledger journal: a stream id that is not ms-seq".into()));
        };
        let _: i64 = redis::cmd("XTRIM")
            .arg(&self.stream)
            .arg("MINID")
            .arg(format!("{ms}-{}", seq + 1))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)?;
        Ok(entries.len())
    }
}

/// The planner settings of a flush's transaction on PostgreSQL. The known
/// runs' update joins `job_runs` to a JSON recordset the planner guesses at
/// 100 rows; while the table's statistics lag its growth (a busy ledger's
/// first minutes) it hashed the whole table for every flush instead of
/// looking each run up by its key.
pub const FLUSH_PLANNER: &str = "SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off";

/// New runs as whole rows (an existing row — a re-applied flush — takes the
/// new values); known runs as one UPDATE … FROM per chunk.
async fn write_folded<C: ConnectionTrait>(db: &C, folded: Vec<(String, Folded)>) -> Result<(), DbErr> {
    let per_statement = rows_per_statement(db.get_database_backend());
    let (new, known): (Vec<_>, Vec<_>) = folded.into_iter().partition(|(_, f)| f.new.is_some());
    let rows: Vec<job_run::Model> = new.into_iter().filter_map(|(_, f)| f.into_row()).collect();
    insert_rows(db, rows).await?;
    for chunk in known.chunks(per_statement) {
        update_chunk(db, chunk).await?;
    }
    Ok(())
}

async fn insert_rows<C: ConnectionTrait>(db: &C, runs: Vec<job_run::Model>) -> Result<(), DbErr> {
    let rows = runs
        .into_iter()
        .map(|m| {
            vec![
                cell("id", "text", m.id),
                cell("kind", "text", m.kind),
                cell("args", "jsonb", Value::Json(Some(Box::new(m.args)))),
                cell("status", "text", m.status.as_str().to_owned()),
                cell("attempts", "int4", m.attempts),
                cell("max_attempts", "int4", m.max_attempts),
                cell("result", "jsonb", Value::Json(m.result.map(Box::new))),
                cell("error", "text", m.error),
                cell("enqueued_by", "int8", m.enqueued_by),
                cell("enqueued_at", "timestamptz", m.enqueued_at),
                cell("started_at", "timestamptz", m.started_at),
                cell("finished_at", "timestamptz", m.finished_at),
                cell("progress_report", "jsonb", Value::Json(m.progress.map(Box::new))),
                cell("attempt_log", "jsonb", Value::Json(m.attempt_log.map(Box::new))),
                cell("run_at", "timestamptz", m.run_at),
                cell("cancel_requested_at", "timestamptz", m.cancel_requested_at),
            ]
        })
        .collect();
    let refresh = [
        "status",
        "attempts",
        "result",
        "error",
        "started_at",
        "finished_at",
        "progress_report",
        "attempt_log",
        "cancel_requested_at",
    ];
    upsert(db, "job_runs", &["id"], &refresh, rows).await
}

async fn update_chunk<C: ConnectionTrait>(db: &C, runs: &[(String, Folded)]) -> Result<(), DbErr> {
    db.execute_raw(update_statement(db.get_database_backend(), runs)).await?;
    Ok(())
}

/// The update of known runs a flush makes (one statement per chunk).
pub fn update_statement(backend: sea_orm::DatabaseBackend, runs: &[(String, Folded)]) -> Statement {
    let rows = runs
        .iter()
        .map(|(id, f)| {
            let log = log_json(&f.log).map(|log| log.to_string());
            vec![
                cell("id", "text", id.clone()),
                cell("status", "text", f.status.map(|s| s.as_str().to_owned())),
                cell("attempts", "int4", f.attempts),
                cell("started_at", "timestamptz", f.started_at),
                cell("finished_at", "timestamptz", f.finished_at),
                cell("result", "jsonb", Value::Json(f.result.clone().map(Box::new))),
                cell("error", "text", f.error.clone().flatten()),
                cell("error_set", "bool", f.error.is_some()),
                cell("progress", "jsonb", Value::Json(f.progress.clone().map(Box::new))),
                cell("cancel_requested_at", "timestamptz", f.cancel_requested_at),
                cell("log", "text", log),
                cell("plain", "bool", is_plain_success(&f.log)),
            ]
        })
        .collect();
    let (table, params) = rows_table(backend, rows, 1);
    // A run that leaves the waiting states gives up its waiting place (`queue_key`).
    let sql = format!(
        "UPDATE job_runs AS j SET status = COALESCE(v.status, j.status), \
         attempts = COALESCE(v.attempts, j.attempts), started_at = COALESCE(v.started_at, j.started_at), \
         finished_at = COALESCE(v.finished_at, j.finished_at), result = COALESCE(v.result, j.result), \
         error = CASE WHEN v.error_set THEN v.error ELSE j.error END, \
         progress_report = COALESCE(v.progress, j.progress_report), \
         cancel_requested_at = COALESCE(v.cancel_requested_at, j.cancel_requested_at), \
         queue_key = CASE WHEN COALESCE(v.status, j.status) IN ('queued', 'scheduled') THEN j.queue_key END, \
         attempt_log = CASE WHEN v.log IS NULL OR (v.plain AND j.attempt_log IS NULL) THEN j.attempt_log \
         ELSE {log} END \
         FROM {table} AS v WHERE j.id = v.id",
        log = ledger::append_log(backend, "j.attempt_log", "v.log")
    );
    Statement::from_sql_and_values(backend, sql, params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(second: u32) -> DateTime<Utc> {
        chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 26, 12, 0, second).unwrap()
    }

    fn queued(id: &str) -> Record {
        Record::Queued {
            id: id.into(),
            kind: "check_scheduled_events".into(),
            args: json!({}),
            max_attempts: 3,
            enqueued_by: Some(7),
            at: at(0),
            run_at: None,
        }
    }

    fn claimed(id: &str, attempt: i32, second: u32) -> Record {
        Record::Claimed { id: id.into(), attempt, at: at(second), worker: "w1".into() }
    }

    fn finished(id: &str, status: JobStatus, error: Option<&str>, second: u32) -> Record {
        let result = (status == JobStatus::Succeeded).then(|| json!({"ok": true}));
        Record::Finished { id: id.into(), status, result, error: error.map(str::to_owned), at: at(second), attempt: 1 }
    }

    #[test]
    fn a_fetched_claim_is_read_from_its_metadata() {
        assert_eq!(fetched_claim(Some("1")), Some(ClaimOutcome::Claimed));
        assert_eq!(fetched_claim(Some("2")), Some(ClaimOutcome::CancelRequested));
        assert_eq!(fetched_claim(Some("0")), Some(ClaimOutcome::Refused));
        assert_eq!(fetched_claim(Some("-1")), None, "no state in Redis: the runner claims");
        assert_eq!(fetched_claim(None), None, "not claimed by the fetch");
    }

    #[test]
    fn a_whole_life_in_one_flush_is_one_finished_row() {
        let records = vec![queued("a"), claimed("a", 1, 1), finished("a", JobStatus::Succeeded, None, 2)];
        let folded = fold(records);
        assert_eq!(folded.len(), 1);
        let row = folded[0].1.clone().into_row().expect("a new run");
        assert_eq!((row.status, row.attempts, row.max_attempts), (JobStatus::Succeeded, 1, 3));
        assert_eq!((row.enqueued_at, row.started_at, row.finished_at), (at(0), Some(at(1)), Some(at(2))));
        assert_eq!((row.result, row.error, row.enqueued_by), (Some(json!({"ok": true})), None, Some(7)));
        assert_eq!(row.attempt_log, None, "a first attempt that succeeded is the row itself");
        let failed_once = vec![
            queued("b"),
            claimed("b", 1, 1),
            finished("b", JobStatus::Failed, Some("steam 503"), 2),
            claimed("b", 2, 3),
            Record::Finished {
                id: "b".into(),
                status: JobStatus::Succeeded,
                result: None,
                error: None,
                at: at(4),
                attempt: 2,
            },
        ];
        let row = fold(failed_once).remove(0).1.into_row().expect("a new run");
        assert_eq!(
            row.attempt_log,
            Some(json!([
                {"attempt": 1, "worker": "w1", "started_at": "2026-11-26T12:00:01Z"},
                {"attempt": 1, "outcome": "failed", "finished_at": "2026-11-26T12:00:02Z", "error": "steam 503"},
                {"attempt": 2, "worker": "w1", "started_at": "2026-11-26T12:00:03Z"},
                {"attempt": 2, "outcome": "succeeded", "finished_at": "2026-11-26T12:00:04Z"},
            ])),
            "each claim and end is an event"
        );
    }

    #[test]
    fn a_handed_back_attempt_waits_again_and_progress_and_cancel_requests_fold() {
        let records = vec![
            claimed("h", 2, 1),
            Record::Progress { id: "h".into(), progress: json!({"pages_fetched": 1}) },
            Record::Progress { id: "h".into(), progress: json!({"pages_fetched": 2}) },
            Record::CancelRequested { id: "h".into(), at: at(3) },
            Record::Released { id: "h".into(), attempt: 2, at: at(4) },
        ];
        let (_, change) = fold(records).remove(0);
        assert_eq!((change.status, change.attempts), (Some(JobStatus::Queued), Some(1)), "before its attempt");
        assert_eq!(change.progress, Some(json!({"pages_fetched": 2})), "the latest report");
        assert_eq!(change.cancel_requested_at, Some(at(3)));
        assert_eq!(
            log_json(&change.log).unwrap()[1],
            json!({"attempt": 2, "outcome": "handed_back", "finished_at": "2026-11-26T12:00:04Z"})
        );
    }

    #[test]
    fn a_failed_attempt_then_a_retry_keeps_the_last_state_and_no_finish_time() {
        let records =
            vec![claimed("b", 1, 1), finished("b", JobStatus::Failed, Some("steam 503"), 2), claimed("b", 2, 5)];
        let (id, change) = fold(records).remove(0);
        assert_eq!(id, "b");
        assert!(change.new.is_none(), "the row exists already: an update");
        assert_eq!(
            (change.status, change.attempts, change.started_at),
            (Some(JobStatus::Running), Some(2), Some(at(5)))
        );
        assert_eq!(change.finished_at, None, "a failed attempt is not finished");
        assert_eq!(change.error, Some(Some("steam 503".into())), "the error stays until the next finish");
    }

    #[test]
    fn runs_keep_their_first_appearance_order_and_do_not_mix() {
        let records = vec![
            queued("x"),
            queued("y"),
            finished("y", JobStatus::Dead, Some("unknown league"), 3),
            claimed("x", 1, 4),
        ];
        let folded = fold(records);
        let ids: Vec<&str> = folded.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["x", "y"]);
        let x = folded[0].1.clone().into_row().unwrap();
        let y = folded[1].1.clone().into_row().unwrap();
        assert_eq!((x.status, x.attempts, x.finished_at), (JobStatus::Running, 1, None));
        assert_eq!((y.status, y.attempts, y.finished_at), (JobStatus::Dead, 0, Some(at(3))));
        assert_eq!(y.error.as_deref(), Some("unknown league"));
    }

    #[test]
    fn records_round_trip_through_the_stream_format() {
        for record in [queued("q"), finished("q", JobStatus::Succeeded, None, 9)] {
            let text = serde_json::to_string(&record).unwrap();
            assert_eq!(serde_json::from_str::<Record>(&text).unwrap(), record);
        }
        assert_eq!(stream_id("1700000000000-3"), Some((1_700_000_000_000, 3)));
        assert!(stream_id("1700000000000-10") > stream_id("1700000000000-9"), "numeric, not text order");
    }
}
