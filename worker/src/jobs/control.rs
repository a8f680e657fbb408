//! Steering the job system (SPEC §21): cancel a run, retry or cancel runs
//! in bulk by filter, pause and resume a kind. The API, the dashboard and
//! the CLI call these; every process's worker pool follows pauses.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use entity::{JobStatus, job_kind_pause, job_run};
use futures_util::StreamExt;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Select, Set,
};

use crate::domain::{DomainError, DomainResult, Services};
use crate::jobs::enqueue::Enqueuer;
use crate::jobs::ledger::Cancelled;
use crate::jobs::payload::KINDS;

/// The bus channel that tells every process the paused kinds changed.
pub const PAUSES_CHANNEL: &str = "jobs:pauses";

/// The most runs one bulk action touches (SPEC §21).
pub const BULK_LIMIT: u64 = 10_000;

/// Bulk writes in flight at once.
const BULK_CONCURRENCY: usize = 32;

/// The kinds operators paused, as this process last read them (shared by
/// the worker pool's runners; refreshed every second and on every change).
#[derive(Clone, Default)]
pub struct PausedKinds(Arc<RwLock<HashSet<String>>>);

impl PausedKinds {
    pub fn contains(&self, kind: &str) -> bool {
        self.0.read().expect("paused kinds").contains(kind)
    }

    pub fn list(&self) -> Vec<String> {
        self.0.read().expect("paused kinds").iter().cloned().collect()
    }

    /// Reads the paused kinds again; answers them.
    pub async fn refresh(&self, db: &DatabaseConnection) -> Result<Vec<String>, DbErr> {
        let kinds = paused_kinds(db).await?;
        *self.0.write().expect("paused kinds") = kinds.iter().cloned().collect();
        Ok(kinds)
    }
}

/// Every paused kind.
pub async fn paused_kinds<C: ConnectionTrait>(db: &C) -> Result<Vec<String>, DbErr> {
    Ok(job_kind_pause::Entity::find().all(db).await?.into_iter().map(|p| p.kind).collect())
}

fn known_kind(kind: &str) -> DomainResult<()> {
    if KINDS.contains(&kind) { Ok(()) } else { Err(DomainError::NotFound("job kind")) }
}

/// Pauses a kind: no process starts its runs until it is resumed (runs
/// already running finish; enqueues are accepted and wait).
pub async fn pause(svc: &Services, kind: &str, by: Option<i64>) -> DomainResult<()> {
    known_kind(kind)?;
    let row =
        job_kind_pause::ActiveModel { kind: Set(kind.to_owned()), paused_at: Set(Utc::now()), paused_by: Set(by) };
    let inserted = job_kind_pause::Entity::insert(row)
        .on_conflict(sea_orm::sea_query::OnConflict::column(job_kind_pause::Column::Kind).do_nothing().to_owned())
        .exec_without_returning(&svc.db)
        .await?;
    if inserted > 0 {
        tracing::info!(kind, by, "job kind paused");
    }
    svc.bus.publish(PAUSES_CHANNEL, kind.to_owned()).await;
    Ok(())
}

/// Resumes a kind: its held runs become due at once.
pub async fn resume(svc: &Services, kind: &str) -> DomainResult<()> {
    known_kind(kind)?;
    let removed = job_kind_pause::Entity::delete_by_id(kind.to_owned()).exec(&svc.db).await?.rows_affected;
    if removed > 0 {
        tracing::info!(kind, "job kind resumed");
    }
    svc.bus.publish(PAUSES_CHANNEL, kind.to_owned()).await;
    if let Some(hold) = crate::infra::queue::Hold::paused(kind)
        && let Err(err) = svc.enqueuer.queue.release(&[hold]).await
    {
        // Every worker pool releases resumed kinds too, each second: nothing stays held.
        tracing::warn!(error = %err, "releasing a resumed kind's runs failed; the worker pools will");
    }
    Ok(())
}

/// Cancels a run (SPEC §21): a waiting one at once, a running one at its
/// next safe point; answers the run as it stands.
pub async fn cancel(enqueuer: &Enqueuer, id: &str) -> DomainResult<job_run::Model> {
    match enqueuer.ledger.cancel(id).await? {
        Cancelled::Now | Cancelled::Requested => {}
        Cancelled::AlreadyFinished(status) => {
            return Err(DomainError::conflict(
                "job_finished",
                format!("this run is {}; only waiting or running runs can be cancelled", status.as_str()),
            ));
        }
        Cancelled::NotFound => return Err(DomainError::NotFound("job")),
    }
    tracing::info!(run_id = id, "job cancelled");
    enqueuer.find_run(id).await?.ok_or(DomainError::NotFound("job"))
}

/// How long until a full sync of `steam_league` may be enqueued again, if a
/// full sync of it was enqueued less than `cooldown` ago (SPEC §24).
pub async fn full_sync_cooldown(
    enqueuer: &Enqueuer,
    steam_league: i64,
    cooldown: chrono::Duration,
    now: DateTime<Utc>,
) -> DomainResult<Option<chrono::Duration>> {
    enqueuer.ledger.settle().await?;
    let recent = job_run::Entity::find()
        .filter(job_run::Column::Kind.eq("sync_league_matches"))
        .filter(job_run::Column::EnqueuedAt.gt(now - cooldown))
        .order_by_desc(job_run::Column::EnqueuedAt)
        .all(&enqueuer.db)
        .await?;
    let full_of_league = |run: &job_run::Model| {
        matches!(
            crate::jobs::Job::parse_stored(&run.kind, run.args.clone()),
            Ok(crate::jobs::Job::SyncLeagueMatches(sync)) if sync.full && sync.steam_league_id == steam_league
        )
    };
    Ok(recent.iter().find(|run| full_of_league(run)).map(|last| cooldown - (now - last.enqueued_at)))
}

/// What a bulk action does to each run it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkAction {
    /// Failed and dead runs run again.
    Retry,
    /// Unfinished runs are cancelled.
    Cancel,
}

impl BulkAction {
    /// The statuses the action applies to.
    fn statuses(self) -> &'static [JobStatus] {
        match self {
            Self::Retry => &[JobStatus::Failed, JobStatus::Dead],
            Self::Cancel => &[JobStatus::Queued, JobStatus::Scheduled, JobStatus::Failed, JobStatus::Running],
        }
    }
}

/// Which runs a bulk action takes.
#[derive(Debug, Clone, Default)]
pub struct BulkFilter {
    pub kind: Option<String>,
    pub status: Option<JobStatus>,
    pub enqueued_after: Option<DateTime<Utc>>,
    pub enqueued_before: Option<DateTime<Utc>>,
}

/// How many runs a bulk action matched and how many it changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BulkOutcome {
    pub matched: u64,
    pub changed: u64,
}

fn matching(action: BulkAction, filter: &BulkFilter) -> Select<job_run::Entity> {
    let mut select = job_run::Entity::find().filter(job_run::Column::Status.is_in(action.statuses().iter().copied()));
    if let Some(kind) = &filter.kind {
        select = select.filter(job_run::Column::Kind.eq(kind.as_str()));
    }
    if let Some(status) = filter.status {
        select = select.filter(job_run::Column::Status.eq(status));
    }
    if let Some(after) = filter.enqueued_after {
        select = select.filter(job_run::Column::EnqueuedAt.gte(after));
    }
    if let Some(before) = filter.enqueued_before {
        select = select.filter(job_run::Column::EnqueuedAt.lt(before));
    }
    select
}

/// Retries or cancels every run the filter matches, at most
/// [`BULK_LIMIT`] (more is refused, and nothing changes).
pub async fn bulk(enqueuer: &Enqueuer, action: BulkAction, filter: &BulkFilter) -> DomainResult<BulkOutcome> {
    if let Some(kind) = &filter.kind
        && !KINDS.contains(&kind.as_str())
    {
        return Err(DomainError::invalid(
            "unknown_kind",
            format!("unknown job kind {kind:?}; one of: {}", KINDS.join(", ")),
        ));
    }
    enqueuer.ledger.settle().await?;
    let matched = matching(action, filter).count(&enqueuer.db).await?;
    if matched > BULK_LIMIT {
        return Err(DomainError::invalid(
            "too_many_runs",
            format!("the filter matches {matched} runs; a bulk action takes at most {BULK_LIMIT}: narrow it"),
        )
        .with_details(serde_json::json!({ "matched": matched, "limit": BULK_LIMIT })));
    }
    let runs =
        matching(action, filter).order_by_asc(job_run::Column::EnqueuedAt).limit(BULK_LIMIT).all(&enqueuer.db).await?;
    let changed: Vec<Result<bool, DomainError>> = futures_util::stream::iter(runs)
        .map(|run| async move {
            match action {
                BulkAction::Retry => Ok(enqueuer.retry(&run).await.map_err(enqueue_failure)?.is_some()),
                BulkAction::Cancel => {
                    Ok(matches!(enqueuer.ledger.cancel(&run.id).await?, Cancelled::Now | Cancelled::Requested))
                }
            }
        })
        .buffer_unordered(BULK_CONCURRENCY)
        .collect()
        .await;
    let mut outcome = BulkOutcome { matched, changed: 0 };
    for one in changed {
        outcome.changed += u64::from(one?);
    }
    tracing::info!(?action, matched, changed = outcome.changed, "bulk job action");
    Ok(outcome)
}

fn enqueue_failure(err: crate::jobs::enqueue::EnqueueError) -> DomainError {
    match err {
        crate::jobs::enqueue::EnqueueError::Db(db) => db.into(),
        crate::jobs::enqueue::EnqueueError::Queue(_) => DomainError::Unavailable("the job queue"),
    }
}
