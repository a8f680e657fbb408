//! The database schema at start-up (SPEC §22). Any number of api, worker and
//! scheduler processes may start together on a fresh or older database: one
//! migrates while the others wait for its lock (a PostgreSQL advisory lock,
//! or a lock file beside a SQLite database), then find the schema current.
//! With `MIGRATE_ON_START=false` a process migrates nothing and waits until
//! `api migrate` has run. A process older than the schema (a rolling upgrade:
//! the new build migrated first) runs on it — migrations only add — and says so.

use std::collections::BTreeSet;
use std::time::Duration;

use migration::{Migrator, MigratorTrait, SchemaManager};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr, Statement};

use crate::config::{DbKind, db_kind_of};

/// The schema against this build's migrations.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Status {
    /// This build's migrations not applied yet, oldest first.
    pub pending: Vec<String>,
    /// Applied migrations this build does not know (a newer build's).
    pub newer: Vec<String>,
}

impl Status {
    /// Nothing of this build's is missing (a newer schema counts as current).
    pub fn is_current(&self) -> bool {
        self.pending.is_empty()
    }
}

const TABLE: &str = "seaql_migrations";

/// Reads the schema's state without changing anything.
pub async fn status(db: &DatabaseConnection) -> Result<Status, DbErr> {
    let known: Vec<String> = Migrator::migrations().iter().map(|m| m.name().to_owned()).collect();
    let applied: BTreeSet<String> = if SchemaManager::new(db).has_table(TABLE).await? {
        let backend = db.get_database_backend();
        db.query_all_raw(Statement::from_string(backend, format!("SELECT version FROM {TABLE}")))
            .await?
            .iter()
            .map(|row| row.try_get::<String>("", "version"))
            .collect::<Result<_, _>>()?
    } else {
        BTreeSet::new()
    };
    Ok(Status {
        pending: known.iter().filter(|m| !applied.contains(*m)).cloned().collect(),
        newer: applied.iter().filter(|m| !known.contains(m)).cloned().collect(),
    })
}

/// Brings the schema up to date under the migration lock; returns the
/// migrations this call applied (none when another process had).
pub async fn migrate(db: &DatabaseConnection, url: &str) -> Result<Vec<String>, DbErr> {
    let lock = MigrationLock::take(url).await?;
    let outcome = migrate_locked(db).await;
    lock.release().await;
    outcome
}

async fn migrate_locked(db: &DatabaseConnection) -> Result<Vec<String>, DbErr> {
    let found = status(db).await?;
    if found.pending.is_empty() {
        return Ok(Vec::new());
    }
    if !found.newer.is_empty() {
        return Err(DbErr::Custom(format!(
            "the schema has migrations this build does not know ({}) and lacks some it has ({}): \
             run the newest build's `api migrate`",
            found.newer.join(", "),
            found.pending.join(", ")
        )));
    }
    Migrator::up(db, None).await?;
    Ok(found.pending)
}

/// What a process does with the schema before it starts: migrate (under the
/// lock) or, with `migrate_on_start` off, wait until `api migrate` has run.
pub async fn prepare(db: &DatabaseConnection, url: &str, migrate_on_start: bool) -> Result<(), DbErr> {
    if migrate_on_start {
        let applied = migrate(db, url).await?;
        if !applied.is_empty() {
            tracing::info!(migrations = %applied.join(", "), "database schema migrated");
        }
    } else {
        let mut waited = 0u64;
        loop {
            let found = status(db).await?;
            if found.is_current() {
                break;
            }
            if waited.is_multiple_of(10) {
                tracing::warn!(
                    pending = %found.pending.join(", "),
                    "MIGRATE_ON_START=false and the schema is behind: waiting for `api migrate`"
                );
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            waited += 1;
        }
    }
    let found = status(db).await?;
    if !found.newer.is_empty() {
        tracing::warn!(
            newer = %found.newer.join(", "),
            "the database schema is newer than this build (a rolling upgrade?): running on it"
        );
    }
    Ok(())
}

/// Held while migrating: one migrating process at a time per database.
enum MigrationLock {
    /// A session holding `pg_advisory_lock` (a crashed holder's session ends, and its lock with it).
    Postgres(DatabaseConnection),
    /// An exclusive lock on `<database file>.migrate-lock` (released when the file closes).
    File(std::fs::File),
    /// An in-memory SQLite database: one process by nature.
    None,
}

/// The advisory lock's key ("dtx-migr").
const ADVISORY_KEY: i64 = 0x6474_782d_6d69_6772;

impl MigrationLock {
    async fn take(url: &str) -> Result<Self, DbErr> {
        match db_kind_of(url).map_err(|e| DbErr::Custom(e.to_string()))? {
            DbKind::Postgres => {
                let mut options = ConnectOptions::new(url.to_owned());
                options.max_connections(1).min_connections(1).sqlx_logging(false);
                let session = Database::connect(options).await?;
                session
                    .execute_raw(Statement::from_string(
                        session.get_database_backend(),
                        format!("SELECT pg_advisory_lock({ADVISORY_KEY})"),
                    ))
                    .await?;
                Ok(Self::Postgres(session))
            }
            DbKind::Sqlite => match sqlite_file(url) {
                None => Ok(Self::None),
                Some(path) => {
                    let lock_path = format!("{path}.migrate-lock");
                    tokio::task::spawn_blocking(move || {
                        let file = std::fs::OpenOptions::new()
                            .create(true)
                            .truncate(false)
                            .write(true)
                            .open(&lock_path)
                            .map_err(|e| DbErr::Custom(format!("cannot open {lock_path}: {e}")))?;
                        file.lock().map_err(|e| DbErr::Custom(format!("cannot lock {lock_path}: {e}")))?;
                        Ok(Self::File(file))
                    })
                    .await
                    .map_err(|e| DbErr::Custom(e.to_string()))?
                }
            },
        }
    }

    async fn release(self) {
        match self {
            Self::Postgres(session) => {
                let unlock = format!("SELECT pg_advisory_unlock({ADVISORY_KEY})");
                let _ = session.execute_raw(Statement::from_string(session.get_database_backend(), unlock)).await;
                let _ = session.close().await;
            }
            Self::File(file) => drop(file),
            Self::None => {}
        }
    }
}

/// The file of a SQLite URL (`sqlite://path?mode=rwc`, `sqlite:path`), or
/// `None` for an in-memory database.
fn sqlite_file(url: &str) -> Option<String> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.contains(":memory:") && !rest.contains("mode=memory")).then(|| path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::sqlite_file;

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(sqlite_file("sqlite://dtx.sqlite3?mode=rwc").as_deref(), Some("dtx.sqlite3"));
        assert_eq!(sqlite_file("sqlite:///var/lib/dtx/dtx.db").as_deref(), Some("/var/lib/dtx/dtx.db"));
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("sqlite://file:x?mode=memory&cache=shared"), None);
    }
}
