//! `prune_job_runs {keep_days}`: delete finished (succeeded or dead) ledger
//! rows older than `keep_days`, so `job_runs` — and the queue summary read
//! at every metrics scrape — stays the size of a few weeks of work; and have
//! the queue forget its copies of finished tasks (the ledger keeps the runs).

use crate::jobs::JobError;
use crate::jobs::payload::PruneJobRuns;
use crate::runtime::context::JobContext;

impl PruneJobRuns {
    pub async fn run(&self, ctx: &JobContext) -> Result<serde_json::Value, JobError> {
        let before = chrono::Utc::now() - chrono::Duration::days(i64::from(self.keep_days));
        let deleted = crate::jobs::ledger::prune_finished(&ctx.db, before).await?;
        let forgotten = ctx.enqueuer.queue.forget_finished().await.map_err(|e| JobError::transient(e.to_string()))?;
        Ok(serde_json::json!({ "deleted": deleted, "before": before, "queue_tasks_forgotten": forgotten }))
    }
}
