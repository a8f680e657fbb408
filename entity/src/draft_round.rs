//! `draft_rounds`: one pick of a team draft; unique per (draft, pick_number)
//! and per (draft, choice), so a player or a round can never be taken twice.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "draft_rounds")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub draft_id: i64,
    pub captain_id: Option<i64>,
    pub pick_number: i32,
    pub pick_phase: i32,
    pub choice_id: Option<i64>,
    pub was_tie: bool,
    pub tie_roll_data: Option<Json>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
