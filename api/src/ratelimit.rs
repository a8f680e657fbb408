//! Write limits that fit real deployments (SPEC §18): a logged-in caller is
//! limited per user (staff generously), an anonymous one per client address
//! (behind `TRUSTED_PROXIES`, the `X-Forwarded-For` client). In distributed
//! mode the counts live in Redis, shared by every api instance (a window per
//! minute); in embedded mode a keyed token bucket in process. Writes (unsafe
//! methods) and logins (`/api/auth/*`) count; reads do not.
//!
//! The middleware resolves the caller once and leaves it in the request for
//! the handler's [`Viewer`](crate::auth::Viewer), so a write pays one lookup.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use poem::http::{Method, StatusCode};
use poem::{Endpoint, Request};

use crate::auth::viewer::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// Whom a write counts against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Bucket {
    Address(std::net::IpAddr),
    User(i64),
    Staff(i64),
}

impl Bucket {
    fn key(&self) -> String {
        match self {
            Self::Address(ip) => format!("ip:{ip}"),
            Self::User(id) => format!("user:{id}"),
            Self::Staff(id) => format!("staff:{id}"),
        }
    }
}

/// Writes per minute of each kind of caller (0 = unlimited).
#[derive(Debug, Clone, Copy)]
pub struct Budgets {
    pub per_address: u32,
    pub per_user: u32,
    pub per_staff: u32,
}

impl Budgets {
    fn of(&self, bucket: &Bucket) -> u32 {
        match bucket {
            Bucket::Address(_) => self.per_address,
            Bucket::User(_) => self.per_user,
            Bucket::Staff(_) => self.per_staff,
        }
    }
}

#[derive(Clone)]
pub enum WriteLimiter {
    /// One keyed token bucket per kind of caller (burst: a fifth of the minute).
    Local {
        budgets: Budgets,
        buckets: Arc<[Option<DefaultKeyedRateLimiter<String>>; 3]>,
        /// Checks so far: pruning runs every [`PRUNE_EVERY`] of them.
        checks: Arc<std::sync::atomic::AtomicU64>,
    },
    /// A counter per caller and minute, shared by every instance.
    Redis { budgets: Budgets, conn: redis::aio::ConnectionManager, prefix: String },
}

/// Callers a local limiter remembers before it forgets those whose bucket
/// is full again (they are indistinguishable from a caller never seen).
const PRUNE_ABOVE: usize = 10_000;
/// How often (in checks) a limiter above [`PRUNE_ABOVE`] is pruned: a flood
/// of fresh callers costs one scan per this many requests, not one each.
const PRUNE_EVERY: u64 = 1_000;

fn bucket_for(per_minute: u32) -> Option<DefaultKeyedRateLimiter<String>> {
    NonZeroU32::new(per_minute).map(|n| {
        let burst = NonZeroU32::new((per_minute / 5).max(1)).unwrap_or(n);
        governor::RateLimiter::keyed(Quota::per_minute(n).allow_burst(burst))
    })
}

fn too_many(wait: Duration) -> ApiError {
    let mut err = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "too many requests; slow down");
    err.retry_after = Some(wait.as_secs().max(1));
    err
}

impl WriteLimiter {
    pub fn local(budgets: Budgets) -> Self {
        Self::Local {
            budgets,
            buckets: Arc::new([
                bucket_for(budgets.per_address),
                bucket_for(budgets.per_user),
                bucket_for(budgets.per_staff),
            ]),
            checks: Arc::default(),
        }
    }

    /// Counts under `{prefix}:{name}:…` in Redis.
    pub fn redis(budgets: Budgets, conn: redis::aio::ConnectionManager, prefix: &str, name: &str) -> Self {
        Self::Redis { budgets, conn, prefix: format!("{prefix}:{name}") }
    }

    /// The limiter of `name` for the deployment's mode.
    pub fn for_mode(budgets: Budgets, redis: &Option<redis::aio::ConnectionManager>, prefix: &str, name: &str) -> Self {
        match redis {
            Some(conn) => Self::redis(budgets, conn.clone(), prefix, name),
            None => Self::local(budgets),
        }
    }

    /// Counts one write of `bucket`; 429 past its budget.
    pub async fn check(&self, bucket: &Bucket) -> Result<(), ApiError> {
        match self {
            Self::Local { buckets, checks, .. } => {
                let index = match bucket {
                    Bucket::Address(_) => 0,
                    Bucket::User(_) => 1,
                    Bucket::Staff(_) => 2,
                };
                let Some(limiter) = &buckets[index] else { return Ok(()) };
                let checked = limiter
                    .check_key(&bucket.key())
                    .map_err(|not_until| too_many(not_until.wait_time_from(DefaultClock::default().now())));
                // Callers whose bucket is full again are forgotten, so the map holds only recent ones.
                let n = checks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n % PRUNE_EVERY == 0 && limiter.len() > PRUNE_ABOVE {
                    limiter.retain_recent();
                    limiter.shrink_to_fit();
                }
                checked
            }
            Self::Redis { budgets, conn, prefix } => {
                let budget = budgets.of(bucket);
                if budget == 0 {
                    return Ok(());
                }
                let now = chrono::Utc::now().timestamp();
                let window = now / 60;
                let key = format!("{prefix}:{}:{window}", bucket.key());
                let counted: redis::RedisResult<(u64,)> =
                    redis::pipe().incr(&key, 1).expire(&key, 120).ignore().query_async(&mut conn.clone()).await;
                match counted {
                    Ok((n,)) if n > u64::from(budget) => {
                        Err(too_many(Duration::from_secs(u64::try_from(60 - now % 60).unwrap_or(60))))
                    }
                    Ok(_) => Ok(()),
                    // A limiter outage must not take writes down with it.
                    Err(err) => {
                        tracing::warn!(error = %err, "rate limiter unavailable; not limiting");
                        Ok(())
                    }
                }
            }
        }
    }
}

fn limited(req: &Request) -> bool {
    !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) || req.uri().path().starts_with("/api/auth/")
}

impl Bucket {
    /// The bucket of a known caller (staff, or a user); `None` for anonymous.
    pub fn of_user(user: Option<&entity::user::Model>) -> Option<Self> {
        user.map(|u| if u.is_staff || u.is_superuser { Self::Staff(u.id) } else { Self::User(u.id) })
    }
}

/// Counts writes and logins against their caller's budget.
pub async fn middleware<E: Endpoint>(next: E, mut req: Request) -> poem::Result<E::Output> {
    if limited(&req) {
        let state = req.data::<AppState>().ok_or_else(ApiError::internal)?.clone();
        let caller = Caller::resolve(&req, &state).await?;
        let bucket = Bucket::of_user(caller.user.as_ref()).or_else(|| {
            crate::client_ip::client_ip(&req, &state.settings.trusted_proxies)
                .map(|ip| Bucket::Address(crate::client_ip::cap_key(ip)))
        });
        if let Some(bucket) = bucket {
            state.write_limiter.check(&bucket).await?;
        }
        req.extensions_mut().insert(caller);
    }
    next.call(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A flood of distinct callers, then a quiet second (their buckets fill
    /// again): the next prune forgets them, so the map does not keep growing.
    #[tokio::test]
    async fn a_local_limiter_forgets_callers_whose_bucket_is_full_again() {
        let limiter = WriteLimiter::local(Budgets { per_address: 60, per_user: 60, per_staff: 0 });
        let WriteLimiter::Local { buckets, .. } = &limiter else { unreachable!("a local limiter") };
        for n in 0..(PRUNE_ABOVE as i64 + 2_000) {
            limiter.check(&Bucket::User(n)).await.unwrap();
        }
        let users = buckets[1].as_ref().unwrap();
        assert!(users.len() > PRUNE_ABOVE, "a minute's flood is remembered: {}", users.len());
        // 60 a minute refills one write a second; governor forgets a key once its
        // theoretical arrival time (a second after its write) is a replenish interval old.
        tokio::time::sleep(Duration::from_millis(2_200)).await;
        for _ in 0..PRUNE_EVERY {
            limiter.check(&Bucket::User(-1)).await.unwrap_or(());
        }
        assert!(users.len() < 10, "the quiet callers are forgotten: {}", users.len());
    }
}
