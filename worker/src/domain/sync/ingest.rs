//! Stores matches with their ten player lines, a run of them in one
//! transaction (multi-row upserts: re-ingesting changes nothing), linking
//! players to users by SteamID64. The league's high-water mark moves in the
//! same transaction, so a crash leaves either all of a run or none of it —
//! never half a match.

use std::collections::HashMap;

use chrono::{TimeZone, Utc};
use entity::steam_id::steam_id64_of;
use entity::{league_sync_state, user};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait, QueryFilter, QuerySelect};

use crate::clients::steam::types::MatchDetails;
use crate::infra::rows::{cell, upsert};

/// Steam ids per user lookup (SQLite binds at most 32 766 parameters).
const IDS_PER_LOOKUP: usize = 1000;

/// Upserts one match (see [`ingest_matches`]).
pub async fn ingest_match(
    db: &DatabaseConnection,
    steam_league_id: i64,
    state_id: Option<i64>,
    details: &MatchDetails,
) -> Result<(), DbErr> {
    ingest_matches(db, steam_league_id, state_id, std::slice::from_ref(details)).await
}

/// Upserts `matches` of league `steam_league_id` in one transaction;
/// `state_id` is the league's sync state row, whose `last_match_id` becomes
/// the highest stored id.
pub async fn ingest_matches(
    db: &DatabaseConnection,
    steam_league_id: i64,
    state_id: Option<i64>,
    matches: &[MatchDetails],
) -> Result<(), DbErr> {
    match write_matches(db, steam_league_id, matches).await? {
        Some(written) => commit_matches(written, state_id).await,
        None => Ok(()),
    }
}

/// A run of matches written in a transaction not yet committed.
pub struct Written {
    txn: DatabaseTransaction,
    highest: i64,
}

/// The match and player rows of [`ingest_matches`], in a transaction left
/// open for [`commit_matches`] (`None`: nothing to write). Two may be
/// written side by side: they touch different rows.
pub async fn write_matches(
    db: &DatabaseConnection,
    steam_league_id: i64,
    matches: &[MatchDetails],
) -> Result<Option<Written>, DbErr> {
    let Some(highest) = matches.iter().map(|m| m.match_id).max() else { return Ok(None) };
    let txn = crate::infra::db::write_txn(db).await?;
    let fetched_at = Utc::now();
    let rows = matches
        .iter()
        .map(|details| {
            let start_time = Utc.timestamp_opt(details.start_time, 0).single().unwrap_or(fetched_at);
            vec![
                cell("match_id", "int8", details.match_id),
                cell("match_seq_num", "int8", details.match_seq_num),
                cell("league_id", "int8", steam_league_id),
                cell("radiant_win", "bool", details.radiant_win),
                cell("duration", "int4", details.duration),
                cell("start_time", "timestamptz", start_time),
                cell("game_mode", "int4", details.game_mode),
                cell("lobby_type", "int4", details.lobby_type),
                cell("fetched_at", "timestamptz", fetched_at),
            ]
        })
        .collect();
    let refresh = ["match_seq_num", "radiant_win", "duration", "start_time", "game_mode", "lobby_type", "fetched_at"];
    upsert(&txn, "steam_matches", &["match_id"], &refresh, rows).await?;

    // Once per player, not per line: a run of 200 matches has 2 000 lines but a league's few hundred players.
    let steam_ids: Vec<i64> = matches
        .iter()
        .flat_map(|m| &m.players)
        .filter_map(|p| p.account_id.and_then(steam_id64_of))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut owners: HashMap<i64, i64> = HashMap::new();
    for chunk in steam_ids.chunks(IDS_PER_LOOKUP) {
        owners.extend(
            user::Entity::find()
                .select_only()
                .column(user::Column::SteamId)
                .column(user::Column::Id)
                .filter(user::Column::SteamId.is_in(chunk.iter().copied()))
                .into_tuple::<(Option<i64>, i64)>()
                .all(&txn)
                .await?
                .into_iter()
                .filter_map(|(steam_id, id)| steam_id.map(|s| (s, id))),
        );
    }
    let lines = matches
        .iter()
        .flat_map(|details| details.players.iter().map(move |p| (details.match_id, p)))
        .map(|(match_id, p)| {
            let steam_id = p.account_id.and_then(steam_id64_of);
            vec![
                cell("match_id", "int8", match_id),
                cell("steam_id", "int8", steam_id),
                cell("user_id", "int8", steam_id.and_then(|s| owners.get(&s).copied())),
                cell("player_slot", "int4", p.player_slot),
                cell("hero_id", "int4", p.hero_id),
                cell("kills", "int4", p.kills),
                cell("deaths", "int4", p.deaths),
                cell("assists", "int4", p.assists),
                cell("gold_per_min", "int4", p.gold_per_min),
                cell("xp_per_min", "int4", p.xp_per_min),
                cell("last_hits", "int4", p.last_hits),
                cell("denies", "int4", p.denies),
                cell("hero_damage", "int4", p.hero_damage),
                cell("tower_damage", "int4", p.tower_damage),
                cell("hero_healing", "int4", p.hero_healing),
            ]
        })
        .collect();
    // A stored line takes every value again but its place (match and slot).
    let refresh = [
        "steam_id",
        "user_id",
        "hero_id",
        "kills",
        "deaths",
        "assists",
        "gold_per_min",
        "xp_per_min",
        "last_hits",
        "denies",
        "hero_damage",
        "tower_damage",
        "hero_healing",
    ];
    upsert(&txn, "player_match_stats", &["match_id", "player_slot"], &refresh, lines).await?;
    Ok(Some(Written { txn, highest }))
}

/// Moves the league's high-water mark (`state_id`: its sync state row) in
/// the run's transaction and commits it. Runs written side by side are
/// committed one after the other, oldest first: the mark's row lock is taken
/// here, never while another run's transaction is still open.
pub async fn commit_matches(written: Written, state_id: Option<i64>) -> Result<(), DbErr> {
    let Written { txn, highest } = written;
    if let Some(state_id) = state_id {
        // The high-water mark only moves up.
        league_sync_state::Entity::update_many()
            .col_expr(league_sync_state::Column::LastMatchId, Expr::value(highest))
            .filter(league_sync_state::Column::Id.eq(state_id))
            .filter(
                sea_orm::Condition::any()
                    .add(league_sync_state::Column::LastMatchId.is_null())
                    .add(league_sync_state::Column::LastMatchId.lt(highest)),
            )
            .exec(&txn)
            .await?;
    }
    txn.commit().await
}
