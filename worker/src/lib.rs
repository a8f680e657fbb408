//! DTX background work: shared configuration and infrastructure, the job
//! payloads and handlers, the job ledger, the queue (apalis-redis or
//! apalis-sqlite), the worker pool, the scheduler, and the Steam/Discord
//! clients.
//!
//! `api` and `scheduler` depend on this crate; it depends only on `entity`
//! and `migration`.

pub mod avatars;
pub mod backoff;
pub mod bus;
pub mod cache;
pub mod config;
pub mod context;
pub mod discord;
pub mod enqueue;
pub mod error;
pub mod events;
pub mod herodraft;
pub mod infra;
pub mod jobs;
pub mod ledger;
pub mod lock;
pub mod mmr;
pub mod pool;
pub mod presence;
pub mod queue;
pub mod queue_summary;
pub mod runner;
pub mod schedule;
pub mod secret;
pub mod shutdown;
pub mod stats;
pub mod steam;
pub mod telemetry;

pub use config::CoreSettings;
pub use context::JobContext;
pub use secret::Secret;
