//! `/api/tournaments` and their players (staff write). List and detail are
//! cached (SPEC §13) and invalidated by every write that changes them.

use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::{TournamentState, TournamentType, league, team, tournament};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{Object, OpenApi};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use worker::domain::rosters::{self, find_tournament};

use crate::auth::Session;
use crate::cache::ns;
use crate::cached::{CachedJson, cached, cached_if};
use crate::error::{ApiError, ApiResult};
use crate::pagination::{Page, PageRequest};
use crate::routes::{Created, Deleted, Tag, patch};
use crate::state::AppState;
use crate::types::Text;
use crate::validate;
use crate::views::tournaments::{TournamentDetail, TournamentSummary, detail, summaries};
use worker::domain::leagues::Scope;

const CACHE_TTL: Duration = Duration::from_secs(600);

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct TournamentCreate {
    #[oai(validator(min_length = 1, max_length = 255))]
    pub name: Text,
    pub date_played: DateTime<Utc>,
    /// Default UTC.
    pub timezone: Option<Text>,
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
    pub name: Option<Text>,
    pub date_played: Option<DateTime<Utc>>,
    pub timezone: Option<Text>,
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

async fn check_league<C: ConnectionTrait>(db: &C, league_id: Option<i64>) -> ApiResult<()> {
    if let Some(id) = league_id
        && league::Entity::find_by_id(id).one(db).await?.is_none()
    {
        return Err(ApiError::unknown("unknown_league", "league_id does not exist"));
    }
    Ok(())
}

async fn check_winner<C: ConnectionTrait>(db: &C, tournament_id: i64, team_id: Option<i64>) -> ApiResult<()> {
    if let Some(id) = team_id {
        let team = team::Entity::find_by_id(id).one(db).await?;
        if team.is_none_or(|t| t.tournament_id != tournament_id) {
            return Err(ApiError::unknown("unknown_team", "winning_team_id is not a team of this tournament"));
        }
    }
    Ok(())
}

pub struct TournamentsApi;

#[OpenApi(tag = "Tag::Tournaments")]
impl TournamentsApi {
    /// List tournaments, newest first.
    #[oai(path = "/tournaments", method = "get", operation_id = "listTournaments")]
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
        // Only filters by a league that exists are cached: ids an outsider invents never reach the cache.
        let known_league = match league_id.0 {
            Some(l) => league::Entity::find_by_id(l).one(db).await?.is_some(),
            None => true,
        };
        cached_if(req.cacheable() && known_league, &state.cache, ns::TOURNAMENTS, &key, CACHE_TTL, || async move {
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

    /// Create a tournament (staff; a league's admins in their league).
    ///
    /// Errors: 422 `unknown_league` (`league_id` names no league).
    #[oai(path = "/tournaments", method = "post", operation_id = "createTournament")]
    async fn create(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        body: Json<TournamentCreate>,
    ) -> ApiResult<Created<TournamentDetail>> {
        let body = body.0;
        check_league(&state.db, body.league_id).await?;
        match body.league_id {
            Some(league) => viewer.require_organiser(&state, Scope::League(league)).await?,
            None => viewer.require_staff()?,
        };
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
    #[oai(path = "/tournaments/:id", method = "get", operation_id = "getTournament")]
    async fn get(&self, state: poem::web::Data<&AppState>, id: Path<i64>) -> ApiResult<CachedJson<TournamentDetail>> {
        let db = &state.db;
        cached(&state.cache, ns::TOURNAMENTS, &format!("detail:{}", id.0), CACHE_TTL, || async move {
            detail(db, id.0).await
        })
        .await
    }

    /// Change a tournament (organisers; moving it to another league needs rights there too).
    #[oai(path = "/tournaments/:id", method = "patch", operation_id = "updateTournament")]
    async fn patch(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        id: Path<i64>,
        body: Json<TournamentPatch>,
    ) -> ApiResult<Json<TournamentDetail>> {
        viewer.require_organiser(&state, Scope::Tournament(id.0)).await?;
        let body = body.0;
        let t = find_tournament(&state.db, id.0).await?;
        let league_id = patch(body.league_id).apply(t.league_id);
        let winner = patch(body.winning_team_id).apply(t.winning_team_id);
        check_league(&state.db, league_id).await?;
        if league_id != t.league_id {
            match league_id {
                Some(league) => viewer.require_organiser(&state, Scope::League(league)).await?,
                None => viewer.require_staff()?,
            };
        }
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

    /// Delete a tournament with its teams, games and draft (organisers).
    #[oai(path = "/tournaments/:id", method = "delete", operation_id = "deleteTournament")]
    async fn delete(&self, state: poem::web::Data<&AppState>, viewer: Session, id: Path<i64>) -> ApiResult<Deleted> {
        viewer.require_organiser(&state, Scope::Tournament(id.0)).await?;
        let t = find_tournament(&state.db, id.0).await?;
        tournament::Entity::delete_by_id(t.id).exec(&state.db).await?;
        state.cache.invalidate(&[ns::TOURNAMENTS]).await;
        Ok(Deleted::NoContent)
    }

    /// Add players to the pool (organisers).
    ///
    /// Errors: 422 `unknown_users` (with their ids; nothing added).
    #[oai(path = "/tournaments/:id/players", method = "post", operation_id = "addPlayers")]
    async fn add_players(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        id: Path<i64>,
        body: Json<PlayersAdd>,
    ) -> ApiResult<Json<TournamentDetail>> {
        viewer.require_organiser(&state, Scope::Tournament(id.0)).await?;
        rosters::add_players(&state.services, id.0, &body.0.user_ids).await?;
        Ok(Json(detail(&state.db, id.0).await?))
    }

    /// Remove a player (organisers): they also leave their team; a removed captain
    /// is succeeded by the deputy (or none). Teams are never deleted here.
    #[oai(path = "/tournaments/:id/players/:user_id", method = "delete", operation_id = "removePlayer")]
    async fn remove_player(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        id: Path<i64>,
        user_id: Path<i64>,
    ) -> ApiResult<Deleted> {
        viewer.require_organiser(&state, Scope::Tournament(id.0)).await?;
        rosters::remove_player(&state.services, id.0, user_id.0).await?;
        Ok(Deleted::NoContent)
    }
}
