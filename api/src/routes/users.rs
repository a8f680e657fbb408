//! `/api/users`, `/api/users/search`, `/api/me`.
//!
//! Everyone may read the public profile; role flags and last login are shown
//! only to staff and to the user themself. Staff create and edit profiles;
//! only superusers grant or revoke staff/superuser, or delete a staff account.

use chrono::{DateTime, Utc};
use entity::user;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{Object, OpenApi};
use sea_orm::sea_query::{Expr, Func};
use sea_orm::{
    ActiveModelTrait, Condition, EntityTrait, ExprTrait, QueryFilter, QueryOrder, QuerySelect, Set, TryIntoModel,
};

use crate::auth::Viewer;
use crate::cache::ns;
use crate::error::{ApiError, ApiResult};
use crate::pagination::{Page, PageRequest};
use crate::routes::{Created, Deleted, Tag};
use crate::state::AppState;
use crate::validate;

/// Playing-position preferences, 0 (does not play) to 5 (best).
#[derive(Debug, Clone, Object)]
pub struct Positions {
    pub carry: i16,
    pub mid: i16,
    pub offlane: i16,
    pub soft_support: i16,
    pub hard_support: i16,
}

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

/// A user as clients see it.
#[derive(Debug, Clone, Object)]
pub struct UserView {
    pub id: i64,
    pub username: String,
    #[oai(rename = "discordId", nullable)]
    pub discord_id: Option<String>,
    #[oai(rename = "discordUsername", nullable)]
    pub discord_username: Option<String>,
    #[oai(rename = "steamId", nullable)]
    pub steam_id: Option<i64>,
    #[oai(nullable)]
    pub steam_account_id: Option<i64>,
    /// Discord avatar hash.
    #[oai(nullable)]
    pub avatar: Option<String>,
    #[oai(rename = "avatarUrl", nullable)]
    pub avatar_url: Option<String>,
    #[oai(nullable)]
    pub nickname: Option<String>,
    #[oai(rename = "discordNickname", nullable)]
    pub discord_nickname: Option<String>,
    #[oai(rename = "guildNickname", nullable)]
    pub guild_nickname: Option<String>,
    #[oai(nullable)]
    pub mmr: Option<i32>,
    #[oai(nullable)]
    pub league_mmr: Option<i32>,
    pub positions: Positions,
    /// Only for staff and the user themself.
    #[oai(skip_serializing_if_is_none)]
    pub is_staff: Option<bool>,
    /// Only for staff and the user themself.
    #[oai(skip_serializing_if_is_none)]
    pub is_superuser: Option<bool>,
    /// Only for staff and the user themself.
    #[oai(skip_serializing_if_is_none)]
    pub last_login: Option<DateTime<Utc>>,
}

impl UserView {
    /// The public profile (what anonymous callers get).
    pub fn public(u: &user::Model) -> Self {
        Self {
            id: u.id,
            username: u.username.clone(),
            discord_id: u.discord_id.clone(),
            discord_username: u.discord_username.clone(),
            steam_id: u.steam_id,
            steam_account_id: u.steam_account_id,
            avatar: u.avatar.clone(),
            avatar_url: u.avatar_url(),
            nickname: u.nickname.clone(),
            discord_nickname: u.discord_nickname.clone(),
            guild_nickname: u.guild_nickname.clone(),
            mmr: u.mmr,
            league_mmr: u.league_mmr,
            positions: Positions {
                carry: u.pos_carry,
                mid: u.pos_mid,
                offlane: u.pos_offlane,
                soft_support: u.pos_soft_support,
                hard_support: u.pos_hard_support,
            },
            is_staff: None,
            is_superuser: None,
            last_login: None,
        }
    }

    /// The profile as `viewer` may see it.
    pub fn for_viewer(u: &user::Model, viewer: &Viewer) -> Self {
        let mut view = Self::public(u);
        if viewer.sees_private_fields_of(u.id) {
            view.is_staff = Some(u.is_staff);
            view.is_superuser = Some(u.is_superuser);
            view.last_login = u.last_login;
        }
        view
    }
}

/// A new user.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct UserCreate {
    #[oai(validator(min_length = 1, max_length = 150))]
    pub username: String,
    #[oai(rename = "discordId")]
    pub discord_id: Option<String>,
    #[oai(rename = "discordUsername", validator(max_length = 100))]
    pub discord_username: Option<String>,
    #[oai(rename = "steamId")]
    pub steam_id: Option<i64>,
    #[oai(validator(minimum(value = "0"), maximum(value = "20000")))]
    pub mmr: Option<i32>,
    #[oai(validator(max_length = 100))]
    pub nickname: Option<String>,
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
    pub username: Option<String>,
    #[oai(rename = "discordId")]
    pub discord_id: MaybeUndefined<String>,
    #[oai(rename = "discordUsername", validator(max_length = 100))]
    pub discord_username: MaybeUndefined<String>,
    #[oai(rename = "steamId")]
    pub steam_id: MaybeUndefined<i64>,
    #[oai(validator(minimum(value = "0"), maximum(value = "20000")))]
    pub mmr: MaybeUndefined<i32>,
    #[oai(validator(max_length = 100))]
    pub nickname: MaybeUndefined<String>,
    pub positions: Option<PositionsInput>,
    /// Superusers only.
    pub is_staff: Option<bool>,
    /// Superusers only.
    pub is_superuser: Option<bool>,
}

/// What users may change on their own profile.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct ProfilePatch {
    #[oai(validator(max_length = 100))]
    pub nickname: MaybeUndefined<String>,
    #[oai(rename = "steamId")]
    pub steam_id: MaybeUndefined<i64>,
    pub positions: Option<PositionsInput>,
}

/// Column defaults of a fresh user row.
pub fn new_user_defaults() -> user::ActiveModel {
    user::ActiveModel {
        pos_carry: Set(0),
        pos_mid: Set(0),
        pos_offlane: Set(0),
        pos_soft_support: Set(0),
        pos_hard_support: Set(0),
        is_staff: Set(false),
        is_superuser: Set(false),
        ..Default::default()
    }
}

fn apply_positions(active: &mut user::ActiveModel, positions: Option<PositionsInput>) {
    let Some(p) = positions else { return };
    for (value, column) in [
        (p.carry, &mut active.pos_carry),
        (p.mid, &mut active.pos_mid),
        (p.offlane, &mut active.pos_offlane),
        (p.soft_support, &mut active.pos_soft_support),
        (p.hard_support, &mut active.pos_hard_support),
    ] {
        if let Some(v) = value {
            *column = Set(v);
        }
    }
}

fn optional_steam_id(value: MaybeUndefined<i64>) -> ApiResult<MaybeUndefined<i64>> {
    Ok(match value {
        MaybeUndefined::Value(id) => MaybeUndefined::Value(validate::steam_id(id)?),
        other => other,
    })
}

fn set_nullable<T: Into<sea_orm::Value> + sea_orm::sea_query::Nullable + Clone>(
    column: &mut sea_orm::ActiveValue<Option<T>>,
    value: MaybeUndefined<T>,
) {
    match value {
        MaybeUndefined::Undefined => {}
        MaybeUndefined::Null => *column = Set(None),
        MaybeUndefined::Value(v) => *column = Set(Some(v)),
    }
}

fn clean_nullable_line(field: &str, value: MaybeUndefined<String>, max: usize) -> ApiResult<MaybeUndefined<String>> {
    Ok(match value {
        MaybeUndefined::Value(v) => match validate::optional_line(field, Some(&v), max)? {
            Some(v) => MaybeUndefined::Value(v),
            None => MaybeUndefined::Null,
        },
        other => other,
    })
}

/// Role changes need a superuser.
fn check_role_change(viewer: &Viewer, is_staff: Option<bool>, is_superuser: Option<bool>) -> ApiResult<()> {
    if (is_staff.is_some() || is_superuser.is_some()) && !viewer.is_superuser() {
        return Err(ApiError::forbidden("only superusers grant or revoke roles"));
    }
    Ok(())
}

pub async fn find_user(state: &AppState, id: i64) -> ApiResult<user::Model> {
    user::Entity::find_by_id(id).one(&state.db).await?.ok_or_else(|| ApiError::not_found("user"))
}

/// Saves a user change and drops the cached reads that show users. When the
/// steamId changed, the user's match lines follow it and the affected
/// leagues' stats are recomputed (enqueued).
async fn save(state: &AppState, active: user::ActiveModel, previous_steam_id: Option<i64>) -> ApiResult<user::Model> {
    let mmr_changed = active.mmr.is_set();
    let mut saved = active.save(&state.db).await.map_err(user_conflict)?.try_into_model()?;
    if mmr_changed {
        // league_mmr = mmr + best adjustment: follow a base MMR change at once.
        let txn = worker::infra::write_txn(&state.db).await?;
        let min_games = i64::from(state.settings.core.league_mmr_min_games);
        worker::stats::refresh_league_mmr(&txn, &[saved.id], min_games).await?;
        txn.commit().await?;
        saved = find_user(state, saved.id).await?;
    }
    state.cache.invalidate(&[ns::USERS, ns::TOURNAMENTS, ns::LEAGUE_STATS, ns::MATCHES]).await;
    if saved.steam_id != previous_steam_id {
        let leagues = worker::steam::link::relink(&state.db, saved.id, previous_steam_id, saved.steam_id).await?;
        for league_id in leagues {
            let job = worker::jobs::Job::UpdateLeagueStats(worker::jobs::update_league_stats::UpdateLeagueStats {
                league_id,
            });
            if let Err(err) = crate::routes::jobs::enqueue(state, job, Some(saved.id)).await {
                tracing::warn!(error = %err, "stats recompute not enqueued after a steamId change");
            }
        }
    }
    Ok(saved)
}

fn user_conflict(err: sea_orm::DbErr) -> ApiError {
    let api = ApiError::from(err);
    if api.status == poem::http::StatusCode::CONFLICT {
        ApiError::conflict("user_exists", "username, discordId or steamId is already taken")
    } else {
        api
    }
}

pub struct UsersApi;

#[OpenApi(tag = "Tag::Users")]
impl UsersApi {
    /// List users (ordered by id).
    #[oai(path = "/users", method = "get")]
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
    #[oai(path = "/users", method = "post")]
    async fn create(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Viewer,
        body: Json<UserCreate>,
    ) -> ApiResult<Created<UserView>> {
        viewer.require_staff()?;
        let body = body.0;
        check_role_change(&viewer, body.is_staff, body.is_superuser)?;
        let mut active = new_user_defaults();
        active.username = Set(validate::line("username", &body.username, 150)?);
        active.discord_id = Set(body.discord_id.as_deref().map(validate::discord_id).transpose()?);
        active.discord_username =
            Set(validate::optional_line("discordUsername", body.discord_username.as_deref(), 100)?);
        active.steam_id = Set(body.steam_id.map(validate::steam_id).transpose()?);
        active.mmr = Set(body.mmr);
        active.nickname = Set(validate::optional_line("nickname", body.nickname.as_deref(), 100)?);
        active.is_staff = Set(body.is_staff.unwrap_or(false));
        active.is_superuser = Set(body.is_superuser.unwrap_or(false));
        apply_positions(&mut active, body.positions);
        let user = save(&state, active, None).await?;
        Ok(Created::Created(Json(UserView::for_viewer(&user, &viewer))))
    }

    /// Search users by username, Discord name or nicknames (logged in; at least 3 characters; 20 results).
    #[oai(path = "/users/search", method = "get")]
    async fn search(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Viewer,
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
    #[oai(path = "/users/:id", method = "get")]
    async fn get(&self, state: poem::web::Data<&AppState>, viewer: Viewer, id: Path<i64>) -> ApiResult<Json<UserView>> {
        let user = find_user(&state, id.0).await?;
        Ok(Json(UserView::for_viewer(&user, &viewer)))
    }

    /// Change a user (staff; role flags need a superuser).
    #[oai(path = "/users/:id", method = "patch")]
    async fn patch(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Viewer,
        id: Path<i64>,
        body: Json<UserPatch>,
    ) -> ApiResult<Json<UserView>> {
        viewer.require_staff()?;
        let body = body.0;
        check_role_change(&viewer, body.is_staff, body.is_superuser)?;
        let user = find_user(&state, id.0).await?;
        let previous_steam_id = user.steam_id;
        let mut active: user::ActiveModel = user.into();
        if let Some(username) = body.username {
            active.username = Set(validate::line("username", &username, 150)?);
        }
        let discord_id = match body.discord_id {
            MaybeUndefined::Value(v) => MaybeUndefined::Value(validate::discord_id(&v)?),
            other => other,
        };
        set_nullable(&mut active.discord_id, discord_id);
        set_nullable(&mut active.discord_username, clean_nullable_line("discordUsername", body.discord_username, 100)?);
        set_nullable(&mut active.steam_id, optional_steam_id(body.steam_id)?);
        set_nullable(&mut active.mmr, body.mmr);
        set_nullable(&mut active.nickname, clean_nullable_line("nickname", body.nickname, 100)?);
        if let Some(flag) = body.is_staff {
            active.is_staff = Set(flag);
        }
        if let Some(flag) = body.is_superuser {
            active.is_superuser = Set(flag);
        }
        apply_positions(&mut active, body.positions);
        let user = save(&state, active, previous_steam_id).await?;
        Ok(Json(UserView::for_viewer(&user, &viewer)))
    }

    /// Delete a user (staff; a staff or superuser account only by a superuser).
    /// Their history stays: draft rounds and stats keep the row with the user unset.
    #[oai(path = "/users/:id", method = "delete")]
    async fn delete(&self, state: poem::web::Data<&AppState>, viewer: Viewer, id: Path<i64>) -> ApiResult<Deleted> {
        viewer.require_staff()?;
        let user = find_user(&state, id.0).await?;
        if (user.is_staff || user.is_superuser) && !viewer.is_superuser() {
            return Err(ApiError::forbidden("only superusers delete staff accounts"));
        }
        user::Entity::delete_by_id(user.id).exec(&state.db).await?;
        state.cache.invalidate(&[ns::USERS, ns::TOURNAMENTS]).await;
        Ok(Deleted::NoContent)
    }

    /// The logged-in user, with role flags.
    #[oai(path = "/me", method = "get", tag = "Tag::Auth")]
    async fn me(&self, viewer: Viewer) -> ApiResult<Json<UserView>> {
        let user = viewer.require_user()?;
        Ok(Json(UserView::for_viewer(user, &viewer)))
    }

    /// Change your own nickname, Steam id and positions.
    #[oai(path = "/me", method = "patch", tag = "Tag::Auth")]
    async fn patch_me(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Viewer,
        body: Json<ProfilePatch>,
    ) -> ApiResult<Json<UserView>> {
        let user = viewer.require_user()?.clone();
        let previous_steam_id = user.steam_id;
        let body = body.0;
        let mut active: user::ActiveModel = user.into();
        set_nullable(&mut active.nickname, clean_nullable_line("nickname", body.nickname, 100)?);
        set_nullable(&mut active.steam_id, optional_steam_id(body.steam_id)?);
        apply_positions(&mut active, body.positions);
        let user = save(&state, active, previous_steam_id).await?;
        Ok(Json(UserView::for_viewer(&user, &viewer)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> user::Model {
        let now = Utc::now();
        user::Model {
            id: 7,
            username: "ana".into(),
            discord_id: Some("198618246868500481".into()),
            discord_username: None,
            steam_id: None,
            steam_account_id: None,
            avatar: None,
            avatar_checked_at: None,
            nickname: None,
            discord_nickname: None,
            guild_nickname: None,
            mmr: Some(3000),
            league_mmr: None,
            pos_carry: 5,
            pos_mid: 0,
            pos_offlane: 0,
            pos_soft_support: 0,
            pos_hard_support: 0,
            is_staff: true,
            is_superuser: false,
            created_at: now,
            updated_at: now,
            last_login: Some(now),
        }
    }

    #[test]
    fn anonymous_never_sees_role_flags() {
        let anon = Viewer { user: None, token: None };
        let view = UserView::for_viewer(&model(), &anon);
        assert_eq!((view.is_staff, view.is_superuser, view.last_login), (None, None, None));
        assert_eq!(view.avatar_url.as_deref(), Some("https://cdn.discordapp.com/embed/avatars/4.png"));
    }

    #[test]
    fn the_user_sees_own_flags() {
        let me = Viewer { user: Some(model()), token: None };
        assert_eq!(UserView::for_viewer(&model(), &me).is_staff, Some(true));
    }
}
