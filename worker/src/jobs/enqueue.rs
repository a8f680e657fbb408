//! Putting jobs on the queue, ledger first.

use std::time::Duration;

use entity::{JobStatus, job_run};
use sea_orm::DatabaseConnection;

use crate::infra::queue::{Queue, QueueError};
use crate::jobs::group_commit::{LedgerWriter, NewRun};
use crate::jobs::journal::Journal;
use crate::jobs::ledger::{self, Finish};
use crate::jobs::payload::{Envelope, Job};
use crate::jobs::queue_summary::{self, KindSummary};
use crate::jobs::recorder::Recorder;

/// Enqueues jobs: records the `queued` ledger row (through the process'
/// [`Recorder`]), then pushes the envelope.
#[derive(Clone)]
pub struct Enqueuer {
    pub db: DatabaseConnection,
    pub queue: Queue,
    /// The process's ledger recorder; the runner claims and finishes through it too.
    pub ledger: Recorder,
}

/// One job of a batch: the job and its optional idempotency key.
pub type BatchItem = (Job, Option<String>);

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

/// Logs an enqueue in the caller's span: ties a request id or a tick to the run id.
fn enqueued(run: &job_run::Model) {
    tracing::info!(run_id = %run.id, kind = %run.kind, "job enqueued");
}

impl Enqueuer {
    /// An enqueuer for `queue`, recording to `db`: through the journal next
    /// to a Redis queue, else straight to the database (needs a Tokio runtime).
    pub fn new(db: DatabaseConnection, queue: Queue) -> Self {
        let ledger = match &queue {
            Queue::Redis { conn, storage, .. } => {
                Recorder::Journal(Journal::start(conn.clone(), storage.get_config(), db.clone()))
            }
            _ => Recorder::Direct(LedgerWriter::start(db.clone())),
        };
        Self { db, queue, ledger }
    }

    /// A run as the ledger has it, including every write made before the call.
    pub async fn find_run(&self, id: &str) -> Result<Option<job_run::Model>, sea_orm::DbErr> {
        use sea_orm::EntityTrait;
        self.ledger.settle().await?;
        job_run::Entity::find_by_id(id.to_owned()).one(&self.db).await
    }

    /// Per kind: runs by state and their ages, including every write made before the call.
    pub async fn summary(&self) -> Result<Vec<KindSummary>, sea_orm::DbErr> {
        self.ledger.settle().await?;
        queue_summary::summarize(&self.db).await
    }

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
        let new = NewRun { id: new_run_id(), job: job.clone(), enqueued_by, idempotency_key };
        if let (Recorder::Journal(journal), None) = (&self.ledger, &new.idempotency_key) {
            // The record and the task go to Redis in one step: no run without its task.
            let run = journal.enqueue(new, delay).await?;
            enqueued(&run);
            return Ok((run, true));
        }
        let (run, fresh) = self.ledger.insert(new).await?;
        if fresh {
            self.push_first(&run, job, delay).await?;
        }
        Ok((run, fresh))
    }

    /// Enqueues many jobs at once, all in flight together: through the
    /// journal, batches of records and tasks in one script call each; in
    /// embedded mode, one group commit of the records, then the pushes.
    /// Idempotency keys are honoured per job; results are in input order.
    pub async fn enqueue_many(
        &self,
        jobs: Vec<BatchItem>,
        enqueued_by: Option<i64>,
    ) -> Result<Vec<(job_run::Model, bool)>, EnqueueError> {
        let enqueues = jobs.into_iter().map(|(job, key)| self.enqueue(job, enqueued_by, key));
        futures_util::future::join_all(enqueues).await.into_iter().collect()
    }

    /// Pushes attempt 1 of a freshly inserted run; if the queue refuses, the
    /// run is marked dead so the ledger never shows a job nobody will run.
    async fn push_first(&self, run: &job_run::Model, job: Job, delay: Duration) -> Result<(), EnqueueError> {
        let envelope = Envelope { run_id: run.id.clone(), attempt: 1, max_attempts: run.max_attempts, job };
        if let Err(err) = self.queue.push(envelope, delay).await {
            self.ledger.finish(Finish::errored(&run.id, JobStatus::Dead, err.to_string())).await?;
            return Err(err.into());
        }
        enqueued(run);
        Ok(())
    }

    /// Enqueues a failed or dead run again; `None` when it is neither.
    pub async fn retry(&self, run: &job_run::Model) -> Result<Option<()>, EnqueueError> {
        let Ok(job) = Job::parse(&run.kind, run.args.clone()) else { return Ok(None) };
        self.ledger.settle().await?;
        let Some((attempt, max_attempts)) = ledger::requeue(&self.db, &run.id).await? else { return Ok(None) };
        self.ledger.requeued(&run.id, attempt - 1).await?;
        self.queue.push(Envelope { run_id: run.id.clone(), attempt, max_attempts, job }, Duration::ZERO).await?;
        Ok(Some(()))
    }
}
