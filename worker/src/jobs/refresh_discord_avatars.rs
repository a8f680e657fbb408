//! `refresh_discord_avatars {batch_size: 50}`: the users checked longest ago.

use serde_json::json;

use crate::jobs::JobError;
use crate::jobs::payload::RefreshDiscordAvatars;
use crate::runtime::context::JobContext;

impl RefreshDiscordAvatars {
    pub async fn run(&self, ctx: &JobContext) -> Result<serde_json::Value, JobError> {
        if !ctx.discord.is_configured() {
            return Ok(crate::domain::avatars::not_configured());
        }
        let users = crate::domain::avatars::oldest_checked(ctx, self.batch_size).await?;
        let (checked, updated, failed) = crate::domain::avatars::check_users(ctx, &users).await?;
        Ok(json!({ "checked": checked, "updated": updated, "failed": failed }))
    }
}
