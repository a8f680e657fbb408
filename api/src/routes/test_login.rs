//! `POST /api/tests/login`: log in as any user, for end-to-end suites.
//! Mounted only with DTX_TEST_ENDPOINTS=1 (refused at start-up in production).

use entity::user;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set, TryIntoModel};

use crate::auth::{Viewer, session};
use crate::error::ApiResult;
use crate::routes::Tag;
use crate::state::AppState;
use crate::validate;
use crate::views::users::UserView;
use worker::domain::users::new_user_defaults;

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct TestLogin {
    #[oai(validator(min_length = 1, max_length = 150))]
    pub username: String,
    pub is_staff: Option<bool>,
    pub is_superuser: Option<bool>,
}

#[derive(ApiResponse)]
pub enum LoggedIn {
    /// Logged in; the session cookie is set.
    #[oai(status = 200)]
    Ok(Json<UserView>, #[oai(header = "Set-Cookie")] String),
}

pub struct TestLoginApi;

#[OpenApi(tag = "Tag::Testing")]
impl TestLoginApi {
    /// Log in as `username` (created if absent; the flags apply on creation and update).
    #[oai(path = "/tests/login", method = "post", operation_id = "testLogin")]
    async fn login(&self, state: poem::web::Data<&AppState>, body: Json<TestLogin>) -> ApiResult<LoggedIn> {
        let username = validate::username(&body.username)?;
        let existing = user::Entity::find().filter(user::Column::Username.eq(&username)).one(&state.db).await?;
        let mut active = match existing {
            Some(user) => user.into(),
            None => {
                let mut fresh = new_user_defaults();
                fresh.username = Set(username);
                fresh
            }
        };
        if let Some(flag) = body.is_staff {
            active.is_staff = Set(flag);
        }
        if let Some(flag) = body.is_superuser {
            active.is_superuser = Set(flag);
        }
        active.last_login = Set(Some(chrono::Utc::now()));
        active.session_epoch = Set(active.session_epoch.take().unwrap_or(0));
        let user = active.save(&state.db).await?.try_into_model()?;
        state.cache.invalidate(&[crate::cache::ns::USERS, crate::cache::ns::TOURNAMENTS]).await;
        let cookie = session::start(&state, &user).await?;
        let viewer = Viewer { user: Some(user.clone()), token: None };
        Ok(LoggedIn::Ok(Json(UserView::for_viewer(&user, &viewer)), cookie))
    }

    /// Panics on purpose, to prove the panic catcher answers 500 with the error body.
    #[oai(path = "/tests/panic", method = "post", operation_id = "testPanic")]
    async fn panic(&self) -> ApiResult<Json<UserView>> {
        panic!("forced panic (POST /api/tests/panic)")
    }
}
