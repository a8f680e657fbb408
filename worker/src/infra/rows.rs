//! Multi-row statements that both databases run: a batch of rows bound as
//! one table ([`rows_table`]) and the upsert built on it ([`upsert`]).

use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr, Statement, Value};

/// Rows one statement over [`rows_table`] carries: SQLite joins at most 500
/// SELECTs in one compound; PostgreSQL's single parameter has no such bound.
pub fn rows_per_statement(backend: DatabaseBackend) -> usize {
    match backend {
        DatabaseBackend::Postgres => 2000,
        _ => 200,
    }
}

/// One value of a row with the column it fills and that column's PostgreSQL
/// type. A row is written as a list of cells, so a value cannot drift out of
/// line with its column as it could between two lists kept side by side.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    column: &'static str,
    pg_type: &'static str,
    value: Value,
}

pub fn cell(column: &'static str, pg_type: &'static str, value: impl Into<Value>) -> Cell {
    Cell { column, pg_type, value: value.into() }
}

/// Rows of cells as a table that both databases join against (its columns
/// are the first row's; every row has the same), and the parameters to bind
/// for it (numbered from `first_param`). PostgreSQL gets one parameter, the
/// rows as JSON text, read back by `json_to_recordset` (typed by the
/// cells): planning a statement of 200 rows × 8 parameters cost it more than
/// running it, and text cast to `json` is only checked, where `jsonb` is
/// parsed into a tree first (2 000 rows of 15 numbers: 11 ms against 24 ms).
/// SQLite gets `(SELECT ? AS c1, ? AS c2 UNION ALL SELECT ?, ? …)`.
pub fn rows_table(backend: DatabaseBackend, rows: Vec<Vec<Cell>>, first_param: usize) -> (String, Vec<Value>) {
    let columns: Vec<(&str, &str)> =
        rows.first().map(|row| row.iter().map(|c| (c.column, c.pg_type)).collect()).unwrap_or_default();
    debug_assert!(rows.iter().all(|row| row.iter().map(|c| c.column).eq(columns.iter().map(|(name, _)| *name))));
    if backend == DatabaseBackend::Postgres {
        let typed: Vec<String> = columns.iter().map(|(name, pg_type)| format!("{name} {pg_type}")).collect();
        let sql = format!("(SELECT * FROM json_to_recordset(${first_param}::json) AS r({}))", typed.join(", "));
        return (sql, vec![Value::String(Some(json_records(&rows)))]);
    }
    // Anonymous (`?`) when the table's are the statement's only parameters:
    // SQLite looks a numbered one's name up by scanning every name before it
    // (`sqlite3_bind_parameter_name`, which sqlx calls for each bind), so a
    // 200-row batch of 16 columns cost ~5 million steps to bind — two thirds
    // of an ingest's CPU. Numbered (`?N`) after another parameter: sqlx binds
    // a bare `?` by its own count from 1, so it would bind that one twice.
    let width = columns.len();
    let selects: Vec<String> = (0..rows.len())
        .map(|row| {
            let cells: Vec<String> = (0..width)
                .map(|col| {
                    let param = match first_param {
                        1 => "?".to_owned(),
                        _ => format!("?{}", first_param + row * width + col),
                    };
                    if row == 0 { format!("{param} AS {}", columns[col].0) } else { param }
                })
                .collect();
            format!("SELECT {}", cells.join(", "))
        })
        .collect();
    (format!("({})", selects.join(" UNION ALL ")), rows.into_iter().flatten().map(|c| c.value).collect())
}

/// `rows` as a JSON array of objects keyed by column name, written straight
/// to text (no tree of maps per row: at 2 000 rows that cost the ingest more
/// than the database spent reading it).
fn json_records(rows: &[Vec<Cell>]) -> String {
    use std::fmt::Write;
    let mut text = String::with_capacity(rows.iter().map(|row| row.len() * 24).sum::<usize>() + 2);
    text.push('[');
    for (i, row) in rows.iter().enumerate() {
        text.push_str(if i == 0 { "{" } else { ",{" });
        for (j, c) in row.iter().enumerate() {
            // Column names are SQL identifiers: nothing in them needs escaping.
            let _ = write!(text, "{}\"{}\":{}", if j == 0 { "" } else { "," }, c.column, json_of(&c.value));
        }
        text.push('}');
    }
    text.push(']');
    text
}

/// A bound value as `json_to_recordset` reads it back (times in RFC 3339).
fn json_of(value: &Value) -> serde_json::Value {
    match value {
        Value::ChronoDateTimeUtc(Some(at)) => at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true).into(),
        other => sea_orm::sea_query::value::sea_value_to_json_value(other),
    }
}

/// Inserts `rows` into `table`; a row whose `conflict` columns match a
/// stored one updates that row's `refresh` columns instead. As many
/// statements as [`rows_per_statement`] needs.
pub async fn upsert<C: ConnectionTrait>(
    db: &C,
    table: &str,
    conflict: &[&str],
    refresh: &[&str],
    rows: Vec<Vec<Cell>>,
) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let Some(first) = rows.first() else { return Ok(()) };
    let names = first.iter().map(|c| c.column).collect::<Vec<_>>().join(", ");
    let refresh = refresh.iter().map(|c| format!("{c} = excluded.{c}")).collect::<Vec<_>>().join(", ");
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Vec<Cell>> = rows.by_ref().take(rows_per_statement(backend)).collect();
        let (source, params) = rows_table(backend, chunk, 1);
        // `WHERE true`: SQLite reads `ON CONFLICT` after a bare FROM as a join constraint.
        let sql = format!(
            "INSERT INTO {table} ({names}) SELECT {names} FROM {source} AS v WHERE true \
             ON CONFLICT ({}) DO UPDATE SET {refresh}",
            conflict.join(", ")
        );
        db.execute_raw(Statement::from_sql_and_values(backend, sql, params)).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use serde_json::json;

    fn two_rows() -> Vec<Vec<Cell>> {
        let at = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 26, 7, 30, 5).unwrap();
        vec![
            vec![
                cell("id", "text", "a".to_owned()),
                cell("result", "jsonb", Value::Json(Some(Box::new(json!({"ok": true}))))),
                cell("at", "timestamptz", at),
            ],
            vec![
                cell("id", "text", "b".to_owned()),
                cell("result", "jsonb", Value::Json(None)),
                cell("at", "timestamptz", Option::<DateTime<Utc>>::None),
            ],
        ]
    }

    #[test]
    fn postgres_gets_every_row_in_one_json_text_parameter() {
        let (sql, params) = rows_table(DatabaseBackend::Postgres, two_rows(), 3);
        assert_eq!(sql, "(SELECT * FROM json_to_recordset($3::json) AS r(id text, result jsonb, at timestamptz))");
        let expected = json!([
            {"id": "a", "result": {"ok": true}, "at": "2026-11-26T07:30:05.000000Z"},
            {"id": "b", "result": null, "at": null},
        ]);
        let [Value::String(Some(text))] = params.as_slice() else { panic!("one text parameter: {params:?}") };
        assert_eq!(serde_json::from_str::<serde_json::Value>(text).unwrap(), expected);
    }

    #[test]
    fn sqlite_gets_one_select_per_row_and_flat_parameters() {
        let (sql, params) = rows_table(DatabaseBackend::Sqlite, two_rows(), 1);
        assert_eq!(sql, "(SELECT ? AS id, ? AS result, ? AS at UNION ALL SELECT ?, ?, ?)");
        assert_eq!(params.len(), 6);
        assert_eq!(params[3], Value::String(Some("b".to_owned())));
        // After another parameter, numbered from it.
        let (sql, params) = rows_table(DatabaseBackend::Sqlite, two_rows(), 2);
        assert_eq!(sql, "(SELECT ?2 AS id, ?3 AS result, ?4 AS at UNION ALL SELECT ?5, ?6, ?7)");
        assert_eq!(params.len(), 6);
    }
}
