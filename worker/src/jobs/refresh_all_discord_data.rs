//! `refresh_all_discord_data {}`: every user with a Discord account, in pages.

use entity::user;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::json;

use crate::jobs::JobError;
use crate::jobs::payload::RefreshAllDiscordData;
use crate::runtime::context::JobContext;

const PAGE: u64 = 50;

impl RefreshAllDiscordData {
    pub async fn run(&self, ctx: &JobContext) -> Result<serde_json::Value, JobError> {
        if !ctx.discord.is_configured() {
            return Ok(crate::domain::avatars::not_configured());
        }
        let (mut checked, mut updated, mut failed, mut after) = (0, 0, 0, 0i64);
        loop {
            // Keyset pages: stable while users are added or changed meanwhile.
            let page = user::Entity::find()
                .filter(user::Column::DiscordId.is_not_null())
                .filter(user::Column::Id.gt(after))
                .order_by_asc(user::Column::Id)
                .limit(PAGE)
                .all(&ctx.db)
                .await?;
            let Some(last) = page.last() else { break };
            after = last.id;
            let (c, u, f) = crate::domain::avatars::check_users(ctx, &page).await?;
            (checked, updated, failed) = (checked + c, updated + u, failed + f);
        }
        Ok(json!({ "checked": checked, "updated": updated, "failed": failed }))
    }
}
