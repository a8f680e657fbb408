//! Team (player) drafts (SPEC §9): the pure rules in [`rules`] (snake and
//! normal orders, the shuffle's lowest-MMR-picks-next with dice), the
//! database side in [`service`] — where a pick happens.

pub mod rules;
pub mod service;
