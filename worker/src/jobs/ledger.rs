//! The job ledger (`job_runs`): written on enqueue and through every attempt,
//! so the API reads job state the same way whatever queue runs the jobs.

use chrono::Utc;
use entity::{JobStatus, job_run};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set};

use crate::jobs::payload::Job;

/// Writes the `queued` row of a new run. With an idempotency key already
/// used, returns the existing run and `false`.
pub async fn insert<C: ConnectionTrait>(
    db: &C,
    id: &str,
    job: &Job,
    enqueued_by: Option<i64>,
    idempotency_key: Option<String>,
) -> Result<(job_run::Model, bool), DbErr> {
    if let Some(key) = &idempotency_key
        && let Some(existing) = job_run::Entity::find().filter(job_run::Column::IdempotencyKey.eq(key)).one(db).await?
    {
        return Ok((existing, false));
    }
    let row = job_run::ActiveModel {
        id: Set(id.to_owned()),
        kind: Set(job.kind().to_owned()),
        args: Set(job.args()),
        status: Set(JobStatus::Queued),
        attempts: Set(0),
        max_attempts: Set(job.policy().max_attempts),
        progress: Set(None),
        result: Set(None),
        error: Set(None),
        enqueued_by: Set(enqueued_by),
        enqueued_at: Set(Utc::now()),
        started_at: Set(None),
        finished_at: Set(None),
        idempotency_key: Set(idempotency_key.clone()),
    };
    match row.insert(db).await {
        Ok(model) => Ok((model, true)),
        // Another replica inserted the same key between our check and insert.
        Err(err)
            if idempotency_key.is_some()
                && matches!(err.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_))) =>
        {
            let existing = job_run::Entity::find()
                .filter(job_run::Column::IdempotencyKey.eq(idempotency_key))
                .one(db)
                .await?
                .ok_or(err)?;
            Ok((existing, false))
        }
        Err(err) => Err(err),
    }
}

/// Claims attempt `attempt` of a run for execution. Refused (false) when the
/// run is finished or a later attempt exists — a duplicate delivery. The same
/// attempt may be claimed again: that is a redelivery after a worker died.
pub async fn claim<C: ConnectionTrait>(db: &C, id: &str, attempt: i32) -> Result<bool, DbErr> {
    let updated = job_run::Entity::update_many()
        .col_expr(job_run::Column::Status, Expr::value(JobStatus::Running.as_str()))
        .col_expr(job_run::Column::Attempts, Expr::value(attempt))
        .col_expr(job_run::Column::StartedAt, Expr::value(Utc::now()))
        .filter(job_run::Column::Id.eq(id))
        .filter(job_run::Column::Status.is_in([JobStatus::Queued, JobStatus::Failed, JobStatus::Running]))
        .filter(job_run::Column::Attempts.is_in([attempt - 1, attempt]))
        .exec(db)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// The end of an attempt, as the ledger records it.
#[derive(Debug, Clone)]
pub struct Finish {
    pub id: String,
    pub status: JobStatus,
    pub result: Option<serde_json::Value>,
    pub error: Option<String>,
}

impl Finish {
    pub fn succeeded(id: &str, result: serde_json::Value) -> Self {
        Self { id: id.to_owned(), status: JobStatus::Succeeded, result: Some(result), error: None }
    }

    /// A `failed` (waiting for its retry) or `dead` attempt.
    pub fn errored(id: &str, status: JobStatus, error: String) -> Self {
        Self { id: id.to_owned(), status, result: None, error: Some(error) }
    }
}

/// Records the end of an attempt.
pub async fn finish<C: ConnectionTrait>(db: &C, finish: Finish) -> Result<(), DbErr> {
    let Finish { id, status, result, error } = finish;
    let mut update = job_run::Entity::update_many()
        .col_expr(job_run::Column::Status, Expr::value(status.as_str()))
        .col_expr(job_run::Column::Error, Expr::value(error))
        .filter(job_run::Column::Id.eq(id));
    if status != JobStatus::Failed {
        update = update.col_expr(job_run::Column::FinishedAt, Expr::value(Utc::now()));
    }
    if let Some(result) = result {
        update = update.col_expr(job_run::Column::Result, Expr::value(result));
    }
    update.exec(db).await?;
    Ok(())
}

/// Puts a failed or dead run back to `queued` for a manual retry; returns
/// the attempt number to enqueue and the new attempt limit, or `None` when
/// the run is not retryable.
pub async fn requeue<C: ConnectionTrait>(db: &C, id: &str) -> Result<Option<(i32, i32)>, DbErr> {
    let Some(run) = job_run::Entity::find_by_id(id.to_owned()).one(db).await? else { return Ok(None) };
    if !matches!(run.status, JobStatus::Failed | JobStatus::Dead) {
        return Ok(None);
    }
    let updated = job_run::Entity::update_many()
        .col_expr(job_run::Column::Status, Expr::value(JobStatus::Queued.as_str()))
        .col_expr(job_run::Column::MaxAttempts, Expr::value(run.attempts + run.max_attempts.max(1)))
        .col_expr(job_run::Column::FinishedAt, Expr::value(Option::<chrono::DateTime<Utc>>::None))
        .filter(job_run::Column::Id.eq(id))
        .filter(job_run::Column::Status.eq(run.status))
        .filter(job_run::Column::Attempts.eq(run.attempts))
        .exec(db)
        .await?;
    Ok((updated.rows_affected == 1).then_some((run.attempts + 1, run.attempts + run.max_attempts.max(1))))
}

/// Deletes succeeded and dead runs that finished before `before`, a chunk
/// at a time so no statement holds locks for long; returns how many went.
/// Queued, running and retrying runs are never touched.
pub async fn prune_finished<C: ConnectionTrait>(db: &C, before: chrono::DateTime<Utc>) -> Result<u64, DbErr> {
    use sea_orm::QuerySelect;
    const CHUNK: u64 = 5_000;
    let mut deleted = 0;
    loop {
        let ids: Vec<String> = job_run::Entity::find()
            .select_only()
            .column(job_run::Column::Id)
            .filter(job_run::Column::Status.is_in([JobStatus::Succeeded, JobStatus::Dead]))
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
