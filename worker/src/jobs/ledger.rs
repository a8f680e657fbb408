//! The job ledger (`job_runs`): written on enqueue and through every attempt,
//! so the API reads job state the same way whatever queue runs the jobs.
//! These are the single-row writes, with the rules every writer keeps (the
//! group commit of embedded mode batches the frequent ones; the Redis
//! journal of distributed mode applies the same rules to its state hashes).
//!
//! The claim rule: a waiting run (queued, scheduled, or failed and due for
//! its retry) is claimed by the attempt after the last one; a running run by
//! the same attempt again (a redelivery after its worker died) or the next
//! one. Anything else — a finished or cancelled run, an earlier attempt, a
//! second copy of an attempt that is still waiting — is a duplicate delivery
//! and refused.

use chrono::{DateTime, Utc};
use entity::{JobStatus, job_run};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, QueryFilter, Set, Statement,
    Value,
};
use serde_json::json;

use crate::jobs::payload::Job;

/// A `queued` (or `scheduled`) row to write.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub id: String,
    pub job: Job,
    pub enqueued_by: Option<i64>,
    /// Already scoped to its caller (`u<id>:…`, `cron:…`).
    pub idempotency_key: Option<String>,
    /// When it becomes due; `None` for now.
    pub run_at: Option<DateTime<Utc>>,
}

impl NewRun {
    /// Whether writing it must consult the unique keys (an idempotency key,
    /// or the kind's one waiting place per league).
    pub fn is_keyed(&self) -> bool {
        self.idempotency_key.is_some() || self.job.queue_key().is_some()
    }
}

/// How an enqueue ended in the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// A new run: its task must be pushed.
    Fresh,
    /// The idempotency key was used before: that run.
    Replayed,
    /// The same kind waits for the same league: that run (SPEC §21).
    Deduplicated,
}

/// The row a new run starts as.
pub fn model_of(run: &NewRun, now: DateTime<Utc>) -> job_run::Model {
    let scheduled = run.run_at.is_some_and(|at| at > now);
    job_run::Model {
        id: run.id.clone(),
        kind: run.job.kind().to_owned(),
        args: run.job.args(),
        status: if scheduled { JobStatus::Scheduled } else { JobStatus::Queued },
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
        attempt_log: None,
        run_at: run.run_at.filter(|_| scheduled),
        cancel_requested_at: None,
        queue_key: run.job.queue_key(),
    }
}

/// The attempt log's event for a claim.
pub fn claimed_event(attempt: i32, worker: &str, at: DateTime<Utc>) -> serde_json::Value {
    let mut event = serde_json::Map::with_capacity(3);
    event.insert("attempt".into(), attempt.into());
    event.insert("worker".into(), worker.into());
    event.insert("started_at".into(), at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true).into());
    event.into()
}

/// The attempt log's event for the end of an attempt (`outcome`: succeeded,
/// failed, dead, cancelled, handed_back).
pub fn ended_event(attempt: i32, outcome: &str, at: DateTime<Utc>, error: Option<&str>) -> serde_json::Value {
    let mut event = serde_json::Map::with_capacity(4);
    event.insert("attempt".into(), attempt.into());
    event.insert("outcome".into(), outcome.into());
    event.insert("finished_at".into(), at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true).into());
    if let Some(error) = error {
        event.insert("error".into(), error.into());
    }
    event.into()
}

/// SQL that appends the JSON array `addition` to the array in `current`
/// (NULL counts as empty), on either database.
pub fn append_log(backend: DatabaseBackend, current: &str, addition: &str) -> String {
    match backend {
        DatabaseBackend::Postgres => format!("COALESCE({current}, '[]'::jsonb) || ({addition})::jsonb"),
        _ => format!(
            "(SELECT json_group_array(json(value)) FROM (SELECT value FROM json_each(COALESCE({current}, '[]')) \
             UNION ALL SELECT value FROM json_each({addition})))"
        ),
    }
}

/// A statement whose parameters are written `$1`, `$2`… (SQLite reads them as `?1`, `?2`…).
pub fn statement(backend: DatabaseBackend, sql: &str, values: Vec<Value>) -> Statement {
    let sql = if backend == DatabaseBackend::Postgres { sql.to_owned() } else { sql.replace('$', "?") };
    Statement::from_sql_and_values(backend, sql, values)
}

fn log_value(events: &[serde_json::Value]) -> Value {
    Value::String(Some(serde_json::Value::Array(events.to_vec()).to_string()))
}

/// The run holding `key` in `column`, if any.
async fn holder<C: ConnectionTrait>(
    db: &C,
    column: job_run::Column,
    key: &Option<String>,
) -> Result<Option<job_run::Model>, DbErr> {
    match key {
        Some(key) => job_run::Entity::find().filter(column.eq(key)).one(db).await,
        None => Ok(None),
    }
}

/// Writes the row of a new run. A used idempotency key answers the earlier
/// run; a kind that keeps one waiting place per league answers the run
/// waiting there. The unique indexes decide between racing enqueues.
pub async fn insert<C: ConnectionTrait>(
    db: &C,
    run: &NewRun,
    now: DateTime<Utc>,
) -> Result<(job_run::Model, Inserted), DbErr> {
    let row = model_of(run, now);
    let existing = || async {
        if let Some(earlier) = holder(db, job_run::Column::IdempotencyKey, &row.idempotency_key).await? {
            return Ok::<_, DbErr>(Some((earlier, Inserted::Replayed)));
        }
        Ok(holder(db, job_run::Column::QueueKey, &row.queue_key)
            .await?
            .map(|waiting| (waiting, Inserted::Deduplicated)))
    };
    if let Some(found) = existing().await? {
        return Ok(found);
    }
    let active = job_run::ActiveModel::from(row.clone()).reset_all();
    match active.insert(db).await {
        Ok(model) => Ok((model, Inserted::Fresh)),
        // Another replica took the key between our check and insert.
        Err(err) if matches!(err.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_))) => {
            existing().await?.ok_or(err)
        }
        Err(err) => Err(err),
    }
}

/// Claims attempt `attempt` of a run for `worker` (the rule above); false
/// for a duplicate delivery.
pub async fn claim<C: ConnectionTrait>(
    db: &C,
    id: &str,
    attempt: i32,
    worker: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let backend = db.get_database_backend();
    let sql = format!(
        "UPDATE job_runs SET status = 'running', attempts = $2, started_at = $3, queue_key = NULL, \
         attempt_log = {log} \
         WHERE id = $1 AND ((status IN ('queued', 'scheduled', 'failed') AND attempts = $2 - 1) \
         OR (status = 'running' AND attempts IN ($2 - 1, $2)))",
        log = append_log(backend, "attempt_log", "$4")
    );
    let values = vec![id.into(), attempt.into(), now.into(), log_value(&[claimed_event(attempt, worker, now)])];
    Ok(db.execute_raw(statement(backend, &sql, values)).await?.rows_affected() == 1)
}

/// The end of an attempt, as the ledger records it.
#[derive(Debug, Clone)]
pub struct Finish {
    pub id: String,
    pub attempt: i32,
    pub status: JobStatus,
    pub result: Option<serde_json::Value>,
    pub error: Option<String>,
}

impl Finish {
    pub fn succeeded(id: &str, attempt: i32, result: serde_json::Value) -> Self {
        Self { id: id.to_owned(), attempt, status: JobStatus::Succeeded, result: Some(result), error: None }
    }

    /// An attempt stopped by an operator's cancel.
    pub fn cancelled(id: &str, attempt: i32) -> Self {
        Self { id: id.to_owned(), attempt, status: JobStatus::Cancelled, result: None, error: None }
    }

    /// A `failed` (waiting for its retry) or `dead` attempt.
    pub fn errored(id: &str, attempt: i32, status: JobStatus, error: String) -> Self {
        Self { id: id.to_owned(), attempt, status, result: None, error: Some(error) }
    }

    /// The attempt log's events for it: none for a run that never had an
    /// attempt (attempt 0: cancelled or refused before it started).
    pub fn events(&self, at: DateTime<Utc>) -> Vec<serde_json::Value> {
        if self.attempt < 1 {
            return Vec::new();
        }
        vec![ended_event(self.attempt, self.status.as_str(), at, self.error.as_deref())]
    }
}

/// Records the end of an attempt.
pub async fn finish<C: ConnectionTrait>(db: &C, finish: &Finish, now: DateTime<Utc>) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    // A failed attempt waits for its retry: no finish time; a missing result keeps the stored one.
    let sql = format!(
        "UPDATE job_runs SET status = $2, error = $3, result = COALESCE($4, result), \
         finished_at = CASE WHEN $2 = 'failed' THEN finished_at ELSE $5 END, queue_key = NULL, \
         attempt_log = {log} WHERE id = $1",
        log = append_log(backend, "attempt_log", "$6")
    );
    let values = vec![
        finish.id.as_str().into(),
        finish.status.as_str().into(),
        finish.error.clone().into(),
        Value::Json(finish.result.clone().map(Box::new)),
        now.into(),
        log_value(&finish.events(now)),
    ];
    db.execute_raw(statement(backend, &sql, values)).await?;
    Ok(())
}

/// Hands a running attempt back (its worker is shutting down): the run
/// waits again, and its next delivery claims the same attempt.
pub async fn release<C: ConnectionTrait>(db: &C, id: &str, attempt: i32, now: DateTime<Utc>) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let sql = format!(
        "UPDATE job_runs SET status = 'queued', attempts = $2 - 1, attempt_log = {log} \
         WHERE id = $1 AND status = 'running' AND attempts = $2",
        log = append_log(backend, "attempt_log", "$3")
    );
    let values = vec![id.into(), attempt.into(), log_value(&[ended_event(attempt, "handed_back", now, None)])];
    db.execute_raw(statement(backend, &sql, values)).await?;
    Ok(())
}

/// Stores what a running job reports.
pub async fn progress<C: ConnectionTrait>(db: &C, id: &str, value: &serde_json::Value) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let values = vec![id.into(), Value::Json(Some(Box::new(value.clone())))];
    db.execute_raw(statement(
        backend,
        "UPDATE job_runs SET progress_report = $2 WHERE id = $1 AND status = 'running'",
        values,
    ))
    .await?;
    Ok(())
}

/// What a cancel did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancelled {
    /// It was waiting: it is `cancelled` and will never start.
    Now,
    /// It is running: it stops at its next safe point.
    Requested,
    /// It had finished already (with this status).
    AlreadyFinished(JobStatus),
    NotFound,
}

/// Cancels a run: a waiting one at once, a running one at its next safe point.
pub async fn cancel<C: ConnectionTrait>(db: &C, id: &str, now: DateTime<Utc>) -> Result<Cancelled, DbErr> {
    let backend = db.get_database_backend();
    let waiting = "UPDATE job_runs SET status = 'cancelled', finished_at = $2, queue_key = NULL \
                   WHERE id = $1 AND status IN ('queued', 'scheduled', 'failed')";
    if db.execute_raw(statement(backend, waiting, vec![id.into(), now.into()])).await?.rows_affected() == 1 {
        return Ok(Cancelled::Now);
    }
    let running = "UPDATE job_runs SET cancel_requested_at = COALESCE(cancel_requested_at, $2) \
                   WHERE id = $1 AND status = 'running'";
    if db.execute_raw(statement(backend, running, vec![id.into(), now.into()])).await?.rows_affected() == 1 {
        return Ok(Cancelled::Requested);
    }
    Ok(match job_run::Entity::find_by_id(id.to_owned()).one(db).await? {
        Some(run) if run.status == JobStatus::Running => Cancelled::Requested,
        Some(run) if run.status.is_waiting() => Cancelled::Now,
        Some(run) => Cancelled::AlreadyFinished(run.status),
        None => Cancelled::NotFound,
    })
}

/// Whether a cancel was asked of the running run.
pub async fn cancel_requested<C: ConnectionTrait>(db: &C, id: &str) -> Result<bool, DbErr> {
    use sea_orm::QuerySelect;
    let requested: Option<Option<DateTime<Utc>>> = job_run::Entity::find_by_id(id.to_owned())
        .select_only()
        .column(job_run::Column::CancelRequestedAt)
        .into_tuple()
        .one(db)
        .await?;
    Ok(requested.flatten().is_some())
}

/// Puts a failed or dead run back to `queued` for a manual retry; returns
/// the run as the retry left it (its next attempt is `attempts + 1`), or
/// `None` when the run is not retryable. A failed run's own retry is still on the queue: the
/// manual one takes the attempt after it, so that one is refused on arrival.
pub async fn requeue<C: ConnectionTrait>(db: &C, id: &str) -> Result<Option<job_run::Model>, DbErr> {
    let Some(run) = job_run::Entity::find_by_id(id.to_owned()).one(db).await? else { return Ok(None) };
    let skipped = match run.status {
        JobStatus::Failed => 1,
        JobStatus::Dead => 0,
        _ => return Ok(None),
    };
    let held = run.attempts + skipped;
    let max_attempts = held + run.max_attempts.max(1);
    let updated = job_run::Entity::update_many()
        .col_expr(job_run::Column::Status, sea_orm::sea_query::Expr::value(JobStatus::Queued.as_str()))
        .col_expr(job_run::Column::Attempts, sea_orm::sea_query::Expr::value(held))
        .col_expr(job_run::Column::MaxAttempts, sea_orm::sea_query::Expr::value(max_attempts))
        .col_expr(job_run::Column::FinishedAt, sea_orm::sea_query::Expr::value(Option::<DateTime<Utc>>::None))
        .filter(job_run::Column::Id.eq(id))
        .filter(job_run::Column::Status.eq(run.status))
        .filter(job_run::Column::Attempts.eq(run.attempts))
        .exec(db)
        .await?;
    let requeued = job_run::Model { status: JobStatus::Queued, attempts: held, max_attempts, finished_at: None, ..run };
    Ok((updated.rows_affected == 1).then_some(requeued))
}

/// Dead-letters a task that cannot be read: its run ends `dead` with the
/// reason (unless it already finished); a run id that cannot be read — or
/// names no run — gets a row of its own. Answers the run id written.
pub async fn dead_letter<C: ConnectionTrait>(
    db: &C,
    run_id: Option<&str>,
    kind: Option<&str>,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<String, DbErr> {
    let error = format!("undecodable: {reason}");
    if let Some(id) = run_id {
        let backend = db.get_database_backend();
        let sql = "UPDATE job_runs SET status = 'dead', error = $2, finished_at = $3, queue_key = NULL \
                   WHERE id = $1 AND status NOT IN ('succeeded', 'dead', 'cancelled')";
        db.execute_raw(statement(backend, sql, vec![id.into(), error.clone().into(), now.into()])).await?;
        if job_run::Entity::find_by_id(id.to_owned()).one(db).await?.is_some() {
            return Ok(id.to_owned());
        }
    }
    let id = crate::jobs::enqueue::new_run_id();
    let kind = kind.filter(|k| k.len() <= 64 && k.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
    let row = job_run::ActiveModel {
        id: Set(id.clone()),
        kind: Set(kind.unwrap_or("undecodable").to_owned()),
        args: Set(json!({ "task_run_id": run_id })),
        status: Set(JobStatus::Dead),
        attempts: Set(0),
        max_attempts: Set(0),
        progress: Set(None),
        result: Set(None),
        error: Set(Some(error)),
        enqueued_by: Set(None),
        enqueued_at: Set(now),
        started_at: Set(None),
        finished_at: Set(Some(now)),
        idempotency_key: Set(None),
        attempt_log: Set(None),
        run_at: Set(None),
        cancel_requested_at: Set(None),
        queue_key: Set(None),
    };
    row.insert(db).await?;
    Ok(id)
}

/// Deletes succeeded, dead and cancelled runs that finished before
/// `before`, a chunk at a time so no statement holds locks for long;
/// returns how many went. Waiting and running runs are never touched.
pub async fn prune_finished<C: ConnectionTrait>(db: &C, before: chrono::DateTime<Utc>) -> Result<u64, DbErr> {
    use sea_orm::QuerySelect;
    const CHUNK: u64 = 5_000;
    let mut deleted = 0;
    loop {
        let ids: Vec<String> = job_run::Entity::find()
            .select_only()
            .column(job_run::Column::Id)
            .filter(job_run::Column::Status.is_in([JobStatus::Succeeded, JobStatus::Dead, JobStatus::Cancelled]))
            .filter(job_run::Column::FinishedAt.lt(before))
            .limit(CHUNK)
            .into_tuple()
            .all(db)
            .await?;
        if ids.is_empty() {
            return Ok(deleted);
        }
        deleted += job_run::Entity::delete_many().filter(job_run::Column::Id.is_in(ids)).exec(db).await?.rows_affected;
    }
}
