//! Group commit for the job ledger (issue 13). The frequent ledger writes of
//! a job's life — the `queued` row on enqueue, the claim of an attempt, its
//! finish — go through one writer task per process, which takes whatever
//! requests are waiting (at most [`MAX_BATCH`]) and writes them in **one
//! transaction**: one multi-row INSERT, one UPDATE … FROM for the claims,
//! one for the finishes. A caller is answered only after that transaction
//! committed, so the guarantees are the single-row ones of [`ledger`]: a
//! client told "queued" has a durable row; a duplicate delivery is refused by
//! the same conditional claim; a redelivery after a SIGKILL re-claims its
//! attempt. Under no load a batch is one request (no added wait); under
//! load, one fsync serves many. The rare writes (a keyed enqueue, a cancel,
//! a hand-back, progress) are single-row writes of [`ledger`].
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

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use entity::job_run;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, EntityTrait, TransactionTrait, Value,
};
use tokio::sync::{mpsc, oneshot};

use crate::infra::rows::{cell, rows_per_statement, rows_table};
use crate::jobs::ledger::{self, Finish, Inserted, NewRun, append_log, claimed_event, model_of, statement};

/// The most requests one transaction carries.
pub const MAX_BATCH: usize = 512;
/// Batches in flight at once per process.
pub const WRITERS: usize = 2;
/// Rows per multi-row INSERT (18 parameters each).
const INSERT_ROWS_PER_STATEMENT: usize = 100;

/// A claim of an attempt by a worker.
#[derive(Debug, Clone)]
pub struct Claim {
    pub id: String,
    pub attempt: i32,
    pub worker: String,
}

enum Request {
    Insert(NewRun, oneshot::Sender<Result<(job_run::Model, Inserted), DbErr>>),
    Claim(Claim, oneshot::Sender<Result<bool, DbErr>>),
    Finish(Finish, oneshot::Sender<Result<(), DbErr>>),
}

/// The handle every enqueuer and runner of a process shares.
#[derive(Clone)]
pub struct LedgerWriter {
    tx: mpsc::UnboundedSender<Request>,
    db: DatabaseConnection,
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
        Self { tx, db }
    }

    /// Writes the row of a new run (see [`ledger::insert`]); keyed runs are
    /// written alone, so the unique indexes answer each of them.
    pub async fn insert(&self, run: NewRun) -> Result<(job_run::Model, Inserted), DbErr> {
        if run.is_keyed() {
            return ledger::insert(&self.db, &run, Utc::now()).await;
        }
        let (reply, answer) = oneshot::channel();
        self.tx.send(Request::Insert(run, reply)).map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    /// Claims an attempt (see [`ledger::claim`]).
    pub async fn claim(&self, claim: Claim) -> Result<bool, DbErr> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(Request::Claim(claim, reply)).map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    /// Records the end of an attempt (see [`ledger::finish`]).
    pub async fn finish(&self, finish: Finish) -> Result<(), DbErr> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(Request::Finish(finish, reply)).map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    /// The database the rare single-row writes go to.
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
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
            Request::Claim(claim, reply) => claims.push((claim, reply)),
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
            let claimed = claim_rows(&txn, claims.iter().map(|(claim, _)| claim), now).await?;
            txn.commit().await?;
            Ok::<_, DbErr>(claimed)
        };
        match claimed.await {
            Ok(claimed) => {
                let mut answered = HashSet::new();
                for (claim, reply) in claims {
                    // Two deliveries of one attempt in one batch: the first wins.
                    let won = claimed.contains(&(claim.id.clone(), claim.attempt)) && answered.insert(claim.id);
                    let _ = reply.send(Ok(won));
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "ledger claims failed together; claiming one by one");
                for (claim, reply) in claims {
                    let _ = reply.send(ledger::claim(db, &claim.id, claim.attempt, &claim.worker, now).await);
                }
            }
        }
    }
    if inserts.is_empty() && finishes.is_empty() {
        return;
    }
    let durable = async {
        let txn = db.begin().await?;
        insert_rows(&txn, inserts.iter().map(|(run, _)| run), now).await?;
        finish_rows(&txn, finishes.iter().map(|(finish, _)| finish), now).await?;
        txn.commit().await
    };
    match durable.await {
        Ok(()) => {
            for (run, reply) in inserts {
                let _ = reply.send(Ok((model_of(&run, now), Inserted::Fresh)));
            }
            for (_, reply) in finishes {
                let _ = reply.send(Ok(()));
            }
        }
        Err(err) => {
            tracing::warn!(error = %err, "ledger batch failed; writing its requests one by one");
            for (run, reply) in inserts {
                let _ = reply.send(ledger::insert(db, &run, now).await);
            }
            for (finish, reply) in finishes {
                let _ = reply.send(ledger::finish(db, &finish, now).await);
            }
        }
    }
}

/// Multi-row INSERTs of runs without keys (keyed runs are written alone).
async fn insert_rows<'a, C: ConnectionTrait>(
    db: &C,
    runs: impl Iterator<Item = &'a NewRun>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let rows: Vec<job_run::ActiveModel> =
        runs.map(|run| job_run::ActiveModel::from(model_of(run, now)).reset_all()).collect();
    // Small statements: one that spans two TCP segments waits ~40 ms for a
    // delayed ACK (sqlx does not set TCP_NODELAY; see `sync::ingest`).
    for chunk in rows.chunks(INSERT_ROWS_PER_STATEMENT) {
        job_run::Entity::insert_many(chunk.to_vec()).exec_without_returning(db).await?;
    }
    Ok(())
}

/// The claims that took: `(id, attempt)`.
async fn claim_rows<'a, C: ConnectionTrait>(
    db: &C,
    claims: impl Iterator<Item = &'a Claim>,
    now: DateTime<Utc>,
) -> Result<HashSet<(String, i32)>, DbErr> {
    let claims: Vec<&Claim> = claims.collect();
    let mut won = HashSet::new();
    for chunk in claims.chunks(rows_per_statement(db.get_database_backend())) {
        won.extend(claim_chunk(db, chunk, now).await?);
    }
    Ok(won)
}

async fn claim_chunk<C: ConnectionTrait>(
    db: &C,
    claims: &[&Claim],
    now: DateTime<Utc>,
) -> Result<HashSet<(String, i32)>, DbErr> {
    let backend = db.get_database_backend();
    let rows = claims
        .iter()
        .map(|c| {
            let log = serde_json::json!([claimed_event(c.attempt, &c.worker, now)]).to_string();
            vec![cell("id", "text", c.id.as_str()), cell("attempt", "int4", c.attempt), cell("log", "text", log)]
        })
        .collect();
    let (table, params) = rows_table(backend, rows, 2);
    // SQLite's RETURNING names only the updated table's columns, unqualified.
    let returning = if backend == DatabaseBackend::Postgres { "j.id, j.attempts" } else { "id, attempts" };
    let sql = format!(
        "UPDATE job_runs AS j SET status = 'running', attempts = v.attempt, started_at = $1, queue_key = NULL, \
         attempt_log = {log} \
         FROM {table} AS v \
         WHERE j.id = v.id AND ((j.status IN ('queued', 'scheduled', 'failed') AND j.attempts = v.attempt - 1) \
         OR (j.status = 'running' AND j.attempts IN (v.attempt - 1, v.attempt))) \
         RETURNING {returning}",
        log = append_log(backend, "j.attempt_log", "v.log")
    );
    let values: Vec<Value> = std::iter::once(now.into()).chain(params).collect();
    let rows = db.query_all_raw(statement(backend, &sql, values)).await?;
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
                cell("log", "text", serde_json::Value::Array(f.events(now)).to_string()),
            ]
        })
        .collect();
    let (table, params) = rows_table(backend, rows, 2);
    // A failed attempt waits for its retry: no finish time; a missing result keeps the stored one.
    let sql = format!(
        "UPDATE job_runs AS j SET status = v.status, error = v.error, \
         result = COALESCE(v.result, j.result), \
         finished_at = CASE WHEN v.status = 'failed' THEN j.finished_at ELSE $1 END, queue_key = NULL, \
         attempt_log = {log} \
         FROM {table} AS v WHERE j.id = v.id",
        log = append_log(backend, "j.attempt_log", "v.log")
    );
    let values: Vec<Value> = std::iter::once(now.into()).chain(params).collect();
    db.execute_raw(statement(backend, &sql, values)).await?;
    Ok(())
}
