//! Job runs as the ledger knows them.

use chrono::{DateTime, Utc};
use entity::{JobStatus, job_run};
use poem_openapi::Object;

/// A job run as the ledger knows it.
#[derive(Debug, Object)]
pub struct JobRunView {
    pub id: String,
    pub kind: String,
    pub args: serde_json::Value,
    pub status: JobStatus,
    pub attempts: i32,
    pub max_attempts: i32,
    #[oai(nullable)]
    pub progress: Option<i32>,
    #[oai(nullable)]
    pub result: Option<serde_json::Value>,
    #[oai(nullable)]
    pub error: Option<String>,
    #[oai(nullable)]
    pub enqueued_by: Option<i64>,
    pub enqueued_at: DateTime<Utc>,
    #[oai(nullable)]
    pub started_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<job_run::Model> for JobRunView {
    fn from(r: job_run::Model) -> Self {
        Self {
            id: r.id,
            kind: r.kind,
            args: r.args,
            status: r.status,
            attempts: r.attempts,
            max_attempts: r.max_attempts,
            progress: r.progress,
            result: r.result,
            error: r.error,
            enqueued_by: r.enqueued_by,
            enqueued_at: r.enqueued_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
        }
    }
}
