//! `teams`: a team of a tournament; its captain is also a member.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "teams")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tournament_id: i64,
    pub name: String,
    pub captain_id: Option<i64>,
    pub deputy_captain_id: Option<i64>,
    pub draft_order: i32,
    pub placement: Option<i32>,
    /// The team's seed in the tournament's bracket (1 = best), once generated.
    pub seed: Option<i32>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

crate::timestamped!();
