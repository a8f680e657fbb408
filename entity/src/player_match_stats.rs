//! `player_match_stats`: one player's line in one match. Private profiles keep
//! their own row (unique per match and slot) with a null `steam_id`.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "player_match_stats")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub match_id: i64,
    pub steam_id: Option<i64>,
    pub user_id: Option<i64>,
    pub player_slot: i32,
    pub hero_id: i32,
    pub kills: i32,
    pub deaths: i32,
    pub assists: i32,
    pub gold_per_min: i32,
    pub xp_per_min: i32,
    pub last_hits: i32,
    pub denies: i32,
    pub hero_damage: i32,
    pub tower_damage: i32,
    pub hero_healing: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
