//! Connections to the database and Redis, made once per process.

use std::time::Duration;

use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

use crate::config::{DbKind, db_kind_of};

/// Opens the database. SQLite gets WAL and a busy timeout so the api and the
/// in-process worker can write concurrently; its pool stays small because
/// SQLite has one writer anyway.
pub async fn connect_db(url: &str) -> Result<DatabaseConnection, DbErr> {
    let mut opt = ConnectOptions::new(url.to_owned());
    opt.sqlx_logging(false).connect_timeout(Duration::from_secs(5)).acquire_timeout(Duration::from_secs(5));
    match db_kind_of(url) {
        Ok(DbKind::Sqlite) => {
            // A memory database lives as long as its one connection does.
            if url.contains(":memory:") {
                opt.max_connections(1).min_connections(1).max_lifetime(None).idle_timeout(None);
            } else {
                opt.max_connections(8);
            }
            // Per connection, so on every connection of the pool (a PRAGMA
            // run once through the pool reaches only the connection that ran it).
            opt.map_sqlx_sqlite_opts(|o| {
                use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
                o.journal_mode(SqliteJournalMode::Wal)
                    .busy_timeout(Duration::from_secs(5))
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
            });
            let db = Database::connect(opt).await?;
            Ok(db)
        }
        _ => {
            opt.max_connections(32).min_connections(1);
            opt.map_sqlx_postgres_pool_opts(|pool| {
                pool.after_connect(|_conn, _meta| {
                    Box::pin(async {
                        set_tcp_nodelay_on_open_sockets();
                        Ok(())
                    })
                })
            });
            Database::connect(opt).await
        }
    }
}

/// Turns Nagle's algorithm off on every TCP socket of the process (called as
/// each PostgreSQL connection opens). sqlx 0.9 no longer sets TCP_NODELAY,
/// so a statement whose message spans two TCP segments waited for the
/// server's delayed ACK (~40 ms) before its tail was sent: multi-row inserts
/// took 46 ms instead of 2. sqlx exposes no socket, hence the sweep over
/// `/proc/self/fd`; setting the option on a socket that has it, or failing
/// on a non-TCP descriptor, is harmless. Linux only; elsewhere a no-op.
fn set_tcp_nodelay_on_open_sockets() {
    use std::os::fd::{BorrowedFd, RawFd};
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else { return };
    for entry in entries.flatten() {
        let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse::<RawFd>().ok()) else { continue };
        // SAFETY: the descriptor is only borrowed for one setsockopt call; if it
        // was closed (or reused) meanwhile, the call fails or sets a harmless option.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let _ = socket2::SockRef::from(&fd).set_tcp_nodelay(true);
    }
}

/// Opens the database with its schema ready: migrated under the migration
/// lock, or — `migrate_on_start` off — once `api migrate` has run
/// ([`super::schema::prepare`]).
pub async fn connect_ready(url: &str, migrate_on_start: bool) -> Result<DatabaseConnection, DbErr> {
    let db = connect_db(url).await?;
    super::schema::prepare(&db, url, migrate_on_start).await?;
    Ok(db)
}

/// A Redis connection manager (reconnects by itself after an outage). Few,
/// short reconnect retries: while Redis is down a request should get its 503
/// in about a second (the default backoff held each one for ~9 s); the next
/// command starts a fresh reconnect anyway.
pub async fn connect_redis(url: &str) -> redis::RedisResult<redis::aio::ConnectionManager> {
    let client = redis::Client::open(url)?;
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_number_of_retries(2)
        .set_max_delay(Duration::from_millis(500))
        .set_connection_timeout(Some(Duration::from_secs(3)))
        .set_response_timeout(Some(Duration::from_secs(3)));
    redis::aio::ConnectionManager::new_with_config(client, config).await
}

/// [`connect_redis`] at a process' start: the error names the variable.
pub async fn connect_redis_url(url: &str) -> anyhow::Result<redis::aio::ConnectionManager> {
    connect_redis(url).await.map_err(|e| anyhow::anyhow!("cannot connect to REDIS_URL: {e}"))
}

/// Runs `read` on one snapshot of the database, in a read-only transaction:
/// the SELECTs that make up one view (a draft with its teams and rounds)
/// must not straddle another request's commit, or a client sees a round
/// completed by a timeout beside the reserve it had before. PostgreSQL
/// needs REPEATABLE READ for that (READ COMMITTED takes a snapshot per
/// statement); a SQLite transaction reads one snapshot already.
pub async fn snapshot<T, E: From<DbErr>>(
    db: &DatabaseConnection,
    read: impl AsyncFnOnce(&sea_orm::DatabaseTransaction) -> Result<T, E>,
) -> Result<T, E> {
    use sea_orm::{AccessMode, IsolationLevel, TransactionTrait};
    let txn = match db.get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => {
            db.begin_with_config(Some(IsolationLevel::RepeatableRead), Some(AccessMode::ReadOnly)).await?
        }
        _ => db.begin().await?,
    };
    let value = read(&txn).await?;
    txn.commit().await?;
    Ok(value)
}

/// Starts a transaction that will write. On SQLite it takes the write lock
/// up front (`BEGIN IMMEDIATE`), so it waits for other writers instead of
/// failing with SQLITE_BUSY_SNAPSHOT when it first reads and then writes.
pub async fn write_txn(db: &DatabaseConnection) -> Result<sea_orm::DatabaseTransaction, DbErr> {
    use sea_orm::TransactionTrait;
    db.begin_with_options(sea_orm::TransactionOptions {
        sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}
