//! Brackets and results (SPEC §17) — where a bracket is built and advanced.
//!
//! Pure rules beside their tests: [`seeding`] (by MMR, draft order, a
//! manual list), [`elimination`] (the standard seed layout, single and
//! double elimination with byes collapsed, placements), [`swiss`] (pairing,
//! standings), [`linking`] (which side each roster sat on in a Steam match).
//! [`service`] applies them in the database: one transaction per result,
//! serialised per tournament, then a `bracket_event` to the tournament's
//! sockets.

pub mod elimination;
pub mod linking;
pub mod seeding;
pub mod service;
pub mod swiss;
