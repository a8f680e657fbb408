//! Putting jobs on the queue, ledger first.

use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::{JobStatus, job_run};
use sea_orm::DatabaseConnection;

use crate::infra::queue::{Queue, QueueError};
use crate::jobs::group_commit::LedgerWriter;
use crate::jobs::journal::Journal;
use crate::jobs::ledger::{self, Finish, Inserted, NewRun};
use crate::jobs::payload::{Envelope, Job};
use crate::jobs::queue_summary::{self, KindSummary};
use crate::jobs::recorder::Recorder;

/// How far ahead a run may be scheduled (SPEC §21).
pub const MAX_RUN_AT_AHEAD: chrono::Duration = chrono::Duration::days(30);

/// The scheduler's idempotency keys begin with this; nobody else's may.
pub const CRON_KEY_PREFIX: &str = "cron:";

/// An idempotency key as the ledger stores it: scoped to whoever sent it, so
/// the same text from another caller is another key and never answers
/// someone else's run (SPEC §21, §24).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// A user's key. `cron:` keys are the scheduler's; control characters
    /// (a NUL, which PostgreSQL refuses) are refused too.
    pub fn of_user(user_id: i64, key: &str) -> Result<Self, KeyRefused> {
        if key.starts_with(CRON_KEY_PREFIX) {
            return Err(KeyRefused::Reserved);
        }
        if key.chars().any(char::is_control) {
            return Err(KeyRefused::ControlCharacter);
        }
        Ok(Self(format!("u{user_id}:{key}")))
    }

    /// The scheduler's key of one tick (`cron:<schedule>:…:<tick>`).
    pub fn cron(rest: &str) -> Self {
        Self(format!("{CRON_KEY_PREFIX}{rest}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a caller's idempotency key was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyRefused {
    #[error("idempotency keys beginning with `cron:` are reserved for the scheduler")]
    Reserved,
    #[error("an idempotency key may not contain control characters")]
    ControlCharacter,
}

/// Checks a requested `run_at`: in the future and at most 30 days ahead.
pub fn check_run_at(run_at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), String> {
    if run_at <= now {
        return Err(format!("run_at {run_at} is not in the future"));
    }
    if run_at > now + MAX_RUN_AT_AHEAD {
        return Err(format!("run_at may be at most {} days ahead", MAX_RUN_AT_AHEAD.num_days()));
    }
    Ok(())
}

/// A job to enqueue and how: by whom, under which key, when.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub job: Job,
    pub enqueued_by: Option<i64>,
    pub idempotency_key: Option<IdempotencyKey>,
    /// When it becomes due; `None` for now.
    pub run_at: Option<DateTime<Utc>>,
    /// The W3C `traceparent` of the request enqueuing it.
    pub traceparent: Option<String>,
}

impl NewJob {
    /// `job`, due now, by nobody in particular.
    pub fn new(job: Job) -> Self {
        Self { job, enqueued_by: None, idempotency_key: None, run_at: None, traceparent: None }
    }

    pub fn by(self, user_id: Option<i64>) -> Self {
        Self { enqueued_by: user_id, ..self }
    }

    pub fn key(self, key: Option<IdempotencyKey>) -> Self {
        Self { idempotency_key: key, ..self }
    }

    pub fn at(self, run_at: Option<DateTime<Utc>>) -> Self {
        Self { run_at, ..self }
    }

    /// Due after `delay`, in the second that time falls in (the queue counts
    /// whole seconds): it may arrive up to a second early, and waits out the
    /// rest itself if it must (a hero-draft timeout does).
    pub fn after(self, delay: Duration) -> Self {
        let run_at = (!delay.is_zero()).then(|| {
            let at = Utc::now() + delay;
            at - chrono::Duration::nanoseconds(i64::from(at.timestamp_subsec_nanos()))
        });
        self.at(run_at)
    }

    pub fn traced(self, traceparent: Option<String>) -> Self {
        Self { traceparent, ..self }
    }
}

/// Enqueues jobs: records the run (through the process' [`Recorder`]), then
/// pushes its first task to its lane.
#[derive(Clone)]
pub struct Enqueuer {
    pub db: DatabaseConnection,
    pub queue: Queue,
    /// The process's ledger recorder; the runner claims and finishes through it too.
    pub ledger: Recorder,
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

/// Logs an enqueue in the caller's span: ties a request id or a tick to the run id.
fn enqueued(run: &job_run::Model) {
    tracing::info!(run_id = %run.id, kind = %run.kind, "job enqueued");
}

impl Enqueuer {
    /// An enqueuer for `queue`, recording to `db`: through the journal next
    /// to a Redis queue, else straight to the database (needs a Tokio runtime).
    pub fn new(db: DatabaseConnection, queue: Queue) -> Self {
        let ledger = match &queue {
            Queue::Redis { conn, enqueues, configs, .. } => {
                Recorder::Journal(Journal::start(conn.clone(), enqueues.clone(), configs, db.clone()))
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

    /// Enqueues a job. A used idempotency key answers the earlier run
    /// (`Replayed`); a sync, retry or stats run of a league that is already
    /// waiting answers that run (`Deduplicated`); nothing is pushed then.
    pub async fn enqueue(&self, new: NewJob) -> Result<(job_run::Model, Inserted), EnqueueError> {
        if matches!(self.queue, Queue::Unavailable) {
            return Err(QueueError::Unavailable.into());
        }
        let NewJob { job, enqueued_by, idempotency_key, run_at, traceparent } = new;
        // The request's (or job's) trace travels with the run.
        let traceparent = traceparent.or_else(crate::runtime::telemetry::current_traceparent);
        let run = NewRun { id: new_run_id(), job, enqueued_by, idempotency_key: idempotency_key.map(|k| k.0), run_at };
        if let (Recorder::Journal(journal), false) = (&self.ledger, run.is_keyed()) {
            // The record and the task go to Redis in one step: no run without its task.
            let row = journal.enqueue(run, traceparent).await?;
            enqueued(&row);
            return Ok((row, Inserted::Fresh));
        }
        let job = run.job.clone();
        let (row, inserted) = self.ledger.insert(run).await?;
        if inserted == Inserted::Fresh {
            self.push_first(&row, job, traceparent).await?;
        }
        Ok((row, inserted))
    }

    /// Enqueues many jobs at once, all in flight together: through the
    /// journal, batches of records and tasks in one script call each; in
    /// embedded mode, one group commit of the records, then the pushes.
    /// Keys are honoured per job; results are in input order.
    pub async fn enqueue_many(&self, jobs: Vec<NewJob>) -> Result<Vec<(job_run::Model, Inserted)>, EnqueueError> {
        let enqueues = jobs.into_iter().map(|new| self.enqueue(new));
        futures_util::future::join_all(enqueues).await.into_iter().collect()
    }

    /// Pushes attempt 1 of a freshly inserted run; if the queue refuses, the
    /// run is marked dead so the ledger never shows a job nobody will run.
    async fn push_first(
        &self,
        run: &job_run::Model,
        job: Job,
        traceparent: Option<String>,
    ) -> Result<(), EnqueueError> {
        let lane = job.lane();
        let envelope = Envelope::new(run.id.clone(), 1, run.max_attempts, job, traceparent);
        if let Err(err) = self.queue.push(lane, envelope_value(&envelope), run.run_at).await {
            self.ledger.finish(Finish::errored(&run.id, 0, JobStatus::Dead, err.to_string())).await?;
            return Err(err.into());
        }
        enqueued(run);
        Ok(())
    }

    /// Enqueues a failed or dead run again and answers it as the retry left
    /// it (`queued`: a worker may start it before the caller reads it back);
    /// `None` when it is neither failed nor dead (or its arguments no longer
    /// parse).
    pub async fn retry(&self, run: &job_run::Model) -> Result<Option<job_run::Model>, EnqueueError> {
        let Ok(job) = Job::parse_stored(&run.kind, run.args.clone()) else { return Ok(None) };
        self.ledger.settle().await?;
        let Some(requeued) = ledger::requeue(&self.db, &run.id).await? else { return Ok(None) };
        self.ledger.requeued(&run.id, requeued.attempts).await?;
        let lane = job.lane();
        let envelope = Envelope::new(run.id.clone(), requeued.attempts + 1, requeued.max_attempts, job, None);
        self.queue.push(lane, envelope_value(&envelope), None).await?;
        Ok(Some(requeued))
    }
}

/// An envelope as the queue takes it.
pub fn envelope_value(envelope: &Envelope) -> serde_json::Value {
    serde_json::to_value(envelope).expect("envelopes serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_scoped_to_their_caller_and_cron_is_reserved() {
        let mine = IdempotencyKey::of_user(7, "sync-night-1").unwrap();
        let theirs = IdempotencyKey::of_user(8, "sync-night-1").unwrap();
        assert_ne!(mine, theirs, "the same text from another caller is another key");
        assert_eq!(mine.as_str(), "u7:sync-night-1");
        assert_eq!(IdempotencyKey::of_user(7, "cron:sync_league_matches:1:2"), Err(KeyRefused::Reserved));
        assert_eq!(IdempotencyKey::of_user(7, "a\u{0}b"), Err(KeyRefused::ControlCharacter));
        assert_ne!(IdempotencyKey::cron("x:1").as_str(), IdempotencyKey::of_user(7, "x:1").unwrap().as_str());
    }

    #[test]
    fn run_at_is_future_and_at_most_thirty_days_ahead() {
        let now = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 12, 6, 12, 0, 0).unwrap();
        assert!(check_run_at(now - chrono::Duration::seconds(1), now).unwrap_err().contains("not in the future"));
        assert!(check_run_at(now, now).is_err());
        assert!(check_run_at(now + chrono::Duration::seconds(1), now).is_ok());
        assert!(check_run_at(now + chrono::Duration::days(30), now).is_ok());
        assert!(check_run_at(now + chrono::Duration::days(30) + chrono::Duration::seconds(1), now).is_err());
    }
}
