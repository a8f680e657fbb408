//! `job_runs`: the job ledger (SPEC §5, §21), the same whatever queue runs the jobs.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::enums::JobStatus;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "job_runs")]
pub struct Model {
    /// The run id (a lowercase ULID); every attempt's task carries it.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub kind: String,
    pub args: Json,
    pub status: JobStatus,
    pub attempts: i32,
    pub max_attempts: i32,
    /// What a running job last reported (a sync: pages fetched, matches stored).
    #[sea_orm(column_name = "progress_report")]
    pub progress: Option<Json>,
    pub result: Option<Json>,
    pub error: Option<String>,
    pub enqueued_by: Option<i64>,
    pub enqueued_at: DateTimeUtc,
    pub started_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
    /// The caller's key, scoped to the caller (`u<user id>:<key>`, `cron:…`).
    #[sea_orm(unique)]
    pub idempotency_key: Option<String>,
    /// One event per claim (`{"attempt", "worker", "started_at"}`) and per end
    /// of an attempt (`{"attempt", "outcome", "finished_at", "error"?}`).
    pub attempt_log: Option<Json>,
    /// When a `scheduled` run becomes due.
    pub run_at: Option<DateTimeUtc>,
    /// A cancel asked of the running attempt (it stops at its next safe point).
    pub cancel_requested_at: Option<DateTimeUtc>,
    /// The kind's waiting place for one league (`sync_league_matches:<steam id>`),
    /// held while the run waits: a second enqueue of the same returns this run.
    #[sea_orm(unique)]
    pub queue_key: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
