//! Server-side sessions: an opaque random id in an `HttpOnly`, `SameSite=Lax`
//! cookie, mapped to a user id in the [`KvStore`](crate::kv::KvStore).

use std::time::Duration;

use poem::Request;

use crate::auth::pkce::random_token;
use crate::error::ApiResult;
use crate::state::AppState;

pub const COOKIE: &str = "dtx_session";
pub const TTL: Duration = Duration::from_secs(14 * 24 * 3600);

fn key(token: &str) -> String {
    format!("session:{token}")
}

/// Starts a session for `user_id`; returns the `Set-Cookie` header value.
pub async fn start(state: &AppState, user_id: i64) -> ApiResult<String> {
    let token = random_token();
    state.kv.put(&key(&token), &user_id.to_string(), TTL).await?;
    Ok(cookie(state, &token, TTL.as_secs()))
}

/// The user id of a live session.
pub async fn user_id(state: &AppState, token: &str) -> ApiResult<Option<i64>> {
    Ok(state.kv.get(&key(token)).await?.and_then(|v| v.parse().ok()))
}

/// Ends a session; returns the `Set-Cookie` header value that clears it.
pub async fn end(state: &AppState, token: &str) -> ApiResult<String> {
    state.kv.delete(&key(token)).await?;
    Ok(cookie(state, "", 0))
}

/// The session token a request carries, if any.
pub fn token_of(req: &Request) -> Option<String> {
    req.header("cookie")?
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == COOKIE && !value.is_empty())
        .map(|(_, value)| value.to_owned())
}

fn cookie(state: &AppState, value: &str, max_age: u64) -> String {
    let secure = if state.settings.public_url().starts_with("https://") { "; Secure" } else { "" };
    format!("{COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_session_cookie_among_others() {
        let req = Request::builder().header("cookie", "a=1; dtx_session=tok; b=2").finish();
        assert_eq!(token_of(&req).as_deref(), Some("tok"));
        let req = Request::builder().header("cookie", "dtx_session=").finish();
        assert_eq!(token_of(&req), None);
        assert_eq!(token_of(&Request::builder().finish()), None);
    }
}
