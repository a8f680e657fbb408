//! Captain's-Mode hero drafts (SPEC §10): pure rules and the state machine
//! in the database. Lives here, not in `api`, because the per-round
//! timeout runs as a job.

pub mod rules;
pub mod service;
