//! People's flows (SPEC §18): league admins (a league hands its nights to
//! trusted organisers), and each player's Steam profile as Steam shows it
//! (persona name, avatar), refreshed by `refresh_steam_profiles`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261128_000001_people"
    }
}

const STEAM_PROFILE: [&str; 2] = ["steam_persona_name", "steam_avatar_url"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("league_admins")
                    .col(big_pk_auto("id"))
                    .col(big_integer("league_id"))
                    .col(big_integer("user_id"))
                    .col(big_integer_null("granted_by"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_league_admins_league_id")
                            .from("league_admins", "league_id")
                            .to("leagues", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_league_admins_user_id")
                            .from("league_admins", "user_id")
                            .to("users", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_league_admins_granted_by")
                            .from("league_admins", "granted_by")
                            .to("users", "id")
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_league_admins_league_id_user_id")
                    .table("league_admins")
                    .col("league_id")
                    .col("user_id")
                    .unique()
                    .take(),
            )
            .await?;
        for col in ["user_id", "granted_by"] {
            manager
                .create_index(
                    Index::create().name(format!("idx_league_admins_{col}")).table("league_admins").col(col).take(),
                )
                .await?;
        }
        for col in STEAM_PROFILE {
            manager.alter_table(Table::alter().table("users").add_column(string_len_null(col, 255)).take()).await?;
        }
        manager
            .alter_table(
                Table::alter().table("users").add_column(timestamp_with_time_zone_null("steam_checked_at")).take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table("users").drop_column("steam_checked_at").take()).await?;
        for col in STEAM_PROFILE {
            manager.alter_table(Table::alter().table("users").drop_column(col).take()).await?;
        }
        manager.drop_table(Table::drop().table("league_admins").take()).await
    }
}
