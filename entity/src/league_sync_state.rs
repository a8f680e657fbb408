//! `league_sync_states`: the high-water mark and failures of a league's sync.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "league_sync_states")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub league_id: i64,
    pub last_match_id: Option<i64>,
    pub last_sync_at: Option<DateTimeUtc>,
    /// `[{"match_id": i64, "error": string}]`
    pub failed_match_ids: Json,
    pub last_error: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
