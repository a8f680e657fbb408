//! Keeping player lines linked to users when a user's steamId changes.

use std::collections::BTreeSet;

use entity::{player_match_stats, steam_match};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};

/// Links `user_id` to the lines of `new` (unlinked ones), unlinks their lines
/// of any other Steam id, and returns the Steam leagues whose stats changed.
pub async fn relink<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
    old: Option<i64>,
    new: Option<i64>,
) -> Result<BTreeSet<i64>, DbErr> {
    let touched: Vec<i64> = [old, new].into_iter().flatten().collect();
    let match_ids: Vec<i64> = player_match_stats::Entity::find()
        .select_only()
        .column(player_match_stats::Column::MatchId)
        .filter(
            sea_orm::Condition::any()
                .add(player_match_stats::Column::SteamId.is_in(touched))
                .add(player_match_stats::Column::UserId.eq(user_id)),
        )
        .into_tuple()
        .all(db)
        .await?;
    let mut unlink = player_match_stats::Entity::update_many()
        .col_expr(player_match_stats::Column::UserId, Expr::value(Option::<i64>::None))
        .filter(player_match_stats::Column::UserId.eq(user_id));
    if let Some(new) = new {
        unlink = unlink.filter(player_match_stats::Column::SteamId.ne(new));
    }
    unlink.exec(db).await?;
    if let Some(new) = new {
        player_match_stats::Entity::update_many()
            .col_expr(player_match_stats::Column::UserId, Expr::value(user_id))
            .filter(player_match_stats::Column::SteamId.eq(new))
            .filter(player_match_stats::Column::UserId.is_null())
            .exec(db)
            .await?;
    }
    let leagues: Vec<i64> = steam_match::Entity::find()
        .select_only()
        .column(steam_match::Column::LeagueId)
        .filter(steam_match::Column::MatchId.is_in(match_ids))
        .distinct()
        .into_tuple()
        .all(db)
        .await?;
    Ok(leagues.into_iter().collect())
}
