//! `herodraft_timeout {draft_id, round_number, version}`: when a round's
//! time is up, act randomly for the team — with no client connected and
//! whichever process started the round. A draft that moved on (another
//! version) makes this a no-op.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::context::JobContext;
use crate::enqueue::Enqueuer;
use crate::error::JobError;
use crate::herodraft::{rules, service};
use crate::jobs::Job;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HerodraftTimeout {
    pub draft_id: i64,
    pub round_number: i32,
    pub version: i64,
}

/// A remainder short enough to wait out inside the job.
const EARLY_WAIT_MS: i64 = 2_000;

fn failed(err: service::HeroDraftError) -> JobError {
    match err {
        service::HeroDraftError::Db(e) => e.into(),
        other => JobError::Permanent(other.to_string()),
    }
}

/// Enqueues the timeout of `round` for the draft as it stands now.
pub async fn schedule(enqueuer: &Enqueuer, draft_id: i64, round: i32) -> Result<(), JobError> {
    let full = service::load(&enqueuer.db, draft_id).await.map_err(failed)?;
    let Some(ms) = service::timeout_in(&full, round, chrono::Utc::now()) else { return Ok(()) };
    let job = Job::HerodraftTimeout(HerodraftTimeout { draft_id, round_number: round, version: full.draft.version });
    let delay = Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    enqueuer.enqueue_after(job, None, None, delay).await.map_err(|e| JobError::transient(e.to_string()))?;
    Ok(())
}

impl HerodraftTimeout {
    pub async fn run(&self, ctx: &JobContext) -> Result<serde_json::Value, JobError> {
        let pool = rules::default_hero_pool();
        let attempt = || async {
            let index = rand::random::<u32>() as usize;
            service::time_out(&ctx.db, self.draft_id, self.round_number, self.version, index, &pool, chrono::Utc::now())
                .await
                .map_err(failed)
        };
        let mut next = attempt().await?;
        let mut full = service::load(&ctx.db, self.draft_id).await.map_err(failed)?;
        let still_waiting = |full: &service::HeroDraftFull| {
            full.draft.version == self.version
                && full.active_round().is_some_and(|r| r.round_number == self.round_number)
        };
        if next.is_none() && still_waiting(&full) {
            // Delivered before the deadline (the queue counts whole seconds):
            // sit out a short remainder here, re-arm for a long one.
            match service::timeout_in(&full, self.round_number, chrono::Utc::now()) {
                Some(ms) if ms <= EARLY_WAIT_MS => {
                    tokio::time::sleep(Duration::from_millis(u64::try_from(ms).unwrap_or(0) + 5)).await;
                    next = attempt().await?;
                    full = service::load(&ctx.db, self.draft_id).await.map_err(failed)?;
                }
                Some(_) => schedule(&ctx.enqueuer, self.draft_id, self.round_number).await?,
                None => {}
            }
        }
        let acted = next.is_some() || full.draft.state == entity::HeroDraftState::Completed;
        if acted {
            ctx.bus.publish(&crate::herodraft::channel(self.draft_id), crate::herodraft::CHANGED.to_owned()).await;
        }
        if let Some(round) = next {
            schedule(&ctx.enqueuer, self.draft_id, round).await?;
        }
        Ok(json!({ "draft_id": self.draft_id, "round": self.round_number, "acted": acted }))
    }
}
