//! Settings shared by every binary (SPEC §14). Each value comes from a flag
//! or its environment variable (a `.env` file is read first); `--help` lists
//! both. Bad values stop start-up with a message naming the variable; a
//! missing secret only disables the feature that needs it.

use clap::{Args, ValueEnum};

use crate::secret::Secret;

/// Days finished job runs are kept when `JOB_RETENTION_DAYS` is not set.
pub const DEFAULT_JOB_RETENTION_DAYS: u32 = 30;

/// Whether this is a production deployment (test endpoints are refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeployEnv {
    Development,
    Test,
    Production,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Which database engine a `DATABASE_URL` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone, Args)]
pub struct CoreSettings {
    /// Database URL: `sqlite://path?mode=rwc` (embedded) or `postgres://…`.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://dtx.sqlite3?mode=rwc", hide_env_values = true)]
    pub database_url: String,

    /// Bring the database schema up to date at start (under a lock: replicas may start together);
    /// `false` waits for `api migrate` instead.
    #[arg(long, env = "MIGRATE_ON_START", default_value = "true", value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::Set)]
    pub migrate_on_start: bool,

    /// Redis URL. Unset = embedded mode (no Redis; in-process queue, locks, caches).
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// Prefix of every Redis key and channel, so deployments and test runs can share one Redis.
    #[arg(long, env = "DTX_REDIS_PREFIX", default_value = "dtx")]
    pub redis_prefix: String,

    /// Deployment environment (unset counts as development, but test endpoints need it said).
    #[arg(long, env = "DTX_ENV", value_enum)]
    pub env: Option<DeployEnv>,

    /// Log format: text or json. Levels come from RUST_LOG (default `info`).
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,

    /// Steam Web API key. Unset = Steam jobs report "not configured".
    #[arg(long, env = "STEAM_API_KEY", hide_env_values = true)]
    pub steam_api_key: Option<Secret>,

    /// Steam Web API base URL.
    #[arg(long, env = "STEAM_API_BASE", default_value = "https://api.steampowered.com")]
    pub steam_api_base: String,

    /// OpenDota API base URL (third source for match details).
    #[arg(long, env = "OPENDOTA_API_BASE", default_value = "https://api.opendota.com")]
    pub opendota_api_base: String,

    /// Steam calls per second, shared by all processes.
    #[arg(long, env = "STEAM_RATE_PER_SEC", default_value_t = 1.0)]
    pub steam_rate_per_sec: f64,

    /// Share (0–1) of the Steam rate and daily budget that interactive lookups
    /// (vanity resolve, live games) may use; jobs always come first.
    #[arg(long, env = "STEAM_INTERACTIVE_SHARE", default_value_t = 0.2)]
    pub steam_interactive_share: f64,

    /// Discord bot token (avatar checks, event posts). Unset = those jobs report "not configured".
    #[arg(long, env = "DISCORD_BOT_TOKEN", hide_env_values = true)]
    pub discord_bot_token: Option<Secret>,

    /// Discord guild whose member nicknames are read at login.
    #[arg(long, env = "DISCORD_GUILD_ID")]
    pub discord_guild_id: Option<String>,

    /// Discord API base URL.
    #[arg(long, env = "DISCORD_API_BASE", default_value = "https://discord.com/api")]
    pub discord_api_base: String,

    /// Discord CDN base URL (avatars).
    #[arg(long, env = "DISCORD_CDN_BASE", default_value = "https://cdn.discordapp.com")]
    pub discord_cdn_base: String,

    /// The Steam league id used when none is given.
    #[arg(long, env = "DEFAULT_LEAGUE_ID", default_value_t = 17929)]
    pub default_league_id: i64,

    /// Games a player needs in a league before it counts toward league MMR.
    #[arg(long, env = "LEAGUE_MMR_MIN_GAMES", default_value_t = 5)]
    pub league_mmr_min_games: u32,

    /// Bulk jobs (syncs, stats, batches, pruning) each worker process runs at once.
    #[arg(long, env = "WORKER_CONCURRENCY", default_value_t = 4)]
    pub worker_concurrency: u32,

    /// Interactive jobs (hero-draft timeouts, posts, one user's refresh) each
    /// worker process runs at once, apart from the bulk ones.
    #[arg(long, env = "WORKER_INTERACTIVE_CONCURRENCY", default_value_t = 4)]
    pub worker_interactive_concurrency: u32,

    /// On SIGTERM, how long running jobs may take to finish before they are
    /// handed back to the queue (their claims released) for another worker.
    #[arg(long, env = "WORKER_SHUTDOWN_TIMEOUT_SECS", default_value_t = 25)]
    pub worker_shutdown_timeout_secs: u64,

    /// The newest job payload version this process reads (drills only: a
    /// lower value stands in for a worker of an older build).
    #[arg(long, env = "DTX_PAYLOAD_VERSION", hide = true, default_value_t = crate::jobs::payload::PAYLOAD_VERSION)]
    pub payload_version: u32,

    /// First retry delay of a failed job, in ms (doubles per attempt, capped at 5 min, jittered).
    #[arg(long, env = "JOB_BACKOFF_BASE_MS", default_value_t = 2000)]
    pub job_backoff_base_ms: u64,

    /// Worker heartbeat in seconds; a worker silent for 3 heartbeats is dead and its jobs run elsewhere.
    #[arg(long, env = "JOB_HEARTBEAT_SECS", default_value_t = 10)]
    pub job_heartbeat_secs: u64,

    /// Steam calls allowed per UTC day, all processes together; past it Steam jobs wait.
    #[arg(long, env = "STEAM_DAILY_BUDGET", default_value_t = 100_000)]
    pub steam_daily_budget: u64,

    /// Hero draft: free time per action, in ms.
    #[arg(long, env = "HERODRAFT_GRACE_MS", default_value_t = 30_000)]
    pub herodraft_grace_ms: i64,

    /// Hero draft: each team's reserve for the whole draft, in ms.
    #[arg(long, env = "HERODRAFT_RESERVE_MS", default_value_t = 90_000)]
    pub herodraft_reserve_ms: i64,

    /// Hero draft: countdown before a resumed draft runs again, in ms.
    #[arg(long, env = "HERODRAFT_RESUME_COUNTDOWN_MS", default_value_t = 3_000)]
    pub herodraft_resume_countdown_ms: i64,

    /// Hero draft: manual pauses each captain may make per draft (staff are not limited).
    #[arg(long, env = "HERODRAFT_PAUSES_PER_TEAM", default_value_t = 3)]
    pub herodraft_pauses_per_team: u32,

    /// Hero draft: a drafting captain silent this long (no heartbeat) pauses the draft, in ms.
    #[arg(long, env = "HERODRAFT_HEARTBEAT_TIMEOUT_MS", default_value_t = 9_000)]
    pub herodraft_heartbeat_timeout_ms: i64,

    /// A league's admins may enqueue a full sync of it at most once this many seconds (staff: any
    /// time): a full sync reads the league's whole history from the shared Steam budget.
    #[arg(long, env = "FULL_SYNC_COOLDOWN_SECS", default_value_t = 3600)]
    pub full_sync_cooldown_secs: u64,

    /// Incremental sync re-reads matches that started up to this many hours before the newest stored one.
    #[arg(long, env = "SYNC_LOOKBACK_HOURS", default_value_t = 6)]
    pub sync_lookback_hours: u32,

    /// The daily prune keeps finished (succeeded or dead) job runs this many days.
    #[arg(long, env = "JOB_RETENTION_DAYS", default_value_t = DEFAULT_JOB_RETENTION_DAYS,
          value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub job_retention_days: u32,
}

/// A setting that cannot be used, named by its environment variable.
#[derive(Debug, thiserror::Error)]
#[error("invalid {variable}: {reason}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub reason: String,
}

impl ConfigError {
    pub fn new(variable: &'static str, reason: impl Into<String>) -> Self {
        Self { variable, reason: reason.into() }
    }
}

impl CoreSettings {
    /// Checks what clap's types cannot: URL shapes and ranges.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.db_kind()?;
        if let Some(url) = &self.redis_url {
            redis::Client::open(url.as_str()).map_err(|e| ConfigError::new("REDIS_URL", e.to_string()))?;
        }
        if self.redis_prefix.is_empty() || self.redis_prefix.contains(char::is_whitespace) {
            return Err(ConfigError::new("DTX_REDIS_PREFIX", "must be non-empty without spaces"));
        }
        for (variable, value) in [
            ("STEAM_API_BASE", &self.steam_api_base),
            ("OPENDOTA_API_BASE", &self.opendota_api_base),
            ("DISCORD_API_BASE", &self.discord_api_base),
            ("DISCORD_CDN_BASE", &self.discord_cdn_base),
        ] {
            check_http_url(variable, value)?;
        }
        if !(self.steam_rate_per_sec > 0.0 && self.steam_rate_per_sec.is_finite()) {
            return Err(ConfigError::new("STEAM_RATE_PER_SEC", "must be a positive number"));
        }
        for (variable, value) in [
            ("HERODRAFT_GRACE_MS", self.herodraft_grace_ms),
            ("HERODRAFT_RESERVE_MS", self.herodraft_reserve_ms),
            ("HERODRAFT_RESUME_COUNTDOWN_MS", self.herodraft_resume_countdown_ms),
        ] {
            if value < 0 {
                return Err(ConfigError::new(variable, "must not be negative"));
            }
        }
        if !(0.0..=1.0).contains(&self.steam_interactive_share) {
            return Err(ConfigError::new("STEAM_INTERACTIVE_SHARE", "must be between 0 and 1"));
        }
        if self.job_heartbeat_secs == 0 {
            return Err(ConfigError::new("JOB_HEARTBEAT_SECS", "must be at least 1"));
        }
        if self.worker_concurrency == 0 {
            return Err(ConfigError::new("WORKER_CONCURRENCY", "must be at least 1"));
        }
        if self.worker_interactive_concurrency == 0 {
            return Err(ConfigError::new("WORKER_INTERACTIVE_CONCURRENCY", "must be at least 1"));
        }
        if !(1..=crate::jobs::payload::PAYLOAD_VERSION).contains(&self.payload_version) {
            return Err(ConfigError::new("DTX_PAYLOAD_VERSION", "must be a payload version this build knows"));
        }
        Ok(())
    }

    /// The database engine of `DATABASE_URL`.
    pub fn db_kind(&self) -> Result<DbKind, ConfigError> {
        db_kind_of(&self.database_url)
    }

    /// The deployment environment; unset is development.
    pub fn deploy_env(&self) -> DeployEnv {
        self.env.unwrap_or(DeployEnv::Development)
    }

    /// Embedded mode: no Redis, everything in one process.
    pub fn is_embedded(&self) -> bool {
        self.redis_url.is_none()
    }
}

/// The database engine a URL names.
pub fn db_kind_of(url: &str) -> Result<DbKind, ConfigError> {
    if url.starts_with("sqlite:") {
        Ok(DbKind::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(DbKind::Postgres)
    } else {
        Err(ConfigError::new("DATABASE_URL", "must start with sqlite: or postgres://"))
    }
}

/// An absolute http(s) URL.
pub fn check_http_url(variable: &'static str, value: &str) -> Result<url::Url, ConfigError> {
    let url = url::Url::parse(value).map_err(|e| ConfigError::new(variable, format!("{value:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ConfigError::new(variable, format!("{value:?} is not an http(s) URL")));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        core: CoreSettings,
    }

    fn parse(args: &[&str]) -> CoreSettings {
        let mut argv = vec!["test"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).expect("parses").core
    }

    #[test]
    fn defaults_are_valid_and_embedded() {
        let s = parse(&["--database-url", "sqlite://x.db?mode=rwc"]);
        s.validate().unwrap();
        assert_eq!(s.db_kind().unwrap(), DbKind::Sqlite);
    }

    #[test]
    fn bad_values_name_their_variable() {
        let s = parse(&["--database-url", "mysql://x"]);
        assert_eq!(s.validate().unwrap_err().variable, "DATABASE_URL");
        let s = parse(&["--database-url", "sqlite::memory:", "--steam-api-base", "ftp://x"]);
        assert_eq!(s.validate().unwrap_err().variable, "STEAM_API_BASE");
        let s = parse(&["--database-url", "sqlite::memory:", "--steam-rate-per-sec", "0"]);
        assert_eq!(s.validate().unwrap_err().variable, "STEAM_RATE_PER_SEC");
        let s = parse(&["--database-url", "sqlite::memory:", "--redis-url", "nope://"]);
        assert_eq!(s.validate().unwrap_err().variable, "REDIS_URL");
    }

    #[test]
    fn secrets_stay_hidden_in_debug() {
        let s = parse(&["--database-url", "sqlite::memory:", "--steam-api-key", "SUPERSECRET"]);
        assert!(!format!("{s:?}").contains("SUPERSECRET"));
    }
}
