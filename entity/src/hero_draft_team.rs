//! `hero_draft_teams`: the two sides of a hero draft.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "hero_draft_teams")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub hero_draft_id: i64,
    /// The tournament team.
    pub team_id: i64,
    pub is_first_pick: Option<bool>,
    pub is_radiant: Option<bool>,
    pub reserve_time_remaining_ms: i64,
    pub is_ready: bool,
    pub is_connected: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
