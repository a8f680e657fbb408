//! Runs one delivered attempt of a job through its whole ledger lifecycle:
//! claim → run (with the kind's timeout) → succeeded | failed (+ a delayed
//! retry) | dead. Retries are ours, not the queue's: apalis-redis 1.0
//! ignores `max_attempts` and retries on a fixed schedule.

use std::time::{Duration, Instant};

use entity::JobStatus;

use crate::jobs::JobError;
use crate::jobs::ledger::Finish;
use crate::jobs::payload::Envelope;
use crate::runtime::backoff;
use crate::runtime::context::JobContext;

const BACKOFF_CAP: Duration = Duration::from_secs(300);

/// What became of an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    Retrying,
    Dead,
    /// A duplicate delivery of an attempt already done.
    Skipped,
}

/// Runs `envelope`. An `Err` means the ledger could not be written (the
/// database is down): the queue then delivers the task again later.
pub async fn execute(envelope: Envelope, ctx: &JobContext) -> Result<Outcome, JobError> {
    let Envelope { run_id, attempt, max_attempts, job } = envelope;
    let ledger = &ctx.enqueuer.ledger;
    if !ledger.claim(&run_id, attempt).await? {
        tracing::info!(run_id, attempt, "duplicate delivery skipped");
        return Ok(Outcome::Skipped);
    }
    let policy = job.policy();
    let kind = job.kind();
    let started = Instant::now();
    let span = tracing::info_span!("job", kind, run_id, attempt);
    let result = {
        let _enter = span.enter();
        tracing::info!("job started");
        drop(_enter);
        match tokio::time::timeout(policy.timeout, job.run(&ctx.for_run(&run_id))).await {
            Ok(result) => result,
            Err(_) => Err(JobError::transient(format!("timed out after {}s", policy.timeout.as_secs()))),
        }
    };
    let elapsed = started.elapsed();
    let outcome = match result {
        Ok(value) => {
            ledger.finish(Finish::succeeded(&run_id, value)).await?;
            Outcome::Succeeded
        }
        Err(err) if err.is_permanent() || attempt >= max_attempts => {
            ledger.finish(Finish::errored(&run_id, JobStatus::Dead, err.to_string())).await?;
            tracing::warn!(kind, run_id, attempt, error = %err, "job dead");
            Outcome::Dead
        }
        Err(err) => {
            ledger.finish(Finish::errored(&run_id, JobStatus::Failed, err.to_string())).await?;
            let base = Duration::from_millis(ctx.settings.job_backoff_base_ms);
            let delay = backoff::delay(base, BACKOFF_CAP, attempt + 1, rand::random::<f64>(), err.retry_after());
            tracing::warn!(kind, run_id, attempt, error = %err, retry_in_ms = delay.as_millis() as u64, "job failed; will retry");
            let next = Envelope { run_id: run_id.clone(), attempt: attempt + 1, max_attempts, job };
            ctx.enqueuer.queue.push(next, delay).await.map_err(|e| JobError::transient(e.to_string()))?;
            Outcome::Retrying
        }
    };
    metrics_record(kind, outcome, elapsed);
    Ok(outcome)
}

fn metrics_record(kind: &'static str, outcome: Outcome, elapsed: Duration) {
    let outcome_label = match outcome {
        Outcome::Succeeded => "succeeded",
        Outcome::Retrying => "failed",
        Outcome::Dead => "dead",
        Outcome::Skipped => "skipped",
    };
    metrics::counter!("dtx_jobs_total", "kind" => kind, "outcome" => outcome_label).increment(1);
    metrics::histogram!("dtx_job_duration_seconds", "kind" => kind).record(elapsed.as_secs_f64());
    tracing::info!(kind, ?outcome, elapsed_ms = elapsed.as_millis() as u64, "job finished");
}
