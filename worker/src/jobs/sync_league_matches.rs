//! `sync_league_matches {league_id, full?}`: see [`crate::steam::sync`].

use serde::{Deserialize, Serialize};

use crate::context::JobContext;
use crate::error::JobError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncLeagueMatches {
    /// Steam league id.
    pub league_id: i64,
    /// Read the whole history instead of stopping at known matches.
    #[serde(default)]
    pub full: bool,
}

impl SyncLeagueMatches {
    pub async fn run(&self, ctx: &JobContext) -> Result<serde_json::Value, JobError> {
        crate::steam::sync::sync_league(ctx, self.league_id, self.full).await
    }
}
