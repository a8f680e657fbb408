//! `/api/users`, `/api/users/search`, `/api/me`. The rules of who may change
//! what live in `worker::domain::users`.

use entity::user;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{Object, OpenApi};
use sea_orm::sea_query::{Expr, Func};
use sea_orm::{Condition, EntityTrait, ExprTrait, QueryFilter, QueryOrder, QuerySelect};
use worker::domain::rosters::Patch;
use worker::domain::users::{self, PositionsChange, ProfileChange, UserChange};

use crate::auth::{Session, Viewer};
use crate::error::{ApiError, ApiResult};
use crate::pagination::{Page, PageRequest};
use crate::routes::{Created, Deleted, Tag, patch};
use crate::state::AppState;
use crate::types::{SteamIdInput, Text};
use crate::validate;
use crate::views::users::{MeView, UserView};

/// Position preferences to set; omitted ones stay as they are (0 on create).
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct PositionsInput {
    #[oai(validator(minimum(value = "0"), maximum(value = "5")))]
    pub carry: Option<i16>,
    #[oai(validator(minimum(value = "0"), maximum(value = "5")))]
    pub mid: Option<i16>,
    #[oai(validator(minimum(value = "0"), maximum(value = "5")))]
    pub offlane: Option<i16>,
    #[oai(validator(minimum(value = "0"), maximum(value = "5")))]
    pub soft_support: Option<i16>,
    #[oai(validator(minimum(value = "0"), maximum(value = "5")))]
    pub hard_support: Option<i16>,
}

fn positions(p: Option<PositionsInput>) -> PositionsChange {
    p.map_or_else(PositionsChange::default, |p| PositionsChange {
        carry: p.carry,
        mid: p.mid,
        offlane: p.offlane,
        soft_support: p.soft_support,
        hard_support: p.hard_support,
    })
}

/// A new user.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct UserCreate {
    #[oai(validator(min_length = 1, max_length = 150))]
    pub username: Text,
    #[oai(rename = "discordId", validator(pattern = "^[0-9]{1,20}$"))]
    pub discord_id: Option<Text>,
    #[oai(rename = "discordUsername", validator(max_length = 100))]
    pub discord_username: Option<Text>,
    #[oai(rename = "steamId")]
    pub steam_id: Option<SteamIdInput>,
    #[oai(validator(minimum(value = "0"), maximum(value = "20000")))]
    pub mmr: Option<i32>,
    #[oai(validator(max_length = 100))]
    pub nickname: Option<Text>,
    pub positions: Option<PositionsInput>,
    /// Superusers only.
    pub is_staff: Option<bool>,
    /// Superusers only.
    pub is_superuser: Option<bool>,
}

/// Changes to a user; omitted fields stay, `null` clears.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct UserPatch {
    #[oai(validator(min_length = 1, max_length = 150))]
    pub username: Option<Text>,
    #[oai(rename = "discordId", validator(pattern = "^[0-9]{1,20}$"))]
    pub discord_id: MaybeUndefined<Text>,
    #[oai(rename = "discordUsername", validator(max_length = 100))]
    pub discord_username: MaybeUndefined<Text>,
    /// `null` unlinks.
    #[oai(rename = "steamId", nullable)]
    pub steam_id: MaybeUndefined<SteamIdInput>,
    #[oai(validator(minimum(value = "0"), maximum(value = "20000")))]
    pub mmr: MaybeUndefined<i32>,
    #[oai(validator(max_length = 100))]
    pub nickname: MaybeUndefined<Text>,
    pub positions: Option<PositionsInput>,
    /// Superusers only.
    pub is_staff: Option<bool>,
    /// Superusers only.
    pub is_superuser: Option<bool>,
    /// `false` deactivates the user: they cannot log in, their sessions end, and they stay in every
    /// history (drafts, teams, stats). `true` reactivates. A staff account only by a superuser.
    pub is_active: Option<bool>,
}

/// What users may change on their own profile. A Steam id is linked by
/// proving it (`GET /api/auth/steam/link`) and unlinked with `DELETE /api/auth/steam/link`.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct ProfilePatch {
    #[oai(validator(max_length = 100))]
    pub nickname: MaybeUndefined<Text>,
    pub positions: Option<PositionsInput>,
}

/// A nullable display name (nickname, Discord or guild name): an empty
/// string clears it too.
fn nullable_name(field: &str, value: MaybeUndefined<Text>) -> ApiResult<Patch<String>> {
    Ok(match value {
        MaybeUndefined::Value(v) => match validate::nickname(field, Some(&v))? {
            Some(v) => Patch::Set(v),
            None => Patch::Clear,
        },
        MaybeUndefined::Null => Patch::Clear,
        MaybeUndefined::Undefined => Patch::Keep,
    })
}

fn nullable_with<T>(value: MaybeUndefined<Text>, parse: impl FnOnce(&str) -> ApiResult<T>) -> ApiResult<Patch<T>> {
    Ok(match value {
        MaybeUndefined::Value(v) => Patch::Set(parse(&v)?),
        MaybeUndefined::Null => Patch::Clear,
        MaybeUndefined::Undefined => Patch::Keep,
    })
}

fn optional<T>(value: Option<T>) -> Patch<T> {
    value.map_or(Patch::Keep, Patch::Set)
}

pub struct UsersApi;

#[OpenApi(tag = "Tag::Users")]
impl UsersApi {
    /// List users (ordered by id).
    #[oai(path = "/users", method = "get", operation_id = "listUsers")]
    async fn list(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Viewer,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))] page: Query<Option<u64>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] page_size: Query<Option<u64>>,
    ) -> ApiResult<Json<Page<UserView>>> {
        let req = PageRequest::new(page.0, page_size.0);
        let (count, rows) = req.fetch(&state.db, user::Entity::find().order_by_asc(user::Column::Id)).await?;
        Ok(Json(req.wrap(count, rows.iter().map(|u| UserView::for_viewer(u, &viewer)).collect())))
    }

    /// Create a user (staff; role flags need a superuser).
    ///
    /// Errors: 409 `user_exists` (naming the `field` and its `holder_id`), 409 `username_confusable`.
    #[oai(path = "/users", method = "post", operation_id = "createUser")]
    async fn create(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        body: Json<UserCreate>,
    ) -> ApiResult<Created<UserView>> {
        let actor = viewer.require_staff()?;
        let body = body.0;
        let change = UserChange {
            username: Some(validate::username(&body.username)?),
            discord_id: optional(body.discord_id.as_deref().map(validate::discord_id).transpose()?),
            discord_username: optional(validate::nickname("discordUsername", body.discord_username.as_deref())?),
            steam_id: optional(body.steam_id.as_ref().map(SteamIdInput::resolve).transpose()?),
            mmr: optional(body.mmr),
            nickname: optional(validate::nickname("nickname", body.nickname.as_deref())?),
            positions: positions(body.positions),
            is_staff: body.is_staff,
            is_superuser: body.is_superuser,
            is_active: None,
        };
        let user = users::create_user(&state.services, actor, change).await?;
        Ok(Created::Created(Json(UserView::for_viewer(&user, &viewer))))
    }

    /// Search users by username, Discord name or nicknames (logged in; at least 3 characters; 20 results).
    #[oai(path = "/users/search", method = "get", operation_id = "searchUsers")]
    async fn search(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        #[oai(validator(max_length = 100))] q: Query<String>,
    ) -> ApiResult<Json<Vec<UserView>>> {
        viewer.require_user()?;
        let needle = q.0.trim().to_lowercase();
        if needle.chars().count() < 3 || needle.contains('\0') {
            return Err(ApiError::invalid("query_too_short", "the search query needs at least 3 characters"));
        }
        let pattern = format!("%{}%", needle.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        let mut any = Condition::any();
        for column in [
            user::Column::Username,
            user::Column::DiscordUsername,
            user::Column::DiscordNickname,
            user::Column::GuildNickname,
            user::Column::Nickname,
        ] {
            any = any.add(
                Expr::expr(Func::lower(Expr::col(column)))
                    .like(sea_orm::sea_query::LikeExpr::new(pattern.clone()).escape('\\')),
            );
        }
        let rows = user::Entity::find().filter(any).order_by_asc(user::Column::Id).limit(20).all(&state.db).await?;
        Ok(Json(rows.iter().map(|u| UserView::for_viewer(u, &viewer)).collect()))
    }

    /// One user.
    #[oai(path = "/users/:id", method = "get", operation_id = "getUser")]
    async fn get(&self, state: poem::web::Data<&AppState>, viewer: Viewer, id: Path<i64>) -> ApiResult<Json<UserView>> {
        let user = users::find_user(&state.db, id.0).await?;
        Ok(Json(UserView::for_viewer(&user, &viewer)))
    }

    /// Change a user (staff), or deactivate them (`is_active`). Role flags, Discord ids, and the identity
    /// fields and activity of staff accounts need a superuser.
    #[oai(path = "/users/:id", method = "patch", operation_id = "updateUser")]
    async fn patch(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        id: Path<i64>,
        body: Json<UserPatch>,
    ) -> ApiResult<Json<UserView>> {
        let actor = viewer.require_staff()?;
        let body = body.0;
        let change = UserChange {
            username: body.username.as_deref().map(validate::username).transpose()?,
            discord_id: nullable_with(body.discord_id, validate::discord_id)?,
            discord_username: nullable_name("discordUsername", body.discord_username)?,
            steam_id: match body.steam_id {
                MaybeUndefined::Value(v) => Patch::Set(v.resolve()?),
                MaybeUndefined::Null => Patch::Clear,
                MaybeUndefined::Undefined => Patch::Keep,
            },
            mmr: patch(body.mmr),
            nickname: nullable_name("nickname", body.nickname)?,
            positions: positions(body.positions),
            is_staff: body.is_staff,
            is_superuser: body.is_superuser,
            is_active: body.is_active,
        };
        let user = users::update_user(&state.services, actor, id.0, change).await?;
        Ok(Json(UserView::for_viewer(&user, &viewer)))
    }

    /// Delete a user (staff; a staff or superuser account only by a superuser).
    /// Their history stays: draft rounds and stats keep the row with the user unset.
    #[oai(path = "/users/:id", method = "delete", operation_id = "deleteUser")]
    async fn delete(&self, state: poem::web::Data<&AppState>, viewer: Session, id: Path<i64>) -> ApiResult<Deleted> {
        let actor = viewer.require_staff()?;
        users::delete_user(&state.services, actor, id.0).await?;
        Ok(Deleted::NoContent)
    }

    /// The logged-in user, with role flags and the drafts waiting for them (`active_drafts`).
    #[oai(path = "/me", method = "get", operation_id = "getMe", tag = "Tag::Auth")]
    async fn me(&self, state: poem::web::Data<&AppState>, viewer: Session) -> ApiResult<Json<MeView>> {
        let user = viewer.user();
        let active = worker::domain::active_drafts::of_captain(&state.db, user.id).await?;
        Ok(Json(MeView {
            user: UserView::for_viewer(user, &viewer),
            active_drafts: active.into_iter().map(Into::into).collect(),
        }))
    }

    /// Change your own nickname and positions.
    #[oai(path = "/me", method = "patch", operation_id = "updateMe", tag = "Tag::Auth")]
    async fn patch_me(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        body: Json<ProfilePatch>,
    ) -> ApiResult<Json<UserView>> {
        let me = viewer.require_user()?;
        let body = body.0;
        let change = ProfileChange {
            nickname: nullable_name("nickname", body.nickname)?,
            positions: positions(body.positions),
            ..Default::default()
        };
        let user = users::update_profile(&state.services, me.id, change).await?;
        Ok(Json(UserView::for_viewer(&user, &viewer)))
    }
}
