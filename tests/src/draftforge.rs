//! The Draftforge fixture (a database made by the original application,
//! copied from `shared/fixtures/draftforge/`), damaged copies of it, and
//! the same rows loaded into PostgreSQL with the column types Django gives
//! them there (boolean, timestamptz, integer vs bigint).

use std::path::{Path, PathBuf};

use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};

use crate::unique_name;

/// The fixture database, read-only.
pub fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/draftforge/draftforge-small.sqlite3")
}

/// The fixture's own table summary.
pub fn summary() -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/draftforge/draftforge-small.summary.json");
    serde_json::from_slice(&std::fs::read(path).expect("fixture summary")).expect("summary is JSON")
}

/// A writable copy of the fixture, removed when dropped.
pub struct Copy {
    pub path: PathBuf,
}

impl Copy {
    pub fn new() -> Self {
        let path = std::env::temp_dir().join(format!("{}.sqlite3", unique_name("draftforge")));
        std::fs::copy(fixture(), &path).expect("copy the fixture");
        Self { path }
    }

    pub fn path_str(&self) -> &str {
        self.path.to_str().expect("utf-8 temp path")
    }

    /// Runs SQL statements on the copy (damage, new rows).
    pub async fn execute(&self, statements: &[&str]) {
        let mut options = sea_orm::ConnectOptions::new(format!("sqlite://{}?mode=rw", self.path.display()));
        options.max_connections(1);
        let db = Database::connect(options).await.expect("open copy");
        // Damage is the point: the original's constraints must not stop it.
        db.execute_unprepared("PRAGMA foreign_keys = OFF").await.unwrap();
        db.execute_unprepared("PRAGMA ignore_check_constraints = ON").await.unwrap();
        for sql in statements {
            db.execute_unprepared(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
        db.close().await.ok();
    }
}

impl Default for Copy {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Copy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Opens a SQLite Draftforge file for the test's own reading.
pub async fn open(path: &Path) -> DatabaseConnection {
    Database::connect(format!("sqlite://{}?mode=ro", path.display())).await.expect("open the source")
}

/// The PostgreSQL type Django gives a column declared `declared` on SQLite.
fn postgres_type(declared: &str) -> String {
    let lower = declared.to_lowercase();
    match lower.as_str() {
        "bool" => "boolean".into(),
        "datetime" => "timestamptz".into(),
        "date" => "date".into(),
        "time" => "time".into(),
        "real" => "double precision".into(),
        "bigint" => "bigint".into(),
        "smallint unsigned" => "smallint".into(),
        "integer unsigned" => "integer".into(),
        // Django's IntegerField is `integer` on PostgreSQL, but the fixture's
        // INTEGER columns include `app_game.gameid`, which holds Steam match
        // ids past 2^31: a real server would have needed bigint there.
        _ if declared == "INTEGER" => "bigint".into(),
        "integer" => "integer".into(),
        _ if lower.starts_with("varchar") => lower,
        _ => "text".into(),
    }
}

/// Creates every table of the SQLite file `from` in the PostgreSQL
/// database at `pg_url` and copies all rows.
pub async fn load_into_postgres(from: &Path, pg_url: &str) {
    let src = open(from).await;
    let pg = Database::connect(pg_url).await.expect("PostgreSQL target");
    let sqlite = src.get_database_backend();
    let tables: Vec<String> = src
        .query_all_raw(Statement::from_string(
            sqlite,
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        ))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<String>("", "name").unwrap())
        .collect();
    for table in tables {
        let columns: Vec<(String, String, bool)> = src
            .query_all_raw(Statement::from_string(sqlite, format!("PRAGMA table_info(\"{table}\")")))
            .await
            .unwrap()
            .iter()
            .map(|r| {
                let name: String = r.try_get("", "name").unwrap();
                let declared: String = r.try_get("", "type").unwrap();
                let pk: i32 = r.try_get("", "pk").unwrap();
                (name, postgres_type(&declared), pk > 0)
            })
            .collect();
        let defs: Vec<String> = columns
            .iter()
            .map(|(name, ty, pk)| format!("\"{name}\" {ty}{}", if *pk { " PRIMARY KEY" } else { "" }))
            .collect();
        pg.execute_unprepared(&format!("CREATE TABLE \"{table}\" ({})", defs.join(", "))).await.unwrap();
        let select: Vec<String> = columns.iter().map(|(n, _, _)| format!("CAST(\"{n}\" AS TEXT) AS \"{n}\"")).collect();
        let rows = src
            .query_all_raw(Statement::from_string(sqlite, format!("SELECT {} FROM \"{table}\"", select.join(", "))))
            .await
            .unwrap();
        let names: Vec<String> = columns.iter().map(|(n, _, _)| format!("\"{n}\"")).collect();
        // SQLite's datetimes are UTC without an offset.
        let casts: Vec<String> = columns
            .iter()
            .enumerate()
            .map(|(i, (_, ty, _))| match ty.as_str() {
                "timestamptz" => format!("CAST(${} || '+00' AS timestamptz)", i + 1),
                _ => format!("CAST(${} AS {ty})", i + 1),
            })
            .collect();
        let insert = format!("INSERT INTO \"{table}\" ({}) VALUES ({})", names.join(", "), casts.join(", "));
        for row in rows {
            let values: Vec<sea_orm::Value> =
                columns.iter().map(|(n, _, _)| row.try_get::<Option<String>>("", n).unwrap().into()).collect();
            pg.execute_raw(Statement::from_sql_and_values(pg.get_database_backend(), &insert, values)).await.unwrap();
        }
    }
    pg.close().await.ok();
}
