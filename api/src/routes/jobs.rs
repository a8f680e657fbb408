//! `/api/jobs`, `/api/queues`, `/api/schedules` (staff): enqueue, read and
//! retry jobs through the ledger, whatever queue backend runs them.

use chrono::{DateTime, Utc};
use entity::{JobStatus, job_run};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use worker::jobs::Job;
use worker::jobs::control::{self, BulkAction, BulkFilter};
use worker::jobs::enqueue::{EnqueueError, IdempotencyKey, KeyRefused, NewJob};
use worker::jobs::ledger::Inserted;
use worker::jobs::payload::Lane;

use crate::auth::Session;
use crate::error::{ApiError, ApiResult};
use crate::pagination::{Page, PageRequest};
use crate::routes::Tag;
use crate::state::AppState;
use crate::types::Text;
use crate::views::jobs::{JobLane, JobRunView};
use worker::domain::leagues::Scope;

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct JobRequest {
    /// One of the job kinds (SPEC §5).
    #[oai(validator(max_length = 64))]
    pub kind: Text,
    /// The kind's arguments; `{}` when omitted.
    pub args: Option<serde_json::Value>,
    /// Enqueue once per key: a key you used before answers with your earlier
    /// run (keys are yours alone; `cron:` keys are the scheduler's: 422 `reserved_key`).
    #[oai(validator(min_length = 1, max_length = 200))]
    pub idempotency_key: Option<Text>,
    /// Run it later (RFC 3339, in the future, at most 30 days ahead); the run is
    /// `scheduled` until then.
    pub run_at: Option<DateTime<Utc>>,
}

/// Up to 1 000 jobs enqueued together (staff).
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct JobBatch {
    #[oai(validator(min_items = 1, max_items = 1000))]
    pub jobs: Vec<JobRequest>,
}

#[derive(Debug, Object)]
pub struct JobBatchView {
    /// One run per job, in the order given (an earlier run for a reused idempotency key).
    pub runs: Vec<JobRunView>,
}

#[derive(ApiResponse)]
pub enum BatchAccepted {
    /// Queued; poll each `GET /api/jobs/{id}`.
    #[oai(status = 202)]
    Accepted(Json<JobBatchView>),
}

/// A request as the core takes it, for `user`; the error is the API's.
fn parse_job(request: JobRequest, user: i64) -> ApiResult<NewJob> {
    let job = Job::parse(&request.kind, request.args.unwrap_or(serde_json::Value::Null))
        .map_err(|reason| ApiError::invalid("invalid_job", reason))?;
    let key = match request.idempotency_key {
        None => None,
        Some(key) => Some(IdempotencyKey::of_user(user, &key.0).map_err(|refused| match refused {
            KeyRefused::Reserved => ApiError::invalid("reserved_key", refused.to_string()),
            KeyRefused::ControlCharacter => ApiError::invalid("invalid_idempotency_key", refused.to_string()),
        })?),
    };
    if let Some(run_at) = request.run_at {
        worker::jobs::enqueue::check_run_at(run_at, Utc::now())
            .map_err(|reason| ApiError::invalid("invalid_run_at", reason))?;
    }
    Ok(NewJob::new(job).by(Some(user)).key(key).at(request.run_at))
}

#[derive(ApiResponse)]
pub enum Accepted {
    /// The same kind already waits for the same league: that run (`deduplicated: true`), nothing new queued.
    #[oai(status = 200)]
    Deduplicated(Json<JobRunView>),
    /// Queued (or `scheduled` for its `run_at`); poll `GET /api/jobs/{id}`.
    #[oai(status = 202)]
    Accepted(Json<JobRunView>),
}

impl Accepted {
    fn of((run, inserted): (job_run::Model, Inserted)) -> Self {
        let mut view = JobRunView::from(run);
        if inserted == Inserted::Deduplicated {
            view.deduplicated = Some(true);
            return Self::Deduplicated(Json(view));
        }
        view.deduplicated = Some(false);
        Self::Accepted(Json(view))
    }
}

/// What a bulk action does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum BulkActionName {
    /// Failed and dead runs run again.
    Retry,
    /// Unfinished runs (queued, scheduled, waiting for a retry, running) are cancelled.
    Cancel,
}

/// A bulk action over the runs a filter matches (at most 10 000).
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct BulkRequest {
    pub action: BulkActionName,
    /// Only runs of this kind.
    #[oai(validator(max_length = 64))]
    pub kind: Option<Text>,
    /// Only runs in this status (among those the action applies to).
    pub status: Option<JobStatus>,
    /// Only runs enqueued at or after this time.
    pub enqueued_after: Option<DateTime<Utc>>,
    /// Only runs enqueued before this time.
    pub enqueued_before: Option<DateTime<Utc>>,
}

#[derive(Debug, Object)]
pub struct BulkResult {
    /// Runs the filter matched.
    pub matched: u64,
    /// Runs the action changed (a run that moved on meanwhile is not changed).
    pub changed: u64,
}

/// Runs of one kind by state.
#[derive(Debug, Object)]
pub struct QueueStats {
    pub kind: String,
    /// The queue this kind's runs wait in.
    pub lane: JobLane,
    /// An operator paused the kind: no run of it starts until it is resumed.
    pub paused: bool,
    pub queued: u64,
    pub running: u64,
    /// Waiting for their `run_at` (status `scheduled`).
    pub scheduled: u64,
    pub succeeded: u64,
    /// Last attempt failed, retry pending (status `failed`).
    pub failed: u64,
    pub dead: u64,
    pub cancelled: u64,
    /// Age of the oldest queued run.
    #[oai(nullable)]
    pub oldest_queued_age_s: Option<i64>,
    /// When a run of this kind last succeeded.
    #[oai(nullable)]
    pub last_succeeded_at: Option<DateTime<Utc>>,
    /// Worker processes alive (heartbeat within 3 intervals).
    pub workers_alive: u64,
}

#[derive(Debug, Object)]
pub struct ScheduleView {
    pub kind: String,
    /// Six-field cron (with seconds) or `off`.
    pub expression: String,
    pub enabled: bool,
    pub timezone: String,
    pub next_runs: Vec<DateTime<Utc>>,
}

fn enqueue_error(err: EnqueueError) -> ApiError {
    match err {
        EnqueueError::Db(db) => db.into(),
        EnqueueError::Queue(q) => {
            tracing::warn!(error = %q, "enqueue failed");
            ApiError::unavailable("the job queue")
        }
    }
}

async fn find_run(state: &AppState, id: &str) -> ApiResult<job_run::Model> {
    state.jobs.enqueuer.find_run(id).await?.ok_or_else(|| ApiError::not_found("job"))
}

/// Enqueues a job on behalf of the API (login, profile changes).
pub async fn enqueue(state: &AppState, job: Job, by: Option<i64>) -> ApiResult<job_run::Model> {
    Ok(state.jobs.enqueuer.enqueue(NewJob::new(job).by(by)).await.map_err(enqueue_error)?.0)
}

/// Staff may steer every run; a league's admins the runs about their league.
async fn require_steerer(state: &AppState, viewer: &Session, run: &job_run::Model) -> ApiResult<()> {
    if viewer.is_staff() {
        return Ok(());
    }
    viewer.require_user()?;
    let league = Job::parse_stored(&run.kind, run.args.clone()).ok().and_then(|job| job.steam_league());
    let admin = match league {
        Some(league) => viewer.organises(state, Scope::SteamLeague(league)).await.unwrap_or(false),
        None => false,
    };
    if admin { Ok(()) } else { Err(ApiError::forbidden("staff, or an admin of this run's league")) }
}

/// Every kind's queue as operators see it.
async fn queue_stats(state: &AppState) -> ApiResult<Vec<QueueStats>> {
    let summaries = state.jobs.enqueuer.summary().await?;
    let paused = control::paused_kinds(&state.db).await?;
    let workers = state.workers_alive().await;
    let now = Utc::now();
    Ok(summaries
        .into_iter()
        .map(|s| QueueStats {
            oldest_queued_age_s: s.oldest_queued_age_s(now),
            last_succeeded_at: s.last_succeeded_at,
            lane: Lane::of_kind(&s.kind).into(),
            paused: paused.contains(&s.kind),
            kind: s.kind,
            queued: s.queued,
            running: s.running,
            scheduled: s.scheduled,
            failed: s.retrying,
            succeeded: s.succeeded,
            dead: s.dead,
            cancelled: s.cancelled,
            workers_alive: workers,
        })
        .collect())
}

async fn one_queue(state: &AppState, kind: &str) -> ApiResult<QueueStats> {
    queue_stats(state).await?.into_iter().find(|q| q.kind == kind).ok_or_else(|| ApiError::not_found("job kind"))
}

pub struct JobsApi;

#[OpenApi(tag = "Tag::Jobs")]
impl JobsApi {
    /// Enqueue a job (staff; a league's admins: that league's `sync_league_matches` and
    /// `retry_failed_matches`). Unknown kind, bad args, a past or too distant `run_at`, a `cron:`
    /// key: 422. A sync, retry or stats run of a league that is already waiting: 200 with that run.
    #[oai(path = "/jobs", method = "post", operation_id = "enqueueJob")]
    async fn create(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        body: Json<JobRequest>,
    ) -> ApiResult<Accepted> {
        let user = viewer.user();
        let new = parse_job(body.0, user.id)?;
        match new.job.league_sync() {
            Some(steam_league) if !viewer.is_staff() => {
                // An unknown league is refused like someone else's: no probing for league ids.
                let admin = match viewer.organises(&state, Scope::SteamLeague(steam_league)).await {
                    Ok(admin) => admin,
                    Err(e) if e.status == poem::http::StatusCode::NOT_FOUND => false,
                    Err(e) => return Err(e),
                };
                if !admin {
                    return Err(ApiError::forbidden("staff, or an admin of this league for its sync"));
                }
                if let Job::SyncLeagueMatches(sync) = &new.job
                    && sync.full
                {
                    let cooldown = chrono::Duration::seconds(state.settings.core.full_sync_cooldown_secs as i64);
                    if let Some(wait) =
                        control::full_sync_cooldown(&state.jobs.enqueuer, steam_league, cooldown, Utc::now()).await?
                    {
                        let mut refused = ApiError::new(
                            poem::http::StatusCode::TOO_MANY_REQUESTS,
                            "sync_cooldown",
                            format!(
                                "a full sync of this league was enqueued recently; again in {} s",
                                wait.num_seconds()
                            ),
                        );
                        refused.retry_after = Some(wait.num_seconds().max(1) as u64);
                        return Err(refused);
                    }
                }
            }
            _ => {
                viewer.require_staff()?;
            }
        }
        Ok(Accepted::of(state.jobs.enqueuer.enqueue(new).await.map_err(enqueue_error)?))
    }

    /// Enqueue up to 1 000 jobs at once (staff): one ledger transaction, pushes in flight together.
    /// Any bad job refuses the batch (422 naming its index); nothing is enqueued then.
    #[oai(path = "/jobs/batch", method = "post", operation_id = "enqueueJobs")]
    async fn create_many(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        body: Json<JobBatch>,
    ) -> ApiResult<BatchAccepted> {
        let user = viewer.require_staff()?;
        let mut jobs = Vec::with_capacity(body.0.jobs.len());
        for (index, request) in body.0.jobs.into_iter().enumerate() {
            let job = parse_job(request, user.id).map_err(|err| ApiError {
                message: format!("jobs[{index}]: {}", err.message),
                details: Some(serde_json::json!({ "index": index })),
                ..err
            })?;
            jobs.push(job);
        }
        let runs = state.jobs.enqueuer.enqueue_many(jobs).await.map_err(enqueue_error)?;
        Ok(BatchAccepted::Accepted(Json(JobBatchView { runs: runs.into_iter().map(|(run, _)| run.into()).collect() })))
    }

    /// Recent job runs, newest first (staff).
    #[oai(path = "/jobs", method = "get", operation_id = "listJobs")]
    async fn list(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        #[oai(validator(max_length = 64))] kind: Query<Option<String>>,
        status: Query<Option<JobStatus>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))] page: Query<Option<u64>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] page_size: Query<Option<u64>>,
    ) -> ApiResult<Json<Page<JobRunView>>> {
        viewer.require_staff()?;
        state.jobs.enqueuer.ledger.settle().await?;
        let req = PageRequest::new(page.0, page_size.0);
        let mut select =
            job_run::Entity::find().order_by_desc(job_run::Column::EnqueuedAt).order_by_desc(job_run::Column::Id);
        if let Some(kind) = kind.0 {
            select = select.filter(job_run::Column::Kind.eq(kind));
        }
        if let Some(status) = status.0 {
            select = select.filter(job_run::Column::Status.eq(status));
        }
        let (count, rows) = req.fetch(&state.db, select).await?;
        Ok(Json(req.wrap(count, rows.into_iter().map(Into::into).collect())))
    }

    /// One job run (staff, or whoever enqueued it).
    #[oai(path = "/jobs/:id", method = "get", operation_id = "getJob")]
    async fn get(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        #[oai(validator(max_length = 64))] id: Path<String>,
    ) -> ApiResult<Json<JobRunView>> {
        let run = find_run(&state, &id.0).await?;
        if !viewer.is_staff() && run.enqueued_by != Some(viewer.user().id) {
            return Err(ApiError::forbidden("staff, or whoever enqueued this job"));
        }
        Ok(Json(run.into()))
    }

    /// Run a failed or dead job again (staff); 409 for any other state.
    #[oai(path = "/jobs/:id/retry", method = "post", operation_id = "retryJob")]
    async fn retry(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        #[oai(validator(max_length = 64))] id: Path<String>,
    ) -> ApiResult<Accepted> {
        viewer.require_staff()?;
        let run = find_run(&state, &id.0).await?;
        let Some(requeued) = state.jobs.enqueuer.retry(&run).await.map_err(enqueue_error)? else {
            return Err(ApiError::conflict(
                "not_retryable",
                format!("only failed or dead jobs can be retried; this one is {}", run.status.as_str()),
            ));
        };
        Ok(Accepted::Accepted(Json(requeued.into())))
    }

    /// Per kind: lane, paused, runs by state, age of the oldest queued run, live workers (staff).
    #[oai(path = "/queues", method = "get", operation_id = "listQueues")]
    async fn queues(&self, state: poem::web::Data<&AppState>, viewer: Session) -> ApiResult<Json<Vec<QueueStats>>> {
        viewer.require_staff()?;
        Ok(Json(queue_stats(&state).await?))
    }

    /// Pause a job kind (staff): no process starts its runs until it is resumed; enqueues are
    /// accepted and wait; runs already running finish. Holds across processes and restarts.
    /// Unknown kind: 404.
    #[oai(path = "/queues/:kind/pause", method = "post", operation_id = "pauseQueue")]
    async fn pause(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        #[oai(validator(max_length = 64))] kind: Path<String>,
    ) -> ApiResult<Json<QueueStats>> {
        let user = viewer.require_staff()?;
        control::pause(&state.services, &kind.0, Some(user.id)).await?;
        Ok(Json(one_queue(&state, &kind.0).await?))
    }

    /// Resume a paused job kind (staff): its waiting runs start at once. Unknown kind: 404.
    #[oai(path = "/queues/:kind/resume", method = "post", operation_id = "resumeQueue")]
    async fn resume(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        #[oai(validator(max_length = 64))] kind: Path<String>,
    ) -> ApiResult<Json<QueueStats>> {
        viewer.require_staff()?;
        control::resume(&state.services, &kind.0).await?;
        Ok(Json(one_queue(&state, &kind.0).await?))
    }

    /// Cancel a run (staff; a league's admins: the runs about their league). A queued, scheduled
    /// or retry-waiting run is `cancelled` at once and never starts; a running one stops at its
    /// next safe point (within 5 s; `cancel_requested_at` is set meanwhile). A finished run: 409
    /// `job_finished`.
    #[oai(path = "/jobs/:id/cancel", method = "post", operation_id = "cancelJob")]
    async fn cancel(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        #[oai(validator(max_length = 64))] id: Path<String>,
    ) -> ApiResult<Json<JobRunView>> {
        let run = find_run(&state, &id.0).await?;
        require_steerer(&state, &viewer, &run).await?;
        Ok(Json(control::cancel(&state.jobs.enqueuer, &id.0).await?.into()))
    }

    /// Retry or cancel every run a filter matches (staff): retry takes failed and dead runs,
    /// cancel every unfinished one. More than 10 000 matches: 422 `too_many_runs`, nothing changes.
    #[oai(path = "/jobs/bulk", method = "post", operation_id = "bulkJobs")]
    async fn bulk(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        body: Json<BulkRequest>,
    ) -> ApiResult<Json<BulkResult>> {
        viewer.require_staff()?;
        let BulkRequest { action, kind, status, enqueued_after, enqueued_before } = body.0;
        let action = match action {
            BulkActionName::Retry => BulkAction::Retry,
            BulkActionName::Cancel => BulkAction::Cancel,
        };
        let filter = BulkFilter { kind: kind.map(|k| k.0), status, enqueued_after, enqueued_before };
        let outcome = control::bulk(&state.jobs.enqueuer, action, &filter).await?;
        Ok(Json(BulkResult { matched: outcome.matched, changed: outcome.changed }))
    }

    /// The periodic jobs and their next run times (staff).
    #[oai(path = "/schedules", method = "get", operation_id = "listSchedules")]
    async fn schedules(&self, viewer: Session) -> ApiResult<Json<Vec<ScheduleView>>> {
        viewer.require_staff()?;
        let defs =
            worker::runtime::schedule::from_env().map_err(|e| ApiError::invalid("bad_schedule", e.to_string()))?;
        Ok(Json(
            defs.into_iter()
                .map(|d| ScheduleView {
                    kind: d.kind.to_owned(),
                    enabled: d.schedule.is_some(),
                    next_runs: d.next_runs(3),
                    timezone: d.timezone.name().to_owned(),
                    expression: d.expression,
                })
                .collect(),
        ))
    }
}
