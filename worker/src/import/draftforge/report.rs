//! What an import did: per table, rows read, imported, already imported
//! and skipped; every skipped or repaired row with its reason; the players
//! whose league MMR the recompute changed.

use std::fmt;

use serde::Serialize;

/// One source table's figures.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct TableCounts {
    pub table: &'static str,
    pub source_rows: usize,
    pub imported: usize,
    /// Carried over by an earlier run (found in the import map).
    pub already_imported: usize,
    pub skipped: usize,
}

/// A row skipped or repaired, and why.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RowNote {
    pub table: &'static str,
    pub source_id: i64,
    pub reason: String,
}

/// A player whose league MMR differs from the value the original stored.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct MmrChange {
    pub source_id: i64,
    pub user_id: i64,
    pub username: String,
    pub original: Option<i32>,
    pub recomputed: Option<i32>,
}

/// A source table this backend has no place for.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NotCarried {
    pub table: &'static str,
    pub rows: i64,
    pub why: &'static str,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub dry_run: bool,
    pub tables: Vec<TableCounts>,
    pub skipped: Vec<RowNote>,
    pub fixed: Vec<RowNote>,
    pub not_carried: Vec<NotCarried>,
    /// Leagues whose stats and MMR were recomputed (Steam league ids).
    pub recomputed_leagues: Vec<i64>,
    pub mmr_changes: Vec<MmrChange>,
}

impl Report {
    pub fn counts(&self, table: &str) -> Option<&TableCounts> {
        self.tables.iter().find(|t| t.table == table)
    }

    pub(super) fn table(&mut self, table: &'static str) -> &mut TableCounts {
        if let Some(i) = self.tables.iter().position(|t| t.table == table) {
            return &mut self.tables[i];
        }
        self.tables.push(TableCounts { table, ..Default::default() });
        self.tables.last_mut().expect("just pushed")
    }

    pub(super) fn skip(&mut self, table: &'static str, source_id: i64, reason: impl Into<String>) {
        self.table(table).skipped += 1;
        self.skipped.push(RowNote { table, source_id, reason: reason.into() });
    }

    pub(super) fn fix(&mut self, table: &'static str, source_id: i64, reason: impl Into<String>) {
        self.fixed.push(RowNote { table, source_id, reason: reason.into() });
    }

    /// Rows imported by this run, over every table.
    pub fn imported(&self) -> usize {
        self.tables.iter().map(|t| t.imported).sum()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.dry_run {
            writeln!(f, "DRY RUN: nothing was written.")?;
        }
        writeln!(f, "{:<30} {:>8} {:>9} {:>9} {:>8}", "source table", "rows", "imported", "already", "skipped")?;
        for t in &self.tables {
            writeln!(
                f,
                "{:<30} {:>8} {:>9} {:>9} {:>8}",
                t.table, t.source_rows, t.imported, t.already_imported, t.skipped
            )?;
        }
        if !self.skipped.is_empty() {
            writeln!(f, "\nskipped rows:")?;
            for n in &self.skipped {
                writeln!(f, "  {}#{}: {}", n.table, n.source_id, n.reason)?;
            }
        }
        if !self.fixed.is_empty() {
            writeln!(f, "\nrepaired rows:")?;
            for n in &self.fixed {
                writeln!(f, "  {}#{}: {}", n.table, n.source_id, n.reason)?;
            }
        }
        if !self.not_carried.is_empty() {
            writeln!(f, "\nnot carried over:")?;
            for n in &self.not_carried {
                writeln!(f, "  {} ({} rows): {}", n.table, n.rows, n.why)?;
            }
        }
        let show = |v: Option<i32>| v.map_or_else(|| "none".to_owned(), |v| v.to_string());
        writeln!(
            f,
            "\nleague stats recomputed (SPEC §8) for league(s) {:?}; league MMR differs from the original for {} player(s):",
            self.recomputed_leagues,
            self.mmr_changes.len()
        )?;
        for c in &self.mmr_changes {
            writeln!(f, "  {} (user {}): {} → {}", c.username, c.user_id, show(c.original), show(c.recomputed))?;
        }
        Ok(())
    }
}
