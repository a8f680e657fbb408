//! `update_league_stats {steam_league_id}`: rebuild LeaguePlayerStats, then MMR.

use crate::jobs::JobError;
use crate::jobs::payload::UpdateLeagueStats;
use crate::runtime::context::JobContext;

impl UpdateLeagueStats {
    pub async fn run(&self, ctx: &JobContext) -> Result<serde_json::Value, JobError> {
        crate::domain::stats::update_league_stats(ctx, self.steam_league_id).await
    }
}
