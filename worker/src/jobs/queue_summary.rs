//! What the ledger says about each job kind: runs by status, the age of the
//! oldest queued run, the last success. Feeds `GET /api/queues` and the
//! queue gauges of `/metrics` (computed at scrape time, so they are exact
//! whichever process ran the jobs).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use entity::{JobStatus, job_run};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, ExprTrait, QueryFilter, QuerySelect};

/// One kind's runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KindSummary {
    pub kind: String,
    pub queued: u64,
    /// Waiting for their `run_at`.
    pub scheduled: u64,
    pub running: u64,
    /// Last attempt failed, retry pending (status `failed`).
    pub retrying: u64,
    pub succeeded: u64,
    pub dead: u64,
    pub cancelled: u64,
    pub oldest_queued_at: Option<DateTime<Utc>>,
    pub last_succeeded_at: Option<DateTime<Utc>>,
}

impl KindSummary {
    fn new(kind: &str) -> Self {
        Self { kind: kind.to_owned(), ..Default::default() }
    }

    /// Seconds the oldest queued run has waited.
    pub fn oldest_queued_age_s(&self, now: DateTime<Utc>) -> Option<i64> {
        self.oldest_queued_at.map(|at| Ord::max((now - at).num_seconds(), 0))
    }
}

/// Every known kind (zeros included) plus any other kind the ledger holds.
pub async fn summarize<C: ConnectionTrait>(db: &C) -> Result<Vec<KindSummary>, DbErr> {
    let counts: Vec<(String, JobStatus, i64)> = job_run::Entity::find()
        .select_only()
        .column(job_run::Column::Kind)
        .column(job_run::Column::Status)
        .column_as(Expr::col(job_run::Column::Id).count(), "n")
        .group_by(job_run::Column::Kind)
        .group_by(job_run::Column::Status)
        .into_tuple()
        .all(db)
        .await?;
    let oldest = first_time_by_kind(db, JobStatus::Queued, Expr::col(job_run::Column::EnqueuedAt).min()).await?;
    let last_success =
        first_time_by_kind(db, JobStatus::Succeeded, Expr::col(job_run::Column::FinishedAt).max()).await?;

    let mut by_kind: BTreeMap<String, KindSummary> =
        crate::jobs::KINDS.iter().map(|k| ((*k).to_owned(), KindSummary::new(k))).collect();
    for (kind, status, n) in counts {
        let s = by_kind.entry(kind.clone()).or_insert_with(|| KindSummary::new(&kind));
        let n = u64::try_from(n).unwrap_or(0);
        match status {
            JobStatus::Queued => s.queued += n,
            JobStatus::Running => s.running += n,
            JobStatus::Failed => s.retrying += n,
            JobStatus::Succeeded => s.succeeded += n,
            JobStatus::Dead => s.dead += n,
            JobStatus::Scheduled => s.scheduled += n,
            JobStatus::Cancelled => s.cancelled += n,
        }
    }
    for (kind, at) in oldest {
        if let Some(s) = by_kind.get_mut(&kind) {
            s.oldest_queued_at = at;
        }
    }
    for (kind, at) in last_success {
        if let Some(s) = by_kind.get_mut(&kind) {
            s.last_succeeded_at = at;
        }
    }
    Ok(by_kind.into_values().collect())
}

/// `aggregate` of a time column per kind over runs in `status`.
async fn first_time_by_kind<C: ConnectionTrait>(
    db: &C,
    status: JobStatus,
    aggregate: Expr,
) -> Result<Vec<(String, Option<DateTime<Utc>>)>, DbErr> {
    job_run::Entity::find()
        .select_only()
        .column(job_run::Column::Kind)
        .column_as(aggregate, "at")
        .filter(job_run::Column::Status.eq(status))
        .group_by(job_run::Column::Kind)
        .into_tuple()
        .all(db)
        .await
}

/// Sets the queue gauges: `dtx_queue_depth{kind,status}`,
/// `dtx_queue_oldest_age_seconds{kind}` (0 when nothing waits) and
/// `dtx_job_last_success_timestamp_seconds{kind}` (absent before a first success).
pub fn record_gauges(summaries: &[KindSummary], now: DateTime<Utc>) {
    for s in summaries {
        let depths = [
            ("queued", s.queued),
            ("scheduled", s.scheduled),
            ("running", s.running),
            ("retrying", s.retrying),
            ("dead", s.dead),
        ];
        for (status, n) in depths {
            metrics::gauge!("dtx_queue_depth", "kind" => s.kind.clone(), "status" => status).set(n as f64);
        }
        let age = s.oldest_queued_age_s(now).unwrap_or(0);
        metrics::gauge!("dtx_queue_oldest_age_seconds", "kind" => s.kind.clone()).set(age as f64);
        if let Some(at) = s.last_succeeded_at {
            metrics::gauge!("dtx_job_last_success_timestamp_seconds", "kind" => s.kind.clone())
                .set(at.timestamp() as f64);
        }
    }
}
