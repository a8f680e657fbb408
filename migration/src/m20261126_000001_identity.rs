//! Identity safety (SPEC §20): `users.session_epoch` voids an account's
//! sessions when its Discord id changes; `users.username_key` (the
//! case-folded confusable skeleton, unique) keeps look-alike names apart;
//! `identity_changes` audits every identity field change; `steam_claims`
//! holds a player's proven claim to a Steam id another account holds.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261126_000001_identity"
    }
}

/// Keys for the users already there, oldest first; a later name that looks
/// like an earlier one keeps no key (it cannot be duplicated again, and its
/// next rename gets one).
pub(crate) async fn backfill_username_keys(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};
    let db = manager.get_connection();
    let backend = manager.get_database_backend();
    let rows = db.query_all_raw(Statement::from_string(backend, "SELECT id, username FROM users ORDER BY id")).await?;
    let mut seen = std::collections::HashSet::new();
    let update = match backend {
        sea_orm_migration::sea_orm::DatabaseBackend::Postgres => "UPDATE users SET username_key = $1 WHERE id = $2",
        _ => "UPDATE users SET username_key = ? WHERE id = ?",
    };
    for row in rows {
        let id: i64 = row.try_get("", "id")?;
        let username: String = row.try_get("", "username")?;
        let key = entity::user::username_key(&username);
        if seen.insert(key.clone()) {
            db.execute_raw(Statement::from_sql_and_values(backend, update, [key.into(), id.into()])).await?;
        }
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table("users").add_column(integer("session_epoch").default(0)).take())
            .await?;
        manager
            .alter_table(Table::alter().table("users").add_column(string_len_null("username_key", 600)).take())
            .await?;
        backfill_username_keys(manager).await?;
        manager
            .create_index(
                Index::create().name("uq_users_username_key").table("users").col("username_key").unique().take(),
            )
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
        manager
            .create_table(
                Table::create()
                    .table("steam_claims")
                    .col(big_pk_auto("id"))
                    .col(big_integer("user_id"))
                    .col(big_integer("steam_id"))
                    .col(big_integer_null("holder_id"))
                    .col(string_len("status", 32))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(big_integer_null("resolved_by"))
                    .col(timestamp_with_time_zone_null("resolved_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_steam_claims_user_id")
                            .from("steam_claims", "user_id")
                            .to("users", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_steam_claims_holder_id")
                            .from("steam_claims", "holder_id")
                            .to("users", "id")
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_steam_claims_resolved_by")
                            .from("steam_claims", "resolved_by")
                            .to("users", "id")
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .take(),
            )
            .await?;
        for col in ["user_id", "holder_id", "resolved_by", "status"] {
            manager
                .create_index(
                    Index::create().name(format!("idx_steam_claims_{col}")).table("steam_claims").col(col).take(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("steam_claims").take()).await?;
        manager.drop_table(Table::drop().table("identity_changes").take()).await?;
        manager.drop_index(Index::drop().name("uq_users_username_key").table("users").to_owned()).await?;
        manager.alter_table(Table::alter().table("users").drop_column("username_key").take()).await?;
        manager.alter_table(Table::alter().table("users").drop_column("session_epoch").take()).await
    }
}
