//! The caller of a request, resolved from its session cookie on demand (only
//! handlers that ask for a [`Viewer`] touch the session store; the write
//! limiter resolves it first and leaves it in the request).

use entity::user;
use poem::{FromRequest, Request, RequestBody};
use sea_orm::EntityTrait;

use crate::auth::session;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The user behind a request's session, resolved once per request.
#[derive(Clone)]
pub struct Caller {
    pub user: Option<user::Model>,
    pub token: Option<String>,
}

impl Caller {
    /// Looks the session up: no cookie, an unknown token, or a session of an
    /// older epoch than its account's is anonymous.
    pub async fn resolve(req: &Request, state: &AppState) -> ApiResult<Self> {
        let Some(token) = session::token_of(req) else { return Ok(Self { user: None, token: None }) };
        let user = match session::owner(state, &token).await? {
            Some((id, epoch)) => user::Entity::find_by_id(id)
                .one(&state.db)
                .await
                .map_err(ApiError::from)?
                .filter(|u| u.session_epoch == epoch),
            None => None,
        };
        Ok(Self { user, token: Some(token) })
    }
}

/// The logged-in user, or nobody. Roles: anonymous < user < staff < superuser
/// (captains are users with a per-draft right, checked where it applies).
pub struct Viewer {
    pub user: Option<user::Model>,
    pub token: Option<String>,
}

impl Viewer {
    /// The user, or 401.
    pub fn require_user(&self) -> ApiResult<&user::Model> {
        self.user.as_ref().ok_or_else(ApiError::unauthorized)
    }

    /// The user if staff (or superuser); 401 / 403 otherwise.
    pub fn require_staff(&self) -> ApiResult<&user::Model> {
        let user = self.require_user()?;
        if user.is_staff || user.is_superuser { Ok(user) } else { Err(ApiError::forbidden("staff only")) }
    }

    /// The user if superuser; 401 / 403 otherwise.
    pub fn require_superuser(&self) -> ApiResult<&user::Model> {
        let user = self.require_user()?;
        if user.is_superuser { Ok(user) } else { Err(ApiError::forbidden("superusers only")) }
    }

    pub fn is_staff(&self) -> bool {
        self.user.as_ref().is_some_and(|u| u.is_staff || u.is_superuser)
    }

    pub fn is_superuser(&self) -> bool {
        self.user.as_ref().is_some_and(|u| u.is_superuser)
    }

    /// Whether the viewer may see private fields (role flags, last login) of `user_id`.
    pub fn sees_private_fields_of(&self, user_id: i64) -> bool {
        self.is_staff() || self.user.as_ref().is_some_and(|u| u.id == user_id)
    }
}

impl<'a> FromRequest<'a> for Viewer {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        let caller = match req.extensions().get::<Caller>() {
            Some(resolved) => resolved.clone(),
            None => {
                let state = req.data::<AppState>().ok_or_else(ApiError::internal)?;
                Caller::resolve(req, state).await?
            }
        };
        Ok(Self { user: caller.user, token: caller.token })
    }
}
