//! `prune_job_runs {keep_days}`: delete finished (succeeded or dead) ledger
//! rows older than `keep_days`, so `job_runs` — and the queue summary read
//! at every metrics scrape — stays the size of a few weeks of work.

use serde::{Deserialize, Serialize};

use crate::context::JobContext;
use crate::error::JobError;

pub const DEFAULT_KEEP_DAYS: u32 = 30;

fn default_keep_days() -> u32 {
    DEFAULT_KEEP_DAYS
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PruneJobRuns {
    /// Finished runs younger than this many days are kept (1..=3650).
    #[serde(default = "default_keep_days")]
    pub keep_days: u32,
}

impl PruneJobRuns {
    pub async fn run(&self, ctx: &JobContext) -> Result<serde_json::Value, JobError> {
        let before = chrono::Utc::now() - chrono::Duration::days(i64::from(self.keep_days));
        let deleted = crate::ledger::prune_finished(&ctx.db, before).await?;
        Ok(serde_json::json!({ "deleted": deleted, "before": before }))
    }
}
