//! Job control (SPEC §21): a run may wait for its `run_at`, be cancelled
//! (a running one at its next safe point: `cancel_requested_at`), report
//! structured progress (`progress_report`; the unused integer `progress` goes), keep the history of its
//! attempts (`attempt_log`, one JSON event per claim and per end), and hold
//! its kind's one waiting place for a league (`queue_key`, unique while the
//! run waits: a second enqueue returns it). Paused kinds are rows of
//! `job_kind_pauses`, so a pause holds across every process and restart.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000001_job_control"
    }
}

/// SQLite takes one change per ALTER TABLE.
async fn alter(manager: &SchemaManager<'_>, change: impl FnOnce(&mut TableAlterStatement)) -> Result<(), DbErr> {
    let mut statement = Table::alter();
    statement.table("job_runs");
    change(&mut statement);
    manager.alter_table(statement).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// One transaction on SQLite too: its pooled connections would otherwise
    /// each see a different version of the altered table.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        alter(manager, |t| {
            t.drop_column("progress");
        })
        .await?;
        // A new name: SQLite refused a column added under the name just dropped.
        alter(manager, |t| {
            t.add_column(json_binary_null("progress_report"));
        })
        .await?;
        alter(manager, |t| {
            t.add_column(json_binary_null("attempt_log"));
        })
        .await?;
        alter(manager, |t| {
            t.add_column(timestamp_with_time_zone_null("run_at"));
        })
        .await?;
        alter(manager, |t| {
            t.add_column(timestamp_with_time_zone_null("cancel_requested_at"));
        })
        .await?;
        alter(manager, |t| {
            t.add_column(string_len_null("queue_key", 128));
        })
        .await?;
        // Partial: most runs hold no waiting place, and their inserts need not
        // touch the index at all.
        manager
            .create_index(
                Index::create()
                    .name("ux_job_runs_queue_key")
                    .table("job_runs")
                    .col("queue_key")
                    .unique()
                    .and_where(Expr::col("queue_key").is_not_null())
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("job_kind_pauses")
                    .col(string_len("kind", 64).primary_key())
                    .col(timestamp_with_time_zone("paused_at"))
                    .col(big_integer_null("paused_by"))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("job_kind_pauses").take()).await?;
        manager.drop_index(Index::drop().name("ux_job_runs_queue_key").table("job_runs").to_owned()).await?;
        for column in ["queue_key", "cancel_requested_at", "run_at", "attempt_log", "progress_report"] {
            alter(manager, |t| {
                t.drop_column(column);
            })
            .await?;
        }
        alter(manager, |t| {
            t.add_column(integer_null("progress"));
        })
        .await
    }
}
