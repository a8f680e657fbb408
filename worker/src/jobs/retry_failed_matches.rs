//! `retry_failed_matches {league_id}`: re-fetch the league's failed matches.

use serde::{Deserialize, Serialize};

use crate::context::JobContext;
use crate::error::JobError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryFailedMatches {
    /// Steam league id.
    pub league_id: i64,
}

impl RetryFailedMatches {
    pub async fn run(&self, ctx: &JobContext) -> Result<serde_json::Value, JobError> {
        crate::steam::sync::retry_failed(ctx, self.league_id).await
    }
}
