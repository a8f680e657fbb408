//! `herodraft_timeout {draft_id, round_number}`: when a round's time is up,
//! act randomly for the team — with no client connected and whichever
//! process started the round. It checks the round and its remaining time
//! (not the draft's version), so a pause, a resume or the end of a resume
//! countdown never orphans it: delivered early, it waits out a short
//! remainder or arms itself again; a round that moved on makes it a no-op.

use std::time::Duration;

use serde_json::json;

use crate::domain::Services;
use crate::domain::hero_draft::service::{self, TimeoutOutcome};
use crate::jobs::JobError;
use crate::jobs::enqueue::NewJob;
use crate::jobs::payload::{HerodraftTimeout, Job};
use crate::runtime::context::JobContext;

/// A remainder short enough to wait out inside the job.
const EARLY_WAIT_MS: i64 = 2_000;

/// Enqueues the timeout of `round` for the draft as it stands now.
pub async fn schedule(svc: &Services, draft_id: i64, round: i32) -> Result<(), JobError> {
    let full = service::snapshot(&svc.db, draft_id).await.map_err(JobError::from)?;
    let Some(ms) = full.timeout_in(round, chrono::Utc::now()) else { return Ok(()) };
    after(svc, draft_id, round, ms).await
}

async fn after(svc: &Services, draft_id: i64, round: i32, ms: i64) -> Result<(), JobError> {
    let job = Job::HerodraftTimeout(HerodraftTimeout { draft_id, round_number: round });
    let delay = Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    svc.enqueuer.enqueue(NewJob::new(job).after(delay)).await.map_err(|e| JobError::transient(e.to_string()))?;
    Ok(())
}

impl HerodraftTimeout {
    pub async fn run(&self, ctx: &JobContext) -> Result<serde_json::Value, JobError> {
        let svc = ctx.services();
        let attempt = || async {
            let index = rand::random::<u32>() as usize;
            service::time_out(&svc, self.draft_id, self.round_number, index, chrono::Utc::now())
                .await
                .map_err(JobError::from)
        };
        let mut outcome = attempt().await?;
        if let TimeoutOutcome::NotDue { remaining_ms } = outcome {
            // Delivered before the deadline (the queue counts whole seconds,
            // or the clock was shifted by a pause): sit out a short remainder
            // here, arm again for a long one.
            if remaining_ms <= EARLY_WAIT_MS {
                tokio::time::sleep(Duration::from_millis(u64::try_from(remaining_ms).unwrap_or(0) + 5)).await;
                outcome = attempt().await?;
            }
            if let TimeoutOutcome::NotDue { remaining_ms } = outcome {
                after(&svc, self.draft_id, self.round_number, remaining_ms).await?;
            }
        }
        Ok(json!({
            "draft_id": self.draft_id,
            "round": self.round_number,
            "acted": outcome == TimeoutOutcome::Acted,
            "rearmed": matches!(outcome, TimeoutOutcome::NotDue { .. }),
        }))
    }
}
