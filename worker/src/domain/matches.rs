//! Stored Steam matches a league does not want counted (SPEC §23): a remake,
//! an abandoned lobby. An excluded match counts toward no stats or league
//! MMR and decides no game; including it again counts it again. Both
//! recompute the league's stats and MMR in the same transaction, so the
//! leaderboard read after the call already shows the change.

use chrono::Utc;
use entity::{game, steam_match};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use serde_json::json;

use crate::domain::mmr::MmrConfig;
use crate::domain::{DomainError, DomainResult, Services};
use crate::infra::cache::ns;

pub async fn find_match<C: ConnectionTrait>(db: &C, match_id: i64) -> DomainResult<steam_match::Model> {
    steam_match::Entity::find_by_id(match_id).one(db).await?.ok_or(DomainError::NotFound("match"))
}

/// Excludes a match with its reason (`actor` is recorded). Refused while the
/// match decides a game: unlink it first.
pub async fn exclude(svc: &Services, match_id: i64, reason: String, actor: i64) -> DomainResult<steam_match::Model> {
    let txn = crate::infra::db::write_txn(&svc.db).await?;
    let m = find_match(&txn, match_id).await?;
    if let Some(g) = game::Entity::find().filter(game::Column::MatchId.eq(match_id)).one(&txn).await? {
        return Err(DomainError::conflict(
            "match_linked",
            format!("match {match_id} decides game {}; unlink it first (DELETE /api/games/{}/link-match)", g.id, g.id),
        )
        .with_details(json!({ "game_id": g.id })));
    }
    let mut active: steam_match::ActiveModel = m.into();
    active.excluded_reason = Set(Some(reason));
    active.excluded_at = Set(Some(Utc::now()));
    active.excluded_by = Set(Some(actor));
    let updated = active.update(&txn).await?;
    recount(svc, txn, &updated).await?;
    Ok(updated)
}

/// Counts an excluded match again. Including a match that is not excluded
/// changes nothing.
pub async fn include(svc: &Services, match_id: i64) -> DomainResult<steam_match::Model> {
    let txn = crate::infra::db::write_txn(&svc.db).await?;
    let m = find_match(&txn, match_id).await?;
    if m.excluded_at.is_none() {
        return Ok(m);
    }
    let mut active: steam_match::ActiveModel = m.into();
    active.excluded_reason = Set(None);
    active.excluded_at = Set(None);
    active.excluded_by = Set(None);
    let updated = active.update(&txn).await?;
    recount(svc, txn, &updated).await?;
    Ok(updated)
}

/// Rebuilds the stats and league MMR of the match's league (when one is
/// registered for its Steam league), commits, and drops what was cached.
async fn recount(svc: &Services, txn: sea_orm::DatabaseTransaction, m: &steam_match::Model) -> DomainResult<()> {
    if let Some(league) = crate::domain::leagues::by_steam_id(&txn, m.league_id).await? {
        let cfg = MmrConfig { min_games: i64::from(svc.settings.league_mmr_min_games), ..MmrConfig::default() };
        crate::domain::stats::rebuild_league_stats(&txn, &league, &cfg).await?;
    }
    txn.commit().await?;
    svc.cache.invalidate(&[ns::MATCHES, ns::LEAGUE_STATS, ns::USERS, ns::TOURNAMENTS]).await;
    Ok(())
}
