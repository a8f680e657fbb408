//! Putting jobs on the queue, ledger first.

use std::time::Duration;

use entity::{JobStatus, job_run};
use sea_orm::DatabaseConnection;

use crate::infra::queue::{Queue, QueueError};
use crate::jobs::ledger;
use crate::jobs::payload::{Envelope, Job};

/// Enqueues jobs: writes the `queued` ledger row, then pushes the envelope.
#[derive(Clone)]
pub struct Enqueuer {
    pub db: DatabaseConnection,
    pub queue: Queue,
}

#[derive(Debug, thiserror::Error)]
pub enum EnqueueError {
    #[error(transparent)]
    Db(#[from] sea_orm::DbErr),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// A fresh, sortable run id.
pub fn new_run_id() -> String {
    ulid::Ulid::generate().to_string().to_lowercase()
}

impl Enqueuer {
    /// Enqueues `job`. With an `idempotency_key` that was used before, nothing
    /// is pushed and the earlier run is returned (`false`).
    pub async fn enqueue(
        &self,
        job: Job,
        enqueued_by: Option<i64>,
        idempotency_key: Option<String>,
    ) -> Result<(job_run::Model, bool), EnqueueError> {
        self.enqueue_after(job, enqueued_by, idempotency_key, Duration::ZERO).await
    }

    pub async fn enqueue_after(
        &self,
        job: Job,
        enqueued_by: Option<i64>,
        idempotency_key: Option<String>,
        delay: Duration,
    ) -> Result<(job_run::Model, bool), EnqueueError> {
        if matches!(self.queue, Queue::Unavailable) {
            return Err(QueueError::Unavailable.into());
        }
        let (run, fresh) = ledger::insert(&self.db, &new_run_id(), &job, enqueued_by, idempotency_key).await?;
        if fresh {
            let envelope = Envelope { run_id: run.id.clone(), attempt: 1, max_attempts: run.max_attempts, job };
            if let Err(err) = self.queue.push(envelope, delay).await {
                ledger::finish(&self.db, &run.id, JobStatus::Dead, None, Some(err.to_string())).await?;
                return Err(err.into());
            }
            // In the caller's span: ties a request id or a tick to the run id.
            tracing::info!(run_id = %run.id, kind = %run.kind, "job enqueued");
        }
        Ok((run, fresh))
    }

    /// Enqueues a failed or dead run again; `None` when it is neither.
    pub async fn retry(&self, run: &job_run::Model) -> Result<Option<()>, EnqueueError> {
        let Ok(job) = Job::parse(&run.kind, run.args.clone()) else { return Ok(None) };
        let Some((attempt, max_attempts)) = ledger::requeue(&self.db, &run.id).await? else { return Ok(None) };
        self.queue.push(Envelope { run_id: run.id.clone(), attempt, max_attempts, job }, Duration::ZERO).await?;
        Ok(Some(()))
    }
}
