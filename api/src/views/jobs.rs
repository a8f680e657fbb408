//! Job runs as the ledger knows them.

use chrono::{DateTime, Utc};
use entity::{JobStatus, job_run};
use poem_openapi::{Enum, Object};
use worker::jobs::payload::Lane;

/// The queue a run waits in: interactive work never waits behind bulk work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum JobLane {
    Interactive,
    Bulk,
}

impl From<Lane> for JobLane {
    fn from(lane: Lane) -> Self {
        match lane {
            Lane::Interactive => Self::Interactive,
            Lane::Bulk => Self::Bulk,
        }
    }
}

/// One try of a run.
#[derive(Debug, Object)]
pub struct AttemptView {
    /// The attempt number (a redelivered attempt appears once per try).
    pub attempt: i32,
    /// The worker that took it.
    #[oai(nullable)]
    pub worker: Option<String>,
    #[oai(nullable)]
    pub started_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub finished_at: Option<DateTime<Utc>>,
    /// `succeeded`, `failed`, `dead`, `cancelled` or `handed_back`; null while it runs.
    #[oai(nullable)]
    pub outcome: Option<String>,
    #[oai(nullable)]
    pub error: Option<String>,
}

/// A job run as the ledger knows it.
#[derive(Debug, Object)]
pub struct JobRunView {
    pub id: String,
    pub kind: String,
    pub args: serde_json::Value,
    pub status: JobStatus,
    pub lane: JobLane,
    pub attempts: i32,
    pub max_attempts: i32,
    /// What the running job last reported (a sync: `{"pages_fetched", "matches_stored"}`).
    #[oai(nullable)]
    pub progress: Option<serde_json::Value>,
    #[oai(nullable)]
    pub result: Option<serde_json::Value>,
    #[oai(nullable)]
    pub error: Option<String>,
    #[oai(nullable)]
    pub enqueued_by: Option<i64>,
    pub enqueued_at: DateTime<Utc>,
    /// When a `scheduled` run becomes due.
    #[oai(nullable)]
    pub run_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub started_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub finished_at: Option<DateTime<Utc>>,
    /// When a cancel was asked of the running run (it stops at its next safe point).
    #[oai(nullable)]
    pub cancel_requested_at: Option<DateTime<Utc>>,
    /// Every try, oldest first.
    pub attempt_history: Vec<AttemptView>,
    /// On an enqueue: true when the same kind already waited for the same
    /// league and this is that run (nothing new was queued).
    #[oai(skip_serializing_if_is_none)]
    pub deduplicated: Option<bool>,
}

impl From<job_run::Model> for JobRunView {
    fn from(r: job_run::Model) -> Self {
        let lane = match worker::jobs::Job::parse_stored(&r.kind, r.args.clone()) {
            Ok(job) => job.lane(),
            Err(_) => Lane::of_kind(&r.kind),
        };
        let attempt_history = worker::jobs::history::of_run(&r)
            .into_iter()
            .map(|a| AttemptView {
                attempt: a.attempt,
                worker: a.worker,
                started_at: a.started_at,
                finished_at: a.finished_at,
                outcome: a.outcome,
                error: a.error,
            })
            .collect();
        Self {
            id: r.id,
            kind: r.kind,
            args: r.args,
            status: r.status,
            lane: lane.into(),
            attempts: r.attempts,
            max_attempts: r.max_attempts,
            progress: r.progress,
            result: r.result,
            error: r.error,
            enqueued_by: r.enqueued_by,
            enqueued_at: r.enqueued_at,
            run_at: r.run_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
            cancel_requested_at: r.cancel_requested_at,
            attempt_history,
            deduplicated: None,
        }
    }
}
