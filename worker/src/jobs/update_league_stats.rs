//! `update_league_stats {league_id}`: rebuild LeaguePlayerStats, then MMR.

use serde::{Deserialize, Serialize};

use crate::context::JobContext;
use crate::error::JobError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateLeagueStats {
    /// Steam league id.
    pub league_id: i64,
}

impl UpdateLeagueStats {
    pub async fn run(&self, ctx: &JobContext) -> Result<serde_json::Value, JobError> {
        crate::stats::update_league_stats(ctx, self.league_id).await
    }
}
