//! `games`: a bracket node / series game, optionally linked to a Steam match.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::enums::{BracketType, GameStatus};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "games")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tournament_id: Option<i64>,
    pub league_id: Option<i64>,
    pub round: i32,
    pub position: i32,
    pub bracket_type: BracketType,
    pub status: GameStatus,
    pub radiant_team_id: Option<i64>,
    pub dire_team_id: Option<i64>,
    pub winning_team_id: Option<i64>,
    pub match_id: Option<i64>,
    /// Where the winner goes, and as which side (`radiant`|`dire`).
    pub next_game_id: Option<i64>,
    pub next_game_slot: Option<String>,
    /// Where the loser goes (double elimination).
    pub loser_next_game_id: Option<i64>,
    pub loser_next_game_slot: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

crate::timestamped!();
