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
use crate::infra::rows::upsert;

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
                details.match_id.into(),
                details.match_seq_num.into(),
                steam_league_id.into(),
                details.radiant_win.into(),
                details.duration.into(),
                start_time.into(),
                details.game_mode.into(),
                details.lobby_type.into(),
                fetched_at.into(),
            ]
        })
        .collect();
    let columns = [
        ("match_id", "int8"),
        ("match_seq_num", "int8"),
        ("league_id", "int8"),
        ("radiant_win", "bool"),
        ("duration", "int4"),
        ("start_time", "timestamptz"),
        ("game_mode", "int4"),
        ("lobby_type", "int4"),
        ("fetched_at", "timestamptz"),
    ];
    let refresh = ["match_seq_num", "radiant_win", "duration", "start_time", "game_mode", "lobby_type", "fetched_at"];
    upsert(&txn, "steam_matches", &columns, &["match_id"], &refresh, rows).await?;

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
                match_id.into(),
                steam_id.into(),
                steam_id.and_then(|s| owners.get(&s).copied()).into(),
                p.player_slot.into(),
                p.hero_id.into(),
                p.kills.into(),
                p.deaths.into(),
                p.assists.into(),
                p.gold_per_min.into(),
                p.xp_per_min.into(),
                p.last_hits.into(),
                p.denies.into(),
                p.hero_damage.into(),
                p.tower_damage.into(),
                p.hero_healing.into(),
            ]
        })
        .collect();
    let stats = [
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
    let mut columns = vec![("match_id", "int8"), ("steam_id", "int8"), ("user_id", "int8"), ("player_slot", "int4")];
    columns.extend(stats[2..].iter().map(|c| (*c, "int4")));
    upsert(&txn, "player_match_stats", &columns, &["match_id", "player_slot"], &stats, lines).await?;
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
