//! Benchmark building blocks and the benchmarks themselves.

pub mod api;
pub mod ingest;
pub mod jobs;
pub mod load;
pub mod recompute;
pub mod tick;
