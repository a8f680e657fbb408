//! `sync_league_matches {steam_league_id, full?}`: see [`crate::domain::sync::league_sync`].

use crate::jobs::JobError;
use crate::jobs::payload::SyncLeagueMatches;
use crate::runtime::context::JobContext;

impl SyncLeagueMatches {
    pub async fn run(&self, ctx: &JobContext) -> Result<serde_json::Value, JobError> {
        crate::domain::sync::league_sync::sync_league(ctx, self.steam_league_id, self.full).await
    }
}
