//! Reading a Draftforge database, SQLite file or PostgreSQL, as plain rows.
//!
//! Django stores the same model differently on each database (SQLite:
//! integers for booleans, text for datetimes; PostgreSQL: `boolean`,
//! `timestamptz`, `integer` vs `bigint`), so every column is read through a
//! `CAST` to one of four kinds that both accept, and parsed here.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbErr, Statement};

/// How a source column is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Integers and foreign keys (`CAST … AS BIGINT`).
    Int,
    /// Booleans (`CAST … AS INTEGER`: PostgreSQL refuses boolean → bigint).
    Bool,
    /// Text, JSON and datetimes (`CAST … AS TEXT`).
    Text,
    Real,
}

/// One value of a source row.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

/// A source row by column name.
#[derive(Debug, Clone, Default)]
pub struct Row(HashMap<&'static str, Value>);

impl Row {
    pub fn int(&self, col: &str) -> Option<i64> {
        match self.0.get(col) {
            Some(Value::Int(v)) => Some(*v),
            _ => None,
        }
    }

    /// The primary key (every table the importer reads has an `id`, except
    /// `steam_match`, whose key is read by name).
    pub fn id(&self) -> i64 {
        self.int("id").unwrap_or_default()
    }

    pub fn bool(&self, col: &str) -> bool {
        self.int(col).is_some_and(|v| v != 0)
    }

    pub fn opt_bool(&self, col: &str) -> Option<bool> {
        self.int(col).map(|v| v != 0)
    }

    pub fn real(&self, col: &str) -> Option<f64> {
        match self.0.get(col) {
            Some(Value::Real(v)) => Some(*v),
            Some(Value::Int(v)) => Some(*v as f64),
            _ => None,
        }
    }

    pub fn text(&self, col: &str) -> Option<&str> {
        match self.0.get(col) {
            Some(Value::Text(v)) => Some(v.as_str()),
            _ => None,
        }
    }

    /// Text or the empty string.
    pub fn string(&self, col: &str) -> String {
        self.text(col).unwrap_or_default().to_owned()
    }

    pub fn time(&self, col: &str) -> Option<DateTime<Utc>> {
        self.text(col).and_then(parse_time)
    }

    /// The column's JSON, `None` when empty, or why it cannot be read.
    pub fn json(&self, col: &str) -> Result<Option<serde_json::Value>, String> {
        match self.text(col).filter(|t| !t.trim().is_empty()) {
            None => Ok(None),
            Some(text) => serde_json::from_str(text).map(Some).map_err(|e| e.to_string()),
        }
    }
}

/// A datetime as Django leaves it: SQLite `YYYY-MM-DD HH:MM:SS[.ffffff]`
/// (UTC, no offset), PostgreSQL `timestamptz::text` (`…+00`, `…+01:00`).
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    for format in ["%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M:%S%.f%#z"] {
        if let Ok(t) = DateTime::parse_from_str(text, format) {
            return Some(t.with_timezone(&Utc));
        }
    }
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .map(|t| t.and_utc())
}

/// An open Draftforge database.
pub struct Source {
    db: DatabaseConnection,
}

/// Why a source cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("no Draftforge database at {0}: the file does not exist")]
    Missing(String),
    #[error("cannot open {0}: {1}")]
    Open(String, DbErr),
    #[error("{0} is not a Draftforge database (no applied migrations of its `app`)")]
    NotDraftforge(String),
    #[error("reading the source failed: {0}")]
    Read(#[from] DbErr),
}

impl Source {
    /// `from` is a PostgreSQL URL or the path of a SQLite file (opened read-only).
    pub async fn open(from: &str) -> Result<Self, SourceError> {
        let url = if from.starts_with("postgres://") || from.starts_with("postgresql://") {
            from.to_owned()
        } else {
            let path = from.strip_prefix("sqlite://").unwrap_or(from);
            let path = path.split('?').next().unwrap_or(path);
            if !std::path::Path::new(path).is_file() {
                return Err(SourceError::Missing(path.to_owned()));
            }
            format!("sqlite://{path}?mode=ro")
        };
        let mut options = sea_orm::ConnectOptions::new(url);
        options.max_connections(2).sqlx_logging(false);
        let db = Database::connect(options).await.map_err(|e| SourceError::Open(redact(from), e))?;
        let source = Self { db };
        let applied = source
            .db
            .query_one_raw(Statement::from_string(
                source.db.get_database_backend(),
                "SELECT COUNT(*) AS n FROM django_migrations WHERE app = 'app'",
            ))
            .await
            .ok()
            .flatten()
            .and_then(|r| r.try_get::<i64>("", "n").ok());
        match applied {
            Some(n) if n > 0 => Ok(source),
            _ => Err(SourceError::NotDraftforge(redact(from))),
        }
    }

    /// Whether the source has `table` (older databases lack some).
    pub async fn has_table(&self, table: &str) -> bool {
        let sql = format!("SELECT 1 FROM {} WHERE 1 = 0", quote(table));
        self.db.query_all_raw(Statement::from_string(self.db.get_database_backend(), sql)).await.is_ok()
    }

    /// Rows of `table` (absent table: none), `columns` read by kind, in primary-key order.
    pub async fn rows(&self, table: &str, columns: &[(&'static str, Kind)], order_by: &str) -> Result<Vec<Row>, DbErr> {
        if !self.has_table(table).await {
            return Ok(Vec::new());
        }
        let select: Vec<String> = columns
            .iter()
            .map(|(name, kind)| {
                let sql_type = match kind {
                    Kind::Int => "BIGINT",
                    Kind::Bool => "INTEGER",
                    Kind::Text => "TEXT",
                    Kind::Real => "DOUBLE PRECISION",
                };
                format!("CAST({} AS {sql_type}) AS {}", quote(name), quote(name))
            })
            .collect();
        let sql = format!("SELECT {} FROM {} ORDER BY {}", select.join(", "), quote(table), quote(order_by));
        let backend = self.db.get_database_backend();
        let results = self.db.query_all_raw(Statement::from_string(backend, sql)).await?;
        results
            .into_iter()
            .map(|r| {
                let mut row = HashMap::with_capacity(columns.len());
                for (name, kind) in columns {
                    let value = match kind {
                        Kind::Int => r.try_get::<Option<i64>>("", name)?.map(Value::Int),
                        Kind::Bool => r.try_get::<Option<i32>>("", name)?.map(|v| Value::Int(i64::from(v))),
                        Kind::Text => r.try_get::<Option<String>>("", name)?.map(Value::Text),
                        Kind::Real => r.try_get::<Option<f64>>("", name)?.map(Value::Real),
                    };
                    row.insert(*name, value.unwrap_or(Value::Null));
                }
                Ok(Row(row))
            })
            .collect()
    }

    /// How many rows `table` has (0 when absent).
    pub async fn count(&self, table: &str) -> Result<i64, DbErr> {
        if !self.has_table(table).await {
            return Ok(0);
        }
        let sql = format!("SELECT COUNT(*) AS n FROM {}", quote(table));
        let row = self.db.query_one_raw(Statement::from_string(self.db.get_database_backend(), sql)).await?;
        Ok(row.and_then(|r| r.try_get::<i64>("", "n").ok()).unwrap_or_default())
    }
}

fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

/// A source URL without its password, for messages.
fn redact(from: &str) -> String {
    match url::Url::parse(from) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        _ => from.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn django_datetimes_of_both_databases() {
        let t = Utc.with_ymd_and_hms(2025, 12, 13, 1, 0, 0).unwrap();
        assert_eq!(parse_time("2025-12-13 01:00:00"), Some(t), "SQLite, no fraction");
        assert_eq!(parse_time("2025-12-13 02:00:00+01"), Some(t), "PostgreSQL, hour offset");
        assert_eq!(parse_time("2025-12-13 01:00:00+00:00"), Some(t));
        assert_eq!(
            parse_time("2025-12-13 01:00:00.250000"),
            Some(t + chrono::Duration::milliseconds(250)),
            "SQLite, microseconds"
        );
        assert_eq!(parse_time("13/12/2025"), None);
    }
}
