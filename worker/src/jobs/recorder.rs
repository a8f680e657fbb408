//! How a process writes the job ledger: in embedded mode straight to the
//! database, group-committed ([`LedgerWriter`]); in distributed mode through
//! the Redis journal next to the queue ([`Journal`]). The enqueuer, the
//! runner and job control see one interface.

use chrono::Utc;
use entity::{JobStatus, job_run};
use sea_orm::{DatabaseConnection, DbErr};

use crate::infra::queue::InFlight;
use crate::jobs::group_commit::{Claim, LedgerWriter};
use crate::jobs::journal::{ClaimOutcome, Journal};
use crate::jobs::ledger::{self, Cancelled, Finish, Inserted, NewRun};

#[derive(Clone)]
pub enum Recorder {
    Direct(LedgerWriter),
    Journal(Journal),
}

impl Recorder {
    /// Writes the row of a new run; with a key used before, the earlier
    /// run (see [`ledger::insert`]).
    pub async fn insert(&self, run: NewRun) -> Result<(job_run::Model, Inserted), DbErr> {
        match self {
            Self::Direct(writer) => writer.insert(run).await,
            Self::Journal(journal) => journal.insert(run).await,
        }
    }

    /// Claims an attempt (the rule of [`ledger`]).
    pub async fn claim(&self, claim: Claim) -> Result<ClaimOutcome, DbErr> {
        match self {
            Self::Direct(writer) => {
                Ok(if writer.claim(claim).await? { ClaimOutcome::Claimed } else { ClaimOutcome::Refused })
            }
            Self::Journal(journal) => journal.claim(&claim).await,
        }
    }

    /// Records the end of an attempt.
    pub async fn finish(&self, finish: Finish) -> Result<(), DbErr> {
        self.finish_acknowledging(finish, None).await
    }

    /// Records the end of an attempt; the journal also acknowledges its
    /// `delivery` in the same step (embedded, apalis acknowledges).
    pub async fn finish_acknowledging(&self, finish: Finish, delivery: Option<&InFlight>) -> Result<(), DbErr> {
        match self {
            Self::Direct(writer) => writer.finish(finish).await,
            Self::Journal(journal) => journal.finish(finish, delivery).await,
        }
    }

    /// Hands a running attempt back: the run waits again for the same
    /// attempt (the journal puts its `delivery`'s task back in the same step).
    pub async fn release(&self, id: &str, attempt: i32, delivery: Option<&InFlight>) -> Result<(), DbErr> {
        match self {
            Self::Direct(writer) => ledger::release(writer.db(), id, attempt, Utc::now()).await,
            Self::Journal(journal) => journal.release(id, attempt, delivery).await,
        }
    }

    /// Stores what a running job reports.
    pub async fn progress(&self, id: &str, progress: serde_json::Value) -> Result<(), DbErr> {
        match self {
            Self::Direct(writer) => ledger::progress(writer.db(), id, &progress).await,
            Self::Journal(journal) => journal.progress(id, progress).await,
        }
    }

    /// Cancels a run: a waiting one at once, a running one at its next safe point.
    pub async fn cancel(&self, id: &str) -> Result<Cancelled, DbErr> {
        match self {
            Self::Direct(writer) => ledger::cancel(writer.db(), id, Utc::now()).await,
            Self::Journal(journal) => journal.cancel(id).await,
        }
    }

    /// Whether a cancel was asked of the running run.
    pub async fn cancel_requested(&self, id: &str) -> Result<bool, DbErr> {
        match self {
            Self::Direct(writer) => ledger::cancel_requested(writer.db(), id).await,
            Self::Journal(journal) => journal.cancel_requested(id).await,
        }
    }

    /// Returns once every write made before the call can be read back.
    /// Ledger records in Redis not yet written to the database (distributed
    /// mode; `None` when there is no journal or Redis does not answer).
    pub async fn backlog(&self) -> Option<u64> {
        match self {
            Self::Direct(_) => None,
            Self::Journal(journal) => journal.backlog().await,
        }
    }

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

    /// Dead-letters a task that cannot be read (see [`ledger::dead_letter`]);
    /// answers the run id it wrote.
    pub async fn dead_letter(
        &self,
        db: &DatabaseConnection,
        run_id: Option<&str>,
        kind: Option<&str>,
        reason: &str,
    ) -> Result<String, DbErr> {
        self.settle().await?;
        let id = ledger::dead_letter(db, run_id, kind, reason, Utc::now()).await?;
        if let Self::Journal(journal) = self {
            // A later delivery of the same task is refused by its state.
            journal.seed(&id, JobStatus::Dead, 0).await?;
        }
        Ok(id)
    }
}
