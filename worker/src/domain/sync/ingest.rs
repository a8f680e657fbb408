//! Stores matches with their ten player lines, a run of them in one
//! transaction (multi-row upserts: re-ingesting changes nothing), linking
//! players to users by SteamID64. The league's high-water mark moves in the
//! same transaction, so a crash leaves either all of a run or none of it —
//! never half a match.

use std::collections::HashMap;

use chrono::{TimeZone, Utc};
use entity::steam_id::steam_id64_of;
use entity::{league_sync_state, player_match_stats, steam_match, user};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect, Set};

use crate::clients::steam::types::MatchDetails;

/// Rows per multi-row statement: each statement's message stays under one
/// loopback segment (~64 KiB). sqlx does not set TCP_NODELAY, so a message
/// split in two waits for the server's delayed ACK (~40 ms) before its tail.
const ROWS_PER_INSERT: usize = 120;

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
    let Some(highest) = matches.iter().map(|m| m.match_id).max() else { return Ok(()) };
    let txn = crate::infra::db::write_txn(db).await?;
    let fetched_at = Utc::now();
    let rows: Vec<steam_match::ActiveModel> = matches
        .iter()
        .map(|details| steam_match::ActiveModel {
            match_id: Set(details.match_id),
            match_seq_num: Set(details.match_seq_num),
            league_id: Set(steam_league_id),
            radiant_win: Set(details.radiant_win),
            duration: Set(details.duration),
            start_time: Set(Utc.timestamp_opt(details.start_time, 0).single().unwrap_or(fetched_at)),
            game_mode: Set(details.game_mode),
            lobby_type: Set(details.lobby_type),
            fetched_at: Set(fetched_at),
        })
        .collect();
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        steam_match::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::column(steam_match::Column::MatchId)
                    .update_columns([
                        steam_match::Column::MatchSeqNum,
                        steam_match::Column::RadiantWin,
                        steam_match::Column::Duration,
                        steam_match::Column::StartTime,
                        steam_match::Column::GameMode,
                        steam_match::Column::LobbyType,
                        steam_match::Column::FetchedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
    }

    let steam_ids: Vec<i64> =
        matches.iter().flat_map(|m| &m.players).filter_map(|p| p.account_id.and_then(steam_id64_of)).collect();
    let mut owners: HashMap<i64, i64> = HashMap::new();
    for chunk in steam_ids.chunks(ROWS_PER_INSERT) {
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
    let lines: Vec<player_match_stats::ActiveModel> = matches
        .iter()
        .flat_map(|details| details.players.iter().map(move |p| (details.match_id, p)))
        .map(|(match_id, p)| {
            let steam_id = p.account_id.and_then(steam_id64_of);
            player_match_stats::ActiveModel {
                match_id: Set(match_id),
                steam_id: Set(steam_id),
                user_id: Set(steam_id.and_then(|s| owners.get(&s).copied())),
                player_slot: Set(p.player_slot),
                hero_id: Set(p.hero_id),
                kills: Set(p.kills),
                deaths: Set(p.deaths),
                assists: Set(p.assists),
                gold_per_min: Set(p.gold_per_min),
                xp_per_min: Set(p.xp_per_min),
                last_hits: Set(p.last_hits),
                denies: Set(p.denies),
                hero_damage: Set(p.hero_damage),
                tower_damage: Set(p.tower_damage),
                hero_healing: Set(p.hero_healing),
                ..Default::default()
            }
        })
        .collect();
    for chunk in lines.chunks(ROWS_PER_INSERT) {
        use player_match_stats::Column as C;
        player_match_stats::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::columns([C::MatchId, C::PlayerSlot])
                    .update_columns([
                        C::SteamId,
                        C::UserId,
                        C::HeroId,
                        C::Kills,
                        C::Deaths,
                        C::Assists,
                        C::GoldPerMin,
                        C::XpPerMin,
                        C::LastHits,
                        C::Denies,
                        C::HeroDamage,
                        C::TowerDamage,
                        C::HeroHealing,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
    }
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
