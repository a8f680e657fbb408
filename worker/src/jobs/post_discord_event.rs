//! `post_discord_event {event_id}`: post one announcement now, whatever its
//! schedule ("post now" from the API).

use crate::jobs::JobError;
use crate::jobs::payload::PostDiscordEvent;
use crate::runtime::context::JobContext;

impl PostDiscordEvent {
    pub async fn run(&self, ctx: &JobContext) -> Result<serde_json::Value, JobError> {
        crate::domain::announcements::post_now(&ctx.db, &ctx.discord, self.event_id).await
    }
}
