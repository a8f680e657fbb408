//! Steam OpenID 2.0 ("Sign in through Steam"), the proof that a player owns
//! a Steam account: the browser goes to Steam's login with our `return_to`;
//! Steam sends it back with a signed assertion naming the SteamID64; we ask
//! Steam whether the assertion is genuine (`check_authentication`) before
//! believing it. The base URL is configuration, so tests use a mock.

use std::collections::BTreeMap;
use std::time::Duration;

const NS: &str = "http://specs.openid.net/auth/2.0";
const IDENTIFIER_SELECT: &str = "http://specs.openid.net/auth/2.0/identifier_select";
/// The only claimed ids Steam issues.
const CLAIMED_ID_PREFIX: &str = "https://steamcommunity.com/openid/id/";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenIdError {
    #[error("the Steam answer is not a positive assertion")]
    NotAnAssertion,
    #[error("the assertion was made for another return address")]
    WrongReturnTo,
    #[error("the assertion names no Steam account")]
    NoSteamId,
    #[error("Steam did not confirm the assertion")]
    NotConfirmed,
    #[error("the assertion comes from another provider")]
    WrongProvider,
    #[error("the assertion's signature does not cover {0}")]
    NotSigned(&'static str),
    #[error("the assertion's nonce is missing, stale or used before")]
    BadNonce,
    #[error("Steam is unreachable: {0}")]
    Unreachable(String),
}

#[derive(Clone)]
pub struct SteamOpenId {
    http: reqwest::Client,
    /// e.g. `https://steamcommunity.com`
    base: String,
}

impl SteamOpenId {
    pub fn new(base: &str) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .user_agent(concat!("dtx-api/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Self { http, base: base.trim_end_matches('/').to_owned() }
    }

    fn endpoint(&self) -> String {
        format!("{}/openid/login", self.base)
    }

    /// Where to send the browser; Steam comes back to `return_to`.
    pub fn login_url(&self, return_to: &str, realm: &str) -> String {
        let mut url = url::Url::parse(&self.endpoint()).expect("STEAM_OPENID_BASE is validated at start-up");
        url.query_pairs_mut()
            .append_pair("openid.ns", NS)
            .append_pair("openid.mode", "checkid_setup")
            .append_pair("openid.return_to", return_to)
            .append_pair("openid.realm", realm)
            .append_pair("openid.identity", IDENTIFIER_SELECT)
            .append_pair("openid.claimed_id", IDENTIFIER_SELECT);
        url.into()
    }

    /// What an assertion (`params`: every `openid.*` of the callback)
    /// proves, once Steam confirms it was made for `return_to`. The caller
    /// refuses a nonce it saw before.
    pub async fn verify(
        &self,
        params: &BTreeMap<String, String>,
        return_to: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Assertion, OpenIdError> {
        let assertion = check_assertion(params, return_to, &self.endpoint(), now)?;
        let mut form: Vec<(String, String)> =
            params.iter().filter(|(k, _)| k.starts_with("openid.")).map(|(k, v)| (k.clone(), v.clone())).collect();
        for (k, v) in &mut form {
            if k == "openid.mode" {
                *v = "check_authentication".to_owned();
            }
        }
        let resp = self
            .http
            .post(self.endpoint())
            .form(&form)
            .send()
            .await
            .map_err(|e| OpenIdError::Unreachable(e.without_url().to_string()))?;
        let body = resp.text().await.map_err(|e| OpenIdError::Unreachable(e.without_url().to_string()))?;
        if body.lines().any(|line| line.trim() == "is_valid:true") {
            Ok(assertion)
        } else {
            Err(OpenIdError::NotConfirmed)
        }
    }
}

/// A proven assertion: the account and the nonce that must not come again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assertion {
    pub steam_id: i64,
    pub nonce: String,
}

/// The fields the provider's signature must cover (SPEC §24): otherwise a
/// genuine signature over other fields could carry forged ones.
const MUST_BE_SIGNED: [&str; 5] = ["claimed_id", "identity", "return_to", "response_nonce", "op_endpoint"];

/// The longest response nonce accepted (it is remembered to refuse replays).
const MAX_NONCE_BYTES: usize = 255;

/// How old a nonce may be (its time is the provider's, so skew is allowed for).
const NONCE_MAX_AGE: chrono::Duration = chrono::Duration::minutes(10);

/// The checks made before asking Steam: a positive assertion by `endpoint`
/// (Steam's login), for our `return_to`, signed over every field we read,
/// with a fresh nonce, naming a Steam account.
pub fn check_assertion(
    params: &BTreeMap<String, String>,
    return_to: &str,
    endpoint: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Assertion, OpenIdError> {
    let get = |k: &str| params.get(k).map(String::as_str);
    if get("openid.mode") != Some("id_res") || get("openid.ns") != Some(NS) {
        return Err(OpenIdError::NotAnAssertion);
    }
    if get("openid.op_endpoint") != Some(endpoint) {
        return Err(OpenIdError::WrongProvider);
    }
    if get("openid.return_to") != Some(return_to) {
        return Err(OpenIdError::WrongReturnTo);
    }
    let signed: Vec<&str> = get("openid.signed").unwrap_or_default().split(',').collect();
    if let Some(missing) = MUST_BE_SIGNED.iter().find(|f| !signed.contains(f)) {
        return Err(OpenIdError::NotSigned(missing));
    }
    // Steam's nonces are a timestamp and a short random tail; a long one is not Steam's.
    let nonce = get("openid.response_nonce").filter(|n| n.len() <= MAX_NONCE_BYTES).ok_or(OpenIdError::BadNonce)?;
    let issued = nonce
        .get(..20)
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .ok_or(OpenIdError::BadNonce)?
        .to_utc();
    if now - issued > NONCE_MAX_AGE || issued - now > NONCE_MAX_AGE {
        return Err(OpenIdError::BadNonce);
    }
    let claimed = get("openid.claimed_id");
    if get("openid.identity") != claimed {
        return Err(OpenIdError::NoSteamId);
    }
    let steam_id = claimed
        .and_then(|id| id.strip_prefix(CLAIMED_ID_PREFIX))
        .filter(|id| id.len() == 17 && id.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|id| id.parse().ok())
        .filter(|id| entity::steam_id::is_valid_steam_id64(*id))
        .ok_or(OpenIdError::NoSteamId)?;
    Ok(Assertion { steam_id, nonce: nonce.to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEAM: &str = "https://steamcommunity.com/openid/login";

    fn now() -> chrono::DateTime<chrono::Utc> {
        chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 12, 6, 22, 0, 0).unwrap()
    }

    fn assertion(return_to: &str, claimed: &str) -> BTreeMap<String, String> {
        [
            ("openid.ns", NS),
            ("openid.mode", "id_res"),
            ("openid.op_endpoint", STEAM),
            ("openid.return_to", return_to),
            ("openid.claimed_id", claimed),
            ("openid.identity", claimed),
            ("openid.response_nonce", "2026-12-06T21:59:30ZmgRT1ZBBvGH1uQ3yODA3ps"),
            ("openid.assoc_handle", "1234567890"),
            ("openid.signed", "signed,op_endpoint,claimed_id,identity,return_to,response_nonce,assoc_handle"),
            ("openid.sig", "c2ln"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    #[test]
    fn assertions_are_checked_before_asking_steam() {
        let back = "https://dtx.example/api/auth/steam/callback?link=abc";
        let good = assertion(back, "https://steamcommunity.com/openid/id/76561198196640475");
        let proven = check_assertion(&good, back, STEAM, now()).unwrap();
        assert_eq!(
            (proven.steam_id, proven.nonce.as_str()),
            (76_561_198_196_640_475, "2026-12-06T21:59:30ZmgRT1ZBBvGH1uQ3yODA3ps")
        );
        assert_eq!(check_assertion(&good, "https://evil.example/cb", STEAM, now()), Err(OpenIdError::WrongReturnTo));
        assert_eq!(
            check_assertion(&good, back, "https://evil.example/openid/login", now()),
            Err(OpenIdError::WrongProvider)
        );
        let elsewhere = assertion(back, "https://evil.example/openid/id/76561198196640475");
        assert_eq!(check_assertion(&elsewhere, back, STEAM, now()), Err(OpenIdError::NoSteamId));
        let mut cancelled = good.clone();
        cancelled.insert("openid.mode".into(), "cancel".into());
        assert_eq!(check_assertion(&cancelled, back, STEAM, now()), Err(OpenIdError::NotAnAssertion));
    }

    #[test]
    fn the_signature_must_cover_what_we_read_and_the_nonce_must_be_fresh() {
        let back = "https://dtx.example/cb";
        let good = assertion(back, "https://steamcommunity.com/openid/id/76561198196640475");
        for (field, signed) in [
            ("claimed_id", "signed,op_endpoint,identity,return_to,response_nonce"),
            ("identity", "signed,op_endpoint,claimed_id,return_to,response_nonce"),
            ("return_to", "signed,op_endpoint,claimed_id,identity,response_nonce"),
            ("response_nonce", "signed,op_endpoint,claimed_id,identity,return_to"),
            ("op_endpoint", "signed,claimed_id,identity,return_to,response_nonce"),
        ] {
            let mut partly = good.clone();
            partly.insert("openid.signed".into(), signed.into());
            assert_eq!(check_assertion(&partly, back, STEAM, now()), Err(OpenIdError::NotSigned(field)));
        }
        let later = now() + chrono::Duration::minutes(11);
        assert_eq!(check_assertion(&good, back, STEAM, later), Err(OpenIdError::BadNonce), "a stale nonce");
        let mut odd = good.clone();
        odd.insert("openid.response_nonce".into(), "yesterday".into());
        assert_eq!(check_assertion(&odd, back, STEAM, now()), Err(OpenIdError::BadNonce));
        let mut split = good.clone();
        split.insert("openid.identity".into(), "https://steamcommunity.com/openid/id/76561198000000000".into());
        assert_eq!(check_assertion(&split, back, STEAM, now()), Err(OpenIdError::NoSteamId), "identity ≠ claimed_id");
    }

    #[test]
    fn the_login_url_asks_steam_to_pick_the_identity() {
        rustls::crypto::ring::default_provider().install_default().ok();
        let url = SteamOpenId::new("https://steamcommunity.com/").login_url("https://x/cb", "https://x");
        let parsed = url::Url::parse(&url).unwrap();
        assert_eq!(parsed.path(), "/openid/login");
        let query: BTreeMap<String, String> = parsed.query_pairs().into_owned().collect();
        assert_eq!(query["openid.mode"], "checkid_setup");
        assert_eq!(query["openid.claimed_id"], IDENTIFIER_SELECT);
        assert_eq!(query["openid.return_to"], "https://x/cb");
    }
}
