//! Discord avatar checks (SPEC §7.4): HEAD the CDN URL; if it is gone, ask
//! Discord for the current hash. Users are taken oldest-checked first, so
//! repeated batches cover everyone before anyone twice.

use chrono::Utc;
use entity::user;
use sea_orm::sea_query::{Expr, NullOrdering, Order};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::json;

use crate::jobs::JobError;
use crate::runtime::context::JobContext;

/// Checks one user; `true` when the stored avatar changed.
pub async fn check_user(ctx: &JobContext, u: &user::Model) -> Result<bool, JobError> {
    let Some(discord_id) = u.discord_id.as_deref() else { return Ok(false) };
    let valid = match u.avatar.as_deref() {
        Some(hash) if !hash.is_empty() => ctx.discord.avatar_is_valid(discord_id, hash).await,
        _ => false,
    };
    let mut update = user::Entity::update_many().col_expr(user::Column::AvatarCheckedAt, Expr::value(Utc::now()));
    let mut changed = false;
    if !valid {
        let current = ctx.discord.current_avatar(discord_id).await?;
        if current != u.avatar {
            update = update.col_expr(user::Column::Avatar, Expr::value(current));
            changed = true;
        }
    }
    update.filter(user::Column::Id.eq(u.id)).exec(&ctx.db).await?;
    Ok(changed)
}

/// Checks `users`; a rate limit stops the batch (the job retries later),
/// other per-user failures are counted and the batch goes on.
pub async fn check_users(ctx: &JobContext, users: &[user::Model]) -> Result<(u64, u64, u64), JobError> {
    let (mut checked, mut updated, mut failed) = (0, 0, 0);
    for u in users {
        match check_user(ctx, u).await {
            Ok(changed) => {
                checked += 1;
                updated += u64::from(changed);
            }
            Err(err @ JobError::Transient { retry_after: Some(_), .. }) => return Err(err),
            Err(err) => {
                failed += 1;
                tracing::warn!(user_id = u.id, error = %err, "avatar check failed");
                // Still rotate: a broken user must not block the others.
                user::Entity::update_many()
                    .col_expr(user::Column::AvatarCheckedAt, Expr::value(Utc::now()))
                    .filter(user::Column::Id.eq(u.id))
                    .exec(&ctx.db)
                    .await?;
            }
        }
    }
    Ok((checked, updated, failed))
}

pub fn not_configured() -> serde_json::Value {
    json!({ "skipped": "not_configured: DISCORD_BOT_TOKEN" })
}

/// The `batch_size` users with a Discord account checked longest ago (never first).
pub async fn oldest_checked(ctx: &JobContext, batch_size: u32) -> Result<Vec<user::Model>, JobError> {
    Ok(user::Entity::find()
        .filter(user::Column::DiscordId.is_not_null())
        .order_by_with_nulls(user::Column::AvatarCheckedAt, Order::Asc, NullOrdering::First)
        .order_by_asc(user::Column::Id)
        .limit(u64::from(batch_size))
        .all(&ctx.db)
        .await?)
}
