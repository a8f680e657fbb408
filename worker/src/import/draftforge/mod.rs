//! `api import-draftforge` (SPEC §19): a Draftforge league — users,
//! leagues and their admins, tournaments, teams, games with their bracket
//! links, team drafts, finished hero drafts, Steam matches and player lines
//! — brought over from the original's SQLite or PostgreSQL database, then
//! the league stats and MMR recomputed with §8.
//!
//! Idempotent and resumable: every imported row is recorded in
//! `import_map` (source table, source id → id here) in the same transaction
//! as the row itself, one transaction per batch of a table; a later run
//! imports only what is not in the map. Bad rows are repaired by a fixed
//! rule or skipped, each with its reason in the [`Report`]; the importer
//! never stops half-way through a batch.
//!
//! The steps, in dependency order, live in `people` (users, leagues,
//! league admins), `nights` (tournaments, players, teams, games and their
//! links), `drafts` (team drafts, finished hero drafts) and `matches`
//! (Steam matches, player lines, sync state).

/// Runs `$body` for each of `$rows` in transactions of [`BATCH`] rows and
/// commits each batch with its import-map entries. The body evaluates to
/// the id the row got here, or reports why it skips the row and
/// `continue`s.
macro_rules! in_batches {
    ($importer:ident, $table:expr, $rows:expr, $key:expr, |$txn:ident, $row:ident| $body:block) => {{
        for chunk in $rows.chunks($crate::import::draftforge::BATCH) {
            let $txn = $importer.db.begin().await?;
            let mut placed = Vec::new();
            for $row in chunk {
                $importer.progress.advance();
                let id: i64 = $body;
                placed.push((($key)($row), id));
            }
            $importer.commit($table, $txn, placed).await?;
        }
        $importer.progress.finish();
    }};
}

mod drafts;
mod matches;
mod nights;
mod people;
pub mod report;
pub mod rules;
pub mod source;

use std::collections::HashMap;

use chrono::Utc;
use entity::{import_map, league, user};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, Set, TransactionTrait,
};

pub use report::Report;
use source::{Row, Source, SourceError};

use crate::domain::mmr::MmrConfig;

/// Rows written per transaction.
const BATCH: usize = 500;

/// How the import runs.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Report what would be imported, write nothing.
    pub dry_run: bool,
    /// SPEC §8's games needed before an adjustment counts (`LEAGUE_MMR_MIN_GAMES`).
    pub min_games: i64,
}

/// Progress of each table, shown by the command as a bar.
pub trait Progress: Sync {
    fn start(&self, _table: &str, _rows: u64) {}
    fn advance(&self) {}
    fn finish(&self) {}
}

/// No progress display (tests, scripts).
pub struct Silent;
impl Progress for Silent {}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("writing the import failed (every finished batch is kept; run again to resume): {0}")]
    Db(#[from] DbErr),
}

/// Imports the Draftforge database at `from` (a SQLite file or a PostgreSQL
/// URL) into `target`; with `dry_run` everything runs inside one
/// transaction that is rolled back, so the report is exact and nothing stays.
pub async fn run(
    target: &DatabaseConnection,
    from: &str,
    options: Options,
    progress: &dyn Progress,
) -> Result<Report, ImportError> {
    let source = Source::open(from).await?;
    if options.dry_run {
        let txn = target.begin().await?;
        let report = Importer::load(&source, &txn, options, progress).await?.run().await?;
        txn.rollback().await?;
        Ok(report)
    } else {
        Ok(Importer::load(&source, target, options, progress).await?.run().await?)
    }
}

/// Where an import writes: the database, or (dry run) a transaction
/// rolled back at the end; each batch is a (nested) transaction of it.
pub trait Target: ConnectionTrait + TransactionTrait<Transaction = DatabaseTransaction> {}
impl<T: ConnectionTrait + TransactionTrait<Transaction = DatabaseTransaction>> Target for T {}

/// One import run: the source, the target and what has been mapped so far.
struct Importer<'a, C> {
    source: &'a Source,
    db: &'a C,
    options: Options,
    progress: &'a dyn Progress,
    report: Report,
    /// Source table → (source id → id here).
    maps: HashMap<&'static str, HashMap<i64, i64>>,
    /// Source user id → the league MMR the original stored.
    original_league_mmr: HashMap<i64, Option<i32>>,
}

impl<'a, C: Target> Importer<'a, C> {
    async fn load(source: &'a Source, db: &'a C, options: Options, progress: &'a dyn Progress) -> Result<Self, DbErr> {
        let mut maps: HashMap<&'static str, HashMap<i64, i64>> = HashMap::new();
        for row in import_map::Entity::find().all(db).await? {
            if let Some(table) = TABLES.iter().find(|t| **t == row.source_table) {
                maps.entry(*table).or_default().insert(row.source_id, row.target_id);
            }
        }
        let report = Report { dry_run: options.dry_run, ..Default::default() };
        Ok(Self { source, db, options, progress, report, maps, original_league_mmr: HashMap::new() })
    }

    async fn run(mut self) -> Result<Report, DbErr> {
        self.users().await?;
        self.leagues().await?;
        self.league_admins().await?;
        // Matches before games: a game's match id refers to a stored match.
        self.steam_matches().await?;
        self.player_lines().await?;
        self.tournaments().await?;
        self.tournament_users().await?;
        self.teams().await?;
        self.team_members().await?;
        self.games().await?;
        self.bracket_links_and_winners().await?;
        self.team_drafts().await?;
        self.hero_drafts().await?;
        self.sync_states().await?;
        self.not_carried().await?;
        self.recompute().await?;
        Ok(self.report)
    }

    /// A JSON column of `row`; one that is not readable JSON (or nests
    /// deeper than 128 levels) is stored as null and reported, never silently.
    fn readable_json(&mut self, table: &'static str, row: &source::Row, col: &str) -> Option<serde_json::Value> {
        match row.json(col) {
            Ok(value) => value,
            Err(why) => {
                self.report.fix(table, row.id(), format!("{col} is not readable JSON ({why}): stored empty"));
                None
            }
        }
    }

    /// The id here of source row `id` of `table`.
    fn mapped(&self, table: &str, id: Option<i64>) -> Option<i64> {
        self.maps.get(table)?.get(&id?).copied()
    }

    fn map_of(&self, table: &str) -> HashMap<i64, i64> {
        self.maps.get(table).cloned().unwrap_or_default()
    }

    /// The rows of `table` not imported yet (the others are counted as
    /// already imported), and starts its progress bar.
    fn pending(&mut self, table: &'static str, rows: Vec<Row>, key: impl Fn(&Row) -> i64) -> Vec<Row> {
        let done = self.maps.get(table).cloned().unwrap_or_default();
        let counts = self.report.table(table);
        counts.source_rows = rows.len();
        let pending: Vec<Row> = rows.into_iter().filter(|r| !done.contains_key(&key(r))).collect();
        counts.already_imported = counts.source_rows - pending.len();
        self.progress.start(table, pending.len() as u64);
        pending
    }

    /// Records the rows a batch placed in the import map and commits the
    /// batch: the rows and their map entries land together or not at all.
    async fn commit(
        &mut self,
        table: &'static str,
        txn: DatabaseTransaction,
        placed: Vec<(i64, i64)>,
    ) -> Result<(), DbErr> {
        let now = Utc::now();
        for chunk in placed.chunks(BATCH) {
            let rows = chunk.iter().map(|(source_id, target_id)| import_map::ActiveModel {
                source_table: Set(table.to_owned()),
                source_id: Set(*source_id),
                target_id: Set(*target_id),
                imported_at: Set(now),
            });
            import_map::Entity::insert_many(rows).exec_without_returning(&txn).await?;
        }
        txn.commit().await?;
        self.report.table(table).imported += placed.len();
        self.maps.entry(table).or_default().extend(placed);
        Ok(())
    }

    /// A list of people of the original — `table` (id, `parent.0`,
    /// customuser_id), whose parent rows came from source table `parent.1`
    /// — as rows of `E` here, one per (parent, user); a pair already there
    /// is kept as it is.
    async fn user_links<E, F>(
        &mut self,
        table: &'static str,
        parent: (&'static str, &'static str),
        columns: [E::Column; 2],
        build: F,
    ) -> Result<(), DbErr>
    where
        E: EntityTrait,
        E::ActiveModel: ActiveModelTrait<Entity = E>,
        F: Fn(i64, i64) -> E::ActiveModel,
    {
        use source::Kind::Int;
        let (parent_col, parent_table) = parent;
        let rows = self.source.rows(table, &[("id", Int), (parent_col, Int), ("customuser_id", Int)], "id").await?;
        let rows = self.pending(table, rows, Row::id);
        let what = parent_col.trim_end_matches("_id");
        in_batches!(self, table, rows, Row::id, |txn, r| {
            let (Some(parent_id), Some(user_id)) =
                (self.mapped(parent_table, r.int(parent_col)), self.mapped(people::USERS, r.int("customuser_id")))
            else {
                self.report.skip(table, r.id(), format!("its {what} or user was not carried over"));
                continue;
            };
            E::insert(build(parent_id, user_id))
                .on_conflict(OnConflict::columns(columns).do_nothing().to_owned())
                .exec_without_returning(&txn)
                .await?;
            user_id
        });
        Ok(())
    }

    /// Recomputes the stats and league MMR (SPEC §8) of every league this
    /// source brought, then lists the players whose league MMR differs
    /// from the value the original stored.
    async fn recompute(&mut self) -> Result<(), DbErr> {
        let leagues: Vec<i64> = self.map_of(people::LEAGUES).values().copied().collect();
        let cfg = MmrConfig { min_games: self.options.min_games, ..MmrConfig::default() };
        self.progress.start("league stats (recompute)", leagues.len() as u64);
        let mut found = league::Entity::find().filter(league::Column::Id.is_in(leagues)).all(self.db).await?;
        found.sort_by_key(|l| l.steam_league_id);
        for league in found {
            let txn = self.db.begin().await?;
            crate::domain::stats::rebuild_league_stats(&txn, &league, &cfg).await?;
            txn.commit().await?;
            self.report.recomputed_leagues.push(league.steam_league_id);
            self.progress.advance();
        }
        self.progress.finish();
        let users = self.map_of(people::USERS);
        let mut changes = Vec::new();
        for chunk in users.values().copied().collect::<Vec<_>>().chunks(BATCH) {
            let found = user::Entity::find().filter(user::Column::Id.is_in(chunk.to_vec())).all(self.db).await?;
            let by_id: HashMap<i64, user::Model> = found.into_iter().map(|u| (u.id, u)).collect();
            for (source_id, user_id) in users.iter().filter(|(_, id)| chunk.contains(id)) {
                let (Some(original), Some(here)) = (self.original_league_mmr.get(source_id), by_id.get(user_id)) else {
                    continue;
                };
                if *original != here.league_mmr {
                    changes.push(report::MmrChange {
                        source_id: *source_id,
                        user_id: *user_id,
                        username: here.username.clone(),
                        original: *original,
                        recomputed: here.league_mmr,
                    });
                }
            }
        }
        changes.sort_by_key(|c| c.source_id);
        self.report.mmr_changes = changes;
        Ok(())
    }

    /// Lists the source tables with rows that have no place here.
    async fn not_carried(&mut self) -> Result<(), DbErr> {
        for (table, why) in NOT_CARRIED {
            let rows = self.source.count(table).await?;
            if rows > 0 {
                self.report.not_carried.push(report::NotCarried { table, rows, why });
            }
        }
        Ok(())
    }
}

/// Every source table the importer maps (the `import_map.source_table` values).
const TABLES: [&str; 20] = [
    people::USERS,
    people::LEAGUES,
    people::LEAGUE_ADMINS,
    people::LEAGUE_STAFF,
    nights::TOURNAMENTS,
    nights::TOURNAMENT_USERS,
    nights::TEAMS,
    nights::TEAM_MEMBERS,
    nights::DROP_INS,
    nights::LEAVERS,
    nights::GAMES,
    drafts::DRAFTS,
    drafts::DRAFT_ROUNDS,
    drafts::DRAFT_EVENTS,
    drafts::HERO_DRAFTS,
    drafts::HERO_DRAFT_TEAMS,
    drafts::HERO_DRAFT_ROUNDS,
    drafts::HERO_DRAFT_EVENTS,
    matches::MATCHES,
    matches::PLAYER_LINES,
];

/// Source tables left behind, and why (README "Coming from Draftforge").
const NOT_CARRIED: [(&str, &str); 12] = [
    ("app_leaguerating", "Elo-style ratings: league MMR is recomputed from the matches (SPEC §8)"),
    ("app_leaguematch", "rated-match records of the Elo ratings"),
    ("app_leaguematchparticipant", "rated-match records of the Elo ratings"),
    ("steam_leagueplayerstats", "league stats are recomputed from the player lines, not copied"),
    ("steam_gamematchsuggestion", "suggestions are computed on demand here"),
    ("app_organization", "no organisations here: leagues stand alone"),
    ("app_organization_admins", "no organisations here; league admins and staff are carried over"),
    ("app_organization_staff", "no organisations here; league admins and staff are carried over"),
    ("discordbot_eventtemplate", "announcements are recreated through /api/discord"),
    ("discordbot_scheduledevent", "announcements are recreated through /api/discord"),
    ("discordbot_rsvp", "RSVPs belong to posted Discord events"),
    ("app_joke", "the tango counter"),
];
