//! One Steam rate limit for every process (SPEC §7.1): a token bucket in
//! Redis (distributed) or in-process (embedded), plus the daily call budget.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota};

/// Burst of calls allowed after a quiet period.
pub const BURST: u32 = 5;

/// Reserves one token and answers how long (ms) the caller must wait for it.
/// Uses Redis' clock so processes on different machines agree.
const RESERVE: &str = r"
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + (now - ts) * rate)
local wait = 0
if tokens < 1 then wait = math.ceil((1 - tokens) / rate) end
tokens = tokens - 1
redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate) + 60000)
return wait
";

/// Takes one token only if one is there now (interactive lookups never queue
/// behind, or ahead of, the jobs' reservations): 1 taken, 0 refused.
const TAKE_NOW: &str = r"
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + (now - ts) * rate)
if tokens < 1 then return 0 end
redis.call('HSET', KEYS[1], 'tokens', tokens - 1, 'ts', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate) + 60000)
return 1
";

#[derive(Clone)]
pub enum RateLimiter {
    Local(Arc<DefaultDirectRateLimiter>),
    Redis {
        conn: redis::aio::ConnectionManager,
        key: String,
        per_ms: f64,
        script: Arc<redis::Script>,
        take_now: Arc<redis::Script>,
    },
}

impl RateLimiter {
    pub fn local(per_sec: f64) -> Self {
        let period = Duration::from_secs_f64(1.0 / per_sec.max(1e-6));
        let quota =
            Quota::with_period(period).expect("positive period").allow_burst(NonZeroU32::new(BURST).expect("nonzero"));
        Self::Local(Arc::new(governor::RateLimiter::direct(quota)))
    }

    pub fn redis(conn: redis::aio::ConnectionManager, prefix: &str, per_sec: f64) -> Self {
        Self::Redis {
            conn,
            key: format!("{prefix}:steam:bucket"),
            per_ms: per_sec / 1000.0,
            script: Arc::new(redis::Script::new(RESERVE)),
            take_now: Arc::new(redis::Script::new(TAKE_NOW)),
        }
    }

    /// Takes a token if one is free right now; never waits.
    pub async fn try_acquire(&self) -> redis::RedisResult<bool> {
        match self {
            Self::Local(limiter) => Ok(limiter.check().is_ok()),
            Self::Redis { conn, key, per_ms, take_now, .. } => {
                let taken: i64 = take_now.key(key).arg(*per_ms).arg(BURST).invoke_async(&mut conn.clone()).await?;
                Ok(taken == 1)
            }
        }
    }

    /// Waits until a call may be made.
    pub async fn acquire(&self) -> redis::RedisResult<()> {
        match self {
            Self::Local(limiter) => limiter.until_ready().await,
            Self::Redis { conn, key, per_ms, script, .. } => {
                let wait_ms: u64 = script.key(key).arg(*per_ms).arg(BURST).invoke_async(&mut conn.clone()).await?;
                if wait_ms > 0 {
                    tokio::time::sleep(Duration::from_millis(wait_ms)).await;
                }
            }
        }
        Ok(())
    }
}

/// Calls made today (UTC), counted across processes.
#[derive(Clone)]
pub enum Budget {
    /// Per pool: (day, calls that day).
    Local(Arc<Mutex<std::collections::HashMap<String, (chrono::NaiveDate, u64)>>>),
    Redis {
        conn: redis::aio::ConnectionManager,
        prefix: String,
    },
}

impl Budget {
    pub fn local() -> Self {
        Self::Local(Arc::default())
    }

    /// Counts one call; returns the number of calls made today including it.
    pub async fn spend(&self) -> redis::RedisResult<u64> {
        self.spend_in("all").await
    }

    /// Counts one call in `pool` (`all`, or `interactive` for lookups on
    /// the request path, which also count in `all`).
    pub async fn spend_in(&self, pool: &str) -> redis::RedisResult<u64> {
        let today = chrono::Utc::now().date_naive();
        match self {
            Self::Local(state) => {
                let mut state = state.lock().expect("budget");
                let counts = state.entry(pool.to_owned()).or_insert((today, 0));
                if counts.0 != today {
                    *counts = (today, 0);
                }
                counts.1 += 1;
                Ok(counts.1)
            }
            Self::Redis { conn, prefix } => {
                let key = format!("{prefix}:steam:calls:{pool}:{today}");
                let mut conn = conn.clone();
                let (count,): (u64,) = redis::pipe()
                    .atomic()
                    .incr(&key, 1)
                    .expire(&key, 2 * 86_400)
                    .ignore()
                    .query_async(&mut conn)
                    .await?;
                Ok(count)
            }
        }
    }
}
