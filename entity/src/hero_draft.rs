//! `hero_drafts`: a Captain's-Mode hero draft of one game. `version` is
//! bumped by every mutation (optimistic concurrency).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::enums::HeroDraftState;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "hero_drafts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub game_id: i64,
    pub state: HeroDraftState,
    /// The tournament team that won the coin flip.
    pub roll_winner_team_id: Option<i64>,
    pub paused_at: Option<DateTimeUtc>,
    pub resuming_until: Option<DateTimeUtc>,
    pub is_manual_pause: bool,
    pub version: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

crate::timestamped!();
