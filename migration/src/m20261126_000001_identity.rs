//! Identity safety (SPEC §20): `users.session_epoch` voids an account's
//! sessions when its Discord id changes, and `identity_changes` audits every
//! identity field change.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261126_000001_identity"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table("users").add_column(integer("session_epoch").default(0)).take())
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("identity_changes")
                    .col(big_pk_auto("id"))
                    .col(big_integer("user_id"))
                    .col(big_integer_null("actor_id"))
                    .col(string_len("field", 32))
                    .col(text_null("old_value"))
                    .col(text_null("new_value"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_identity_changes_user_id")
                            .from("identity_changes", "user_id")
                            .to("users", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_identity_changes_actor_id")
                            .from("identity_changes", "actor_id")
                            .to("users", "id")
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .take(),
            )
            .await?;
        for col in ["user_id", "actor_id"] {
            manager
                .create_index(
                    Index::create()
                        .name(format!("idx_identity_changes_{col}"))
                        .table("identity_changes")
                        .col(col)
                        .take(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("identity_changes").take()).await?;
        manager.alter_table(Table::alter().table("users").drop_column("session_epoch").take()).await
    }
}
