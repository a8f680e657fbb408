//! `/api/leagues`: Steam leagues (staff write).

use entity::league;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use sea_orm::{ActiveModelTrait, EntityTrait, QueryOrder, Set};

use crate::auth::Session;
use crate::error::{ApiError, ApiResult};
use crate::pagination::{Page, PageRequest};
use crate::routes::{Created, Deleted, Tag};
use crate::state::AppState;
use crate::types::Text;
use crate::validate;
use crate::views::leagues::{LeagueAdminView, LeagueView};
use worker::domain::leagues as admins;

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct LeagueCreate {
    #[oai(validator(minimum(value = "1"), maximum(value = "2147483647")))]
    pub steam_league_id: i64,
    #[oai(validator(min_length = 1, max_length = 255))]
    pub name: Text,
    #[oai(validator(max_length = 10000))]
    pub description: Option<Text>,
    /// The league's rules, as text.
    #[oai(validator(max_length = 50000))]
    pub rules: Option<Text>,
    /// What the league plays for, as text.
    #[oai(validator(max_length = 100))]
    pub prize_pool: Option<Text>,
    /// Default UTC.
    pub timezone: Option<Text>,
    /// Default true.
    pub sync_enabled: Option<bool>,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct AdminGrant {
    /// The user to trust with the league's tournaments.
    pub user_id: i64,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct LeaguePatch {
    #[oai(validator(minimum(value = "1"), maximum(value = "2147483647")))]
    pub steam_league_id: Option<i64>,
    #[oai(validator(min_length = 1, max_length = 255))]
    pub name: Option<Text>,
    #[oai(validator(max_length = 10000))]
    pub description: Option<Text>,
    #[oai(validator(max_length = 50000))]
    pub rules: Option<Text>,
    #[oai(validator(max_length = 100))]
    pub prize_pool: Option<Text>,
    pub timezone: Option<Text>,
    pub sync_enabled: Option<bool>,
}

fn conflict(err: sea_orm::DbErr) -> ApiError {
    let api = ApiError::from(err);
    if api.status == poem::http::StatusCode::CONFLICT {
        ApiError::conflict("league_exists", "a league with this steam_league_id exists")
    } else {
        api
    }
}

pub async fn find_league(state: &AppState, id: i64) -> ApiResult<league::Model> {
    league::Entity::find_by_id(id).one(&state.db).await?.ok_or_else(|| ApiError::not_found("league"))
}

pub struct LeaguesApi;

#[OpenApi(tag = "Tag::Leagues")]
impl LeaguesApi {
    /// List leagues (by name).
    #[oai(path = "/leagues", method = "get", operation_id = "listLeagues")]
    async fn list(
        &self,
        state: poem::web::Data<&AppState>,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))] page: Query<Option<u64>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] page_size: Query<Option<u64>>,
    ) -> ApiResult<Json<Page<LeagueView>>> {
        let req = PageRequest::new(page.0, page_size.0);
        let select = league::Entity::find().order_by_asc(league::Column::Name).order_by_asc(league::Column::Id);
        let (count, rows) = req.fetch(&state.db, select).await?;
        Ok(Json(req.wrap(count, rows.into_iter().map(Into::into).collect())))
    }

    /// Create a league (staff).
    #[oai(path = "/leagues", method = "post", operation_id = "createLeague")]
    async fn create(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        body: Json<LeagueCreate>,
    ) -> ApiResult<Created<LeagueView>> {
        viewer.require_staff()?;
        let body = body.0;
        let active = league::ActiveModel {
            steam_league_id: Set(body.steam_league_id),
            name: Set(validate::line("name", &body.name, 255)?),
            description: Set(validate::text("description", body.description.as_deref().unwrap_or(""), 10_000)?),
            rules: Set(validate::text("rules", body.rules.as_deref().unwrap_or(""), 50_000)?),
            prize_pool: Set(validate::text("prize_pool", body.prize_pool.as_deref().unwrap_or(""), 100)?),
            timezone: Set(validate::timezone(body.timezone.as_deref().unwrap_or("UTC"))?),
            sync_enabled: Set(body.sync_enabled.unwrap_or(true)),
            ..Default::default()
        };
        let created = active.insert(&state.db).await.map_err(conflict)?;
        Ok(Created::Created(Json(created.into())))
    }

    /// One league.
    #[oai(path = "/leagues/:id", method = "get", operation_id = "getLeague")]
    async fn get(&self, state: poem::web::Data<&AppState>, id: Path<i64>) -> ApiResult<Json<LeagueView>> {
        Ok(Json(find_league(&state, id.0).await?.into()))
    }

    /// Change a league (staff).
    #[oai(path = "/leagues/:id", method = "patch", operation_id = "updateLeague")]
    async fn patch(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        id: Path<i64>,
        body: Json<LeaguePatch>,
    ) -> ApiResult<Json<LeagueView>> {
        viewer.require_staff()?;
        let body = body.0;
        let mut active: league::ActiveModel = find_league(&state, id.0).await?.into();
        if let Some(v) = body.steam_league_id {
            active.steam_league_id = Set(v);
        }
        if let Some(v) = body.name {
            active.name = Set(validate::line("name", &v, 255)?);
        }
        if let Some(v) = body.description {
            active.description = Set(validate::text("description", &v, 10_000)?);
        }
        if let Some(v) = body.rules {
            active.rules = Set(validate::text("rules", &v, 50_000)?);
        }
        if let Some(v) = body.prize_pool {
            active.prize_pool = Set(validate::text("prize_pool", &v, 100)?);
        }
        if let Some(v) = body.timezone {
            active.timezone = Set(validate::timezone(&v)?);
        }
        if let Some(v) = body.sync_enabled {
            active.sync_enabled = Set(v);
        }
        Ok(Json(active.update(&state.db).await.map_err(conflict)?.into()))
    }

    /// Delete a league (staff). Its tournaments stay, without a league.
    #[oai(path = "/leagues/:id", method = "delete", operation_id = "deleteLeague")]
    async fn delete(&self, state: poem::web::Data<&AppState>, viewer: Session, id: Path<i64>) -> ApiResult<Deleted> {
        viewer.require_staff()?;
        let league = find_league(&state, id.0).await?;
        league::Entity::delete_by_id(league.id).exec(&state.db).await?;
        state.cache.invalidate(&[crate::cache::ns::TOURNAMENTS]).await;
        Ok(Deleted::NoContent)
    }

    /// The league's admins (staff).
    #[oai(path = "/leagues/:id/admins", method = "get", operation_id = "listLeagueAdmins")]
    async fn list_admins(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        id: Path<i64>,
    ) -> ApiResult<Json<Vec<LeagueAdminView>>> {
        viewer.require_staff()?;
        let league = find_league(&state, id.0).await?;
        let rows = admins::admins(&state.db, league.steam_league_id).await?;
        Ok(Json(rows.into_iter().map(Into::into).collect()))
    }

    /// Make a user an admin of the league (staff): they may then organise its tournaments and sync it.
    #[oai(path = "/leagues/:id/admins", method = "post", operation_id = "grantLeagueAdmin")]
    async fn grant_admin(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        id: Path<i64>,
        body: Json<AdminGrant>,
    ) -> ApiResult<Created<LeagueAdminView>> {
        let by = viewer.require_staff()?;
        let league = find_league(&state, id.0).await?;
        let grant = admins::grant_admin(&state.services, league.steam_league_id, body.0.user_id, by.id).await?;
        let user = worker::domain::users::find_user(&state.db, grant.user_id).await?;
        Ok(Created::Created(Json((grant, user).into())))
    }

    /// Take a user's admin rights on the league away (staff).
    #[oai(path = "/leagues/:id/admins/:user_id", method = "delete", operation_id = "revokeLeagueAdmin")]
    async fn revoke_admin(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        id: Path<i64>,
        user_id: Path<i64>,
    ) -> ApiResult<Deleted> {
        viewer.require_staff()?;
        let league = find_league(&state, id.0).await?;
        admins::revoke_admin(&state.services, league.steam_league_id, user_id.0).await?;
        Ok(Deleted::NoContent)
    }
}
