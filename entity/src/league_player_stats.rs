//! `league_player_stats`: per (user, league) aggregates, rebuilt from
//! `player_match_stats` by the stats job; the derived averages are stored so
//! leaderboards sort in SQL.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "league_player_stats")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: i64,
    pub league_id: i64,
    pub games_played: i32,
    pub wins: i32,
    pub losses: i32,
    pub total_kills: i64,
    pub total_deaths: i64,
    pub total_assists: i64,
    pub total_gpm: i64,
    pub total_xpm: i64,
    pub win_rate: f64,
    pub avg_kills: f64,
    pub avg_deaths: f64,
    pub avg_assists: f64,
    pub avg_gpm: f64,
    pub avg_xpm: f64,
    pub avg_kda: f64,
    pub mmr_adjustment: i32,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
