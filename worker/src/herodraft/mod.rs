//! Captain's-Mode hero drafts (SPEC §10): pure rules and the state machine
//! in the database. Lives here, not in `api`, because the per-round
//! timeout runs as a job.

pub mod rules;
pub mod service;

/// The realtime channel of a hero draft.
pub fn channel(id: i64) -> String {
    format!("herodraft:{id}")
}

/// What the bus carries when a draft changed: sockets reload its state.
pub const CHANGED: &str = "changed";
