//! `tournaments`: an in-house tournament with its player pool.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::enums::{TournamentState, TournamentType};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "tournaments")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub name: String,
    pub date_played: DateTimeUtc,
    pub timezone: String,
    pub state: TournamentState,
    pub tournament_type: TournamentType,
    pub league_id: Option<i64>,
    pub winning_team_id: Option<i64>,
    /// The bracket's settings once generated: `{"format", "seeding",
    /// "swiss_rounds", "grand_final_reset"}`.
    pub bracket: Option<Json>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

crate::timestamped!();
