//! The tournament night's loose ends (SPEC §23): drop-ins and leavers of a
//! team (`team_attendance`: a drop-in played without being drafted, a leaver
//! was drafted and left during the night), matches excluded from stats and
//! results (a remake, an abandoned lobby), deactivated users, and a league's
//! `rules` and `prize_pool`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000001_night"
    }
}

/// SQLite takes one change per ALTER TABLE.
async fn add_column(manager: &SchemaManager<'_>, table: &'static str, column: impl IntoColumnDef) -> Result<(), DbErr> {
    manager.alter_table(Table::alter().table(table).add_column(column).take()).await
}

async fn drop_column(manager: &SchemaManager<'_>, table: &'static str, column: &'static str) -> Result<(), DbErr> {
    manager.alter_table(Table::alter().table(table).drop_column(column).take()).await
}

const ADDED: [(&str, &str); 6] = [
    ("leagues", "rules"),
    ("leagues", "prize_pool"),
    ("users", "is_active"),
    ("steam_matches", "excluded_reason"),
    ("steam_matches", "excluded_at"),
    ("steam_matches", "excluded_by"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// One transaction on SQLite too: its pooled connections would otherwise
    /// each see a different version of the altered tables.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        add_column(manager, "leagues", text("rules").default("")).await?;
        add_column(manager, "leagues", string_len("prize_pool", 100).default("")).await?;
        add_column(manager, "users", boolean("is_active").default(true)).await?;
        add_column(manager, "steam_matches", string_len_null("excluded_reason", 500)).await?;
        add_column(manager, "steam_matches", timestamp_with_time_zone_null("excluded_at")).await?;
        add_column(manager, "steam_matches", big_integer_null("excluded_by")).await?;
        manager
            .create_table(
                Table::create()
                    .table("team_attendance")
                    .col(big_integer("team_id"))
                    .col(big_integer("user_id"))
                    .col(string_len("kind", 16))
                    .primary_key(Index::create().col("team_id").col("user_id"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_team_attendance_team_id")
                            .from("team_attendance", "team_id")
                            .to("teams", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_team_attendance_user_id")
                            .from("team_attendance", "user_id")
                            .to("users", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("team_attendance").take()).await?;
        for (table, column) in ADDED.into_iter().rev() {
            drop_column(manager, table, column).await?;
        }
        Ok(())
    }
}
