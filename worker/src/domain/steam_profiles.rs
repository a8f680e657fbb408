//! Players' Steam profiles as Steam shows them (SPEC §7.3): persona names
//! and avatars of every user with a Steam id, read with
//! `GetPlayerSummaries` in batches of 100, oldest-checked first.

use chrono::{DateTime, Utc};
use entity::user;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::json;

use crate::clients::steam::client::{SUMMARIES_PER_CALL, SteamClient};
use crate::clients::steam::types::PlayerSummary;
use crate::jobs::JobError;

/// Longest persona name or avatar URL kept (the columns' width).
const MAX_TEXT: usize = 255;

fn clipped(value: Option<String>) -> Option<String> {
    value.map(|v| v.chars().take(MAX_TEXT).collect())
}

/// Stores what Steam said about one batch; accounts Steam did not return
/// (deleted, or an id that never existed) keep what they had but count as checked.
async fn store<C: ConnectionTrait>(
    db: &C,
    batch: &[(i64, i64)],
    found: Vec<PlayerSummary>,
    now: DateTime<Utc>,
) -> Result<u64, sea_orm::DbErr> {
    let mut updated = 0;
    for (user_id, steam_id) in batch {
        let mut update = user::Entity::update_many()
            .col_expr(user::Column::SteamCheckedAt, Expr::value(now))
            .filter(user::Column::Id.eq(*user_id));
        if let Some(summary) = found.iter().find(|p| p.steamid == steam_id.to_string()) {
            update = update
                .col_expr(user::Column::SteamPersonaName, Expr::value(clipped(summary.personaname.clone())))
                .col_expr(user::Column::SteamAvatarUrl, Expr::value(clipped(summary.avatarfull.clone())));
            updated += 1;
        }
        update.exec(db).await?;
    }
    Ok(updated)
}

/// Refreshes every registered user with a Steam id, one Steam call per 100.
pub async fn refresh_all<C: ConnectionTrait>(
    db: &C,
    steam: &SteamClient,
    now: DateTime<Utc>,
) -> Result<serde_json::Value, JobError> {
    if !steam.is_configured() {
        return Ok(json!({ "skipped": "not_configured: STEAM_API_KEY" }));
    }
    let users: Vec<(i64, Option<i64>)> = user::Entity::find()
        .select_only()
        .column(user::Column::Id)
        .column(user::Column::SteamId)
        .filter(user::Column::SteamId.is_not_null())
        .order_by_asc(user::Column::SteamCheckedAt)
        .order_by_asc(user::Column::Id)
        .into_tuple()
        .all(db)
        .await?;
    let users: Vec<(i64, i64)> = users.into_iter().filter_map(|(id, steam)| steam.map(|s| (id, s))).collect();
    let (mut calls, mut updated) = (0, 0);
    for batch in users.chunks(SUMMARIES_PER_CALL) {
        let ids: Vec<i64> = batch.iter().map(|(_, s)| *s).collect();
        let found = steam.player_summaries(&ids).await.map_err(JobError::from)?;
        calls += 1;
        updated += store(db, batch, found, now).await?;
    }
    Ok(json!({ "users": users.len(), "steam_calls": calls, "updated": updated }))
}
