//! The Discord bot client: avatar checks and event posts, honouring
//! Discord's rate limits (429 + Retry-After / X-RateLimit-Reset-After, and a
//! global 50 requests/s).

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota};
use serde_json::{Value, json};

use crate::config::CoreSettings;
use crate::jobs::JobError;
use crate::secret::Secret;

/// Longest rate-limit wait sat through inside a call.
const MAX_INLINE_WAIT: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct DiscordClient {
    http: reqwest::Client,
    api: String,
    cdn: String,
    token: Option<Secret>,
    limiter: Arc<DefaultDirectRateLimiter>,
}

/// Seconds Discord asks us to wait.
fn wait_of(resp: &reqwest::Response) -> Duration {
    ["retry-after", "x-ratelimit-reset-after"]
        .iter()
        .find_map(|h| resp.headers().get(*h).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<f64>().ok()))
        .map_or(Duration::from_secs(1), |s| Duration::from_secs_f64(s.clamp(0.0, 3600.0)))
}

impl DiscordClient {
    pub fn new(settings: &CoreSettings) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("DiscordBot (dtx, ", env!("CARGO_PKG_VERSION"), ")"))
            .build()?;
        let quota = Quota::per_second(NonZeroU32::new(50).expect("nonzero"));
        Ok(Self {
            http,
            api: settings.discord_api_base.trim_end_matches('/').to_owned(),
            cdn: settings.discord_cdn_base.trim_end_matches('/').to_owned(),
            token: settings.discord_bot_token.clone(),
            limiter: Arc::new(governor::RateLimiter::direct(quota)),
        })
    }

    pub fn is_configured(&self) -> bool {
        self.token.is_some()
    }

    /// Sends a bot request, waiting out rate limits up to a bound.
    async fn send(&self, build: impl Fn() -> reqwest::RequestBuilder) -> Result<reqwest::Response, JobError> {
        let token =
            self.token.as_ref().ok_or_else(|| JobError::Permanent("DISCORD_BOT_TOKEN is not configured".into()))?;
        let mut waited = Duration::ZERO;
        loop {
            self.limiter.until_ready().await;
            let resp = build()
                .header("authorization", format!("Bot {}", token.expose()))
                .send()
                .await
                .map_err(|e| JobError::transient(format!("Discord unreachable: {}", e.without_url())))?;
            metrics::counter!("dtx_discord_calls_total", "status" => resp.status().as_u16().to_string()).increment(1);
            if resp.status().as_u16() != 429 {
                return Ok(resp);
            }
            metrics::counter!("dtx_discord_rate_limited_total").increment(1);
            let wait = wait_of(&resp);
            if waited + wait > MAX_INLINE_WAIT {
                return Err(JobError::Transient { message: "Discord rate limited us".into(), retry_after: Some(wait) });
            }
            tokio::time::sleep(wait).await;
            waited += wait;
        }
    }

    /// Whether the stored avatar hash still resolves on the CDN.
    pub async fn avatar_is_valid(&self, discord_id: &str, hash: &str) -> bool {
        let Some(url) = entity::user::avatar_url(&self.cdn, Some(discord_id), Some(hash)) else { return false };
        matches!(self.http.head(url).send().await, Ok(resp) if resp.status().as_u16() == 200)
    }

    /// The user's current avatar hash (`None` = no custom avatar).
    pub async fn current_avatar(&self, discord_id: &str) -> Result<Option<String>, JobError> {
        let url = format!("{}/v10/users/{discord_id}", self.api);
        let resp = self.send(|| self.http.get(&url)).await?;
        match resp.status().as_u16() {
            200 => {
                let body: Value = resp.json().await.map_err(|e| JobError::transient(e.to_string()))?;
                Ok(body.get("avatar").and_then(Value::as_str).map(str::to_owned))
            }
            404 => Ok(None),
            s if s >= 500 => Err(JobError::transient(format!("Discord answered HTTP {s}"))),
            s => Err(JobError::Permanent(format!("Discord answered HTTP {s} for user {discord_id}"))),
        }
    }

    /// Posts an embed; returns the message id.
    pub async fn post_embed(
        &self,
        channel_id: &str,
        title: &str,
        description: &str,
        colour: i32,
        rsvp: bool,
    ) -> Result<String, JobError> {
        let mut embed = json!({ "title": title, "description": description, "color": colour });
        if rsvp {
            embed["footer"] = json!({ "text": "React: ✅ Yes | ❓ Maybe | ❌ No" });
        }
        let url = format!("{}/v10/channels/{channel_id}/messages", self.api);
        let body = json!({ "embeds": [embed] });
        let resp = self.send(|| self.http.post(&url).json(&body)).await?;
        let status = resp.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(if status >= 500 {
                JobError::transient(format!("Discord answered HTTP {status}"))
            } else {
                JobError::Permanent(format!("Discord refused the post (HTTP {status})"))
            });
        }
        let body: Value = resp.json().await.map_err(|e| JobError::transient(e.to_string()))?;
        body.get("id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| JobError::transient("Discord returned no message id"))
    }

    /// Adds the RSVP reactions ✅ ❓ ❌ in that order.
    pub async fn add_rsvp_reactions(&self, channel_id: &str, message_id: &str) -> Result<(), JobError> {
        for emoji in ["%E2%9C%85", "%E2%9D%93", "%E2%9D%8C"] {
            let url = format!("{}/v10/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me", self.api);
            let resp = self.send(|| self.http.put(&url)).await?;
            if !resp.status().is_success() {
                tracing::warn!(status = resp.status().as_u16(), "reaction not added");
            }
        }
        Ok(())
    }
}
