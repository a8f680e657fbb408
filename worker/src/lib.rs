//! DTX background work: shared configuration and infrastructure (database,
//! Redis, logging), and — as the job system grows — job payloads, enqueue
//! helpers, job handlers and the Steam/Discord clients.
//!
//! `api` and `scheduler` depend on this crate; it depends only on `entity`
//! and `migration`.

pub mod config;
pub mod infra;
pub mod secret;
pub mod shutdown;
pub mod telemetry;

pub use config::CoreSettings;
pub use secret::Secret;
