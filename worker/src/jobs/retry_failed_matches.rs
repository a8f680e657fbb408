//! `retry_failed_matches {steam_league_id}`: re-fetch the league's failed matches.

use crate::jobs::JobError;
use crate::jobs::payload::RetryFailedMatches;
use crate::runtime::context::JobContext;

impl RetryFailedMatches {
    pub async fn run(&self, ctx: &JobContext) -> Result<serde_json::Value, JobError> {
        crate::domain::sync::league_sync::retry_failed(ctx, self.steam_league_id).await
    }
}
