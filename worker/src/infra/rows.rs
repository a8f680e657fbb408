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

/// Rows of values as a table that both databases join against, and the
/// parameters to bind for it (numbered from `first_param`). PostgreSQL gets
/// one `jsonb` parameter read back by `jsonb_to_recordset` (typed by
/// `columns`): planning a statement of 200 rows × 8 parameters cost it more
/// than running it. SQLite gets `(SELECT ? AS c1, ? AS c2 UNION ALL SELECT ?, ? …)`.
pub fn rows_table(
    backend: DatabaseBackend,
    columns: &[(&str, &str)],
    rows: Vec<Vec<Value>>,
    first_param: usize,
) -> (String, Vec<Value>) {
    if backend == DatabaseBackend::Postgres {
        let records: Vec<serde_json::Value> = rows
            .iter()
            .map(|row| {
                let cells = columns.iter().zip(row).map(|((name, _), value)| ((*name).to_owned(), json_of(value)));
                serde_json::Value::Object(cells.collect())
            })
            .collect();
        let typed: Vec<String> = columns.iter().map(|(name, pg_type)| format!("{name} {pg_type}")).collect();
        let sql = format!("(SELECT * FROM jsonb_to_recordset(${first_param}::jsonb) AS r({}))", typed.join(", "));
        return (sql, vec![Value::Json(Some(Box::new(serde_json::Value::Array(records))))]);
    }
    let header: Vec<String> = columns.iter().map(|(name, _)| format!("? AS {name}")).collect();
    let plain = vec!["?"; columns.len()].join(", ");
    let selects: Vec<String> = (0..rows.len())
        .map(|row| if row == 0 { format!("SELECT {}", header.join(", ")) } else { format!("SELECT {plain}") })
        .collect();
    (format!("({})", selects.join(" UNION ALL ")), rows.into_iter().flatten().collect())
}

/// A bound value as `jsonb_to_recordset` reads it back (times in RFC 3339).
fn json_of(value: &Value) -> serde_json::Value {
    match value {
        Value::ChronoDateTimeUtc(Some(at)) => at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true).into(),
        other => sea_orm::sea_query::value::sea_value_to_json_value(other),
    }
}

/// Inserts `rows` (values in `columns` order) into `table`; a row whose
/// `conflict` columns match a stored one updates that row's `refresh`
/// columns instead. As many statements as [`rows_per_statement`] needs.
pub async fn upsert<C: ConnectionTrait>(
    db: &C,
    table: &str,
    columns: &[(&str, &str)],
    conflict: &[&str],
    refresh: &[&str],
    rows: Vec<Vec<Value>>,
) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let names = columns.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", ");
    let refresh = refresh.iter().map(|c| format!("{c} = excluded.{c}")).collect::<Vec<_>>().join(", ");
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Vec<Value>> = rows.by_ref().take(rows_per_statement(backend)).collect();
        let (source, params) = rows_table(backend, columns, chunk, 1);
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

    fn two_rows() -> Vec<Vec<Value>> {
        let at = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 26, 7, 30, 5).unwrap();
        vec![
            vec!["a".to_owned().into(), Value::Json(Some(Box::new(json!({"ok": true})))), at.into()],
            vec!["b".to_owned().into(), Value::Json(None), Option::<DateTime<Utc>>::None.into()],
        ]
    }

    const COLUMNS: [(&str, &str); 3] = [("id", "text"), ("result", "jsonb"), ("at", "timestamptz")];

    #[test]
    fn postgres_gets_every_row_in_one_jsonb_parameter() {
        let (sql, params) = rows_table(DatabaseBackend::Postgres, &COLUMNS, two_rows(), 3);
        assert_eq!(sql, "(SELECT * FROM jsonb_to_recordset($3::jsonb) AS r(id text, result jsonb, at timestamptz))");
        let expected = json!([
            {"id": "a", "result": {"ok": true}, "at": "2026-11-26T07:30:05.000000Z"},
            {"id": "b", "result": null, "at": null},
        ]);
        assert_eq!(params, vec![Value::Json(Some(Box::new(expected)))]);
    }

    #[test]
    fn sqlite_gets_one_select_per_row_and_flat_parameters() {
        let (sql, params) = rows_table(DatabaseBackend::Sqlite, &COLUMNS, two_rows(), 1);
        assert_eq!(sql, "(SELECT ? AS id, ? AS result, ? AS at UNION ALL SELECT ?, ?, ?)");
        assert_eq!(params.len(), 6);
        assert_eq!(params[3], Value::String(Some("b".to_owned())));
    }
}
