//! `/api/tournaments` and their players (staff write). List and detail are
//! cached (SPEC §13) and invalidated by every write that changes them.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::{TournamentState, TournamentType, league, team, team_member, tournament, tournament_user, user};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{Object, OpenApi};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, ExprTrait, FromQueryResult, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde_json::json;

use crate::auth::Viewer;
use crate::cache::ns;
use crate::cached::{CachedJson, cached};
use crate::error::{ApiError, ApiResult};
use crate::pagination::{Page, PageRequest};
use crate::routes::teams::{TeamView, UpdateTo, team_views};
use crate::routes::users::UserView;
use crate::routes::{Created, Deleted, Tag};
use crate::state::AppState;
use crate::validate;

const CACHE_TTL: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, Object)]
pub struct TournamentSummary {
    pub id: i64,
    pub name: String,
    pub date_played: DateTime<Utc>,
    pub timezone: String,
    pub state: TournamentState,
    pub tournament_type: TournamentType,
    #[oai(nullable)]
    pub league_id: Option<i64>,
    #[oai(nullable)]
    pub winning_team_id: Option<i64>,
    /// Players in the pool.
    pub user_count: u64,
}

#[derive(Debug, Clone, Object)]
pub struct TournamentDetail {
    #[oai(flatten)]
    pub summary: TournamentSummary,
    /// The player pool, by id.
    pub users: Vec<UserView>,
    /// Teams by draft order.
    pub teams: Vec<TeamView>,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct TournamentCreate {
    #[oai(validator(min_length = 1, max_length = 255))]
    pub name: String,
    pub date_played: DateTime<Utc>,
    /// Default UTC.
    pub timezone: Option<String>,
    /// Default future.
    pub state: Option<TournamentState>,
    /// Default double_elimination.
    pub tournament_type: Option<TournamentType>,
    pub league_id: Option<i64>,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct TournamentPatch {
    #[oai(validator(min_length = 1, max_length = 255))]
    pub name: Option<String>,
    pub date_played: Option<DateTime<Utc>>,
    pub timezone: Option<String>,
    pub state: Option<TournamentState>,
    pub tournament_type: Option<TournamentType>,
    pub league_id: MaybeUndefined<i64>,
    pub winning_team_id: MaybeUndefined<i64>,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct PlayersAdd {
    #[oai(validator(min_items = 1, max_items = 500))]
    pub user_ids: Vec<i64>,
}

pub async fn find_tournament<C: ConnectionTrait>(db: &C, id: i64) -> ApiResult<tournament::Model> {
    tournament::Entity::find_by_id(id).one(db).await?.ok_or_else(|| ApiError::not_found("tournament"))
}

#[derive(FromQueryResult)]
struct PoolSize {
    tournament_id: i64,
    players: i64,
}

async fn summaries<C: ConnectionTrait>(db: &C, rows: Vec<tournament::Model>) -> ApiResult<Vec<TournamentSummary>> {
    let ids: Vec<i64> = rows.iter().map(|t| t.id).collect();
    let sizes: HashMap<i64, i64> = tournament_user::Entity::find()
        .select_only()
        .column(tournament_user::Column::TournamentId)
        .column_as(Expr::col(tournament_user::Column::UserId).count(), "players")
        .filter(tournament_user::Column::TournamentId.is_in(ids))
        .group_by(tournament_user::Column::TournamentId)
        .into_model::<PoolSize>()
        .all(db)
        .await?
        .into_iter()
        .map(|s| (s.tournament_id, s.players))
        .collect();
    Ok(rows
        .into_iter()
        .map(|t| TournamentSummary {
            user_count: u64::try_from(sizes.get(&t.id).copied().unwrap_or(0)).unwrap_or(0),
            id: t.id,
            name: t.name,
            date_played: t.date_played,
            timezone: t.timezone,
            state: t.state,
            tournament_type: t.tournament_type,
            league_id: t.league_id,
            winning_team_id: t.winning_team_id,
        })
        .collect())
}

/// The detail of a tournament, in a fixed number of queries.
pub async fn detail<C: ConnectionTrait>(db: &C, id: i64) -> ApiResult<TournamentDetail> {
    let t = find_tournament(db, id).await?;
    let player_ids: Vec<i64> = tournament_user::Entity::find()
        .filter(tournament_user::Column::TournamentId.eq(id))
        .all(db)
        .await?
        .into_iter()
        .map(|p| p.user_id)
        .collect();
    let users =
        user::Entity::find().filter(user::Column::Id.is_in(player_ids)).order_by_asc(user::Column::Id).all(db).await?;
    let teams = team::Entity::find()
        .filter(team::Column::TournamentId.eq(id))
        .order_by_asc(team::Column::DraftOrder)
        .order_by_asc(team::Column::Id)
        .all(db)
        .await?;
    Ok(TournamentDetail {
        summary: summaries(db, vec![t]).await?.remove(0),
        users: users.iter().map(UserView::public).collect(),
        teams: team_views(db, teams).await?,
    })
}

async fn check_league<C: ConnectionTrait>(db: &C, league_id: Option<i64>) -> ApiResult<()> {
    if let Some(id) = league_id
        && league::Entity::find_by_id(id).one(db).await?.is_none()
    {
        return Err(ApiError::invalid("unknown_league", "league_id does not exist"));
    }
    Ok(())
}

async fn check_winner<C: ConnectionTrait>(db: &C, tournament_id: i64, team_id: Option<i64>) -> ApiResult<()> {
    if let Some(id) = team_id {
        let team = team::Entity::find_by_id(id).one(db).await?;
        if team.is_none_or(|t| t.tournament_id != tournament_id) {
            return Err(ApiError::invalid("unknown_team", "winning_team_id is not a team of this tournament"));
        }
    }
    Ok(())
}

pub struct TournamentsApi;

#[OpenApi(tag = "Tag::Tournaments")]
impl TournamentsApi {
    /// List tournaments, newest first.
    #[oai(path = "/tournaments", method = "get")]
    async fn list(
        &self,
        state: poem::web::Data<&AppState>,
        league_id: Query<Option<i64>>,
        #[oai(name = "state")] tournament_state: Query<Option<TournamentState>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))] page: Query<Option<u64>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] page_size: Query<Option<u64>>,
    ) -> ApiResult<CachedJson<Page<TournamentSummary>>> {
        let req = PageRequest::new(page.0, page_size.0);
        let key = format!("list:{}:{}:{:?}:{:?}", req.page, req.page_size, league_id.0, tournament_state.0);
        let db = &state.db;
        cached(&state.cache, ns::TOURNAMENTS, &key, CACHE_TTL, || async move {
            let mut select = tournament::Entity::find()
                .order_by_desc(tournament::Column::DatePlayed)
                .order_by_desc(tournament::Column::Id);
            if let Some(l) = league_id.0 {
                select = select.filter(tournament::Column::LeagueId.eq(l));
            }
            if let Some(s) = tournament_state.0 {
                select = select.filter(tournament::Column::State.eq(s));
            }
            let (count, rows) = req.fetch(db, select).await?;
            Ok(req.wrap(count, summaries(db, rows).await?))
        })
        .await
    }

    /// Create a tournament (staff).
    #[oai(path = "/tournaments", method = "post")]
    async fn create(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Viewer,
        body: Json<TournamentCreate>,
    ) -> ApiResult<Created<TournamentDetail>> {
        viewer.require_staff()?;
        let body = body.0;
        check_league(&state.db, body.league_id).await?;
        let created = tournament::ActiveModel {
            name: Set(validate::line("name", &body.name, 255)?),
            date_played: Set(body.date_played),
            timezone: Set(validate::timezone(body.timezone.as_deref().unwrap_or("UTC"))?),
            state: Set(body.state.unwrap_or(TournamentState::Future)),
            tournament_type: Set(body.tournament_type.unwrap_or(TournamentType::DoubleElimination)),
            league_id: Set(body.league_id),
            winning_team_id: Set(None),
            ..Default::default()
        }
        .insert(&state.db)
        .await?;
        state.cache.invalidate(&[ns::TOURNAMENTS]).await;
        Ok(Created::Created(Json(detail(&state.db, created.id).await?)))
    }

    /// One tournament with its players and teams.
    #[oai(path = "/tournaments/:id", method = "get")]
    async fn get(&self, state: poem::web::Data<&AppState>, id: Path<i64>) -> ApiResult<CachedJson<TournamentDetail>> {
        let db = &state.db;
        cached(&state.cache, ns::TOURNAMENTS, &format!("detail:{}", id.0), CACHE_TTL, || async move {
            detail(db, id.0).await
        })
        .await
    }

    /// Change a tournament (staff).
    #[oai(path = "/tournaments/:id", method = "patch")]
    async fn patch(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Viewer,
        id: Path<i64>,
        body: Json<TournamentPatch>,
    ) -> ApiResult<Json<TournamentDetail>> {
        viewer.require_staff()?;
        let body = body.0;
        let t = find_tournament(&state.db, id.0).await?;
        let league_id = body.league_id.or_current(t.league_id);
        let winner = body.winning_team_id.or_current(t.winning_team_id);
        check_league(&state.db, league_id).await?;
        check_winner(&state.db, t.id, winner).await?;
        let mut active: tournament::ActiveModel = t.into();
        if let Some(v) = body.name {
            active.name = Set(validate::line("name", &v, 255)?);
        }
        if let Some(v) = body.date_played {
            active.date_played = Set(v);
        }
        if let Some(v) = body.timezone {
            active.timezone = Set(validate::timezone(&v)?);
        }
        if let Some(v) = body.state {
            active.state = Set(v);
        }
        if let Some(v) = body.tournament_type {
            active.tournament_type = Set(v);
        }
        active.league_id = Set(league_id);
        active.winning_team_id = Set(winner);
        let updated = active.update(&state.db).await?;
        state.cache.invalidate(&[ns::TOURNAMENTS]).await;
        Ok(Json(detail(&state.db, updated.id).await?))
    }

    /// Delete a tournament with its teams, games and draft (staff).
    #[oai(path = "/tournaments/:id", method = "delete")]
    async fn delete(&self, state: poem::web::Data<&AppState>, viewer: Viewer, id: Path<i64>) -> ApiResult<Deleted> {
        viewer.require_staff()?;
        let t = find_tournament(&state.db, id.0).await?;
        tournament::Entity::delete_by_id(t.id).exec(&state.db).await?;
        state.cache.invalidate(&[ns::TOURNAMENTS]).await;
        Ok(Deleted::NoContent)
    }

    /// Add players to the pool (staff). Unknown user ids: 422, nothing added.
    #[oai(path = "/tournaments/:id/players", method = "post")]
    async fn add_players(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Viewer,
        id: Path<i64>,
        body: Json<PlayersAdd>,
    ) -> ApiResult<Json<TournamentDetail>> {
        viewer.require_staff()?;
        let wanted: BTreeSet<i64> = body.0.user_ids.into_iter().collect();
        let txn = worker::infra::write_txn(&state.db).await?;
        let t = find_tournament(&txn, id.0).await?;
        let known: BTreeSet<i64> = user::Entity::find()
            .select_only()
            .column(user::Column::Id)
            .filter(user::Column::Id.is_in(wanted.iter().copied()))
            .into_tuple::<i64>()
            .all(&txn)
            .await?
            .into_iter()
            .collect();
        let unknown: Vec<i64> = wanted.difference(&known).copied().collect();
        if !unknown.is_empty() {
            return Err(ApiError::invalid("unknown_users", "some user ids do not exist")
                .with_details(json!({ "user_ids": unknown })));
        }
        tournament_user::Entity::insert_many(
            wanted
                .iter()
                .map(|&user_id| tournament_user::ActiveModel { tournament_id: Set(t.id), user_id: Set(user_id) }),
        )
        .on_conflict_do_nothing_on([tournament_user::Column::TournamentId, tournament_user::Column::UserId])
        .exec(&txn)
        .await?;
        txn.commit().await?;
        state.cache.invalidate(&[ns::TOURNAMENTS]).await;
        Ok(Json(detail(&state.db, t.id).await?))
    }

    /// Remove a player (staff): they also leave their team; a removed captain
    /// is succeeded by the deputy (or none). Teams are never deleted here.
    #[oai(path = "/tournaments/:id/players/:user_id", method = "delete")]
    async fn remove_player(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Viewer,
        id: Path<i64>,
        user_id: Path<i64>,
    ) -> ApiResult<Deleted> {
        viewer.require_staff()?;
        let txn = worker::infra::write_txn(&state.db).await?;
        let removed = tournament_user::Entity::delete_many()
            .filter(tournament_user::Column::TournamentId.eq(id.0))
            .filter(tournament_user::Column::UserId.eq(user_id.0))
            .exec(&txn)
            .await?;
        if removed.rows_affected == 0 {
            return Err(ApiError::not_found("player of this tournament"));
        }
        let teams = team::Entity::find().filter(team::Column::TournamentId.eq(id.0)).all(&txn).await?;
        for t in teams {
            let (captain, deputy) = succession(t.captain_id, t.deputy_captain_id, user_id.0);
            if (captain, deputy) != (t.captain_id, t.deputy_captain_id) {
                let mut active: team::ActiveModel = t.clone().into();
                active.captain_id = Set(captain);
                active.deputy_captain_id = Set(deputy);
                active.update(&txn).await?;
            }
            team_member::Entity::delete_many()
                .filter(team_member::Column::TeamId.eq(t.id))
                .filter(team_member::Column::UserId.eq(user_id.0))
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
        state.cache.invalidate(&[ns::TOURNAMENTS]).await;
        Ok(Deleted::NoContent)
    }
}

/// Captain and deputy after `leaving` leaves a team: a leaving captain is
/// succeeded by the deputy; a leaving deputy is not replaced.
pub fn succession(captain: Option<i64>, deputy: Option<i64>, leaving: i64) -> (Option<i64>, Option<i64>) {
    match (captain, deputy) {
        (Some(c), d) if c == leaving => (d, None),
        (c, Some(d)) if d == leaving => (c, None),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::succession;

    #[test]
    fn deputy_succeeds_a_leaving_captain() {
        assert_eq!(succession(Some(1), Some(2), 1), (Some(2), None));
        assert_eq!(succession(Some(1), None, 1), (None, None));
        assert_eq!(succession(Some(1), Some(2), 2), (Some(1), None));
        assert_eq!(succession(Some(1), Some(2), 3), (Some(1), Some(2)));
    }
}
