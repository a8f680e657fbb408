//! `/api/jobs`, `/api/queues`, `/api/schedules` (staff): enqueue, read and
//! retry jobs through the ledger, whatever queue backend runs them.

use chrono::{DateTime, Utc};
use entity::{JobStatus, job_run};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use worker::jobs::Job;
use worker::jobs::enqueue::EnqueueError;

use crate::auth::Session;
use crate::error::{ApiError, ApiResult};
use crate::pagination::{Page, PageRequest};
use crate::routes::Tag;
use crate::state::AppState;
use crate::types::Text;
use crate::views::jobs::JobRunView;
use worker::domain::leagues::Scope;

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct JobRequest {
    /// One of the job kinds (SPEC §5).
    #[oai(validator(max_length = 64))]
    pub kind: Text,
    /// The kind's arguments; `{}` when omitted.
    pub args: Option<serde_json::Value>,
    /// Enqueue once per key: a key used before answers with the earlier run.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub idempotency_key: Option<Text>,
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

fn parse_job(request: JobRequest) -> Result<(Job, Option<String>), String> {
    let job = Job::parse(&request.kind, request.args.unwrap_or(serde_json::Value::Null))?;
    Ok((job, request.idempotency_key.map(|key| key.0)))
}

#[derive(ApiResponse)]
pub enum Accepted {
    /// Queued; poll `GET /api/jobs/{id}`.
    #[oai(status = 202)]
    Accepted(Json<JobRunView>),
}

/// Runs of one kind by state.
#[derive(Debug, Object)]
pub struct QueueStats {
    pub kind: String,
    pub queued: u64,
    pub running: u64,
    /// Waiting for a retry (status `failed`).
    pub scheduled: u64,
    pub succeeded: u64,
    /// Last attempt failed, retry pending (same runs as `scheduled`).
    pub failed: u64,
    pub dead: u64,
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
    Ok(state.jobs.enqueuer.enqueue(job, by, None).await.map_err(enqueue_error)?.0)
}

pub struct JobsApi;

#[OpenApi(tag = "Tag::Jobs")]
impl JobsApi {
    /// Enqueue a job (staff; a league's admins: that league's `sync_league_matches` and
    /// `retry_failed_matches`). Unknown kind or bad args: 422.
    #[oai(path = "/jobs", method = "post", operation_id = "enqueueJob")]
    async fn create(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        body: Json<JobRequest>,
    ) -> ApiResult<Accepted> {
        let user = viewer.user();
        let (job, idempotency_key) = parse_job(body.0).map_err(|reason| ApiError::invalid("invalid_job", reason))?;
        match job.league_sync() {
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
            }
            _ => {
                viewer.require_staff()?;
            }
        }
        let run = state.jobs.enqueuer.enqueue(job, Some(user.id), idempotency_key).await.map_err(enqueue_error)?.0;
        Ok(Accepted::Accepted(Json(run.into())))
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
            let job = parse_job(request).map_err(|reason| {
                ApiError::invalid("invalid_job", format!("jobs[{index}]: {reason}"))
                    .with_details(serde_json::json!({ "index": index }))
            })?;
            jobs.push(job);
        }
        let runs = state.jobs.enqueuer.enqueue_many(jobs, Some(user.id)).await.map_err(enqueue_error)?;
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
        if state.jobs.enqueuer.retry(&run).await.map_err(enqueue_error)?.is_none() {
            return Err(ApiError::conflict(
                "not_retryable",
                format!("only failed or dead jobs can be retried; this one is {}", run.status.as_str()),
            ));
        }
        Ok(Accepted::Accepted(Json(find_run(&state, &id.0).await?.into())))
    }

    /// Per kind: runs by state, age of the oldest queued run, live workers (staff).
    #[oai(path = "/queues", method = "get", operation_id = "listQueues")]
    async fn queues(&self, state: poem::web::Data<&AppState>, viewer: Session) -> ApiResult<Json<Vec<QueueStats>>> {
        viewer.require_staff()?;
        let summaries = state.jobs.enqueuer.summary().await?;
        let workers = state.workers_alive().await;
        let now = Utc::now();
        Ok(Json(
            summaries
                .into_iter()
                .map(|s| QueueStats {
                    oldest_queued_age_s: s.oldest_queued_age_s(now),
                    last_succeeded_at: s.last_succeeded_at,
                    kind: s.kind,
                    queued: s.queued,
                    running: s.running,
                    scheduled: s.retrying,
                    failed: s.retrying,
                    succeeded: s.succeeded,
                    dead: s.dead,
                    workers_alive: workers,
                })
                .collect(),
        ))
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
