//! `drafts`: the team (player) draft of a tournament (one per tournament).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::enums::DraftStyle;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "drafts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub tournament_id: i64,
    pub draft_style: DraftStyle,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

crate::timestamped!();
