//! Retry delays: exponential with jitter, capped.

use std::time::Duration;

/// The delay before attempt `next_attempt` (2, 3, …): `base · 2^(n-2)`
/// capped at `cap`, then jittered to a random point in its upper half so
/// retries of many jobs spread out. `retry_after` (a server's Retry-After)
/// is a floor.
pub fn delay(base: Duration, cap: Duration, next_attempt: i32, jitter: f64, retry_after: Option<Duration>) -> Duration {
    let exponent = (next_attempt - 2).clamp(0, 30) as u32;
    let full = base.saturating_mul(1u32 << exponent.min(20)).min(cap);
    let jittered = full.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0));
    jittered.max(retry_after.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn doubles_per_attempt_within_jitter() {
        for (attempt, full) in [(2, 2), (3, 4), (4, 8), (5, 16)] {
            assert_eq!(delay(S(2), S(300), attempt, 1.0, None), S(full));
            assert_eq!(delay(S(2), S(300), attempt, 0.0, None), S(full) / 2);
        }
    }

    #[test]
    fn capped_and_floored_by_retry_after() {
        assert_eq!(delay(S(2), S(300), 30, 1.0, None), S(300));
        assert_eq!(delay(S(2), S(300), 2, 0.0, Some(S(7))), S(7));
    }
}
