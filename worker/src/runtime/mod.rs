//! Running the system: process start-up ([`context`]), the worker pool
//! ([`pool`]) and the lifecycle of one attempt ([`runner`]), the scheduler
//! ([`schedule`]), shutdown signals and telemetry.

pub mod backoff;
pub mod context;
pub mod pool;
pub mod runner;
pub mod schedule;
pub mod shutdown;
pub mod telemetry;
