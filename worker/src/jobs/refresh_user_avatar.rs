//! `refresh_user_avatar {user_id}`: one user, on login or by staff.

use entity::user;
use sea_orm::EntityTrait;
use serde_json::json;

use crate::jobs::JobError;
use crate::jobs::payload::RefreshUserAvatar;
use crate::runtime::context::JobContext;

impl RefreshUserAvatar {
    pub async fn run(&self, ctx: &JobContext) -> Result<serde_json::Value, JobError> {
        if !ctx.discord.is_configured() {
            return Ok(crate::domain::avatars::not_configured());
        }
        let Some(u) = user::Entity::find_by_id(self.user_id).one(&ctx.db).await? else {
            return Err(JobError::Permanent(format!("user {} does not exist", self.user_id)));
        };
        if u.discord_id.is_none() {
            return Err(JobError::Permanent(format!("user {} has no Discord account", self.user_id)));
        }
        let updated = crate::domain::avatars::check_user(ctx, &u).await?;
        Ok(json!({ "user_id": u.id, "updated": updated }))
    }
}
