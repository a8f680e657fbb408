//! Server-side sessions: an opaque random token in an `HttpOnly`,
//! `SameSite=Lax` cookie. The store ([`KvStore`](crate::kv::KvStore)) keeps
//! only the token's SHA-256, mapped to `user_id:epoch`: a leaked store does
//! not leak live tokens, and a session of an older epoch than its account's
//! `session_epoch` is void (the account's Discord id changed, or it was
//! deactivated).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use poem::Request;
use sha2::{Digest, Sha256};

use crate::auth::pkce::random_token;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub const COOKIE: &str = "dtx_session";
pub const TTL: Duration = Duration::from_secs(14 * 24 * 3600);

fn key(token: &str) -> String {
    format!("session:{}", URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes())))
}

/// Starts a session for `user`; returns the `Set-Cookie` header value. A
/// deactivated user gets none (403 `user_inactive`).
pub async fn start(state: &AppState, user: &entity::user::Model) -> ApiResult<String> {
    if !user.is_active {
        return Err(ApiError::new(
            poem::http::StatusCode::FORBIDDEN,
            "user_inactive",
            "this account is deactivated; a staff member can reactivate it",
        ));
    }
    let token = random_token();
    state.kv.put(&key(&token), &format!("{}:{}", user.id, user.session_epoch), TTL).await?;
    Ok(cookie(state, &token, TTL.as_secs()))
}

/// The (user id, epoch) of a live session.
pub async fn owner(state: &AppState, token: &str) -> ApiResult<Option<(i64, i32)>> {
    Ok(state.kv.get(&key(token)).await?.and_then(|v| parse_owner(&v)))
}

fn parse_owner(value: &str) -> Option<(i64, i32)> {
    let (user, epoch) = value.split_once(':')?;
    Some((user.parse().ok()?, epoch.parse().ok()?))
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

    #[test]
    fn the_store_never_holds_the_token() {
        let stored = key("secret-token");
        assert!(!stored.contains("secret-token"));
        // sha256("secret-token"), base64url without padding — worked out with python3's hashlib.
        assert_eq!(stored, format!("session:{}", URL_SAFE_NO_PAD.encode(Sha256::digest(b"secret-token"))));
        assert_eq!(parse_owner("42:3"), Some((42, 3)));
        assert_eq!(parse_owner("42"), None, "sessions from before epochs are void");
    }
}
