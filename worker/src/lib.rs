//! The DTX core: every domain rule and service, whoever calls it (an HTTP
//! handler in `api`, a job, the realtime tick), plus the job system and the
//! worker-pool binary. The folders are the map:
//!
//! - [`domain`] — the league itself: users, rosters, team and hero drafts,
//!   brackets, stats and MMR, Steam match sync, announcements. Pure rules
//!   sit beside the services that apply them; a service commits, then
//!   publishes its live events, arms its timers and invalidates its caches.
//! - [`infra`] — connections and shared machinery: database, queue, bus,
//!   locks, read cache, presence.
//! - [`clients`] — Steam and Discord over HTTP.
//! - [`jobs`] — job payloads, one handler file per kind, the ledger and
//!   enqueueing.
//! - [`import`] — bringing a league over from the original Draftforge
//!   database (`api import-draftforge`).
//! - [`runtime`] — the worker pool, the runner of one attempt, the
//!   scheduler, process start-up and telemetry.
//!
//! `api` and `scheduler` depend on this crate; it depends only on `entity`
//! and `migration`. [`config`] imports nothing of the domain.

pub mod clients;
pub mod config;
pub mod domain;
pub mod import;
pub mod infra;
pub mod jobs;
pub mod runtime;
pub mod secret;

pub use config::CoreSettings;
pub use domain::{DomainError, DomainResult, Services};
pub use runtime::context::JobContext;
pub use secret::Secret;
