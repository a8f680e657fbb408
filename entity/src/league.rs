//! `leagues`: a Steam league whose matches are synced.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "leagues")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub steam_league_id: i64,
    pub name: String,
    pub description: String,
    /// The league's rules, as text (≤ 50 000 characters).
    pub rules: String,
    /// What the league plays for, as text (≤ 100 characters).
    pub prize_pool: String,
    pub timezone: String,
    pub sync_enabled: bool,
    pub last_synced: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

crate::timestamped!();
