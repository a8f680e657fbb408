//! Per-client-IP rate limit on writes and logins (429 + Retry-After), so a
//! misbehaving client cannot flood the database or Discord. In-process per
//! instance; the key is the peer address (put the limit on the proxy when
//! the api sits behind one).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use poem::http::{Method, StatusCode};
use poem::{Endpoint, Request};

use crate::error::ApiError;

#[derive(Clone)]
pub struct WriteLimiter(Option<Arc<DefaultKeyedRateLimiter<IpAddr>>>);

impl WriteLimiter {
    /// `per_minute` requests, bursts of a fifth of that; 0 turns it off.
    pub fn new(per_minute: u32) -> Self {
        Self(NonZeroU32::new(per_minute).map(|n| {
            let burst = NonZeroU32::new((per_minute / 5).max(1)).expect("nonzero");
            Arc::new(governor::RateLimiter::keyed(Quota::per_minute(n).allow_burst(burst)))
        }))
    }

    fn limited(req: &Request) -> bool {
        !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
            || req.uri().path().starts_with("/api/auth/")
    }

    /// Refuses the request if its client is over the limit.
    pub fn check(&self, req: &Request) -> Result<(), ApiError> {
        let Some(limiter) = &self.0 else { return Ok(()) };
        if !Self::limited(req) {
            return Ok(());
        }
        let Some(ip) = req.remote_addr().as_socket_addr().map(|a| a.ip()) else { return Ok(()) };
        limiter.check_key(&ip).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let mut err = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many writes from this address; slow down",
            );
            err.retry_after = Some(wait.as_secs().max(1));
            err
        })
    }
}

/// Middleware form of [`WriteLimiter::check`].
pub async fn middleware<E: Endpoint>(next: E, req: Request) -> poem::Result<E::Output> {
    let state = req.data::<crate::state::AppState>().expect("AppState attached");
    state.write_limiter.check(&req)?;
    next.call(req).await
}
