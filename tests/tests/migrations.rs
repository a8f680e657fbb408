//! The migrator runs up → down → up cleanly on both databases.

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
use tests::{Backend, TestDb, on_both_databases};

async fn tables(db: &sea_orm::DatabaseConnection) -> Vec<String> {
    let sql = match db.get_database_backend() {
        DatabaseBackend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'seaql_migrations' ORDER BY name"
        }
        _ => {
            "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> 'seaql_migrations' ORDER BY table_name"
        }
    };
    db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .into_iter()
        .map(|row| row.try_get::<String>("", "name").unwrap())
        .collect()
}

async fn up_down_up(backend: Backend) {
    let test_db = TestDb::create(backend).await;
    let db = worker::infra::db::connect_db(&test_db.url).await.unwrap();
    Migrator::up(&db, None).await.unwrap();
    let created = tables(&db).await;
    for table in [
        "users",
        "leagues",
        "tournaments",
        "tournament_users",
        "teams",
        "team_members",
        "games",
        "drafts",
        "draft_rounds",
        "draft_events",
        "hero_drafts",
        "hero_draft_teams",
        "hero_draft_rounds",
        "hero_draft_events",
        "steam_matches",
        "player_match_stats",
        "league_player_stats",
        "league_sync_states",
        "discord_event_templates",
        "scheduled_discord_events",
        "job_runs",
        "kv_entries",
    ] {
        assert!(created.contains(&table.to_owned()), "{table} created");
    }
    Migrator::down(&db, None).await.unwrap();
    assert_eq!(tables(&db).await, Vec::<String>::new(), "down drops every table");
    Migrator::up(&db, None).await.unwrap();
    assert_eq!(tables(&db).await, created, "up again gives the same schema");
    // Running up on an up-to-date schema is a no-op.
    Migrator::up(&db, None).await.unwrap();
    db.close().await.ok();
}

on_both_databases!(up_down_up);
