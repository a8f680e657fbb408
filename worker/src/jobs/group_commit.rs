//! Group commit for the job ledger (issue 13). Every ledger write of a job's
//! life — the `queued` row on enqueue, the claim of an attempt, its finish —
//! goes through one writer task per process, which takes whatever requests
//! are waiting (at most [`MAX_BATCH`]) and writes them in **one transaction**:
//! one multi-row INSERT, one UPDATE … FROM for the claims, one for the
//! finishes. A caller is answered only after that transaction committed, so
//! the guarantees are the single-row ones: a client told "queued" has a
//! durable row; a duplicate delivery is refused by the same conditional
//! claim; a redelivery after a SIGKILL re-claims its attempt. Under no load a
//! batch is one request (no added wait); under load, one fsync serves many.
//!
//! Claims are committed without waiting for the disk (`synchronous_commit =
//! off` on PostgreSQL, in a transaction of their own): a claim lost in a
//! database crash only means the attempt is claimed again on redelivery —
//! what a worker crash already does — while a claim that *is* seen refuses
//! duplicates as before; and the finish that follows is durable, and the
//! write-ahead log is sequential, so a durable finish makes its claim durable
//! too. Inserts (a client was told "queued") and finishes (a client may have
//! read the result) wait for the disk.
//!
//! [`WRITERS`] writer tasks share the queue of requests, so while one waits
//! for its commit another gathers the next batch.
//!
//! If a batch fails (a database outage), each request is tried on its own so
//! every caller gets its own error (503 for the API, a redelivery for the
//! worker), exactly as before.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use entity::{JobStatus, job_run};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set, Statement,
    TransactionTrait, Value,
};
use tokio::sync::{mpsc, oneshot};

use crate::infra::rows::{cell, rows_per_statement, rows_table};
use crate::jobs::ledger::{self, Finish};
use crate::jobs::payload::Job;

/// The most requests one transaction carries.
pub const MAX_BATCH: usize = 512;
/// Batches in flight at once per process.
pub const WRITERS: usize = 2;
/// Rows per multi-row INSERT (14 parameters each).
const INSERT_ROWS_PER_STATEMENT: usize = 100;

/// A `queued` row to write.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub id: String,
    pub job: Job,
    pub enqueued_by: Option<i64>,
    pub idempotency_key: Option<String>,
}

enum Request {
    Insert(NewRun, oneshot::Sender<Result<(job_run::Model, bool), DbErr>>),
    Claim(String, i32, oneshot::Sender<Result<bool, DbErr>>),
    Finish(Finish, oneshot::Sender<Result<(), DbErr>>),
}

/// The handle every enqueuer and runner of a process shares.
#[derive(Clone)]
pub struct LedgerWriter {
    tx: mpsc::UnboundedSender<Request>,
}

fn gone() -> DbErr {
    DbErr::Custom("the ledger writer stopped".into())
}

impl LedgerWriter {
    /// Starts the writer task on `db` (it ends when every handle is dropped).
    pub fn start(db: DatabaseConnection) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let rx = std::sync::Arc::new(tokio::sync::Mutex::new(rx));
        for _ in 0..WRITERS {
            tokio::spawn(write_batches(db.clone(), rx.clone()));
        }
        Self { tx }
    }

    /// Writes the `queued` row of a new run; with an idempotency key used
    /// before, the earlier run and `false`.
    pub async fn insert(&self, run: NewRun) -> Result<(job_run::Model, bool), DbErr> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(Request::Insert(run, reply)).map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    /// Claims attempt `attempt` (see [`ledger::claim`]).
    pub async fn claim(&self, id: &str, attempt: i32) -> Result<bool, DbErr> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(Request::Claim(id.to_owned(), attempt, reply)).map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    /// Records the end of an attempt (see [`ledger::finish`]).
    pub async fn finish(&self, finish: Finish) -> Result<(), DbErr> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(Request::Finish(finish, reply)).map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

async fn write_batches(
    db: DatabaseConnection,
    rx: std::sync::Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Request>>>,
) {
    loop {
        let batch = {
            let mut rx = rx.lock().await;
            let Some(first) = rx.recv().await else { return };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            batch
        };
        metrics::histogram!("dtx_ledger_batch_size").record(batch.len() as f64);
        write(&db, batch).await;
    }
}

/// Writes one batch in one transaction and answers everyone; on failure,
/// each request alone.
async fn write(db: &DatabaseConnection, batch: Vec<Request>) {
    let mut inserts = Vec::new();
    let mut claims = Vec::new();
    let mut finishes = Vec::new();
    for request in batch {
        match request {
            Request::Insert(run, reply) => inserts.push((run, reply)),
            Request::Claim(id, attempt, reply) => claims.push((id, attempt, reply)),
            Request::Finish(finish, reply) => finishes.push((finish, reply)),
        }
    }
    let now = Utc::now();
    if !claims.is_empty() {
        let claimed = async {
            let txn = db.begin().await?;
            if txn.get_database_backend() == DatabaseBackend::Postgres {
                txn.execute_unprepared("SET LOCAL synchronous_commit = off").await?;
            }
            let claimed = claim_rows(&txn, claims.iter().map(|(id, attempt, _)| (id.as_str(), *attempt)), now).await?;
            txn.commit().await?;
            Ok::<_, DbErr>(claimed)
        };
        match claimed.await {
            Ok(claimed) => {
                let mut answered = HashSet::new();
                for (id, attempt, reply) in claims {
                    // Two deliveries of one attempt in one batch: the first wins.
                    let won = claimed.contains(&(id.clone(), attempt)) && answered.insert(id);
                    let _ = reply.send(Ok(won));
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "ledger claims failed together; claiming one by one");
                for (id, attempt, reply) in claims {
                    let _ = reply.send(ledger::claim(db, &id, attempt).await);
                }
            }
        }
    }
    if inserts.is_empty() && finishes.is_empty() {
        return;
    }
    let durable = async {
        let txn = db.begin().await?;
        let inserted = insert_rows(&txn, inserts.iter().map(|(run, _)| run), now).await?;
        finish_rows(&txn, finishes.iter().map(|(finish, _)| finish), now).await?;
        txn.commit().await?;
        Ok::<_, DbErr>(inserted)
    };
    match durable.await {
        Ok(inserted) => {
            for ((_, reply), outcome) in inserts.into_iter().zip(inserted) {
                let _ = reply.send(Ok(outcome));
            }
            for (_, reply) in finishes {
                let _ = reply.send(Ok(()));
            }
        }
        Err(err) => {
            tracing::warn!(error = %err, "ledger batch failed; writing its requests one by one");
            for (run, reply) in inserts {
                let _ = reply.send(ledger::insert(db, &run.id, &run.job, run.enqueued_by, run.idempotency_key).await);
            }
            for (f, reply) in finishes {
                let _ = reply.send(ledger::finish(db, f).await);
            }
        }
    }
}

pub(crate) fn model_of(run: &NewRun, now: DateTime<Utc>) -> job_run::Model {
    job_run::Model {
        id: run.id.clone(),
        kind: run.job.kind().to_owned(),
        args: run.job.args(),
        status: JobStatus::Queued,
        attempts: 0,
        max_attempts: run.job.policy().max_attempts,
        progress: None,
        result: None,
        error: None,
        enqueued_by: run.enqueued_by,
        enqueued_at: now,
        started_at: None,
        finished_at: None,
        idempotency_key: run.idempotency_key.clone(),
    }
}

/// One multi-row INSERT; a row whose idempotency key exists is skipped and
/// answered with the earlier run.
async fn insert_rows<'a, C: ConnectionTrait>(
    db: &C,
    runs: impl Iterator<Item = &'a NewRun>,
    now: DateTime<Utc>,
) -> Result<Vec<(job_run::Model, bool)>, DbErr> {
    let models: Vec<job_run::Model> = runs.map(|r| model_of(r, now)).collect();
    if models.is_empty() {
        return Ok(Vec::new());
    }
    let rows = models.iter().cloned().map(|m| job_run::ActiveModel {
        id: Set(m.id),
        kind: Set(m.kind),
        args: Set(m.args),
        status: Set(m.status),
        attempts: Set(m.attempts),
        max_attempts: Set(m.max_attempts),
        progress: Set(None),
        result: Set(None),
        error: Set(None),
        enqueued_by: Set(m.enqueued_by),
        enqueued_at: Set(m.enqueued_at),
        started_at: Set(None),
        finished_at: Set(None),
        idempotency_key: Set(m.idempotency_key),
    });
    // Small statements: one that spans two TCP segments waits ~40 ms for a
    // delayed ACK (sqlx does not set TCP_NODELAY; see `sync::ingest`).
    let rows: Vec<job_run::ActiveModel> = rows.collect();
    for chunk in rows.chunks(INSERT_ROWS_PER_STATEMENT) {
        job_run::Entity::insert_many(chunk.to_vec())
            .on_conflict(OnConflict::column(job_run::Column::IdempotencyKey).do_nothing().to_owned())
            .exec_without_returning(db)
            .await?;
    }
    let keys: Vec<String> = models.iter().filter_map(|m| m.idempotency_key.clone()).collect();
    let holders: HashMap<String, job_run::Model> = if keys.is_empty() {
        HashMap::new()
    } else {
        job_run::Entity::find()
            .filter(job_run::Column::IdempotencyKey.is_in(keys))
            .all(db)
            .await?
            .into_iter()
            .filter_map(|m| m.idempotency_key.clone().map(|k| (k, m)))
            .collect()
    };
    Ok(models
        .into_iter()
        .map(|m| match m.idempotency_key.as_ref().and_then(|k| holders.get(k)) {
            Some(holder) if holder.id != m.id => (holder.clone(), false),
            _ => (m, true),
        })
        .collect())
}

fn param(backend: DatabaseBackend, n: usize) -> String {
    match backend {
        DatabaseBackend::Postgres => format!("${n}"),
        _ => "?".to_owned(),
    }
}

/// The claims that took: `(id, attempt)`.
async fn claim_rows<'a, C: ConnectionTrait>(
    db: &C,
    claims: impl Iterator<Item = (&'a str, i32)>,
    now: DateTime<Utc>,
) -> Result<HashSet<(String, i32)>, DbErr> {
    let claims: Vec<(&str, i32)> = claims.collect();
    let mut won = HashSet::new();
    for chunk in claims.chunks(rows_per_statement(db.get_database_backend())) {
        won.extend(claim_chunk(db, chunk, now).await?);
    }
    Ok(won)
}

async fn claim_chunk<C: ConnectionTrait>(
    db: &C,
    claims: &[(&str, i32)],
    now: DateTime<Utc>,
) -> Result<HashSet<(String, i32)>, DbErr> {
    let backend = db.get_database_backend();
    let rows =
        claims.iter().map(|(id, attempt)| vec![cell("id", "text", *id), cell("attempt", "int4", *attempt)]).collect();
    let (table, params) = rows_table(backend, rows, 2);
    let sql = format!(
        "UPDATE job_runs AS j SET status = 'running', attempts = v.attempt, started_at = {now} \
         FROM {table} AS v \
         WHERE j.id = v.id AND j.status IN ('queued', 'failed', 'running') \
         AND (j.attempts = v.attempt - 1 OR j.attempts = v.attempt) \
         RETURNING j.id, j.attempts",
        now = param(backend, 1)
    );
    let values: Vec<Value> = std::iter::once(now.into()).chain(params).collect();
    let rows = db.query_all_raw(Statement::from_sql_and_values(backend, sql, values)).await?;
    rows.iter().map(|row| Ok((row.try_get::<String>("", "id")?, row.try_get::<i32>("", "attempts")?))).collect()
}

async fn finish_rows<'a, C: ConnectionTrait>(
    db: &C,
    finishes: impl Iterator<Item = &'a Finish>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let finishes: Vec<&Finish> = finishes.collect();
    for chunk in finishes.chunks(rows_per_statement(db.get_database_backend())) {
        finish_chunk(db, chunk, now).await?;
    }
    Ok(())
}

async fn finish_chunk<C: ConnectionTrait>(db: &C, finishes: &[&Finish], now: DateTime<Utc>) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let rows = finishes
        .iter()
        .map(|f| {
            vec![
                cell("id", "text", f.id.clone()),
                cell("status", "text", f.status.as_str()),
                cell("result", "jsonb", Value::Json(f.result.clone().map(Box::new))),
                cell("error", "text", f.error.clone()),
            ]
        })
        .collect();
    let (table, params) = rows_table(backend, rows, 2);
    // A failed attempt waits for its retry: no finish time; a missing result keeps the stored one.
    let sql = format!(
        "UPDATE job_runs AS j SET status = v.status, error = v.error, \
         result = COALESCE(v.result, j.result), \
         finished_at = CASE WHEN v.status = 'failed' THEN j.finished_at ELSE {now} END \
         FROM {table} AS v WHERE j.id = v.id",
        now = param(backend, 1)
    );
    let values: Vec<Value> = std::iter::once(now.into()).chain(params).collect();
    db.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await?;
    Ok(())
}
