//! Users, leagues and the people who run them.

use std::collections::HashMap;

use entity::{league, league_admin, user};
use sea_orm::{ActiveModelTrait, ColumnTrait, DbErr, EntityTrait, QueryFilter, Set};

use super::source::Kind::{Bool, Int, Text};
use super::source::Row;
use super::{Importer, Target, rules};

pub const USERS: &str = "app_customuser";
pub const LEAGUES: &str = "app_league";
pub const LEAGUE_ADMINS: &str = "app_league_admins";
pub const LEAGUE_STAFF: &str = "app_league_staff";

impl<C: Target> Importer<'_, C> {
    pub(super) async fn users(&mut self) -> Result<(), DbErr> {
        let positions: HashMap<i64, [i16; 5]> = self
            .source
            .rows(
                "app_positionsmodel",
                &[
                    ("id", Int),
                    ("carry", Int),
                    ("mid", Int),
                    ("offlane", Int),
                    ("soft_support", Int),
                    ("hard_support", Int),
                ],
                "id",
            )
            .await?
            .iter()
            .map(|r| {
                let rank = |c| r.int(c).unwrap_or_default().clamp(0, 5) as i16;
                (r.id(), [rank("carry"), rank("mid"), rank("offlane"), rank("soft_support"), rank("hard_support")])
            })
            .collect();
        let rows = self
            .source
            .rows(
                USERS,
                &[
                    ("id", Int),
                    ("username", Text),
                    ("discordId", Text),
                    ("discordUsername", Text),
                    ("nickname", Text),
                    ("discordNickname", Text),
                    ("guildNickname", Text),
                    ("avatar", Text),
                    ("mmr", Int),
                    ("league_mmr", Int),
                    ("steamid", Int),
                    ("steam_account_id", Int),
                    ("is_staff", Bool),
                    ("is_superuser", Bool),
                    ("is_active", Bool),
                    ("date_joined", Text),
                    ("last_login", Text),
                    ("positions_id", Int),
                ],
                "id",
            )
            .await?;
        for r in &rows {
            self.original_league_mmr.insert(r.id(), r.int("league_mmr").and_then(|v| i32::try_from(v).ok()));
        }
        let rows = self.pending(USERS, rows, Row::id);
        let existing = user::Entity::find().all(self.db).await?;
        let mut names = rules::Usernames::new(existing.iter().filter_map(|u| u.username_key.clone()));
        let by_discord: HashMap<String, i64> =
            existing.iter().filter_map(|u| u.discord_id.clone().map(|d| (d, u.id))).collect();
        let mut steam_taken: HashMap<i64, i64> =
            existing.iter().filter_map(|u| u.steam_id.map(|s| (s, u.id))).collect();
        in_batches!(self, USERS, rows, Row::id, |txn, r| {
            let id = r.id();
            let discord_id = rules::discord_id(r.text("discordId"));
            if discord_id.is_none() && r.text("discordId").is_some_and(|d| !d.is_empty()) {
                self.report.fix(USERS, id, format!("malformed discordId {:?} dropped", r.string("discordId")));
            }
            match discord_id.as_ref().and_then(|d| by_discord.get(d)) {
                Some(existing) => {
                    self.report.fix(USERS, id, format!("same discordId as account {existing} here: mapped to it"));
                    *existing
                }
                None => {
                    let (username, note) = names.assign(&r.string("username"), id);
                    if let Some(note) = note {
                        self.report.fix(USERS, id, note);
                    }
                    let (mut steam_id, note) = rules::user_steam_id(r.int("steamid"), r.int("steam_account_id"));
                    if let Some(note) = note {
                        self.report.fix(USERS, id, note);
                    }
                    if let Some(owner) = steam_id.and_then(|s| steam_taken.get(&s)) {
                        self.report.fix(USERS, id, format!("Steam id already belongs to account {owner}: left unset"));
                        steam_id = None;
                    }
                    let ranks = r.int("positions_id").and_then(|p| positions.get(&p)).copied().unwrap_or_default();
                    let text = |c: &str| r.text(c).filter(|t| !t.is_empty()).map(str::to_owned);
                    // Display names go through the API's rule (SPEC §24): what it would refuse is cleaned, and said.
                    let mut name = |c: &str| {
                        let raw = r.text(c).filter(|t| !t.trim().is_empty())?;
                        let clean = crate::domain::usernames::sanitize_nickname(raw);
                        if clean.as_deref() != Some(raw.trim()) {
                            let chars = raw.chars().count();
                            self.report.fix(USERS, id, format!("{c} ({chars} characters) cleaned: invisible or control characters dropped, at most 100 kept"));
                        }
                        clean
                    };
                    let (discord_username, nickname) = (name("discordUsername"), name("nickname"));
                    let (discord_nickname, guild_nickname) = (name("discordNickname"), name("guildNickname"));
                    let avatar = text("avatar").filter(|hash| {
                        let ok = entity::user::is_avatar_hash(hash);
                        if !ok {
                            self.report.fix(USERS, id, "avatar is not a Discord avatar hash (hex): dropped");
                        }
                        ok
                    });
                    let mmr = r.int("mmr").and_then(|v| i32::try_from(v).ok());
                    let mut row = user::ActiveModel {
                        username: Set(username),
                        discord_id: Set(discord_id),
                        discord_username: Set(discord_username),
                        steam_id: Set(steam_id),
                        avatar: Set(avatar),
                        nickname: Set(nickname),
                        discord_nickname: Set(discord_nickname),
                        guild_nickname: Set(guild_nickname),
                        mmr: Set(mmr),
                        // Recomputed with the league stats at the end of the run.
                        league_mmr: Set(None),
                        pos_carry: Set(ranks[0]),
                        pos_mid: Set(ranks[1]),
                        pos_offlane: Set(ranks[2]),
                        pos_soft_support: Set(ranks[3]),
                        pos_hard_support: Set(ranks[4]),
                        is_staff: Set(r.bool("is_staff")),
                        is_superuser: Set(r.bool("is_superuser")),
                        // Deactivated there, deactivated here (null: active, Django's default).
                        is_active: Set(r.int("is_active").is_none_or(|v| v != 0)),
                        session_epoch: Set(0),
                        last_login: Set(r.time("last_login")),
                        ..Default::default()
                    };
                    if let Some(joined) = r.time("date_joined") {
                        row.created_at = Set(joined);
                    }
                    let inserted = row.insert(&txn).await?;
                    if let Some(s) = steam_id {
                        steam_taken.insert(s, inserted.id);
                    }
                    inserted.id
                }
            }
        });
        Ok(())
    }

    pub(super) async fn leagues(&mut self) -> Result<(), DbErr> {
        let rows = self
            .source
            .rows(
                LEAGUES,
                &[
                    ("id", Int),
                    ("steam_league_id", Int),
                    ("name", Text),
                    ("description", Text),
                    ("rules", Text),
                    ("prize_pool", Text),
                    ("timezone", Text),
                    ("last_synced", Text),
                    ("created_at", Text),
                ],
                "id",
            )
            .await?;
        let rows = self.pending(LEAGUES, rows, Row::id);
        in_batches!(self, LEAGUES, rows, Row::id, |txn, r| {
            let Some(steam_league_id) = r.int("steam_league_id").filter(|id| *id > 0) else {
                self.report.skip(LEAGUES, r.id(), "no Steam league id");
                continue;
            };
            let here =
                league::Entity::find().filter(league::Column::SteamLeagueId.eq(steam_league_id)).one(&txn).await?;
            if let Some(here) = here {
                self.report.fix(LEAGUES, r.id(), format!("Steam league {steam_league_id} exists here: mapped to it"));
                here.id
            } else {
                let name = r.text("name").map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned);
                if name.is_none() {
                    self.report.fix(LEAGUES, r.id(), "empty name replaced");
                }
                let timezone = r.text("timezone").filter(|t| !t.is_empty()).unwrap_or("UTC").to_owned();
                // Free text as the API takes it (SPEC §24), with a report line per change.
                let mut text = |column: &str, max: usize| {
                    let (text, note) = rules::text(r.text(column).unwrap_or_default(), max);
                    if let Some(note) = note {
                        self.report.fix(LEAGUES, r.id(), format!("{column}: {note}"));
                    }
                    text
                };
                let (description, rules_text, prize_pool) =
                    (text("description", 10_000), text("rules", 50_000), text("prize_pool", 100));
                let mut row = league::ActiveModel {
                    steam_league_id: Set(steam_league_id),
                    name: Set(name.unwrap_or_else(|| format!("League {steam_league_id}"))),
                    description: Set(description),
                    rules: Set(rules_text),
                    prize_pool: Set(prize_pool),
                    timezone: Set(timezone),
                    sync_enabled: Set(true),
                    last_synced: Set(r.time("last_synced")),
                    ..Default::default()
                };
                if let Some(created) = r.time("created_at") {
                    row.created_at = Set(created);
                }
                row.insert(&txn).await?.id
            }
        });
        Ok(())
    }

    /// The original's league admins and league staff both become league
    /// admins here (SPEC §18).
    pub(super) async fn league_admins(&mut self) -> Result<(), DbErr> {
        for table in [LEAGUE_ADMINS, LEAGUE_STAFF] {
            let columns = [league_admin::Column::LeagueId, league_admin::Column::UserId];
            self.user_links::<league_admin::Entity, _>(table, ("league_id", LEAGUES), columns, |l, u| {
                league_admin::ActiveModel {
                    league_id: Set(l),
                    user_id: Set(u),
                    granted_by: Set(None),
                    created_at: Set(chrono::Utc::now()),
                    ..Default::default()
                }
            })
            .await?;
        }
        Ok(())
    }
}
