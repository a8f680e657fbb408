//! `team_attendance`: who played for a team besides its drafted members
//! (`dropin`) and which drafted members left during the night (`left`).
//! Result linking counts drop-ins as the team's players and not leavers.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "team_attendance")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub team_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: i64,
    pub kind: Attendance,
}

/// Why a user is on a team's attendance list.
#[derive(Copy, Clone, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum Attendance {
    /// Played for the team without being drafted.
    #[sea_orm(string_value = "dropin")]
    DropIn,
    /// Was drafted and left during the night.
    #[sea_orm(string_value = "left")]
    Left,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
