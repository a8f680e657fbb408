//! Tournament nights: tournaments and their players, teams and their
//! members, games with their bracket links and results.

use entity::team_attendance::{self, Attendance};
use entity::{
    BracketType, GameStatus, TournamentState, TournamentType, game, team, team_member, tournament, tournament_user,
};
use sea_orm::{ActiveModelTrait, ColumnTrait, DbErr, EntityTrait, QueryFilter, Set};

use super::people::{LEAGUES, USERS};
use super::source::Kind::{Int, Text};
use super::source::Row;
use super::{Importer, Target};

pub const TOURNAMENTS: &str = "app_tournament";
pub const TOURNAMENT_USERS: &str = "app_tournament_users";
pub const TEAMS: &str = "app_team";
pub const TEAM_MEMBERS: &str = "app_team_members";
pub const DROP_INS: &str = "app_team_dropin_members";
pub const LEAVERS: &str = "app_team_left_members";
pub const GAMES: &str = "app_game";

fn tournament_state(raw: &str) -> Option<TournamentState> {
    match raw {
        "future" => Some(TournamentState::Future),
        "in_progress" => Some(TournamentState::InProgress),
        "past" => Some(TournamentState::Past),
        _ => None,
    }
}

fn tournament_type(raw: &str) -> Option<TournamentType> {
    match raw {
        "single_elimination" => Some(TournamentType::SingleElimination),
        "double_elimination" => Some(TournamentType::DoubleElimination),
        "swiss" => Some(TournamentType::Swiss),
        _ => None,
    }
}

fn bracket_type(raw: &str) -> Option<BracketType> {
    match raw {
        "winners" => Some(BracketType::Winners),
        "losers" => Some(BracketType::Losers),
        "grand_finals" => Some(BracketType::GrandFinals),
        "swiss" => Some(BracketType::Swiss),
        _ => None,
    }
}

fn game_status(raw: &str) -> Option<GameStatus> {
    match raw {
        "pending" => Some(GameStatus::Pending),
        "live" => Some(GameStatus::Live),
        "completed" => Some(GameStatus::Completed),
        _ => None,
    }
}

/// A bracket slot as stored here, or `None`.
fn slot(raw: Option<&str>) -> Option<String> {
    raw.filter(|s| matches!(*s, "radiant" | "dire")).map(str::to_owned)
}

impl<C: Target> Importer<'_, C> {
    pub(super) async fn tournaments(&mut self) -> Result<(), DbErr> {
        let rows = self
            .source
            .rows(
                TOURNAMENTS,
                &[
                    ("id", Int),
                    ("name", Text),
                    ("state", Text),
                    ("tournament_type", Text),
                    ("league_fk_id", Int),
                    ("timezone", Text),
                    ("date_played", Text),
                ],
                "id",
            )
            .await?;
        let rows = self.pending(TOURNAMENTS, rows, Row::id);
        in_batches!(self, TOURNAMENTS, rows, Row::id, |txn, r| {
            let id = r.id();
            let Some(date_played) = r.time("date_played") else {
                self.report.skip(TOURNAMENTS, id, format!("unreadable date_played {:?}", r.string("date_played")));
                continue;
            };
            let state = tournament_state(&r.string("state")).unwrap_or_else(|| {
                self.report.fix(TOURNAMENTS, id, format!("unknown state {:?} read as past", r.string("state")));
                TournamentState::Past
            });
            let kind = tournament_type(&r.string("tournament_type")).unwrap_or_else(|| {
                let raw = r.string("tournament_type");
                self.report.fix(TOURNAMENTS, id, format!("unknown type {raw:?} read as double elimination"));
                TournamentType::DoubleElimination
            });
            let league_id = self.mapped(LEAGUES, r.int("league_fk_id"));
            if league_id.is_none() && r.int("league_fk_id").is_some() {
                self.report.fix(TOURNAMENTS, id, "its league was not carried over: no league");
            }
            let name = r.text("name").map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned);
            let name = name.unwrap_or_else(|| {
                self.report.fix(TOURNAMENTS, id, "empty name replaced");
                format!("Tournament {id}")
            });
            let row = tournament::ActiveModel {
                name: Set(name),
                date_played: Set(date_played),
                timezone: Set(r.text("timezone").filter(|t| !t.is_empty()).unwrap_or("UTC").to_owned()),
                state: Set(state),
                tournament_type: Set(kind),
                league_id: Set(league_id),
                winning_team_id: Set(None),
                bracket: Set(None),
                ..Default::default()
            };
            row.insert(&txn).await?.id
        });
        Ok(())
    }

    pub(super) async fn tournament_users(&mut self) -> Result<(), DbErr> {
        let columns = [tournament_user::Column::TournamentId, tournament_user::Column::UserId];
        self.user_links::<tournament_user::Entity, _>(
            TOURNAMENT_USERS,
            ("tournament_id", TOURNAMENTS),
            columns,
            |t, u| tournament_user::ActiveModel { tournament_id: Set(t), user_id: Set(u) },
        )
        .await
    }

    pub(super) async fn teams(&mut self) -> Result<(), DbErr> {
        let rows = self
            .source
            .rows(
                TEAMS,
                &[
                    ("id", Int),
                    ("name", Text),
                    ("captain_id", Int),
                    ("deputy_captain_id", Int),
                    ("tournament_id", Int),
                    ("draft_order", Int),
                    ("placement", Int),
                ],
                "id",
            )
            .await?;
        let rows = self.pending(TEAMS, rows, Row::id);
        in_batches!(self, TEAMS, rows, Row::id, |txn, r| {
            let id = r.id();
            let Some(tournament_id) = self.mapped(TOURNAMENTS, r.int("tournament_id")) else {
                self.report.skip(TEAMS, id, "belongs to no tournament carried over");
                continue;
            };
            let mut person = |col: &str, what: &str| {
                let found = self.mapped(USERS, r.int(col));
                if found.is_none() && r.int(col).is_some() {
                    self.report.fix(TEAMS, id, format!("{what} {} does not exist: left unset", r.int(col).unwrap()));
                }
                found
            };
            let captain_id = person("captain_id", "captain");
            let deputy_captain_id = person("deputy_captain_id", "deputy captain");
            let name = r.text("name").map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned);
            let name = name.unwrap_or_else(|| {
                self.report.fix(TEAMS, id, "empty name replaced");
                format!("Team {id}")
            });
            let row = team::ActiveModel {
                tournament_id: Set(tournament_id),
                name: Set(name),
                captain_id: Set(captain_id),
                deputy_captain_id: Set(deputy_captain_id),
                draft_order: Set(r.int("draft_order").and_then(|v| i32::try_from(v).ok()).unwrap_or_default()),
                placement: Set(r.int("placement").and_then(|v| i32::try_from(v).ok())),
                seed: Set(None),
                ..Default::default()
            };
            row.insert(&txn).await?.id
        });
        Ok(())
    }

    /// Members, then drop-ins (played without being drafted) and leavers
    /// (left during the night) as the team's attendance: linking counts
    /// drop-ins and not leavers, as the original's did.
    pub(super) async fn team_members(&mut self) -> Result<(), DbErr> {
        let columns = [team_member::Column::TeamId, team_member::Column::UserId];
        self.user_links::<team_member::Entity, _>(TEAM_MEMBERS, ("team_id", TEAMS), columns, |t, u| {
            team_member::ActiveModel { team_id: Set(t), user_id: Set(u) }
        })
        .await?;
        for (table, kind) in [(DROP_INS, Attendance::DropIn), (LEAVERS, Attendance::Left)] {
            let columns = [team_attendance::Column::TeamId, team_attendance::Column::UserId];
            self.user_links::<team_attendance::Entity, _>(table, ("team_id", TEAMS), columns, |t, u| {
                team_attendance::ActiveModel { team_id: Set(t), user_id: Set(u), kind: Set(kind) }
            })
            .await?;
        }
        Ok(())
    }

    pub(super) async fn games(&mut self) -> Result<(), DbErr> {
        let rows = self.source.rows(GAMES, &GAME_COLUMNS, "id").await?;
        let rows = self.pending(GAMES, rows, Row::id);
        let stored = self.stored_matches(rows.iter().filter_map(|r| r.int("gameid")).collect()).await?;
        in_batches!(self, GAMES, rows, Row::id, |txn, r| {
            let id = r.id();
            let tournament_id = self.mapped(TOURNAMENTS, r.int("tournament_id"));
            let league_id = self.mapped(LEAGUES, r.int("league_id"));
            if tournament_id.is_none() && league_id.is_none() {
                self.report.skip(GAMES, id, "belongs to no tournament or league carried over");
                continue;
            }
            let mut team = |col: &str| {
                let found = self.mapped(TEAMS, r.int(col));
                if found.is_none() && r.int(col).is_some() {
                    self.report.fix(GAMES, id, format!("{col} {} does not exist: left empty", r.int(col).unwrap()));
                }
                found
            };
            let (radiant, dire, winner) = (team("radiant_team_id"), team("dire_team_id"), team("winning_team_id"));
            let bracket = bracket_type(&r.string("bracket_type")).unwrap_or_else(|| {
                self.report.fix(GAMES, id, format!("unknown bracket {:?} read as winners", r.string("bracket_type")));
                BracketType::Winners
            });
            let status = game_status(&r.string("status")).unwrap_or_else(|| {
                self.report.fix(GAMES, id, format!("unknown status {:?} read as pending", r.string("status")));
                GameStatus::Pending
            });
            let mut match_id = r.int("gameid").filter(|m| *m > 0);
            if let Some(m) = match_id
                && !stored.contains(&m)
            {
                self.report.fix(GAMES, id, format!("Steam match {m} is not stored: game left unlinked"));
                match_id = None;
            }
            let row = game::ActiveModel {
                tournament_id: Set(tournament_id),
                league_id: Set(league_id),
                round: Set(r.int("round").and_then(|v| i32::try_from(v).ok()).unwrap_or(1)),
                position: Set(r.int("position").and_then(|v| i32::try_from(v).ok()).unwrap_or_default()),
                bracket_type: Set(bracket),
                status: Set(status),
                radiant_team_id: Set(radiant),
                dire_team_id: Set(dire),
                winning_team_id: Set(winner),
                match_id: Set(match_id),
                ..Default::default()
            };
            row.insert(&txn).await?.id
        });
        Ok(())
    }

    /// Bracket links (where the winner and the loser go) and tournament
    /// winners, once every game and team exists. Re-run every time, so a
    /// run stopped before this step is completed by the next one.
    pub(super) async fn bracket_links_and_winners(&mut self) -> Result<(), DbErr> {
        let txn = self.db.begin().await?;
        for r in self.source.rows(GAMES, &GAME_COLUMNS, "id").await? {
            let Some(here) = self.mapped(GAMES, Some(r.id())) else { continue };
            let next = self.mapped(GAMES, r.int("next_game_id"));
            let loser_next = self.mapped(GAMES, r.int("loser_next_game_id"));
            if next.is_none() && loser_next.is_none() {
                continue;
            }
            game::Entity::update_many()
                .col_expr(game::Column::NextGameId, next.into())
                .col_expr(game::Column::NextGameSlot, next.and(slot(r.text("next_game_slot"))).into())
                .col_expr(game::Column::LoserNextGameId, loser_next.into())
                .col_expr(game::Column::LoserNextGameSlot, loser_next.and(slot(r.text("loser_next_game_slot"))).into())
                .filter(game::Column::Id.eq(here))
                .exec(&txn)
                .await?;
        }
        let winners = self.source.rows(TOURNAMENTS, &[("id", Int), ("winning_team_id", Int)], "id").await?;
        for r in winners {
            let (Some(here), Some(winner)) =
                (self.mapped(TOURNAMENTS, Some(r.id())), self.mapped(TEAMS, r.int("winning_team_id")))
            else {
                continue;
            };
            tournament::Entity::update_many()
                .col_expr(tournament::Column::WinningTeamId, Some(winner).into())
                .filter(tournament::Column::Id.eq(here))
                .filter(tournament::Column::WinningTeamId.is_null())
                .exec(&txn)
                .await?;
        }
        txn.commit().await
    }
}

const GAME_COLUMNS: [(&str, super::source::Kind); 15] = [
    ("id", Int),
    ("tournament_id", Int),
    ("league_id", Int),
    ("round", Int),
    ("position", Int),
    ("bracket_type", Text),
    ("status", Text),
    ("radiant_team_id", Int),
    ("dire_team_id", Int),
    ("winning_team_id", Int),
    ("gameid", Int),
    ("next_game_id", Int),
    ("next_game_slot", Text),
    ("loser_next_game_id", Int),
    ("loser_next_game_slot", Text),
];
