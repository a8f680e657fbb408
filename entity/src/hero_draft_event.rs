//! `hero_draft_events`: exactly one row per hero-draft action.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "hero_draft_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub hero_draft_id: i64,
    pub event_type: String,
    pub hero_draft_team_id: Option<i64>,
    pub metadata: Json,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
