//! `import_map`: a Draftforge row (table, primary key) → the id it got here
//! (SPEC §19), so imports are idempotent and resumable.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "import_map")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub source_table: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub source_id: i64,
    pub target_id: i64,
    pub imported_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
