//! `hero_draft_rounds`: the 24 ban/pick actions of a hero draft.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::enums::{HeroActionType, HeroRoundState};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "hero_draft_rounds")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub hero_draft_id: i64,
    pub hero_draft_team_id: i64,
    pub round_number: i32,
    pub action_type: HeroActionType,
    pub hero_id: Option<i32>,
    pub state: HeroRoundState,
    pub grace_time_ms: i64,
    pub started_at: Option<DateTimeUtc>,
    pub completed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
