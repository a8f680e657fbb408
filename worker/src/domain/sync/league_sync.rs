//! League match sync (SPEC §7.2), done right: page from the newest match
//! down until the history ends or the page is older than the look-back
//! window before the newest stored match; skip stored matches without a
//! details call; ingest the new ones oldest first, each committed on its own;
//! record failures for `retry_failed_matches`. One sync per league at a
//! time (token lock); a crash resumes without loss or duplicates.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use chrono::Utc;
use entity::{league, league_sync_state, steam_match};
use futures_util::StreamExt;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, ExprTrait, QueryFilter, QuerySelect, Set};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::clients::steam::client::SteamError;
use crate::clients::steam::types::{HistoryMatch, MatchDetails};
use crate::domain::sync::ingest::{commit_matches, ingest_match, write_matches};
use crate::infra::lock::LockGuard;
use crate::jobs::JobError;
use crate::jobs::enqueue::NewJob;
use crate::jobs::payload::{AutoLinkGames, Job, UpdateLeagueStats};
use crate::runtime::context::JobContext;

/// Matches per GetMatchHistory page.
const PAGE: u32 = 100;
/// Renewed before every Steam call, so a dead holder frees it quickly.
const LOCK_TTL: Duration = Duration::from_secs(60);

/// A match that could not be fetched, kept for `retry_failed_matches`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedMatch {
    pub match_id: i64,
    pub match_seq_num: Option<i64>,
    pub error: String,
}

pub fn failed_list(state: &league_sync_state::Model) -> Vec<FailedMatch> {
    serde_json::from_value(state.failed_match_ids.clone()).unwrap_or_default()
}

/// The league row of a Steam league id; unknown leagues are bad input.
pub async fn find_league(ctx: &JobContext, steam_league_id: i64) -> Result<league::Model, JobError> {
    crate::domain::leagues::by_steam_id(&ctx.db, steam_league_id)
        .await?
        .ok_or_else(|| JobError::Permanent(format!("unknown league {steam_league_id} (create it first)")))
}

pub async fn sync_state(ctx: &JobContext, league_id: i64) -> Result<league_sync_state::Model, JobError> {
    if let Some(state) =
        league_sync_state::Entity::find().filter(league_sync_state::Column::LeagueId.eq(league_id)).one(&ctx.db).await?
    {
        return Ok(state);
    }
    let inserted = league_sync_state::ActiveModel {
        league_id: Set(league_id),
        last_match_id: Set(None),
        last_sync_at: Set(None),
        failed_match_ids: Set(json!([])),
        last_error: Set(None),
        ..Default::default()
    }
    .insert(&ctx.db)
    .await;
    match inserted {
        Ok(state) => Ok(state),
        // Created concurrently by a retry run.
        Err(_) => league_sync_state::Entity::find()
            .filter(league_sync_state::Column::LeagueId.eq(league_id))
            .one(&ctx.db)
            .await?
            .ok_or_else(|| JobError::transient("sync state vanished")),
    }
}

/// Takes the league's sync lock, or says the running sync covers this one.
pub async fn lock_league(ctx: &JobContext, steam_league_id: i64) -> Result<Option<LockGuard>, JobError> {
    Ok(ctx.locks.acquire_as(&format!("sync:{steam_league_id}"), &ctx.lock_owner(), LOCK_TTL).await?)
}

async fn keep_lock(lock: &LockGuard) -> Result<(), JobError> {
    if lock.renew_if_due().await? { Ok(()) } else { Err(JobError::transient("lost the league sync lock")) }
}

/// Details fetched ahead of the ingest (which stays strictly oldest first):
/// overlaps Steam latency with database writes; the rate limiter still paces calls.
const PREFETCH: usize = 128;
/// Fetched matches stored per transaction at most (whatever is ready is stored together).
const INGEST_RUN: usize = 200;

/// Whether the store starts writing the `ready` matches as a run now, with
/// `in_flight` runs being written (at most `max_in_flight`) and the fetching
/// `fetching` still. Alone, a run starts at once — a small sync or a paced
/// Steam never waits for more. Beside another it waits for half a run (or
/// the fetching's end): measured on PostgreSQL, a second run started with the
/// handful of matches that arrived while the first was taken left one of the
/// two backends idle, and runs stayed at the channel's 128.
fn starts_run(in_flight: usize, max_in_flight: usize, ready: usize, fetching: bool) -> bool {
    ready > 0 && in_flight < max_in_flight && (in_flight == 0 || !fetching || ready >= INGEST_RUN / 2)
}

/// Which of `ids` are stored already.
async fn stored(ctx: &JobContext, ids: &[i64]) -> Result<HashSet<i64>, JobError> {
    let mut found = HashSet::new();
    for chunk in ids.chunks(500) {
        let rows: Vec<i64> = steam_match::Entity::find()
            .select_only()
            .column(steam_match::Column::MatchId)
            .filter(steam_match::Column::MatchId.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(&ctx.db)
            .await?;
        found.extend(rows);
    }
    Ok(found)
}

/// Reads the league history: every match down to the end (full) or down to
/// the look-back window before the newest stored match (incremental).
async fn read_history(
    ctx: &JobContext,
    steam_league_id: i64,
    full: bool,
    lock: &LockGuard,
) -> Result<(Vec<HistoryMatch>, u32), JobError> {
    let newest_stored: Option<chrono::DateTime<Utc>> = steam_match::Entity::find()
        .select_only()
        .column_as(Expr::col(steam_match::Column::StartTime).max(), "newest")
        .filter(steam_match::Column::LeagueId.eq(steam_league_id))
        .into_tuple::<Option<chrono::DateTime<Utc>>>()
        .one(&ctx.db)
        .await?
        .flatten();
    let lookback = i64::from(ctx.settings.sync_lookback_hours) * 3600;
    let cutoff = if full { None } else { newest_stored.map(|t| t.timestamp() - lookback) };
    let mut seen = BTreeSet::new();
    let mut listed = Vec::new();
    let mut start_at: Option<i64> = None;
    let mut pages = 0;
    loop {
        ctx.checkpoint()?;
        let page = ctx.steam.match_history(steam_league_id, start_at, PAGE).await?;
        pages += 1;
        ctx.report(json!({ "pages_fetched": pages, "matches_stored": 0 }));
        let Some(oldest) = page.matches.iter().map(|m| m.match_id).min() else { break };
        let mut reached_known_window = false;
        for m in page.matches {
            if cutoff.is_some_and(|c| m.start_time < c) {
                reached_known_window = true;
            } else if seen.insert(m.match_id) {
                listed.push(m);
            }
        }
        // Pages must move down, or a misbehaving history would loop forever.
        let next = oldest - 1;
        if reached_known_window || page.results_remaining == Some(0) || start_at.is_some_and(|s| next >= s) || next <= 0
        {
            break;
        }
        start_at = Some(next);
        keep_lock(lock).await?;
    }
    Ok((listed, pages))
}

/// Stores the league's failed matches.
async fn save_failed(ctx: &JobContext, state_id: i64, failed: &[FailedMatch]) -> Result<(), JobError> {
    league_sync_state::Entity::update_many()
        .col_expr(
            league_sync_state::Column::FailedMatchIds,
            Expr::value(serde_json::to_value(failed).expect("serializable")),
        )
        .filter(league_sync_state::Column::Id.eq(state_id))
        .exec(&ctx.db)
        .await?;
    Ok(())
}

/// New matches change the league's stats (recompute them), the match lists,
/// and may decide waiting bracket games (link them).
async fn after_new_matches(ctx: &JobContext, steam_league_id: i64) -> Result<(), JobError> {
    ctx.cache.invalidate(&[crate::infra::cache::ns::MATCHES]).await;
    let jobs = vec![
        NewJob::new(Job::UpdateLeagueStats(UpdateLeagueStats { steam_league_id })),
        NewJob::new(Job::AutoLinkGames(AutoLinkGames { steam_league_id })),
    ];
    ctx.enqueuer.enqueue_many(jobs).await.map_err(|e| JobError::transient(e.to_string()))?;
    Ok(())
}

/// The sync job.
pub async fn sync_league(ctx: &JobContext, steam_league_id: i64, full: bool) -> Result<serde_json::Value, JobError> {
    let league = find_league(ctx, steam_league_id).await?;
    if !ctx.steam.is_configured() {
        return Ok(json!({ "skipped": "not_configured: STEAM_API_KEY" }));
    }
    let Some(lock) = lock_league(ctx, steam_league_id).await? else {
        return Ok(json!({ "skipped": "already_running" }));
    };
    let result = sync_locked(ctx, &league, full, &lock).await;
    let _ = lock.release().await;
    let state = sync_state(ctx, league.id).await?;
    let mut active: league_sync_state::ActiveModel = state.into();
    active.last_sync_at = Set(Some(Utc::now()));
    active.last_error = Set(result.as_ref().err().map(|e| e.to_string()));
    active.update(&ctx.db).await?;
    if result.is_ok() {
        league::Entity::update_many()
            .col_expr(league::Column::LastSynced, Expr::value(Utc::now()))
            .filter(league::Column::Id.eq(league.id))
            .exec(&ctx.db)
            .await?;
    }
    result
}

async fn sync_locked(
    ctx: &JobContext,
    league: &league::Model,
    full: bool,
    lock: &LockGuard,
) -> Result<serde_json::Value, JobError> {
    let steam_league_id = league.steam_league_id;
    let state = sync_state(ctx, league.id).await?;
    let (listed, pages) = read_history(ctx, steam_league_id, full, lock).await?;
    let ids: Vec<i64> = listed.iter().map(|m| m.match_id).collect();
    let known = stored(ctx, &ids).await?;
    let mut new: Vec<HistoryMatch> = listed.into_iter().filter(|m| !known.contains(&m.match_id)).collect();
    // Oldest first, so the high-water mark is always a safe resume point.
    new.sort_by_key(|m| (m.start_time, m.match_id));

    let mut failed = failed_list(&state);
    let (mut ingested, mut newly_failed) = (0u64, 0u64);
    let mut stop: Option<JobError> = None;
    // Fetching goes on while a run is being stored: both halves are polled
    // by this one future (dropping it — a kill — stops both), joined by a
    // channel. Owned values only: the stream must be Send for every lifetime.
    let steam = ctx.steam.clone();
    let (fetched_tx, mut fetched) = tokio::sync::mpsc::channel(PREFETCH);
    let fetch = async move {
        let mut details = futures_util::stream::iter(new)
            .map(move |m| {
                let steam = steam.clone();
                async move {
                    let details = steam.fetch_match(m.match_id, m.match_seq_num).await;
                    (m, details)
                }
            })
            .buffered(PREFETCH);
        while let Some(one) = details.next().await {
            if fetched_tx.send(one).await.is_err() {
                return;
            }
        }
    };
    // On PostgreSQL the next run is written while the one before commits
    // (two transactions, two backends): commits stay in order — a run is
    // committed only after every older one was — so a crash still leaves a
    // prefix of the runs, and the high-water mark a safe resume point.
    // SQLite takes one writer at a time, so it writes one run at a time.
    let runs_in_flight = match ctx.db.get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => 2,
        _ => 1,
    };
    let store = async {
        let mut writing = futures_util::stream::FuturesOrdered::new();
        let mut open = true;
        let mut ready = Vec::with_capacity(INGEST_RUN);
        loop {
            // A cancel is a safe point once the runs being written commit: no new run starts.
            if stop.is_none() && ctx.checkpoint().is_err() {
                stop = Some(JobError::Cancelled);
            }
            while stop.is_none() && starts_run(writing.len(), runs_in_flight, ready.len(), open) {
                keep_lock(lock).await?;
                let run = take_run(&mut ready, &mut failed, &mut newly_failed, &mut stop);
                let db = &ctx.db;
                writing.push_back(async move {
                    let written = write_matches(db, steam_league_id, &run).await?;
                    Ok::<_, JobError>((written, run.len() as u64))
                });
            }
            let room = INGEST_RUN - ready.len();
            tokio::select! {
                taken = fetched.recv_many(&mut ready, room), if open && stop.is_none() && room > 0 => {
                    open = taken > 0;
                }
                Some(written) = writing.next() => {
                    let (written, stored) = written?;
                    if let Some(written) = written {
                        commit_matches(written, Some(state.id)).await?;
                    }
                    ingested += stored;
                    ctx.report(json!({ "pages_fetched": pages, "matches_stored": ingested }));
                }
                // Only while there is something to wait for, or `else` would never come.
                () = ctx.cancelled(), if stop.is_none() && (open || !writing.is_empty()) => {
                    stop = Some(JobError::Cancelled);
                }
                else => break,
            }
        }
        // Ends the fetching half too.
        drop(fetched);
        Ok::<_, JobError>(())
    };
    let ((), stored) = tokio::join!(fetch, store);
    stored?;
    save_failed(ctx, state.id, &failed).await?;
    if ingested > 0 {
        after_new_matches(ctx, steam_league_id).await?;
    } else if crate::domain::brackets::service::has_waiting_games(&ctx.db, steam_league_id).await? {
        // A game may have become ready after its match was stored (a bracket
        // generated or advanced, a game entered, after the sync that stored it).
        let link = NewJob::new(Job::AutoLinkGames(AutoLinkGames { steam_league_id }));
        ctx.enqueuer.enqueue(link).await.map_err(|e| JobError::transient(e.to_string()))?;
    }
    if let Some(err) = stop {
        return Err(err);
    }
    Ok(json!({
        "steam_league_id": steam_league_id,
        "full": full,
        "pages": pages,
        "listed": ids.len(),
        "already_stored": known.len(),
        "ingested": ingested,
        "failed": newly_failed,
        "failed_total": failed.len(),
    }))
}

/// The matches fetched so far (`ready`, drained), as one run to store
/// together, oldest first. A fetch that failed goes to `failed` (counted in
/// `newly_failed`); one that stops the sync (`stop`) ends the run there.
fn take_run(
    ready: &mut Vec<(HistoryMatch, Result<MatchDetails, SteamError>)>,
    failed: &mut Vec<FailedMatch>,
    newly_failed: &mut u64,
    stop: &mut Option<JobError>,
) -> Vec<MatchDetails> {
    let mut run = Vec::with_capacity(ready.len());
    for (m, details) in ready.drain(..) {
        match details {
            Ok(details) => {
                failed.retain(|f| f.match_id != m.match_id);
                run.push(details);
            }
            Err(err) if err.stops_the_run() => {
                *stop = Some(err.into());
                break;
            }
            Err(err) => {
                failed.retain(|f| f.match_id != m.match_id);
                failed.push(FailedMatch {
                    match_id: m.match_id,
                    match_seq_num: m.match_seq_num,
                    error: err.to_string(),
                });
                *newly_failed += 1;
            }
        }
    }
    run
}

/// Re-fetches the league's failed matches; those that succeed leave the list.
pub async fn retry_failed(ctx: &JobContext, steam_league_id: i64) -> Result<serde_json::Value, JobError> {
    let league = find_league(ctx, steam_league_id).await?;
    if !ctx.steam.is_configured() {
        return Ok(json!({ "skipped": "not_configured: STEAM_API_KEY" }));
    }
    let Some(lock) = lock_league(ctx, steam_league_id).await? else {
        return Ok(json!({ "skipped": "already_running" }));
    };
    let state = sync_state(ctx, league.id).await?;
    let mut still_failed = Vec::new();
    let mut retried = 0u64;
    let mut stop = None;
    for f in failed_list(&state) {
        if stop.is_some() {
            still_failed.push(f);
            continue;
        }
        match ctx.steam.fetch_match(f.match_id, f.match_seq_num).await {
            Ok(details) => {
                ingest_match(&ctx.db, steam_league_id, Some(state.id), &details).await?;
                retried += 1;
            }
            Err(err) => {
                if err.stops_the_run() {
                    stop = Some(JobError::from(err));
                    still_failed.push(f);
                } else {
                    still_failed.push(FailedMatch { error: err.to_string(), ..f });
                }
            }
        }
        let _ = lock.renew().await;
    }
    save_failed(ctx, state.id, &still_failed).await?;
    let _ = lock.release().await;
    if retried > 0 {
        after_new_matches(ctx, steam_league_id).await?;
    }
    if let Some(err) = stop {
        return Err(err);
    }
    Ok(json!({ "retried_count": retried, "still_failed_count": still_failed.len() }))
}

#[cfg(test)]
mod tests {
    use super::starts_run;

    #[test]
    fn a_run_alone_starts_with_whatever_is_ready() {
        assert!(starts_run(0, 2, 1, true));
        assert!(!starts_run(0, 2, 0, true), "nothing to write");
    }

    #[test]
    fn a_run_beside_another_waits_for_half_a_run_or_the_fetching_end() {
        assert!(!starts_run(1, 2, 99, true));
        assert!(starts_run(1, 2, 100, true));
        assert!(starts_run(1, 2, 3, false), "the last matches do not wait");
    }

    #[test]
    fn no_run_starts_past_the_limit() {
        assert!(!starts_run(2, 2, 200, true));
        assert!(!starts_run(1, 1, 200, false), "SQLite writes one run at a time");
    }
}
