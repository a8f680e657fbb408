//! Steam matches, their player lines and each league's sync bookmark.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use entity::{league, league_sync_state, player_match_stats, steam_match, user};
use sea_orm::{ActiveModelTrait, ColumnTrait, DbErr, EntityTrait, QueryFilter, Set};

use super::people::LEAGUES;
use super::source::Kind::{Int, Text};
use super::source::Row;
use super::{BATCH, Importer, Target, rules};

pub const MATCHES: &str = "steam_match";
pub const PLAYER_LINES: &str = "steam_playermatchstats";
const SYNC_STATES: &str = "steam_leaguesyncstate";

/// A match here has a map entry whose target is itself; a match that a
/// sync here had already stored is mapped to `ALREADY_HERE` so its lines
/// are not doubled.
const ALREADY_HERE: i64 = 0;

fn match_id(r: &Row) -> i64 {
    r.int("match_id").unwrap_or_default()
}

impl<C: Target> Importer<'_, C> {
    pub(super) async fn steam_matches(&mut self) -> Result<(), DbErr> {
        let columns = [
            ("match_id", Int),
            ("radiant_win", super::source::Kind::Bool),
            ("duration", Int),
            ("start_time", Int),
            ("game_mode", Int),
            ("lobby_type", Int),
            ("league_id", Int),
        ];
        let rows = self.source.rows(MATCHES, &columns, "match_id").await?;
        let rows = self.pending(MATCHES, rows, match_id);
        let now = Utc::now();
        let stored = self.stored_matches(rows.iter().map(match_id).collect()).await?;
        in_batches!(self, MATCHES, rows, match_id, |txn, r| {
            let id = match_id(r);
            if stored.contains(&id) {
                self.report.fix(MATCHES, id, "already stored here by a sync: kept as it is, its lines not imported");
                ALREADY_HERE
            } else {
                let Some(league_id) = r.int("league_id") else {
                    self.report.skip(
                        MATCHES,
                        id,
                        "no league (fetched by id): league stats here count league matches only",
                    );
                    continue;
                };
                let Some(start_time) = r.int("start_time").and_then(|s| DateTime::from_timestamp(s, 0)) else {
                    self.report.skip(MATCHES, id, "unreadable start_time");
                    continue;
                };
                let row = steam_match::ActiveModel {
                    match_id: Set(id),
                    match_seq_num: Set(None),
                    league_id: Set(league_id),
                    radiant_win: Set(r.bool("radiant_win")),
                    duration: Set(r.int("duration").unwrap_or_default() as i32),
                    start_time: Set(start_time),
                    game_mode: Set(r.int("game_mode").unwrap_or_default() as i32),
                    lobby_type: Set(r.int("lobby_type").unwrap_or_default() as i32),
                    fetched_at: Set(now),
                    ..Default::default()
                };
                steam_match::Entity::insert(row).exec_without_returning(&txn).await?;
                id
            }
        });
        Ok(())
    }

    /// Which of `ids` are stored here (one query per batch, not per id).
    pub(super) async fn stored_matches(&self, ids: Vec<i64>) -> Result<HashSet<i64>, DbErr> {
        let mut stored = HashSet::new();
        for chunk in ids.chunks(BATCH) {
            let found = steam_match::Entity::find()
                .filter(steam_match::Column::MatchId.is_in(chunk.to_vec()))
                .all(self.db)
                .await?;
            stored.extend(found.into_iter().map(|m| m.match_id));
        }
        Ok(stored)
    }

    /// Player lines, linked to users here by SteamID64 the way a sync
    /// links them (not by the original's `user_id`, which misses players
    /// who registered after the last sync).
    pub(super) async fn player_lines(&mut self) -> Result<(), DbErr> {
        let columns = [
            ("id", Int),
            ("match_id", Int),
            ("steam_id", Int),
            ("player_slot", Int),
            ("hero_id", Int),
            ("kills", Int),
            ("deaths", Int),
            ("assists", Int),
            ("gold_per_min", Int),
            ("xp_per_min", Int),
            ("last_hits", Int),
            ("denies", Int),
            ("hero_damage", Int),
            ("tower_damage", Int),
            ("hero_healing", Int),
        ];
        let rows = self.source.rows(PLAYER_LINES, &columns, "id").await?;
        let rows = self.pending(PLAYER_LINES, rows, Row::id);
        let owners: HashMap<i64, i64> = user::Entity::find()
            .filter(user::Column::SteamId.is_not_null())
            .all(self.db)
            .await?
            .into_iter()
            .filter_map(|u| u.steam_id.map(|s| (s, u.id)))
            .collect();
        in_batches!(self, PLAYER_LINES, rows, Row::id, |txn, r| {
            let id = r.id();
            match self.mapped(MATCHES, r.int("match_id")) {
                None => {
                    self.report.skip(PLAYER_LINES, id, "its match was not carried over");
                    continue;
                }
                Some(ALREADY_HERE) => {
                    self.report.skip(PLAYER_LINES, id, "its match was already stored here with its lines");
                    continue;
                }
                Some(_) => {}
            }
            let raw = r.int("steam_id").unwrap_or_default();
            let steam_id = rules::line_steam_id(raw);
            if steam_id.is_none() && raw != entity::steam_id::STEAM_ID64_OFFSET + entity::steam_id::PRIVATE_ACCOUNT_ID {
                self.report.fix(PLAYER_LINES, id, format!("malformed steam_id {raw}: stored as anonymous"));
            }
            let stat = |c: &str| r.int(c).unwrap_or_default() as i32;
            let row = player_match_stats::ActiveModel {
                match_id: Set(r.int("match_id").unwrap_or_default()),
                steam_id: Set(steam_id),
                user_id: Set(steam_id.and_then(|s| owners.get(&s).copied())),
                player_slot: Set(stat("player_slot")),
                hero_id: Set(stat("hero_id")),
                kills: Set(stat("kills")),
                deaths: Set(stat("deaths")),
                assists: Set(stat("assists")),
                gold_per_min: Set(stat("gold_per_min")),
                xp_per_min: Set(stat("xp_per_min")),
                last_hits: Set(stat("last_hits")),
                denies: Set(stat("denies")),
                hero_damage: Set(stat("hero_damage")),
                tower_damage: Set(stat("tower_damage")),
                hero_healing: Set(stat("hero_healing")),
                ..Default::default()
            };
            row.insert(&txn).await?.id
        });
        Ok(())
    }

    /// Each imported league's sync bookmark (highest match, failed matches),
    /// so the next sync here continues where the original stopped.
    pub(super) async fn sync_states(&mut self) -> Result<(), DbErr> {
        let columns = [
            ("id", Int),
            ("league_id", Int),
            ("last_sync_at", Text),
            ("last_match_id", Int),
            ("failed_match_ids", Text),
        ];
        let rows = self.source.rows(SYNC_STATES, &columns, "id").await?;
        let ours: HashSet<i64> = self.map_of(LEAGUES).values().copied().collect();
        let txn = self.db.begin().await?;
        let counts = self.report.table(SYNC_STATES);
        counts.source_rows = rows.len();
        for r in &rows {
            let steam_league_id = r.int("league_id").unwrap_or_default();
            let here =
                league::Entity::find().filter(league::Column::SteamLeagueId.eq(steam_league_id)).one(&txn).await?;
            let Some(here) = here.filter(|l| ours.contains(&l.id)) else {
                self.report.skip(SYNC_STATES, r.id(), format!("league {steam_league_id} was not carried over"));
                continue;
            };
            let existing = league_sync_state::Entity::find()
                .filter(league_sync_state::Column::LeagueId.eq(here.id))
                .one(&txn)
                .await?;
            if existing.is_some() {
                self.report.table(SYNC_STATES).already_imported += 1;
                continue;
            }
            let failed: Vec<i64> = r
                .json("failed_match_ids")
                .ok()
                .flatten()
                .and_then(|v| serde_json::from_value::<Vec<i64>>(v).ok())
                .unwrap_or_default();
            league_sync_state::ActiveModel {
                league_id: Set(here.id),
                last_match_id: Set(r.int("last_match_id")),
                last_sync_at: Set(r.time("last_sync_at")),
                failed_match_ids: Set(serde_json::json!(failed)),
                last_error: Set(None),
                ..Default::default()
            }
            .insert(&txn)
            .await?;
            self.report.table(SYNC_STATES).imported += 1;
        }
        txn.commit().await
    }
}
