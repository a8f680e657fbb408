//! Games (bracket nodes) as clients see them: sides, result, the links of a
//! bracket (where the winner and the loser go), the linked Steam match and
//! the game's hero draft.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{BracketType, GameStatus, game, hero_draft};
use poem_openapi::{Enum, Object};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

use crate::error::ApiResult;

/// A side of a game.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum GameSlot {
    Radiant,
    Dire,
}

impl GameSlot {
    fn parse(s: Option<&str>) -> Option<Self> {
        match s? {
            "radiant" => Some(Self::Radiant),
            "dire" => Some(Self::Dire),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct GameView {
    pub id: i64,
    #[oai(nullable)]
    pub tournament_id: Option<i64>,
    #[oai(nullable)]
    pub league_id: Option<i64>,
    pub round: i32,
    pub position: i32,
    pub bracket_type: BracketType,
    pub status: GameStatus,
    #[oai(nullable)]
    pub radiant_team_id: Option<i64>,
    #[oai(nullable)]
    pub dire_team_id: Option<i64>,
    #[oai(nullable)]
    pub winning_team_id: Option<i64>,
    /// The linked Steam match.
    #[oai(nullable)]
    pub match_id: Option<i64>,
    /// Where the winner goes.
    #[oai(nullable)]
    pub next_game_id: Option<i64>,
    #[oai(nullable)]
    pub next_game_slot: Option<GameSlot>,
    /// Where the loser goes (double elimination).
    #[oai(nullable)]
    pub loser_next_game_id: Option<i64>,
    #[oai(nullable)]
    pub loser_next_game_slot: Option<GameSlot>,
    /// The game's hero draft, if it has one.
    #[oai(nullable)]
    pub herodraft_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl GameView {
    pub fn of(g: game::Model, herodraft_id: Option<i64>) -> Self {
        Self {
            id: g.id,
            tournament_id: g.tournament_id,
            league_id: g.league_id,
            round: g.round,
            position: g.position,
            bracket_type: g.bracket_type,
            status: g.status,
            radiant_team_id: g.radiant_team_id,
            dire_team_id: g.dire_team_id,
            winning_team_id: g.winning_team_id,
            match_id: g.match_id,
            next_game_id: g.next_game_id,
            next_game_slot: GameSlot::parse(g.next_game_slot.as_deref()),
            loser_next_game_id: g.loser_next_game_id,
            loser_next_game_slot: GameSlot::parse(g.loser_next_game_slot.as_deref()),
            herodraft_id,
            created_at: g.created_at,
            updated_at: g.updated_at,
        }
    }
}

/// Views of `games` (same order), their hero drafts found in one query.
pub async fn game_views<C: ConnectionTrait>(db: &C, games: Vec<game::Model>) -> ApiResult<Vec<GameView>> {
    let drafts: HashMap<i64, i64> = hero_draft::Entity::find()
        .select_only()
        .column(hero_draft::Column::GameId)
        .column(hero_draft::Column::Id)
        .filter(hero_draft::Column::GameId.is_in(games.iter().map(|g| g.id)))
        .into_tuple::<(i64, i64)>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    Ok(games.into_iter().map(|g| GameView::of(g.clone(), drafts.get(&g.id).copied())).collect())
}

/// The view of one game.
pub async fn game_view<C: ConnectionTrait>(db: &C, game: game::Model) -> ApiResult<GameView> {
    Ok(game_views(db, vec![game]).await?.remove(0))
}
