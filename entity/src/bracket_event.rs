//! `bracket_events`: every result recorded or taken back (and every bracket
//! generated), the rows a tournament's sockets deliver as `bracket_event`.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "bracket_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tournament_id: i64,
    pub game_id: Option<i64>,
    /// `bracket_generated`, `result_recorded`, `result_undone`.
    pub event_type: String,
    pub payload: Json,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
