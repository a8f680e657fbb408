//! Brackets on the server (SPEC §17): each game's winner and loser
//! destinations, a team's seed, the tournament's bracket settings, one game
//! per Steam match, and the bracket events that reach the tournament's
//! sockets. The game links carry no foreign-key constraint (SQLite cannot
//! add one to an existing table); the bracket service clears links to a game
//! it deletes.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261127_000001_brackets"
    }
}

const GAME_COLUMNS: [&str; 2] = ["next_game_id", "loser_next_game_id"];
const SLOT_COLUMNS: [&str; 2] = ["next_game_slot", "loser_next_game_slot"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for col in GAME_COLUMNS {
            manager.alter_table(Table::alter().table("games").add_column(big_integer_null(col)).take()).await?;
            manager
                .create_index(Index::create().name(format!("idx_games_{col}")).table("games").col(col).take())
                .await?;
        }
        for col in SLOT_COLUMNS {
            manager.alter_table(Table::alter().table("games").add_column(string_len_null(col, 16)).take()).await?;
        }
        manager
            .create_index(Index::create().name("uq_games_match_id").table("games").col("match_id").unique().take())
            .await?;
        manager.alter_table(Table::alter().table("teams").add_column(integer_null("seed")).take()).await?;
        manager.alter_table(Table::alter().table("tournaments").add_column(json_binary_null("bracket")).take()).await?;
        manager
            .create_table(
                Table::create()
                    .table("bracket_events")
                    .col(big_pk_auto("id"))
                    .col(big_integer("tournament_id"))
                    .col(big_integer_null("game_id"))
                    .col(string_len("event_type", 32))
                    .col(json_binary("payload"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_bracket_events_tournament_id")
                            .from("bracket_events", "tournament_id")
                            .to("tournaments", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_bracket_events_game_id")
                            .from("bracket_events", "game_id")
                            .to("games", "id")
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_bracket_events_tournament_id_id")
                    .table("bracket_events")
                    .col("tournament_id")
                    .col("id")
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create().name("idx_bracket_events_game_id").table("bracket_events").col("game_id").take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("bracket_events").take()).await?;
        manager.alter_table(Table::alter().table("tournaments").drop_column("bracket").take()).await?;
        manager.alter_table(Table::alter().table("teams").drop_column("seed").take()).await?;
        manager.drop_index(Index::drop().name("uq_games_match_id").table("games").to_owned()).await?;
        for col in SLOT_COLUMNS {
            manager.alter_table(Table::alter().table("games").drop_column(col).take()).await?;
        }
        for col in GAME_COLUMNS {
            manager.drop_index(Index::drop().name(format!("idx_games_{col}")).table("games").to_owned()).await?;
            manager.alter_table(Table::alter().table("games").drop_column(col).take()).await?;
        }
        Ok(())
    }
}
