//! `job_runs`: the job ledger (SPEC §5), the same whatever queue runs the jobs.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::enums::JobStatus;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "job_runs")]
pub struct Model {
    /// The queue's task id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub kind: String,
    pub args: Json,
    pub status: JobStatus,
    pub attempts: i32,
    pub max_attempts: i32,
    pub progress: Option<i32>,
    pub result: Option<Json>,
    pub error: Option<String>,
    pub enqueued_by: Option<i64>,
    pub enqueued_at: DateTimeUtc,
    pub started_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
    #[sea_orm(unique)]
    pub idempotency_key: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
