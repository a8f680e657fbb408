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

    /// The SteamID64 an assertion (`params`: every `openid.*` of the
    /// callback) proves, once Steam confirms it was made for `return_to`.
    pub async fn verify(&self, params: &BTreeMap<String, String>, return_to: &str) -> Result<i64, OpenIdError> {
        let steam_id = check_assertion(params, return_to)?;
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
            Ok(steam_id)
        } else {
            Err(OpenIdError::NotConfirmed)
        }
    }
}

/// The checks made before asking Steam: a positive assertion, for our
/// `return_to`, naming a Steam account.
pub fn check_assertion(params: &BTreeMap<String, String>, return_to: &str) -> Result<i64, OpenIdError> {
    let get = |k: &str| params.get(k).map(String::as_str);
    if get("openid.mode") != Some("id_res") || get("openid.ns") != Some(NS) {
        return Err(OpenIdError::NotAnAssertion);
    }
    if get("openid.return_to") != Some(return_to) {
        return Err(OpenIdError::WrongReturnTo);
    }
    get("openid.claimed_id")
        .and_then(|id| id.strip_prefix(CLAIMED_ID_PREFIX))
        .filter(|id| id.len() == 17 && id.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|id| id.parse().ok())
        .filter(|id| entity::steam_id::is_valid_steam_id64(*id))
        .ok_or(OpenIdError::NoSteamId)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assertion(return_to: &str, claimed: &str) -> BTreeMap<String, String> {
        [
            ("openid.ns", NS),
            ("openid.mode", "id_res"),
            ("openid.return_to", return_to),
            ("openid.claimed_id", claimed),
            ("openid.identity", claimed),
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
        assert_eq!(check_assertion(&good, back), Ok(76_561_198_196_640_475));
        assert_eq!(check_assertion(&good, "https://evil.example/cb"), Err(OpenIdError::WrongReturnTo));
        let elsewhere = assertion(back, "https://evil.example/openid/id/76561198196640475");
        assert_eq!(check_assertion(&elsewhere, back), Err(OpenIdError::NoSteamId));
        let mut cancelled = good.clone();
        cancelled.insert("openid.mode".into(), "cancel".into());
        assert_eq!(check_assertion(&cancelled, back), Err(OpenIdError::NotAnAssertion));
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
