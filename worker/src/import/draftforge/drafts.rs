//! Team (player) drafts with their rounds and events, and the finished
//! Captain's-Mode hero drafts with theirs.

use entity::{
    DraftStyle, HeroActionType, HeroDraftState, HeroRoundState, draft, draft_event, draft_round, hero_draft,
    hero_draft_event, hero_draft_round, hero_draft_team,
};
use sea_orm::{ActiveModelTrait, ColumnTrait, DbErr, EntityTrait, QueryFilter, Set};

use super::nights::{GAMES, TEAMS, TOURNAMENTS};
use super::people::USERS;
use super::source::Kind::{Bool, Int, Text};
use super::source::Row;
use super::{Importer, Target, rules};

pub const DRAFTS: &str = "app_draft";
pub const DRAFT_ROUNDS: &str = "app_draftround";
pub const DRAFT_EVENTS: &str = "app_draftevent";
pub const HERO_DRAFTS: &str = "app_herodraft";
pub const HERO_DRAFT_TEAMS: &str = "app_draftteam";
pub const HERO_DRAFT_ROUNDS: &str = "app_herodraftround";
pub const HERO_DRAFT_EVENTS: &str = "app_herodraftevent";

fn draft_style(raw: &str) -> Option<DraftStyle> {
    match raw {
        "snake" => Some(DraftStyle::Snake),
        "normal" => Some(DraftStyle::Normal),
        "shuffle" => Some(DraftStyle::Shuffle),
        _ => None,
    }
}

fn round_state(raw: &str) -> HeroRoundState {
    match raw {
        "active" => HeroRoundState::Active,
        "completed" => HeroRoundState::Completed,
        _ => HeroRoundState::Planned,
    }
}

impl<C: Target> Importer<'_, C> {
    pub(super) async fn team_drafts(&mut self) -> Result<(), DbErr> {
        let rows =
            self.source.rows(DRAFTS, &[("id", Int), ("tournament_id", Int), ("draft_style", Text)], "id").await?;
        let rows = self.pending(DRAFTS, rows, Row::id);
        in_batches!(self, DRAFTS, rows, Row::id, |txn, r| {
            let Some(tournament_id) = self.mapped(TOURNAMENTS, r.int("tournament_id")) else {
                self.report.skip(DRAFTS, r.id(), "its tournament was not carried over");
                continue;
            };
            if draft::Entity::find().filter(draft::Column::TournamentId.eq(tournament_id)).one(&txn).await?.is_some() {
                self.report.skip(DRAFTS, r.id(), "its tournament already has a draft here");
                continue;
            }
            let style = draft_style(&r.string("draft_style")).unwrap_or_else(|| {
                self.report.fix(DRAFTS, r.id(), format!("unknown style {:?} read as snake", r.string("draft_style")));
                DraftStyle::Snake
            });
            let row =
                draft::ActiveModel { tournament_id: Set(tournament_id), draft_style: Set(style), ..Default::default() };
            row.insert(&txn).await?.id
        });

        let columns = [
            ("id", Int),
            ("draft_id", Int),
            ("captain_id", Int),
            ("choice_id", Int),
            ("pick_number", Int),
            ("pick_phase", Int),
            ("was_tie", Bool),
            ("tie_roll_data", Text),
        ];
        let rows = self.source.rows(DRAFT_ROUNDS, &columns, "id").await?;
        let rows = self.pending(DRAFT_ROUNDS, rows, Row::id);
        in_batches!(self, DRAFT_ROUNDS, rows, Row::id, |txn, r| {
            let id = r.id();
            let Some(draft_id) = self.mapped(DRAFTS, r.int("draft_id")) else {
                self.report.skip(DRAFT_ROUNDS, id, "its draft was not carried over");
                continue;
            };
            let mut person = |col: &str| {
                let found = self.mapped(USERS, r.int(col));
                if found.is_none() && r.int(col).is_some() {
                    self.report.fix(
                        DRAFT_ROUNDS,
                        id,
                        format!("{col} {} does not exist: left empty", r.int(col).unwrap()),
                    );
                }
                found
            };
            let (captain_id, choice_id) = (person("captain_id"), person("choice_id"));
            let row = draft_round::ActiveModel {
                draft_id: Set(draft_id),
                captain_id: Set(captain_id),
                choice_id: Set(choice_id),
                pick_number: Set(r.int("pick_number").unwrap_or_default() as i32),
                pick_phase: Set(r.int("pick_phase").unwrap_or_default() as i32),
                was_tie: Set(r.bool("was_tie")),
                tie_roll_data: Set(self.readable_json(DRAFT_ROUNDS, r, "tie_roll_data")),
                ..Default::default()
            };
            row.insert(&txn).await?.id
        });

        let columns = [
            ("id", Int),
            ("draft_id", Int),
            ("event_type", Text),
            ("payload", Text),
            ("actor_id", Int),
            ("created_at", Text),
        ];
        let rows = self.source.rows(DRAFT_EVENTS, &columns, "id").await?;
        let rows = self.pending(DRAFT_EVENTS, rows, Row::id);
        let (users, teams) = (self.map_of(USERS), self.map_of(TEAMS));
        in_batches!(self, DRAFT_EVENTS, rows, Row::id, |txn, r| {
            let Some(draft_id) = self.mapped(DRAFTS, r.int("draft_id")) else {
                self.report.skip(DRAFT_EVENTS, r.id(), "its draft was not carried over");
                continue;
            };
            let row = draft_event::ActiveModel {
                draft_id: Set(draft_id),
                event_type: Set(r.string("event_type")),
                payload: Set(rules::remap_payload(
                    self.readable_json(DRAFT_EVENTS, r, "payload").unwrap_or_default(),
                    &users,
                    &teams,
                )),
                actor_id: Set(self.mapped(USERS, r.int("actor_id"))),
                created_at: Set(r.time("created_at").unwrap_or_else(chrono::Utc::now)),
                ..Default::default()
            };
            row.insert(&txn).await?.id
        });
        Ok(())
    }

    /// Finished hero drafts only: one that was still running (or never
    /// started) in the original cannot be resumed here with its clocks.
    pub(super) async fn hero_drafts(&mut self) -> Result<(), DbErr> {
        let columns = [
            ("id", Int),
            ("state", Text),
            ("game_id", Int),
            ("roll_winner_id", Int),
            ("created_at", Text),
            ("updated_at", Text),
        ];
        let all = self.source.rows(HERO_DRAFTS, &columns, "id").await?;
        let rows = self.pending(HERO_DRAFTS, all.clone(), Row::id);
        in_batches!(self, HERO_DRAFTS, rows, Row::id, |txn, r| {
            let state = r.string("state");
            if state != "completed" {
                self.report.skip(
                    HERO_DRAFTS,
                    r.id(),
                    format!("not finished (state {state}): only finished hero drafts are carried over"),
                );
                continue;
            }
            let Some(game_id) = self.mapped(GAMES, r.int("game_id")) else {
                self.report.skip(HERO_DRAFTS, r.id(), "its game was not carried over");
                continue;
            };
            if hero_draft::Entity::find().filter(hero_draft::Column::GameId.eq(game_id)).one(&txn).await?.is_some() {
                self.report.skip(HERO_DRAFTS, r.id(), "its game already has a hero draft here");
                continue;
            }
            let mut row = hero_draft::ActiveModel {
                game_id: Set(game_id),
                state: Set(HeroDraftState::Completed),
                roll_winner_team_id: Set(None),
                paused_at: Set(None),
                resuming_until: Set(None),
                is_manual_pause: Set(false),
                version: Set(0),
                ..Default::default()
            };
            if let Some(created) = r.time("created_at") {
                row.created_at = Set(created);
            }
            row.insert(&txn).await?.id
        });

        let columns = [
            ("id", Int),
            ("draft_id", Int),
            ("tournament_team_id", Int),
            ("is_first_pick", Bool),
            ("is_radiant", Bool),
            ("reserve_time_remaining", Int),
            ("is_ready", Bool),
        ];
        let rows = self.source.rows(HERO_DRAFT_TEAMS, &columns, "id").await?;
        let rows = self.pending(HERO_DRAFT_TEAMS, rows, Row::id);
        in_batches!(self, HERO_DRAFT_TEAMS, rows, Row::id, |txn, r| {
            let (Some(hero_draft_id), Some(team_id)) =
                (self.mapped(HERO_DRAFTS, r.int("draft_id")), self.mapped(TEAMS, r.int("tournament_team_id")))
            else {
                self.report.skip(HERO_DRAFT_TEAMS, r.id(), "its hero draft or team was not carried over");
                continue;
            };
            let row = hero_draft_team::ActiveModel {
                hero_draft_id: Set(hero_draft_id),
                team_id: Set(team_id),
                is_first_pick: Set(r.opt_bool("is_first_pick")),
                is_radiant: Set(r.opt_bool("is_radiant")),
                reserve_time_remaining_ms: Set(r.int("reserve_time_remaining").unwrap_or_default()),
                is_ready: Set(r.bool("is_ready")),
                is_connected: Set(false),
                ..Default::default()
            };
            row.insert(&txn).await?.id
        });

        // The original names the roll winner by its draft side; here it is
        // the side's tournament team.
        let side_team: std::collections::HashMap<i64, Option<i64>> = self
            .source
            .rows(HERO_DRAFT_TEAMS, &columns, "id")
            .await?
            .iter()
            .map(|r| (r.id(), r.int("tournament_team_id")))
            .collect();
        let txn = self.db.begin().await?;
        for r in &all {
            let side = r.int("roll_winner_id").and_then(|side| side_team.get(&side).copied().flatten());
            let (Some(here), Some(winner)) = (self.mapped(HERO_DRAFTS, Some(r.id())), self.mapped(TEAMS, side)) else {
                continue;
            };
            hero_draft::Entity::update_many()
                .col_expr(hero_draft::Column::RollWinnerTeamId, Some(winner).into())
                .filter(hero_draft::Column::Id.eq(here))
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;

        let columns = [
            ("id", Int),
            ("draft_id", Int),
            ("draft_team_id", Int),
            ("round_number", Int),
            ("action_type", Text),
            ("hero_id", Int),
            ("state", Text),
            ("grace_time_ms", Int),
            ("started_at", Text),
            ("completed_at", Text),
        ];
        let rows = self.source.rows(HERO_DRAFT_ROUNDS, &columns, "id").await?;
        let rows = self.pending(HERO_DRAFT_ROUNDS, rows, Row::id);
        in_batches!(self, HERO_DRAFT_ROUNDS, rows, Row::id, |txn, r| {
            let (Some(hero_draft_id), Some(team_id)) =
                (self.mapped(HERO_DRAFTS, r.int("draft_id")), self.mapped(HERO_DRAFT_TEAMS, r.int("draft_team_id")))
            else {
                self.report.skip(HERO_DRAFT_ROUNDS, r.id(), "its hero draft was not carried over");
                continue;
            };
            let action = if r.string("action_type") == "pick" { HeroActionType::Pick } else { HeroActionType::Ban };
            let row = hero_draft_round::ActiveModel {
                hero_draft_id: Set(hero_draft_id),
                hero_draft_team_id: Set(team_id),
                round_number: Set(r.int("round_number").unwrap_or_default() as i32),
                action_type: Set(action),
                hero_id: Set(r.int("hero_id").and_then(|h| i32::try_from(h).ok())),
                state: Set(round_state(&r.string("state"))),
                grace_time_ms: Set(r.int("grace_time_ms").unwrap_or_default()),
                started_at: Set(r.time("started_at")),
                completed_at: Set(r.time("completed_at")),
                ..Default::default()
            };
            row.insert(&txn).await?.id
        });

        let columns = [
            ("id", Int),
            ("draft_id", Int),
            ("draft_team_id", Int),
            ("event_type", Text),
            ("metadata", Text),
            ("created_at", Text),
        ];
        let rows = self.source.rows(HERO_DRAFT_EVENTS, &columns, "id").await?;
        let rows = self.pending(HERO_DRAFT_EVENTS, rows, Row::id);
        let (users, teams) = (self.map_of(USERS), self.map_of(TEAMS));
        in_batches!(self, HERO_DRAFT_EVENTS, rows, Row::id, |txn, r| {
            let Some(hero_draft_id) = self.mapped(HERO_DRAFTS, r.int("draft_id")) else {
                self.report.skip(HERO_DRAFT_EVENTS, r.id(), "its hero draft was not carried over");
                continue;
            };
            let row = hero_draft_event::ActiveModel {
                hero_draft_id: Set(hero_draft_id),
                event_type: Set(r.string("event_type")),
                hero_draft_team_id: Set(self.mapped(HERO_DRAFT_TEAMS, r.int("draft_team_id"))),
                metadata: Set(rules::remap_payload(
                    self.readable_json(HERO_DRAFT_EVENTS, r, "metadata").unwrap_or_default(),
                    &users,
                    &teams,
                )),
                created_at: Set(r.time("created_at").unwrap_or_else(chrono::Utc::now)),
                ..Default::default()
            };
            row.insert(&txn).await?.id
        });
        Ok(())
    }
}
