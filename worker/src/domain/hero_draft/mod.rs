//! Captain's-Mode hero drafts (SPEC §10): the pure rules ([`rules`]: the
//! 24-action sequence, the grace/reserve clock, the hero pool) and the state
//! machine in the database ([`service`]). Each round's timeout is a delayed
//! `herodraft_timeout` job, and the realtime tick double-checks overdue
//! rounds, so a round runs out with nobody connected and whichever instance
//! started it.

pub mod rules;
pub mod service;
