//! `job_kind_pauses`: job kinds an operator paused (SPEC §21). No process
//! starts a paused kind's runs; enqueues are still accepted and wait.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "job_kind_pauses")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub kind: String,
    pub paused_at: DateTimeUtc,
    pub paused_by: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
