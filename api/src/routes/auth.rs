//! `/api/auth/discord/login`, `/api/auth/discord/callback`, `/api/auth/logout`.

use std::time::Duration;

use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};
use serde::{Deserialize, Serialize};

use crate::auth::{Session, Viewer, discord, pkce, session};
use crate::error::{ApiError, ApiResult};
use crate::routes::Tag;
use crate::state::AppState;

/// How long a login may take between redirect and callback.
const LOGIN_TTL: Duration = Duration::from_secs(600);
/// How long a used OpenID nonce is remembered (past the age a nonce may have).
const NONCE_MEMORY: Duration = Duration::from_secs(3600);

/// The cookie that binds a login's `state` to the browser that started it
/// (login CSRF: a victim opening an attacker's callback link has no such cookie).
const BINDING_COOKIE: &str = "dtx_oauth";

#[derive(Serialize, Deserialize)]
struct PendingLogin {
    verifier: String,
    /// SHA-256 of the browser binding cookie's value.
    binding: String,
}

fn binding_hash(value: &str) -> String {
    pkce::s256_challenge(value)
}

fn cookie_value<'a>(req: &'a poem::Request, name: &str) -> Option<&'a str> {
    req.header("cookie")?
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, v)| *n == name && !v.is_empty())
        .map(|(_, v)| v)
}

#[derive(ApiResponse)]
pub enum Redirect {
    /// Go there.
    #[oai(status = 302)]
    Found(#[oai(header = "Location")] String, #[oai(header = "Set-Cookie")] Option<String>),
}

#[derive(ApiResponse)]
pub enum LoggedOut {
    /// Session ended (if there was one) and cookie cleared.
    #[oai(status = 204)]
    NoContent(#[oai(header = "Set-Cookie")] String),
}

/// Where Steam sends the browser back for link `nonce`.
fn steam_return_to(public_url: &str, nonce: &str) -> String {
    format!("{public_url}/api/auth/steam/callback?link={nonce}")
}

pub struct AuthApi;

#[OpenApi(tag = "Tag::Auth")]
impl AuthApi {
    /// Start Discord login: redirects to Discord with `state` and a PKCE challenge, and binds the
    /// `state` to this browser with a short-lived `HttpOnly` cookie.
    #[oai(path = "/auth/discord/login", method = "get", operation_id = "discordLogin")]
    async fn login(&self, state: poem::web::Data<&AppState>) -> ApiResult<Redirect> {
        let client_id = state.settings.discord_client_id.as_deref().ok_or_else(discord::not_configured)?;
        let oauth_state = pkce::random_token();
        let verifier = pkce::random_token();
        let binding = pkce::random_token();
        let pending = PendingLogin { verifier: verifier.clone(), binding: binding_hash(&binding) };
        let pending = serde_json::to_string(&pending).map_err(|_| ApiError::internal())?;
        state.kv.put(&format!("oauth:{oauth_state}"), &pending, LOGIN_TTL).await?;
        let url = discord::authorize_url(&state.settings, client_id, &oauth_state, &pkce::s256_challenge(&verifier));
        let secure = if state.settings.public_url().starts_with("https://") { "; Secure" } else { "" };
        let cookie = format!(
            "{BINDING_COOKIE}={binding}; Path=/api/auth/discord/callback; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
            LOGIN_TTL.as_secs()
        );
        Ok(Redirect::Found(url, Some(cookie)))
    }

    /// Discord sends the browser back here; on success the session cookie is
    /// set and the browser goes to FRONTEND_URL.
    #[oai(path = "/auth/discord/callback", method = "get", operation_id = "discordCallback")]
    async fn callback(
        &self,
        req: &poem::Request,
        state: poem::web::Data<&AppState>,
        #[oai(validator(max_length = 512))] code: Query<Option<String>>,
        #[oai(name = "state", validator(max_length = 128))] oauth_state: Query<Option<String>>,
        #[oai(validator(max_length = 128))] error: Query<Option<String>>,
    ) -> ApiResult<Redirect> {
        if state.settings.discord_client_id.is_none() {
            return Err(discord::not_configured());
        }
        let Some(binding) = cookie_value(req, BINDING_COOKIE) else {
            return Err(ApiError::bad_request(
                "oauth_state_unbound",
                "this login was not started in this browser; start the login again",
            ));
        };
        let pending = match oauth_state.0.as_deref() {
            Some(s) if !s.is_empty() => state.kv.take(&format!("oauth:{s}")).await?,
            _ => None,
        };
        let Some(pending) = pending.and_then(|p| serde_json::from_str::<PendingLogin>(&p).ok()) else {
            return Err(ApiError::bad_request(
                "invalid_oauth_state",
                "unknown or expired login state; start the login again",
            ));
        };
        if !pkce::constant_time_eq(&pending.binding, &binding_hash(binding)) {
            return Err(ApiError::bad_request(
                "oauth_state_unbound",
                "this login was started in another browser; start the login again",
            ));
        }
        if let Some(error) = error.0 {
            return Err(ApiError::bad_request("oauth_denied", format!("Discord login was not completed: {error}")));
        }
        let code = code
            .0
            .filter(|c| !c.is_empty())
            .ok_or_else(|| ApiError::bad_request("missing_code", "no authorization code"))?;
        let token = discord::exchange_code(&state.http, &state.settings, &code, &pending.verifier).await?;
        let me = discord::fetch_me(&state.http, &state.settings, &token).await?;
        let guild_nickname = discord::fetch_guild_nickname(&state.http, &state.settings, &token).await;
        let user = discord::link_user(&state.db, &me, guild_nickname).await?;
        state.cache.invalidate(&[crate::cache::ns::USERS, crate::cache::ns::TOURNAMENTS]).await;
        tracing::info!(user_id = user.id, "discord login");
        if state.jobs.discord.is_configured() {
            let job =
                worker::jobs::Job::RefreshUserAvatar(worker::jobs::payload::RefreshUserAvatar { user_id: user.id });
            if let Err(err) = crate::routes::jobs::enqueue(&state, job, Some(user.id)).await {
                tracing::warn!(error = %err, "avatar refresh not enqueued at login");
            }
        }
        let cookie = session::start(&state, &user).await?;
        Ok(Redirect::Found(state.settings.frontend_url.clone(), Some(cookie)))
    }

    /// Link your Steam account by proving it: redirects to Steam's sign-in (OpenID 2.0); Steam sends the
    /// browser back to `/api/auth/steam/callback`.
    #[oai(path = "/auth/steam/link", method = "get", operation_id = "linkSteam")]
    async fn steam_link(&self, state: poem::web::Data<&AppState>, viewer: Session) -> ApiResult<Redirect> {
        let me = viewer.require_user()?;
        let nonce = pkce::random_token();
        state.kv.put(&format!("steamlink:{nonce}"), &me.id.to_string(), LOGIN_TTL).await?;
        let public = state.settings.public_url();
        let url = state.steam_openid.login_url(&steam_return_to(&public, &nonce), &public);
        Ok(Redirect::Found(url, None))
    }

    /// Unlink your Steam id (linking again needs Steam OpenID).
    #[oai(path = "/auth/steam/link", method = "delete", operation_id = "unlinkSteam")]
    async fn steam_unlink(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
    ) -> ApiResult<Json<crate::views::users::UserView>> {
        let change = worker::domain::users::ProfileChange { unlink_steam: true, ..Default::default() };
        let user = worker::domain::users::update_profile(&state.services, viewer.user().id, change).await?;
        Ok(Json(crate::views::users::UserView::for_viewer(&user, &viewer)))
    }

    /// Steam sends the browser back here with a signed assertion; once Steam confirms it, the Steam id is
    /// linked (or, if another account holds it, a claim goes to staff). Redirects to FRONTEND_URL with
    /// `steam_link=linked|claimed`.
    #[oai(path = "/auth/steam/callback", method = "get", operation_id = "steamCallback")]
    async fn steam_callback(
        &self,
        req: &poem::Request,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        #[oai(validator(max_length = 128))] link: Query<String>,
    ) -> ApiResult<Redirect> {
        let me = viewer.require_user()?;
        let pending = state.kv.take(&format!("steamlink:{}", link.0)).await?;
        if pending.as_deref() != Some(me.id.to_string().as_str()) {
            return Err(ApiError::new(
                poem::http::StatusCode::NOT_FOUND,
                "invalid_steam_link",
                "unknown or expired Steam link, or started by another account; start again",
            ));
        }
        let params: std::collections::BTreeMap<String, String> =
            url::form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes()).into_owned().collect();
        let return_to = steam_return_to(&state.settings.public_url(), &link.0);
        let proven =
            state.steam_openid.verify(&params, &return_to, chrono::Utc::now()).await.map_err(|err| match err {
                worker::clients::steam_openid::OpenIdError::Unreachable(_) => ApiError::unavailable("Steam"),
                refused => ApiError::bad_request("steam_not_proven", refused.to_string()),
            })?;
        // A nonce is good once (SPEC §24): a replayed assertion proves nothing.
        let nonce = format!("openid-nonce:{}", proven.nonce);
        if !state.kv.put_new(&nonce, "used", NONCE_MEMORY).await? {
            return Err(ApiError::bad_request("steam_not_proven", "this Steam assertion was used before"));
        }
        let steam_id = proven.steam_id;
        let outcome = worker::domain::users::link_proven_steam_id(&state.services, me.id, steam_id).await?;
        let result = match outcome {
            worker::domain::users::SteamLink::Linked => "linked",
            worker::domain::users::SteamLink::Claimed(_) => "claimed",
        };
        let mut frontend = url::Url::parse(&state.settings.frontend_url).map_err(|_| ApiError::internal())?;
        frontend.query_pairs_mut().append_pair("steam_link", result);
        Ok(Redirect::Found(frontend.into(), None))
    }

    /// End the session.
    #[oai(path = "/auth/logout", method = "post", operation_id = "logout")]
    async fn logout(&self, state: poem::web::Data<&AppState>, viewer: Viewer) -> ApiResult<LoggedOut> {
        let cookie = match &viewer.token {
            Some(token) => session::end(&state, token).await?,
            None => session::end(&state, "").await?,
        };
        Ok(LoggedOut::NoContent(cookie))
    }
}
