//! Discord OAuth2 (authorization code + `state` + PKCE) against configurable
//! base URLs, and linking a Discord account to a user.
//!
//! Hand-written rather than the `oauth2` crate: the flow is three HTTP calls,
//! and `oauth2` 5 pins reqwest 0.12, which would put a second HTTP/TLS stack
//! into every binary.

use chrono::Utc;
use entity::user;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use serde::Deserialize;

use crate::error::{ApiError, ApiResult};
use crate::settings::ApiSettings;

/// The user fields Discord returns from `/users/@me`.
#[derive(Debug, Clone, Deserialize)]
pub struct DiscordUser {
    pub id: String,
    pub username: String,
    pub global_name: Option<String>,
    pub avatar: Option<String>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
}

#[derive(Deserialize)]
struct GuildMember {
    nick: Option<String>,
}

/// The OAuth2 redirect URI registered with Discord.
pub fn redirect_uri(settings: &ApiSettings) -> String {
    format!("{}/api/auth/discord/callback", settings.public_url())
}

fn scopes(settings: &ApiSettings) -> &'static str {
    if settings.core.discord_guild_id.is_some() { "identify guilds.members.read" } else { "identify" }
}

/// Where to send the browser to log in.
pub fn authorize_url(settings: &ApiSettings, client_id: &str, state: &str, challenge: &str) -> String {
    let mut url = url::Url::parse(&format!("{}/oauth2/authorize", settings.core.discord_api_base))
        .expect("DISCORD_API_BASE was validated at start-up");
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("scope", scopes(settings))
        .append_pair("redirect_uri", &redirect_uri(settings))
        .append_pair("state", state)
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("prompt", "none");
    url.into()
}

fn discord_unavailable(err: reqwest::Error) -> ApiError {
    tracing::warn!(error = %err.without_url(), "discord unreachable");
    ApiError::unavailable("Discord")
}

/// Exchanges an authorization code for an access token.
pub async fn exchange_code(
    http: &reqwest::Client,
    settings: &ApiSettings,
    code: &str,
    verifier: &str,
) -> ApiResult<String> {
    let (Some(client_id), Some(secret)) = (&settings.discord_client_id, &settings.discord_client_secret) else {
        return Err(not_configured());
    };
    let resp = http
        .post(format!("{}/oauth2/token", settings.core.discord_api_base))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &redirect_uri(settings)),
            ("client_id", client_id),
            ("client_secret", secret.expose()),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .map_err(discord_unavailable)?;
    if resp.status().is_server_error() {
        return Err(ApiError::unavailable("Discord"));
    }
    if !resp.status().is_success() {
        return Err(ApiError::bad_request("oauth_exchange_failed", "Discord refused the authorization code"));
    }
    let token: TokenResponse = resp.json().await.map_err(discord_unavailable)?;
    Ok(token.access_token)
}

/// The Discord account behind an access token.
pub async fn fetch_me(http: &reqwest::Client, settings: &ApiSettings, token: &str) -> ApiResult<DiscordUser> {
    let resp = http
        .get(format!("{}/v10/users/@me", settings.core.discord_api_base))
        .bearer_auth(token)
        .send()
        .await
        .map_err(discord_unavailable)?;
    if !resp.status().is_success() {
        return Err(ApiError::unavailable("Discord"));
    }
    resp.json().await.map_err(discord_unavailable)
}

/// The user's nickname in the configured guild; `None` when no guild is
/// configured, the user is not a member, or Discord does not answer (a
/// nickname is not worth failing a login over).
pub async fn fetch_guild_nickname(http: &reqwest::Client, settings: &ApiSettings, token: &str) -> Option<String> {
    let guild = settings.core.discord_guild_id.as_ref()?;
    let resp = http
        .get(format!("{}/v10/users/@me/guilds/{guild}/member", settings.core.discord_api_base))
        .bearer_auth(token)
        .send()
        .await
        .ok()?;
    if !resp.status().is_success() {
        return None;
    }
    resp.json::<GuildMember>().await.ok()?.nick
}

pub fn not_configured() -> ApiError {
    ApiError::new(
        poem::http::StatusCode::NOT_FOUND,
        "not_configured",
        "Discord login is not configured on this server (DISCORD_CLIENT_ID / DISCORD_CLIENT_SECRET)",
    )
}

/// Finds the user of a Discord account by Discord id (never by name: names
/// are recycled), or creates one. Refreshes the Discord fields but never
/// renames an existing `username`.
pub async fn link_user(
    db: &DatabaseConnection,
    discord: &DiscordUser,
    guild_nickname: Option<String>,
) -> ApiResult<user::Model> {
    let now = Utc::now();
    if let Some(existing) = user::Entity::find().filter(user::Column::DiscordId.eq(&discord.id)).one(db).await? {
        let mut active: user::ActiveModel = existing.into();
        active.discord_username = Set(Some(discord.username.clone()));
        active.discord_nickname = Set(discord.global_name.clone());
        active.avatar = Set(discord.avatar.clone());
        if guild_nickname.is_some() {
            active.guild_nickname = Set(guild_nickname);
        }
        active.last_login = Set(Some(now));
        return Ok(active.update(db).await?);
    }
    let username = worker::domain::users::free_username(db, &discord.username).await?;
    let created = user::ActiveModel {
        username: Set(username),
        discord_id: Set(Some(discord.id.clone())),
        discord_username: Set(Some(discord.username.clone())),
        discord_nickname: Set(discord.global_name.clone()),
        guild_nickname: Set(guild_nickname),
        avatar: Set(discord.avatar.clone()),
        last_login: Set(Some(now)),
        ..worker::domain::users::new_user_defaults()
    }
    .insert(db)
    .await?;
    Ok(created)
}
