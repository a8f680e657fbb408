//! Captain's-Mode rules as pure functions: the 24-action sequence, the
//! grace/reserve clock, the hero pool and the random legal action.

use std::collections::BTreeSet;

use entity::HeroActionType;

/// Which side acts: the first-pick team or the other one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    First,
    Second,
}

/// The 24 actions (SPEC §10), round 1 first.
pub const SEQUENCE: [(Side, HeroActionType); 24] = {
    use HeroActionType::{Ban as B, Pick as P};
    use Side::{First as F, Second as S};
    [
        (F, B),
        (F, B),
        (S, B),
        (S, B),
        (F, B),
        (S, B),
        (S, B),
        (F, P),
        (S, P),
        (S, B),
        (F, B),
        (S, B),
        (F, P),
        (S, P),
        (F, P),
        (S, P),
        (F, P),
        (S, P),
        (F, B),
        (S, B),
        (F, B),
        (S, B),
        (F, P),
        (S, P),
    ]
};

/// Timing of a draft, configurable for tests and odd formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    pub grace_ms: i64,
    pub reserve_ms: i64,
    pub resume_countdown_ms: i64,
}

impl Default for Clock {
    fn default() -> Self {
        Self { grace_ms: 30_000, reserve_ms: 90_000, resume_countdown_ms: 3_000 }
    }
}

impl Clock {
    /// The clock the deployment configured (`HERODRAFT_*_MS`).
    pub fn from_settings(settings: &crate::config::CoreSettings) -> Self {
        Self {
            grace_ms: settings.herodraft_grace_ms,
            reserve_ms: settings.herodraft_reserve_ms,
            resume_countdown_ms: settings.herodraft_resume_countdown_ms,
        }
    }
}

/// The reserve left after acting `elapsed_ms` into a round: grace is free,
/// then the reserve runs (never below zero, never replenished).
pub fn reserve_after(reserve_ms: i64, grace_ms: i64, elapsed_ms: i64) -> i64 {
    (reserve_ms - (elapsed_ms - grace_ms).max(0)).max(0)
}

/// Whether the round has run out: `elapsed ≥ grace + reserve`.
pub fn timed_out(reserve_ms: i64, grace_ms: i64, elapsed_ms: i64) -> bool {
    elapsed_ms >= grace_ms + reserve_ms
}

/// Milliseconds until the round times out (for the tick and the timeout job).
pub fn remaining_ms(reserve_ms: i64, grace_ms: i64, elapsed_ms: i64) -> i64 {
    (grace_ms + reserve_ms - elapsed_ms).max(0)
}

/// The 127 hero ids valid today (1–23, 25–114, 119–121, 123, 126, 128,
/// 129, 131, 135–138, 145, 155). SPEC §10 wants it configurable: that
/// arrives with the hero-draft endpoints.
pub fn default_hero_pool() -> BTreeSet<i32> {
    (1..=23)
        .chain(25..=114)
        .chain(119..=121)
        .chain([123, 126, 128, 129, 131])
        .chain(135..=138)
        .chain([145, 155])
        .collect()
}

/// Heroes nobody has banned or picked.
pub fn available(pool: &BTreeSet<i32>, used: &BTreeSet<i32>) -> Vec<i32> {
    pool.difference(used).copied().collect()
}

/// The hero a timed-out team gets: a uniformly random available one
/// (`pick` is a random index source, injectable for tests).
pub fn random_legal(pool: &BTreeSet<i32>, used: &BTreeSet<i32>, pick: impl FnOnce(usize) -> usize) -> Option<i32> {
    let open = available(pool, used);
    (!open.is_empty()).then(|| open[pick(open.len()) % open.len()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sequence_is_captains_mode() {
        let bans = SEQUENCE.iter().filter(|(_, a)| *a == HeroActionType::Ban).count();
        assert_eq!((SEQUENCE.len(), bans), (24, 14));
        for side in [Side::First, Side::Second] {
            let picks = SEQUENCE.iter().filter(|(s, a)| *s == side && *a == HeroActionType::Pick).count();
            assert_eq!(picks, 5, "five heroes per team");
        }
        assert_eq!(SEQUENCE[7], (Side::First, HeroActionType::Pick), "first pick is round 8");
        assert_eq!(SEQUENCE[23], (Side::Second, HeroActionType::Pick));
    }

    #[test]
    fn reserve_arithmetic_to_the_millisecond() {
        let c = Clock::default();
        assert_eq!(reserve_after(c.reserve_ms, c.grace_ms, 29_999), 90_000, "inside grace: free");
        assert_eq!(reserve_after(c.reserve_ms, c.grace_ms, 30_001), 89_999);
        assert_eq!(reserve_after(c.reserve_ms, c.grace_ms, 45_500), 74_500);
        assert_eq!(reserve_after(10_000, c.grace_ms, 50_000), 0, "never negative");
        assert!(!timed_out(90_000, 30_000, 119_999));
        assert!(timed_out(90_000, 30_000, 120_000));
        assert_eq!(remaining_ms(90_000, 30_000, 100_000), 20_000);
        assert_eq!(remaining_ms(0, 30_000, 40_000), 0);
    }

    #[test]
    fn the_pool_has_127_heroes() {
        let pool = default_hero_pool();
        assert_eq!(pool.len(), 127);
        assert!(!pool.contains(&24) && !pool.contains(&115) && pool.contains(&155));
    }

    #[test]
    fn random_action_takes_only_free_heroes() {
        let pool: BTreeSet<i32> = [1, 2, 3].into();
        let used: BTreeSet<i32> = [1, 3].into();
        assert_eq!(random_legal(&pool, &used, |n| n - 1), Some(2));
        assert_eq!(random_legal(&pool, &pool, |_| 0), None);
        assert_eq!(available(&pool, &used), vec![2]);
    }
}
