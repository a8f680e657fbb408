//! Settings of the api process (on top of [`worker::CoreSettings`]).

use std::net::SocketAddr;

use clap::{Args, builder::BoolishValueParser};
use worker::Secret;
use worker::config::{ConfigError, DeployEnv, check_http_url};

#[derive(Debug, Clone, Args)]
pub struct ApiSettings {
    #[command(flatten)]
    pub core: worker::CoreSettings,

    /// Address to listen on.
    #[arg(long, env = "BIND", default_value = "127.0.0.1:8000")]
    pub bind: SocketAddr,

    /// Public base URL of this api (OAuth redirect URI, secure cookies when https).
    /// Default: http://BIND.
    #[arg(long, env = "PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Where the browser goes after login.
    #[arg(long, env = "FRONTEND_URL", default_value = "http://localhost:5173")]
    pub frontend_url: String,

    /// Comma-separated origins allowed to send cookie-authenticated writes and open WebSockets.
    #[arg(long, env = "ALLOWED_ORIGINS", value_delimiter = ',', default_value = "http://localhost:5173")]
    pub allowed_origins: Vec<String>,

    /// Discord OAuth2 application id. Unset = Discord login answers "not configured".
    #[arg(long, env = "DISCORD_CLIENT_ID")]
    pub discord_client_id: Option<String>,

    /// Discord OAuth2 application secret.
    #[arg(long, env = "DISCORD_CLIENT_SECRET", hide_env_values = true)]
    pub discord_client_secret: Option<Secret>,

    /// Steam OpenID provider (players prove their Steam account there).
    #[arg(long, env = "STEAM_OPENID_BASE", default_value = "https://steamcommunity.com")]
    pub steam_openid_base: String,

    /// Mount POST /api/tests/login (refused with DTX_ENV=production).
    #[arg(long, env = "DTX_TEST_ENDPOINTS", default_value = "false", value_parser = BoolishValueParser::new(), action = clap::ArgAction::Set)]
    pub test_endpoints: bool,

    /// Turn read caching off.
    #[arg(long, env = "DISABLE_CACHE", default_value = "false", value_parser = BoolishValueParser::new(), action = clap::ArgAction::Set)]
    pub disable_cache: bool,

    /// Writes and logins per minute of an anonymous client address (0 = no limit).
    #[arg(long, env = "RATE_LIMIT_PER_MINUTE", default_value_t = 300)]
    pub rate_limit_per_minute: u32,

    /// Writes per minute of a logged-in user (0 = no limit).
    #[arg(long, env = "RATE_LIMIT_USER_PER_MINUTE", default_value_t = 600)]
    pub rate_limit_user_per_minute: u32,

    /// Writes per minute of a staff member (0 = no limit).
    #[arg(long, env = "RATE_LIMIT_STAFF_PER_MINUTE", default_value_t = 3000)]
    pub rate_limit_staff_per_minute: u32,

    /// Steam lookups (`/api/steam/resolve`) per minute of a logged-in user (staff: five times that).
    #[arg(long, env = "STEAM_LOOKUPS_PER_MINUTE", default_value_t = 10)]
    pub steam_lookups_per_minute: u32,

    /// Comma-separated CIDRs of reverse proxies whose `X-Forwarded-For` names the client.
    #[arg(long, env = "TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// Open WebSockets allowed per anonymous client address, on this instance.
    #[arg(long, env = "WS_MAX_PER_ADDRESS", default_value_t = 50)]
    pub ws_max_per_address: usize,

    /// Open WebSockets allowed per logged-in user, on this instance.
    #[arg(long, env = "WS_MAX_PER_USER", default_value_t = 20)]
    pub ws_max_per_user: usize,

    /// Open WebSockets allowed per hero draft, on this instance.
    #[arg(long, env = "WS_MAX_PER_DRAFT", default_value_t = 2000)]
    pub ws_max_per_draft: usize,

    /// Seconds between WebSocket pings, so proxies keep quiet sockets (a team
    /// draft between picks) open and dead clients are noticed.
    #[arg(long, env = "WS_PING_SECS", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub ws_ping_secs: u64,

    /// Seconds a connection may stay silent (no bytes either way) before it is closed.
    #[arg(long, env = "HTTP_IDLE_TIMEOUT_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub http_idle_timeout_secs: u64,

    /// Seconds a request's headers may take to arrive, from their first byte (a header that
    /// trickles in is cut).
    #[arg(long, env = "HTTP_HEADER_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub http_header_timeout_secs: u64,

    /// Connections one client address (an IPv6 client: its /64) may hold open (trusted proxies excepted).
    #[arg(long, env = "MAX_CONNECTIONS_PER_IP", default_value_t = 512)]
    pub max_connections_per_ip: usize,

    /// Where the api serves `GET /metrics` to Prometheus (keep it private), or `off`.
    #[arg(long, env = "API_METRICS_BIND", default_value = "127.0.0.1:9101")]
    pub api_metrics_bind: String,

    /// Also serve `GET /metrics` on the public address to `Authorization: Bearer <token>`.
    #[arg(long, env = "METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<Secret>,

    /// Largest accepted request body, in bytes.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 1 << 20)]
    pub max_body_bytes: usize,

    /// Run the worker pool in this process (default: on without REDIS_URL, off with it).
    #[arg(long, env = "DTX_EMBEDDED_WORKER", value_parser = BoolishValueParser::new())]
    pub embedded_worker: Option<bool>,

    /// Run the scheduler in this process (default: on without REDIS_URL, off with it).
    #[arg(long, env = "DTX_EMBEDDED_SCHEDULER", value_parser = BoolishValueParser::new())]
    pub embedded_scheduler: Option<bool>,

    /// On SIGTERM, seconds `/readyz` answers 503 while the api still serves, so a load balancer
    /// stops sending before the listener closes (default: 5 with REDIS_URL, 0 without — one process).
    #[arg(long, env = "SHUTDOWN_DRAIN_SECS", value_parser = clap::value_parser!(u64).range(0..=300))]
    pub shutdown_drain_secs: Option<u64>,

    /// Then, seconds requests in flight may take before they are cut (each cut one is logged).
    #[arg(long, env = "SHUTDOWN_GRACE_SECS", default_value_t = 20, value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub shutdown_grace_secs: u64,
}

impl ApiSettings {
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.core.validate()?;
        // Anyone can log in as anyone through them: only where development is said out loud,
        // and never behind https (a public deployment).
        if self.test_endpoints
            && (self.core.env != Some(DeployEnv::Development) || self.public_url().starts_with("https://"))
        {
            return Err(ConfigError::new(
                "DTX_TEST_ENDPOINTS",
                "test endpoints need DTX_ENV=development set explicitly and a PUBLIC_URL that is not https",
            ));
        }
        // A production deployment serves its session cookie over TLS only (`Secure`).
        if self.core.env == Some(DeployEnv::Production) && !self.public_url().starts_with("https://") {
            return Err(ConfigError::new(
                "PUBLIC_URL",
                "DTX_ENV=production needs the public https:// URL (session cookies are Secure only then)",
            ));
        }
        check_http_url("FRONTEND_URL", &self.frontend_url)?;
        check_http_url("STEAM_OPENID_BASE", &self.steam_openid_base)?;
        check_http_url("PUBLIC_URL", &self.public_url())?;
        for origin in &self.allowed_origins {
            check_http_url("ALLOWED_ORIGINS", origin)?;
        }
        if self.discord_client_id.is_some() != self.discord_client_secret.is_some() {
            return Err(ConfigError::new(
                "DISCORD_CLIENT_SECRET",
                "DISCORD_CLIENT_ID and DISCORD_CLIENT_SECRET must be set together",
            ));
        }
        self.metrics_address()?;
        if self.max_body_bytes < 1024 {
            return Err(ConfigError::new("MAX_BODY_BYTES", "must be at least 1024"));
        }
        Ok(())
    }

    /// The private metrics address, or `None` when `off`.
    pub fn metrics_address(&self) -> Result<Option<SocketAddr>, ConfigError> {
        if self.api_metrics_bind.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        self.api_metrics_bind
            .parse()
            .map(Some)
            .map_err(|_| ConfigError::new("API_METRICS_BIND", "must be host:port (e.g. 127.0.0.1:9101) or off"))
    }

    /// The public base URL, without a trailing slash.
    pub fn public_url(&self) -> String {
        self.public_url.clone().unwrap_or_else(|| format!("http://{}", self.bind)).trim_end_matches('/').to_owned()
    }

    /// The shutdown drain: as set, else 5 s in distributed mode (replicas behind a balancer) and
    /// none embedded.
    pub fn shutdown_drain(&self) -> std::time::Duration {
        let default = if self.core.is_embedded() { 0 } else { 5 };
        std::time::Duration::from_secs(self.shutdown_drain_secs.unwrap_or(default))
    }

    pub fn runs_embedded_worker(&self) -> bool {
        self.embedded_worker.unwrap_or(self.core.is_embedded())
    }

    pub fn runs_embedded_scheduler(&self) -> bool {
        self.embedded_scheduler.unwrap_or(self.core.is_embedded())
    }

    /// Whether `origin` may send cookie-authenticated writes.
    pub fn origin_allowed(&self, origin: &str) -> bool {
        let origin = origin.trim_end_matches('/');
        origin == self.public_url() || self.allowed_origins.iter().any(|o| o.trim_end_matches('/') == origin)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        api: ApiSettings,
    }

    pub fn parse(args: &[&str]) -> ApiSettings {
        let mut argv = vec!["api", "--database-url", "sqlite::memory:"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).expect("parses").api
    }

    #[test]
    fn production_needs_an_https_public_url() {
        let plain = parse(&["--env", "production"]);
        assert_eq!(plain.validate().unwrap_err().variable, "PUBLIC_URL", "no PUBLIC_URL: http://BIND");
        parse(&["--env", "production", "--public-url", "https://dtx.example"]).validate().unwrap();
        parse(&["--public-url", "http://127.0.0.1:8000"]).validate().unwrap();
    }

    #[test]
    fn test_endpoints_need_development_said_and_no_https() {
        for refused in [
            vec!["--env", "production", "--test-endpoints", "true"],
            vec!["--test-endpoints", "true"],
            vec!["--env", "development", "--test-endpoints", "true", "--public-url", "https://dtx.example"],
        ] {
            assert_eq!(parse(&refused).validate().unwrap_err().variable, "DTX_TEST_ENDPOINTS", "{refused:?}");
        }
        parse(&["--env", "development", "--test-endpoints", "true"]).validate().unwrap();
        parse(&["--env", "development", "--test-endpoints", "true", "--public-url", "http://127.0.0.1:8000"])
            .validate()
            .unwrap();
    }

    #[test]
    fn half_configured_discord_is_an_error() {
        let s = parse(&["--discord-client-id", "1"]);
        assert_eq!(s.validate().unwrap_err().variable, "DISCORD_CLIENT_SECRET");
    }

    #[test]
    fn embedded_defaults_follow_redis() {
        let s = parse(&[]);
        assert!(s.runs_embedded_worker() && s.runs_embedded_scheduler());
        let s = parse(&["--redis-url", "redis://127.0.0.1/"]);
        assert!(!s.runs_embedded_worker() && !s.runs_embedded_scheduler());
    }

    #[test]
    fn origins() {
        let s = parse(&["--allowed-origins", "https://dtx.example,http://localhost:3000"]);
        assert!(s.origin_allowed("https://dtx.example"));
        assert!(s.origin_allowed("http://127.0.0.1:8000"));
        assert!(!s.origin_allowed("https://evil.example"));
    }
}
