//! Runs one delivered task through its whole ledger lifecycle: decode →
//! (a paused kind: hold) → claim → run (with the kind's timeout, watched for
//! a cancel and for the pool's hand-back) → succeeded | failed (+ a delayed
//! retry) | dead | cancelled. Retries are ours, not the queue's: apalis-redis
//! 1.0 ignores `max_attempts` and retries on a fixed schedule.
//!
//! Every log line of a run carries its `run_id` (the job's future runs in
//! its span).

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use chrono::Utc;
use entity::JobStatus;
use futures_util::FutureExt;
use tracing::Instrument;

use crate::infra::queue::{Hold, InFlight, RawTask};
use crate::jobs::JobError;
use crate::jobs::enqueue::envelope_value;
use crate::jobs::group_commit::Claim;
use crate::jobs::journal::ClaimOutcome;
use crate::jobs::ledger::Finish;
use crate::jobs::payload::{self, Delivery, Envelope, Lane};
use crate::runtime::backoff;
use crate::runtime::context::{JobContext, RunHandle};
use crate::runtime::telemetry::{self, TraceParent};

const BACKOFF_CAP: Duration = Duration::from_secs(300);
/// How long a cancelled job has to reach a safe point before it is stopped
/// where it stands (its open transaction rolls back): a cancel ends a run
/// within 5 s.
const CANCEL_GRACE: Duration = Duration::from_secs(3);
/// How long a task whose run the ledger does not know is delivered again
/// (its record may still be on its way) before it is dropped.
const RECORD_WAIT: Duration = Duration::from_secs(600);

/// One delivery of a task to this process.
pub struct Delivered<'a> {
    pub task: RawTask,
    /// The queue's id of the task (a hold names it).
    pub task_id: String,
    pub lane: Lane,
    /// The apalis worker that took it.
    pub worker: &'a str,
    /// Where it waits for its acknowledgement, when the run's last ledger
    /// write makes it (Redis; `None` where apalis acknowledges).
    pub in_flight: Option<InFlight>,
    /// The claim the fetch made in the same step, if it made one.
    pub claimed: Option<ClaimOutcome>,
}

/// What became of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    /// Failed; a retry is queued.
    Retrying,
    Dead,
    Cancelled,
    /// A duplicate delivery of an attempt already done (or a cancelled run).
    Skipped,
    /// Its kind is paused: held until resumed.
    Held,
    /// Written by a newer build: put back for a newer worker.
    LeftForNewer,
    /// Could not be read: dead-lettered.
    Undecodable,
    /// The pool shut down before it finished: back on the queue.
    HandedBack,
}

impl Outcome {
    /// Whether the ledger write that ended it also acknowledged the
    /// delivery (a finish or a release); the others are acknowledged apart.
    pub fn acknowledged(self) -> bool {
        matches!(self, Self::Succeeded | Self::Retrying | Self::Dead | Self::Cancelled | Self::HandedBack)
    }

    /// The `outcome` label of `dtx_jobs_total`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Retrying => "retrying",
            Self::Dead => "dead",
            Self::Cancelled => "cancelled",
            Self::Skipped => "skipped",
            Self::Held => "held",
            Self::LeftForNewer => "left_for_newer",
            Self::Undecodable => "undecodable",
            Self::HandedBack => "handed_back",
        }
    }
}

/// Runs a delivered task. An `Err` means the task must come back: the
/// ledger could not be written (the database is down); `HandedBack` that
/// the pool handed the run back while shutting down.
pub async fn execute(delivered: Delivered<'_>, ctx: &JobContext) -> Result<Outcome, JobError> {
    let started = Instant::now();
    let envelope = match payload::decode(&delivered.task.0, ctx.settings.payload_version) {
        Delivery::Ready(envelope) => envelope,
        Delivery::Newer { version, payload } => {
            // Held where only a worker that reads this version releases it.
            let token = format!("newer:{}", delivered.task_id);
            ctx.enqueuer
                .queue
                .hold(delivered.lane, Hold::Newer(version), payload, &token)
                .await
                .map_err(|e| JobError::transient(e.to_string()))?;
            tracing::info!(version, "a task of a newer payload version is left for a newer worker");
            record("unknown", Outcome::LeftForNewer, started.elapsed());
            return Ok(Outcome::LeftForNewer);
        }
        Delivery::Undecodable { run_id, kind, reason } => {
            let db = &ctx.enqueuer.db;
            let id = ctx.enqueuer.ledger.dead_letter(db, run_id.as_deref(), kind.as_deref(), &reason).await?;
            tracing::warn!(run_id = id, reason, "undecodable task dead-lettered");
            metrics::counter!("dtx_jobs_undecodable_total").increment(1);
            record("unknown", Outcome::Undecodable, started.elapsed());
            return Ok(Outcome::Undecodable);
        }
    };
    // The job continues the trace of the request that enqueued it.
    let parent = envelope.traceparent.as_deref().and_then(TraceParent::parse);
    let trace = parent.map_or_else(TraceParent::root, |p| p.child());
    let span = tracing::info_span!(
        "job",
        run_id = %envelope.run_id,
        kind = envelope.job.kind(),
        attempt = envelope.attempt,
        trace_id = %trace.trace_id_hex(),
    );
    if let Some(parent) = &parent {
        telemetry::continue_trace(&span, parent);
    }
    let kind = envelope.job.kind();
    let outcome = telemetry::in_trace(trace, run(envelope, &delivered, ctx).instrument(span.clone())).await;
    let _in_span = span.enter();
    if let Ok(outcome) = outcome {
        record(kind, outcome, started.elapsed());
    }
    outcome
}

/// Everything after decoding, in the run's span.
async fn run(envelope: Envelope, delivered: &Delivered<'_>, ctx: &JobContext) -> Result<Outcome, JobError> {
    let ledger = &ctx.enqueuer.ledger;
    let (run_id, attempt, kind) = (envelope.run_id.clone(), envelope.attempt, envelope.job.kind());
    if ctx.paused.contains(kind)
        && let Some(hold) = Hold::paused(kind)
    {
        if delivered.claimed == Some(ClaimOutcome::Claimed) {
            // Paused after its fetch claimed it: the run waits again.
            ledger.release(&run_id, attempt, None).await?;
        }
        let token = format!("{run_id}:{attempt}:{}", delivered.task_id);
        let queue = &ctx.enqueuer.queue;
        queue
            .hold(delivered.lane, hold, envelope_value(&envelope), &token)
            .await
            .map_err(|e| JobError::transient(e.to_string()))?;
        tracing::info!("job kind paused; run held until resumed");
        return Ok(Outcome::Held);
    }
    let delivery = delivered.in_flight.as_ref();
    let claimed = match delivered.claimed {
        Some(claimed) => claimed,
        None => ledger.claim(Claim { id: run_id.clone(), attempt, worker: delivered.worker.to_owned() }).await?,
    };
    match claimed {
        ClaimOutcome::Claimed => {}
        ClaimOutcome::NotRecorded if enqueued_within(&run_id, RECORD_WAIT) => {
            tracing::info!("the run is not recorded yet; its task comes again in a second");
            return Err(JobError::transient("the run is not recorded yet"));
        }
        ClaimOutcome::NotRecorded => {
            tracing::warn!("a task of a run the ledger never recorded dropped");
            return Ok(Outcome::Skipped);
        }
        ClaimOutcome::Refused => {
            tracing::info!("duplicate delivery skipped");
            return Ok(Outcome::Skipped);
        }
        ClaimOutcome::CancelRequested => {
            ledger.finish_acknowledging(Finish::cancelled(&run_id, attempt), delivery).await?;
            return Ok(Outcome::Cancelled);
        }
    }
    tracing::info!("job started");
    let handle = RunHandle::new(&run_id);
    let policy = envelope.job.policy();
    let job_ctx = ctx.for_run(handle.clone());
    let ran = tokio::select! {
        result = tokio::time::timeout(policy.timeout, AssertUnwindSafe(envelope.job.run(&job_ctx)).catch_unwind()) => Ran::Finished(match result {
            // A job that panics failed: retried with backoff, dead after its attempts.
            Ok(Err(panic)) => Err(JobError::transient(format!("the job panicked: {}", panic_message(&*panic)))),
            Ok(Ok(result)) => result,
            Err(_) => Err(JobError::transient(format!("timed out after {}s", policy.timeout.as_secs()))),
        }),
        () = supervise(&handle, ctx) => Ran::Finished(Err(JobError::Cancelled)),
        () = ctx.hand_back.cancelled() => Ran::HandedBack,
    };
    if let Some(progress) = handle.take_unwritten() {
        ledger.progress(&run_id, progress).await?;
    }
    let result = match ran {
        Ran::HandedBack => {
            ledger.release(&run_id, attempt, delivery).await?;
            tracing::warn!("shutting down: run handed back to the queue unfinished");
            return Ok(Outcome::HandedBack);
        }
        Ran::Finished(result) => result,
    };
    Ok(match result {
        Ok(value) => {
            ledger.finish_acknowledging(Finish::succeeded(&run_id, attempt, value), delivery).await?;
            Outcome::Succeeded
        }
        Err(JobError::Cancelled) => {
            ledger.finish_acknowledging(Finish::cancelled(&run_id, attempt), delivery).await?;
            tracing::info!("job cancelled at a safe point");
            Outcome::Cancelled
        }
        Err(err) if err.is_permanent() || attempt >= envelope.max_attempts => {
            ledger
                .finish_acknowledging(Finish::errored(&run_id, attempt, JobStatus::Dead, err.to_string()), delivery)
                .await?;
            tracing::warn!(error = %err, "job dead");
            Outcome::Dead
        }
        Err(err) => {
            let failed = Finish::errored(&run_id, attempt, JobStatus::Failed, err.to_string());
            ledger.finish_acknowledging(failed, delivery).await?;
            let base = Duration::from_millis(ctx.settings.job_backoff_base_ms);
            let delay = backoff::delay(base, BACKOFF_CAP, attempt + 1, rand::random::<f64>(), err.retry_after());
            tracing::warn!(error = %err, retry_in_ms = delay.as_millis() as u64, "job failed; will retry");
            let Envelope { max_attempts, job, traceparent, .. } = envelope;
            let next = Envelope::new(run_id, attempt + 1, max_attempts, job, traceparent);
            let due = Utc::now() + delay;
            ctx.enqueuer
                .queue
                .push(delivered.lane, envelope_value(&next), Some(due))
                .await
                .map_err(|e| JobError::transient(e.to_string()))?;
            Outcome::Retrying
        }
    })
}

/// What a panic said, when it said it as text.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic.downcast_ref::<&str>().copied().or_else(|| panic.downcast_ref::<String>().map(String::as_str)).unwrap_or("?")
}

/// Whether the run (its id a ULID, as enqueues make them) was enqueued
/// within `within`; an id of another shape, never.
fn enqueued_within(run_id: &str, within: Duration) -> bool {
    let Ok(id) = ulid::Ulid::from_string(&run_id.to_ascii_uppercase()) else { return false };
    id.datetime().elapsed().map_or(true, |age| age < within)
}

enum Ran {
    Finished(Result<serde_json::Value, JobError>),
    HandedBack,
}

/// Watches a running job: at each tick of the pool's supervision clock
/// (about every second) writes its new progress and looks for a cancel;
/// once one is asked, tells the job and resolves when the job had
/// [`CANCEL_GRACE`] to stop by itself (never resolves otherwise).
async fn supervise(handle: &RunHandle, ctx: &JobContext) {
    let ledger = &ctx.enqueuer.ledger;
    let mut ticks = ctx.supervision.clone();
    ticks.mark_unchanged();
    loop {
        if ticks.changed().await.is_err() {
            return std::future::pending().await;
        }
        if let Some(progress) = handle.take_unwritten()
            && let Err(err) = ledger.progress(&handle.id, progress).await
        {
            tracing::warn!(error = %err, "job progress not written");
        }
        match ledger.cancel_requested(&handle.id).await {
            Ok(true) => break,
            Ok(false) => {}
            Err(err) => tracing::warn!(error = %err, "cannot see whether the job was cancelled"),
        }
    }
    tracing::info!("cancel requested; stopping at the next safe point");
    handle.cancel();
    tokio::time::sleep(CANCEL_GRACE).await;
    tracing::warn!("the job reached no safe point in time; stopped where it stood");
}

/// Counts an outcome and logs the end of a delivery.
fn record(kind: &'static str, outcome: Outcome, elapsed: Duration) {
    metrics::counter!("dtx_jobs_total", "kind" => kind, "outcome" => outcome.label()).increment(1);
    if matches!(outcome, Outcome::Succeeded | Outcome::Retrying | Outcome::Dead | Outcome::Cancelled) {
        metrics::histogram!("dtx_job_duration_seconds", "kind" => kind).record(elapsed.as_secs_f64());
    }
    tracing::info!(kind, outcome = outcome.label(), elapsed_ms = elapsed.as_millis() as u64, "job finished");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_is_recent_by_its_ulid() {
        let now = crate::jobs::enqueue::new_run_id();
        assert!(enqueued_within(&now, Duration::from_secs(600)));
        let hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
        let old = ulid::Ulid::from_datetime(hour_ago).to_string().to_lowercase();
        assert!(!enqueued_within(&old, Duration::from_secs(600)));
        assert!(enqueued_within(&old, Duration::from_secs(7200)));
        assert!(!enqueued_within("not-a-run-id", Duration::from_secs(600)), "an id of another shape is never recent");
    }
}
