//! The caller of a request, resolved from its session cookie on demand (only
//! handlers that ask for a [`Viewer`] touch the session store; the write
//! limiter resolves it first and leaves it in the request).

use entity::user;
use poem::{Request, RequestBody};
use poem_openapi::registry::{MetaSecurityScheme, Registry};
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};
use sea_orm::EntityTrait;
use worker::domain::leagues::{self, Scope};

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
    /// Looks the session up: no cookie, an unknown token, a session of an
    /// older epoch than its account's, or a deactivated account is anonymous.
    pub async fn resolve(req: &Request, state: &AppState) -> ApiResult<Self> {
        let Some(token) = session::token_of(req) else { return Ok(Self { user: None, token: None }) };
        let user = match session::owner(state, &token).await? {
            Some((id, epoch)) => user::Entity::find_by_id(id)
                .one(&state.db)
                .await
                .map_err(ApiError::from)?
                .filter(|u| u.session_epoch == epoch && u.is_active),
            None => None,
        };
        Ok(Self { user, token: Some(token) })
    }
}

/// For plain poem handlers (the dashboard page, sockets), outside OpenAPI.
impl<'a> poem::FromRequest<'a> for Caller {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        caller_of(req).await
    }
}

impl From<Caller> for Viewer {
    fn from(caller: Caller) -> Self {
        Self { user: caller.user, token: caller.token }
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

/// The session cookie as an OpenAPI security scheme: generated clients see
/// which operations need a login (and may send the cookie to the others).
pub const SECURITY_SCHEME: &str = "session";

fn register_session_scheme(registry: &mut Registry) {
    registry.create_security_scheme(
        SECURITY_SCHEME,
        MetaSecurityScheme {
            ty: "apiKey",
            description: Some("The session cookie set by the Discord login (or the test login)."),
            name: Some(session::COOKIE),
            key_in: Some("cookie"),
            scheme: None,
            bearer_format: None,
            flows: None,
            openid_connect_url: None,
        },
    );
}

async fn caller_of(req: &Request) -> poem::Result<Caller> {
    Ok(match req.extensions().get::<Caller>() {
        Some(resolved) => resolved.clone(),
        None => {
            let state = req.data::<AppState>().ok_or_else(ApiError::internal)?;
            Caller::resolve(req, state).await?
        }
    })
}

/// Optional login: documented as the session scheme with an anonymous fallback.
impl<'a> ApiExtractor<'a> for Viewer {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        register_session_scheme(registry);
    }

    fn security_schemes() -> Vec<&'static str> {
        vec![SECURITY_SCHEME]
    }

    fn has_security_fallback() -> bool {
        true
    }

    async fn from_request(
        req: &'a Request,
        _body: &mut RequestBody,
        _options: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        let caller = caller_of(req).await?;
        Ok(Self { user: caller.user, token: caller.token })
    }
}

/// A request that needs a login (401 without one); documented with the
/// session security scheme. Everything a [`Viewer`] offers, with a user.
pub struct Session(Viewer);

impl std::ops::Deref for Session {
    type Target = Viewer;
    fn deref(&self) -> &Viewer {
        &self.0
    }
}

impl Session {
    /// The logged-in user.
    pub fn user(&self) -> &user::Model {
        self.0.user.as_ref().expect("a Session always has a user")
    }
}

impl<'a> ApiExtractor<'a> for Session {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        register_session_scheme(registry);
    }

    fn security_schemes() -> Vec<&'static str> {
        vec![SECURITY_SCHEME]
    }

    async fn from_request(
        req: &'a Request,
        _body: &mut RequestBody,
        _options: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        let caller = caller_of(req).await?;
        if caller.user.is_none() {
            return Err(ApiError::unauthorized().into());
        }
        Ok(Self(Viewer { user: caller.user, token: caller.token }))
    }
}

impl Viewer {
    /// The user if they may organise `scope` (staff, or an admin of its league); 401 / 403 (404 when the scope does not exist).
    pub async fn require_organiser(&self, state: &AppState, scope: Scope) -> ApiResult<&user::Model> {
        let user = self.require_user()?;
        if leagues::may_organise(&state.db, user, scope).await? {
            Ok(user)
        } else {
            Err(ApiError::forbidden("staff or an admin of this league only"))
        }
    }

    /// Whether the viewer may organise `scope`.
    pub async fn organises(&self, state: &AppState, scope: Scope) -> ApiResult<bool> {
        Ok(match &self.user {
            Some(user) => leagues::may_organise(&state.db, user, scope).await?,
            None => false,
        })
    }
}
