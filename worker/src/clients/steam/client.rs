//! The Steam Web API client. Every call waits for the shared rate limiter,
//! counts toward the daily budget, has connect/total timeouts, and honours
//! `Retry-After` on 429/503. The API key goes only into the request URL,
//! never into a log line or an error message.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;

/// Steam's envelope: the answer sits under `result` (IDOTA2Match) or
/// `response` (ISteamUser).
#[derive(serde::Deserialize)]
#[serde(bound = "T: DeserializeOwned")]
struct Wrapped<T> {
    result: Option<T>,
    response: Option<T>,
}

use crate::clients::steam::ratelimit::{Budget, RateLimiter};
use crate::clients::steam::types::{HistoryPage, MatchDetails, PlayerSummary};
use crate::config::CoreSettings;
use crate::jobs::JobError;
use crate::secret::Secret;

/// Longest Retry-After we sleep through inside one call; longer ones fail
/// the attempt and the job retries after that delay.
const MAX_INLINE_WAIT: Duration = Duration::from_secs(30);
/// Accounts one `GetPlayerSummaries` call takes.
pub const SUMMARIES_PER_CALL: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum SteamError {
    #[error("STEAM_API_KEY is not configured")]
    NotConfigured,
    #[error("Steam rate limited us (HTTP {status}); retry after {retry_after:?}")]
    RateLimited { status: u16, retry_after: Duration },
    #[error("Steam daily call budget ({0}) is spent")]
    BudgetSpent(u64),
    #[error("Steam answered HTTP {0}")]
    Status(u16),
    #[error("Steam unreachable: {0}")]
    Network(String),
    #[error("unexpected Steam response: {0}")]
    Decode(String),
    #[error("rate limiter unavailable: {0}")]
    Limiter(String),
    /// An interactive lookup found no free share of the Steam rate (jobs first).
    #[error("Steam lookups are busy; try again shortly")]
    Busy,
}

impl SteamError {
    /// Whether trying again later can help.
    pub fn is_transient(&self) -> bool {
        !matches!(self, Self::NotConfigured)
    }

    /// Whether the whole run should stop (further calls would fail the same way).
    pub fn stops_the_run(&self) -> bool {
        matches!(
            self,
            Self::NotConfigured | Self::RateLimited { .. } | Self::BudgetSpent(_) | Self::Limiter(_) | Self::Busy
        )
    }
}

impl From<SteamError> for JobError {
    fn from(err: SteamError) -> Self {
        match err {
            SteamError::NotConfigured => JobError::Permanent(err.to_string()),
            SteamError::RateLimited { retry_after, .. } => {
                JobError::Transient { message: err.to_string(), retry_after: Some(retry_after) }
            }
            SteamError::BudgetSpent(_) => {
                JobError::Transient { message: err.to_string(), retry_after: Some(Duration::from_secs(3600)) }
            }
            other => JobError::transient(other.to_string()),
        }
    }
}

/// Who a call is for. Jobs (the league sync) come first: they wait for the
/// shared rate. Interactive lookups on the request path get a capped share —
/// a bucket of their own at `STEAM_INTERACTIVE_SHARE` of the rate, a token
/// from the shared bucket only when one is free right now (never queued
/// ahead of a job), and that share of the daily budget — else `Busy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    Job,
    Interactive,
}

#[derive(Clone)]
pub struct SteamClient {
    http: reqwest::Client,
    base: String,
    opendota: String,
    key: Option<Secret>,
    limiter: RateLimiter,
    interactive: RateLimiter,
    budget: Budget,
    daily_budget: u64,
    interactive_daily_budget: u64,
}

fn retry_after(resp: &reqwest::Response) -> Duration {
    resp.headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(Duration::from_secs(60), Duration::from_secs)
}

impl SteamClient {
    pub fn new(settings: &CoreSettings, redis: Option<redis::aio::ConnectionManager>) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .user_agent(concat!("dtx-worker/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let share = settings.steam_interactive_share;
        let interactive_rate = settings.steam_rate_per_sec * share.max(1e-6);
        let (limiter, interactive, budget) = match redis {
            Some(conn) => (
                RateLimiter::redis(conn.clone(), &settings.redis_prefix, settings.steam_rate_per_sec),
                RateLimiter::redis(conn.clone(), &format!("{}:interactive", settings.redis_prefix), interactive_rate),
                Budget::Redis { conn, prefix: settings.redis_prefix.clone() },
            ),
            None => {
                (RateLimiter::local(settings.steam_rate_per_sec), RateLimiter::local(interactive_rate), Budget::local())
            }
        };
        Ok(Self {
            http,
            base: settings.steam_api_base.trim_end_matches('/').to_owned(),
            opendota: settings.opendota_api_base.trim_end_matches('/').to_owned(),
            key: settings.steam_api_key.clone(),
            limiter,
            interactive,
            budget,
            daily_budget: settings.steam_daily_budget,
            interactive_daily_budget: (settings.steam_daily_budget as f64 * share) as u64,
        })
    }

    pub fn is_configured(&self) -> bool {
        self.key.is_some()
    }

    /// Waits for (a job) or takes at once (a lookup) a share of the rate, and
    /// counts the call against the daily budget(s).
    async fn admit(&self, priority: Priority) -> Result<(), SteamError> {
        let limiter = |e: redis::RedisError| SteamError::Limiter(e.to_string());
        match priority {
            Priority::Job => self.limiter.acquire().await.map_err(limiter)?,
            Priority::Interactive => {
                if !(self.interactive.try_acquire().await.map_err(limiter)?
                    && self.limiter.try_acquire().await.map_err(limiter)?)
                {
                    metrics::counter!("dtx_steam_lookups_refused_total").increment(1);
                    return Err(SteamError::Busy);
                }
                if self.budget.spend_in("interactive").await.map_err(limiter)? > self.interactive_daily_budget {
                    return Err(SteamError::BudgetSpent(self.interactive_daily_budget));
                }
            }
        }
        if self.budget.spend().await.map_err(limiter)? > self.daily_budget {
            return Err(SteamError::BudgetSpent(self.daily_budget));
        }
        Ok(())
    }

    /// `GET {base}/{interface}/{method}/v1/?key=…&params`, parsed.
    async fn call<T: DeserializeOwned>(
        &self,
        priority: Priority,
        interface: &str,
        method: &str,
        params: &[(&str, String)],
    ) -> Result<T, SteamError> {
        self.call_version(priority, interface, method, "v1", params).await
    }

    /// `GET {base}/{interface}/{method}/{version}/?key=…&params`, parsed.
    async fn call_version<T: DeserializeOwned>(
        &self,
        priority: Priority,
        interface: &str,
        method: &str,
        version: &str,
        params: &[(&str, String)],
    ) -> Result<T, SteamError> {
        let key = self.key.as_ref().ok_or(SteamError::NotConfigured)?;
        let mut waited = Duration::ZERO;
        loop {
            self.admit(priority).await?;
            let resp = self
                .http
                .get(format!("{}/{interface}/{method}/{version}/", self.base))
                .query(&[("key", key.expose())])
                .query(params)
                .send()
                .await
                .map_err(|e| SteamError::Network(key.redact(&e.without_url().to_string())))?;
            let status = resp.status().as_u16();
            metrics::counter!("dtx_steam_calls_total", "method" => method.to_owned(), "status" => status.to_string())
                .increment(1);
            if status == 429 || status == 503 {
                metrics::counter!("dtx_steam_rate_limited_total").increment(1);
                let wait = retry_after(&resp);
                if priority == Priority::Job && waited + wait <= MAX_INLINE_WAIT {
                    tracing::warn!(status, wait_s = wait.as_secs(), method, "Steam asked us to wait");
                    tokio::time::sleep(wait).await;
                    waited += wait;
                    continue;
                }
                return Err(SteamError::RateLimited { status, retry_after: wait });
            }
            if !resp.status().is_success() {
                return Err(SteamError::Status(status));
            }
            let body = resp.bytes().await.map_err(|e| SteamError::Decode(key.redact(&e.without_url().to_string())))?;
            let decode = |e: serde_json::Error| SteamError::Decode(e.to_string());
            // Straight into `T`: a detour through `serde_json::Value` cost the sync a tree of maps per answer.
            let wrapped: Wrapped<T> = serde_json::from_slice(&body).map_err(decode)?;
            return match wrapped.result.or(wrapped.response) {
                Some(answer) => Ok(answer),
                None => serde_json::from_value(Value::Null).map_err(decode),
            };
        }
    }

    /// Matches at or older than `start_at` (newest first).
    pub async fn match_history(
        &self,
        league_id: i64,
        start_at: Option<i64>,
        count: u32,
    ) -> Result<HistoryPage, SteamError> {
        let mut params = vec![("league_id", league_id.to_string()), ("matches_requested", count.to_string())];
        if let Some(start) = start_at {
            params.push(("start_at_match_id", start.to_string()));
        }
        self.call(Priority::Job, "IDOTA2Match_570", "GetMatchHistory", &params).await
    }

    /// The match with this sequence number, if it is `match_id`.
    pub async fn match_by_seq(&self, match_id: i64, seq: i64) -> Result<Option<MatchDetails>, SteamError> {
        #[derive(serde::Deserialize)]
        struct Page {
            #[serde(default)]
            matches: Vec<MatchDetails>,
        }
        let page: Page = self
            .call(
                Priority::Job,
                "IDOTA2Match_570",
                "GetMatchHistoryBySequenceNum",
                &[("start_at_match_seq_num", seq.to_string()), ("matches_requested", "1".to_owned())],
            )
            .await?;
        Ok(page.matches.into_iter().find(|m| m.match_id == match_id))
    }

    pub async fn match_details(&self, match_id: i64) -> Result<MatchDetails, SteamError> {
        self.call(Priority::Job, "IDOTA2Match_570", "GetMatchDetails", &[("match_id", match_id.to_string())]).await
    }

    /// OpenDota's copy of a match (no key, not Steam's rate limit).
    pub async fn opendota_match(&self, match_id: i64) -> Result<MatchDetails, SteamError> {
        let resp = self
            .http
            .get(format!("{}/api/matches/{match_id}", self.opendota))
            .send()
            .await
            .map_err(|e| SteamError::Network(e.without_url().to_string()))?;
        if !resp.status().is_success() {
            return Err(SteamError::Status(resp.status().as_u16()));
        }
        resp.json().await.map_err(|e| SteamError::Decode(e.to_string()))
    }

    /// Details from the first source that has them: by sequence number,
    /// then GetMatchDetails (500s on Steam since 7.36), then OpenDota.
    pub async fn fetch_match(&self, match_id: i64, seq: Option<i64>) -> Result<MatchDetails, SteamError> {
        let mut last = SteamError::Decode(format!("match {match_id} not found"));
        if let Some(seq) = seq {
            match self.match_by_seq(match_id, seq).await {
                Ok(Some(found)) => return Ok(found),
                Ok(None) => {}
                Err(err) if err.stops_the_run() => return Err(err),
                Err(err) => last = err,
            }
        }
        match self.match_details(match_id).await {
            Ok(found) if found.match_id == match_id && !found.players.is_empty() => return Ok(found),
            Ok(_) => {}
            Err(err) if err.stops_the_run() => return Err(err),
            Err(err) => last = err,
        }
        self.opendota_match(match_id).await.map_err(|_| last)
    }

    /// SteamID64 of a vanity name (`None` when Steam knows no such name); an
    /// interactive lookup.
    pub async fn resolve_vanity(&self, vanity: &str) -> Result<Option<i64>, SteamError> {
        #[derive(serde::Deserialize)]
        struct Resolved {
            success: i64,
            steamid: Option<String>,
        }
        let resolved: Resolved = self
            .call(Priority::Interactive, "ISteamUser", "ResolveVanityURL", &[("vanityurl", vanity.to_owned())])
            .await?;
        Ok(if resolved.success == 1 { resolved.steamid.and_then(|s| s.parse().ok()) } else { None })
    }

    /// Persona names and avatars of up to [`SUMMARIES_PER_CALL`] accounts
    /// (`ISteamUser/GetPlayerSummaries/v2`); a job call.
    pub async fn player_summaries(&self, steam_ids: &[i64]) -> Result<Vec<PlayerSummary>, SteamError> {
        #[derive(serde::Deserialize)]
        struct Page {
            #[serde(default)]
            players: Vec<PlayerSummary>,
        }
        debug_assert!(steam_ids.len() <= SUMMARIES_PER_CALL);
        let ids = steam_ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        let page: Page =
            self.call_version(Priority::Job, "ISteamUser", "GetPlayerSummaries", "v2", &[("steamids", ids)]).await?;
        Ok(page.players)
    }

    /// Live games of a league, as Steam returns them; an interactive lookup.
    pub async fn live_league_games(&self, league_id: i64) -> Result<Value, SteamError> {
        let params = [("league_id", league_id.to_string())];
        self.call(Priority::Interactive, "IDOTA2Match_570", "GetLiveLeagueGames", &params).await
    }
}
