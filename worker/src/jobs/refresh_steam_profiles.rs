//! `refresh_steam_profiles {}`: Steam persona names and avatars of every
//! user with a Steam id, 100 per `GetPlayerSummaries` call (daily).

use crate::jobs::JobError;
use crate::jobs::payload::RefreshSteamProfiles;
use crate::runtime::context::JobContext;

impl RefreshSteamProfiles {
    pub async fn run(&self, ctx: &JobContext) -> Result<serde_json::Value, JobError> {
        crate::domain::steam_profiles::refresh_all(&ctx.db, &ctx.steam, chrono::Utc::now()).await
    }
}
