//! Where each imported row came from (SPEC §19): `import-draftforge` maps a
//! source table's primary key to the id it got here, so a second run
//! imports nothing twice and a run after the source grew imports just the
//! new rows.
//!
//! Also recomputes `users.username_key`: the key now folds case before the
//! confusable skeleton (which maps a capital I to l), so `SILENTSALVE` and
//! `silentsalve` share a key as they should.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261129_000001_import_map"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("import_map")
                    .col(string_len("source_table", 64))
                    .col(big_integer("source_id"))
                    .col(big_integer("target_id"))
                    .col(timestamp_with_time_zone("imported_at"))
                    .primary_key(Index::create().col("source_table").col("source_id"))
                    .take(),
            )
            .await?;
        use sea_orm_migration::sea_orm::ConnectionTrait;
        manager.get_connection().execute_unprepared("UPDATE users SET username_key = NULL").await?;
        crate::m20261126_000001_identity::backfill_username_keys(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("import_map").take()).await
    }
}
