//! `update_league_stats` and `recalculate_league_mmr` (SPEC §8): one
//! GROUP BY over the league's player lines, the MMR formula on that
//! consistent snapshot, bulk upserts — all in one transaction, so running it
//! twice changes nothing.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Utc;
use entity::{league, league_player_stats, user};
use sea_orm::sea_query::{CaseStatement, Expr, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseTransaction, DbErr, EntityTrait, ExprTrait, QueryFilter,
    Set, Statement,
};
use serde_json::json;

use crate::domain::mmr::{self, MmrConfig, Totals};
use crate::infra::cache::ns;
use crate::jobs::JobError;
use crate::runtime::context::JobContext;

fn placeholder(backend: DatabaseBackend, n: usize) -> String {
    if backend == DatabaseBackend::Postgres { format!("${n}") } else { "?".to_owned() }
}

/// Per-user totals of a league's matches (linked players only; excluded
/// matches count for nothing).
pub async fn league_totals<C: ConnectionTrait>(db: &C, steam_league_id: i64) -> Result<Vec<Totals>, DbErr> {
    let backend = db.get_database_backend();
    let sql = format!(
        "SELECT p.user_id AS user_id, COUNT(*) AS games, \
         SUM(CASE WHEN (p.player_slot < 128) = m.radiant_win THEN 1 ELSE 0 END) AS wins, \
         SUM(p.kills) AS kills, SUM(p.deaths) AS deaths, SUM(p.assists) AS assists, \
         SUM(p.gold_per_min) AS gpm, SUM(p.xp_per_min) AS xpm \
         FROM player_match_stats p JOIN steam_matches m ON m.match_id = p.match_id \
         WHERE m.league_id = {} AND m.excluded_at IS NULL AND p.user_id IS NOT NULL \
         GROUP BY p.user_id ORDER BY p.user_id",
        placeholder(backend, 1)
    );
    let rows = db.query_all_raw(Statement::from_sql_and_values(backend, sql, [steam_league_id.into()])).await?;
    rows.iter()
        .map(|r| {
            Ok(Totals {
                user_id: r.try_get("", "user_id")?,
                games_played: r.try_get("", "games")?,
                wins: r.try_get("", "wins")?,
                kills: r.try_get("", "kills")?,
                deaths: r.try_get("", "deaths")?,
                assists: r.try_get("", "assists")?,
                gpm: r.try_get("", "gpm")?,
                xpm: r.try_get("", "xpm")?,
            })
        })
        .collect()
}

pub fn mmr_config(ctx: &JobContext) -> MmrConfig {
    MmrConfig { min_games: i64::from(ctx.settings.league_mmr_min_games), ..MmrConfig::default() }
}

async fn find_league(ctx: &JobContext, steam_league_id: i64) -> Result<league::Model, JobError> {
    crate::domain::sync::league_sync::find_league(ctx, steam_league_id).await
}

/// Rebuilds LeaguePlayerStats of a league, then the league MMR of its players.
pub async fn update_league_stats(ctx: &JobContext, steam_league_id: i64) -> Result<serde_json::Value, JobError> {
    let league = find_league(ctx, steam_league_id).await?;
    let txn = crate::infra::db::write_txn(&ctx.db).await?;
    let rebuilt = rebuild_league_stats(&txn, &league, &mmr_config(ctx)).await?;
    txn.commit().await?;
    ctx.cache.invalidate(&[ns::LEAGUE_STATS, ns::USERS, ns::TOURNAMENTS]).await;
    Ok(
        json!({ "steam_league_id": steam_league_id, "players": rebuilt.players, "league_mmr_updated": rebuilt.league_mmr_updated }),
    )
}

/// What [`rebuild_league_stats`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rebuilt {
    pub players: usize,
    pub league_mmr_updated: usize,
}

/// The work of `update_league_stats` inside the caller's transaction (the
/// importer recomputes in its own): aggregate, MMR formula, write the rows
/// that moved, refresh the league MMR of their players.
pub async fn rebuild_league_stats(
    txn: &DatabaseTransaction,
    league: &league::Model,
    cfg: &MmrConfig,
) -> Result<Rebuilt, DbErr> {
    let started = std::time::Instant::now();
    let totals = league_totals(txn, league.steam_league_id).await?;
    let aggregated = started.elapsed();
    let adjustments = mmr::adjustments(&totals, cfg);
    let now = Utc::now();
    let previous: BTreeMap<i64, league_player_stats::Model> = league_player_stats::Entity::find()
        .filter(league_player_stats::Column::LeagueId.eq(league.id))
        .all(txn)
        .await?
        .into_iter()
        .map(|row| (row.user_id, row))
        .collect();
    let current: BTreeSet<i64> = totals.iter().map(|t| t.user_id).collect();
    let gone: Vec<i64> = previous.keys().filter(|id| !current.contains(id)).copied().collect();
    if !gone.is_empty() {
        league_player_stats::Entity::delete_many()
            .filter(league_player_stats::Column::LeagueId.eq(league.id))
            .filter(league_player_stats::Column::UserId.is_in(gone.clone()))
            .exec(txn)
            .await?;
    }
    // Only rows whose figures moved are written: a rerun on unchanged data writes nothing.
    let mut changed_users = Vec::new();
    let rows: Vec<league_player_stats::ActiveModel> = totals
        .iter()
        .zip(&adjustments)
        .filter(|(t, adj)| previous.get(&t.user_id).is_none_or(|p| !same_figures(p, t, **adj)))
        .map(|(t, adj)| {
            changed_users.push(t.user_id);
            let a = t.averages();
            league_player_stats::ActiveModel {
                user_id: Set(t.user_id),
                league_id: Set(league.id),
                games_played: Set(t.games_played as i32),
                wins: Set(t.wins as i32),
                losses: Set((t.games_played - t.wins) as i32),
                total_kills: Set(t.kills),
                total_deaths: Set(t.deaths),
                total_assists: Set(t.assists),
                total_gpm: Set(t.gpm),
                total_xpm: Set(t.xpm),
                win_rate: Set(a.win_rate),
                avg_kills: Set(a.avg_kills),
                avg_deaths: Set(a.avg_deaths),
                avg_assists: Set(a.avg_assists),
                avg_gpm: Set(a.avg_gpm),
                avg_xpm: Set(a.avg_xpm),
                avg_kda: Set(a.kda),
                mmr_adjustment: Set(*adj),
                updated_at: Set(now),
                ..Default::default()
            }
        })
        .collect();
    let written_rows = rows.len();
    write_stats_rows(txn, rows).await?;
    let written = started.elapsed();
    let affected: Vec<i64> = changed_users.into_iter().chain(gone).collect();
    let league_mmr_updated = refresh_league_mmr(txn, &affected, cfg.min_games).await?;
    tracing::debug!(?aggregated, ?written, refreshed = ?started.elapsed(), rows = written_rows, "league stats phases");
    Ok(Rebuilt { players: totals.len(), league_mmr_updated })
}

/// Upserts stats rows. PostgreSQL gets the whole batch as one JSON
/// parameter (a statement with thousands of bound parameters is slow to
/// plan); SQLite takes ordinary multi-row inserts.
async fn write_stats_rows(txn: &DatabaseTransaction, rows: Vec<league_player_stats::ActiveModel>) -> Result<(), DbErr> {
    use league_player_stats::Column as C;
    if rows.is_empty() {
        return Ok(());
    }
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        let records: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                json!({
                    "user_id": r.user_id.as_ref(), "league_id": r.league_id.as_ref(), "games_played": r.games_played.as_ref(),
                    "wins": r.wins.as_ref(), "losses": r.losses.as_ref(), "total_kills": r.total_kills.as_ref(),
                    "total_deaths": r.total_deaths.as_ref(), "total_assists": r.total_assists.as_ref(),
                    "total_gpm": r.total_gpm.as_ref(), "total_xpm": r.total_xpm.as_ref(), "win_rate": r.win_rate.as_ref(),
                    "avg_kills": r.avg_kills.as_ref(), "avg_deaths": r.avg_deaths.as_ref(), "avg_assists": r.avg_assists.as_ref(),
                    "avg_gpm": r.avg_gpm.as_ref(), "avg_xpm": r.avg_xpm.as_ref(), "avg_kda": r.avg_kda.as_ref(),
                    "mmr_adjustment": r.mmr_adjustment.as_ref(), "updated_at": r.updated_at.as_ref(),
                })
            })
            .collect();
        let sql = "INSERT INTO league_player_stats (user_id, league_id, games_played, wins, losses, total_kills, total_deaths, \
            total_assists, total_gpm, total_xpm, win_rate, avg_kills, avg_deaths, avg_assists, avg_gpm, avg_xpm, avg_kda, \
            mmr_adjustment, updated_at) \
            SELECT * FROM json_to_recordset($1::json) AS x(user_id bigint, league_id bigint, games_played int, wins int, \
            losses int, total_kills bigint, total_deaths bigint, total_assists bigint, total_gpm bigint, total_xpm bigint, \
            win_rate double precision, avg_kills double precision, avg_deaths double precision, avg_assists double precision, \
            avg_gpm double precision, avg_xpm double precision, avg_kda double precision, mmr_adjustment int, updated_at timestamptz) \
            ON CONFLICT (user_id, league_id) DO UPDATE SET games_played = EXCLUDED.games_played, wins = EXCLUDED.wins, \
            losses = EXCLUDED.losses, total_kills = EXCLUDED.total_kills, total_deaths = EXCLUDED.total_deaths, \
            total_assists = EXCLUDED.total_assists, total_gpm = EXCLUDED.total_gpm, total_xpm = EXCLUDED.total_xpm, \
            win_rate = EXCLUDED.win_rate, avg_kills = EXCLUDED.avg_kills, avg_deaths = EXCLUDED.avg_deaths, \
            avg_assists = EXCLUDED.avg_assists, avg_gpm = EXCLUDED.avg_gpm, avg_xpm = EXCLUDED.avg_xpm, \
            avg_kda = EXCLUDED.avg_kda, mmr_adjustment = EXCLUDED.mmr_adjustment, updated_at = EXCLUDED.updated_at";
        return execute_with_json(txn, sql, records).await;
    }
    for chunk in rows.chunks(500) {
        league_player_stats::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::columns([C::UserId, C::LeagueId])
                    .update_columns([
                        C::GamesPlayed,
                        C::Wins,
                        C::Losses,
                        C::TotalKills,
                        C::TotalDeaths,
                        C::TotalAssists,
                        C::TotalGpm,
                        C::TotalXpm,
                        C::WinRate,
                        C::AvgKills,
                        C::AvgDeaths,
                        C::AvgAssists,
                        C::AvgGpm,
                        C::AvgXpm,
                        C::AvgKda,
                        C::MmrAdjustment,
                        C::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec(txn)
            .await?;
    }
    Ok(())
}

/// Runs a PostgreSQL statement whose `$1` is a JSON array of records.
async fn execute_with_json(txn: &DatabaseTransaction, sql: &str, records: Vec<serde_json::Value>) -> Result<(), DbErr> {
    txn.execute_raw(Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        sql,
        [serde_json::Value::Array(records).into()],
    ))
    .await?;
    Ok(())
}

/// Sets `users.league_mmr` for `(id, value)` pairs in one statement.
async fn write_league_mmr(txn: &DatabaseTransaction, updates: &[(i64, Option<i32>)]) -> Result<(), DbErr> {
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        let records: Vec<serde_json::Value> =
            updates.iter().map(|(id, m)| json!({"id": id, "league_mmr": m})).collect();
        let sql = "UPDATE users SET league_mmr = x.league_mmr \
            FROM json_to_recordset($1::json) AS x(id bigint, league_mmr int) WHERE users.id = x.id";
        return execute_with_json(txn, sql, records).await;
    }
    let mut case = CaseStatement::new();
    for (id, value) in updates {
        case = case.case(Expr::col(user::Column::Id).eq(*id), Expr::value(*value));
    }
    user::Entity::update_many()
        .col_expr(user::Column::LeagueMmr, case.finally(Expr::col(user::Column::LeagueMmr)).into())
        .filter(user::Column::Id.is_in(updates.iter().map(|(id, _)| *id)))
        .exec(txn)
        .await?;
    Ok(())
}

/// Whether a stored row already holds these totals and adjustment (the
/// averages derive from the totals).
fn same_figures(row: &league_player_stats::Model, t: &Totals, adjustment: i32) -> bool {
    i64::from(row.games_played) == t.games_played
        && i64::from(row.wins) == t.wins
        && row.total_kills == t.kills
        && row.total_deaths == t.deaths
        && row.total_assists == t.assists
        && row.total_gpm == t.gpm
        && row.total_xpm == t.xpm
        && row.mmr_adjustment == adjustment
}

/// Recomputes adjustments from the stored LeaguePlayerStats (no re-aggregation).
pub async fn recalculate_league(ctx: &JobContext, steam_league_id: i64) -> Result<serde_json::Value, JobError> {
    let league = find_league(ctx, steam_league_id).await?;
    let cfg = mmr_config(ctx);
    let txn = crate::infra::db::write_txn(&ctx.db).await?;
    let stored = league_player_stats::Entity::find()
        .filter(league_player_stats::Column::LeagueId.eq(league.id))
        .all(&txn)
        .await?;
    let totals: Vec<Totals> = stored
        .iter()
        .map(|s| Totals {
            user_id: s.user_id,
            games_played: i64::from(s.games_played),
            wins: i64::from(s.wins),
            kills: s.total_kills,
            deaths: s.total_deaths,
            assists: s.total_assists,
            gpm: s.total_gpm,
            xpm: s.total_xpm,
        })
        .collect();
    let adjustments = mmr::adjustments(&totals, &cfg);
    for (row, adj) in stored.iter().zip(adjustments) {
        if row.mmr_adjustment != adj {
            league_player_stats::Entity::update_many()
                .col_expr(league_player_stats::Column::MmrAdjustment, Expr::value(adj))
                .filter(league_player_stats::Column::Id.eq(row.id))
                .exec(&txn)
                .await?;
        }
    }
    let users: Vec<i64> = stored.iter().map(|s| s.user_id).collect();
    let updated = refresh_league_mmr(&txn, &users, cfg.min_games).await?;
    txn.commit().await?;
    ctx.cache.invalidate(&[ns::LEAGUE_STATS, ns::USERS, ns::TOURNAMENTS]).await;
    Ok(json!({ "steam_league_id": steam_league_id, "league_mmr_updated": updated }))
}

/// Recomputes `users.league_mmr` of `user_ids` from their stats in every
/// league. Returns how many changed.
pub async fn refresh_league_mmr(txn: &DatabaseTransaction, user_ids: &[i64], min_games: i64) -> Result<usize, DbErr> {
    let mut changed = 0;
    for chunk in user_ids.chunks(500) {
        let users = user::Entity::find().filter(user::Column::Id.is_in(chunk.iter().copied())).all(txn).await?;
        let mut qualified: BTreeMap<i64, Vec<i32>> = BTreeMap::new();
        for s in league_player_stats::Entity::find()
            .filter(league_player_stats::Column::UserId.is_in(chunk.iter().copied()))
            .filter(league_player_stats::Column::GamesPlayed.gte(min_games))
            .all(txn)
            .await?
        {
            qualified.entry(s.user_id).or_default().push(s.mmr_adjustment);
        }
        let updates: Vec<(i64, Option<i32>)> = users
            .iter()
            .filter_map(|u| {
                let value = mmr::league_mmr(u.mmr, qualified.get(&u.id).map(Vec::as_slice).unwrap_or_default());
                (value != u.league_mmr).then_some((u.id, value))
            })
            .collect();
        if !updates.is_empty() {
            write_league_mmr(txn, &updates).await?;
            changed += updates.len();
        }
    }
    Ok(changed)
}
