//! Team (player) drafts (SPEC §9): the pure rules in [`rules`], the
//! database side in [`service`].

pub mod rules;
pub mod service;
