//! `refresh_discord_avatars {batch_size: 50}`: the users checked longest ago.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::context::JobContext;
use crate::error::JobError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshDiscordAvatars {
    #[serde(default = "default_batch")]
    pub batch_size: u32,
}

fn default_batch() -> u32 {
    50
}

impl RefreshDiscordAvatars {
    pub async fn run(&self, ctx: &JobContext) -> Result<serde_json::Value, JobError> {
        if !ctx.discord.is_configured() {
            return Ok(crate::avatars::not_configured());
        }
        let users = crate::avatars::oldest_checked(ctx, self.batch_size).await?;
        let (checked, updated, failed) = crate::avatars::check_users(ctx, &users).await?;
        Ok(json!({ "checked": checked, "updated": updated, "failed": failed }))
    }
}
