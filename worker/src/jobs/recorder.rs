//! How a process writes the job ledger: in embedded mode straight to the
//! database, group-committed ([`LedgerWriter`]); in distributed mode through
//! the Redis journal next to the queue ([`Journal`]). The enqueuer and the
//! runner see one interface.

use entity::{JobStatus, job_run};
use sea_orm::DbErr;

use crate::jobs::group_commit::{LedgerWriter, NewRun};
use crate::jobs::journal::Journal;
use crate::jobs::ledger::Finish;

#[derive(Clone)]
pub enum Recorder {
    Direct(LedgerWriter),
    Journal(Journal),
}

impl Recorder {
    /// Writes the `queued` row of a new run; with an idempotency key used
    /// before, the earlier run and `false`.
    pub async fn insert(&self, run: NewRun) -> Result<(job_run::Model, bool), DbErr> {
        match self {
            Self::Direct(writer) => writer.insert(run).await,
            Self::Journal(journal) => journal.insert(run).await,
        }
    }

    /// Claims attempt `attempt` of a run; `false` for a duplicate delivery.
    pub async fn claim(&self, id: &str, attempt: i32) -> Result<bool, DbErr> {
        match self {
            Self::Direct(writer) => writer.claim(id, attempt).await,
            Self::Journal(journal) => journal.claim(id, attempt).await,
        }
    }

    /// Records the end of an attempt.
    pub async fn finish(&self, finish: Finish) -> Result<(), DbErr> {
        match self {
            Self::Direct(writer) => writer.finish(finish).await,
            Self::Journal(journal) => journal.finish(finish).await,
        }
    }

    /// Returns once every write made before the call can be read back.
    pub async fn settle(&self) -> Result<(), DbErr> {
        match self {
            Self::Direct(_) => Ok(()),
            Self::Journal(journal) => journal.settle().await,
        }
    }

    /// A run was put back to `queued` in the database (a manual retry).
    pub async fn requeued(&self, id: &str, attempts: i32) -> Result<(), DbErr> {
        match self {
            Self::Direct(_) => Ok(()),
            Self::Journal(journal) => journal.seed(id, JobStatus::Queued, attempts).await,
        }
    }
}
