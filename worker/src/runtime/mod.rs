//! Running the system: process start-up ([`context`]), the worker pool
//! ([`pool`]) and the lifecycle of one attempt ([`runner`]), the scheduler
//! ([`schedule`]), how a binary starts ([`startup`]), probes ([`ops`]),
//! shutdown signals and telemetry.

pub mod backoff;
pub mod context;
pub mod fetch;
pub mod ops;
pub mod pool;
pub mod runner;
pub mod schedule;
pub mod shutdown;
pub mod startup;
pub mod telemetry;
