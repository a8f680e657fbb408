//! `steam_matches`: a league match as Steam reported it.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "steam_matches")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub match_id: i64,
    pub match_seq_num: Option<i64>,
    /// The Steam league id.
    pub league_id: i64,
    pub radiant_win: bool,
    pub duration: i32,
    pub start_time: DateTimeUtc,
    pub game_mode: i32,
    pub lobby_type: i32,
    pub fetched_at: DateTimeUtc,
    /// Set while the match is excluded (a remake, an abandoned lobby): it
    /// counts toward no stats or MMR and decides no game.
    pub excluded_reason: Option<String>,
    pub excluded_at: Option<DateTimeUtc>,
    /// The user who excluded it.
    pub excluded_by: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
