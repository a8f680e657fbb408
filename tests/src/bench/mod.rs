//! Benchmark building blocks: a closed-loop HTTP load generator and figures.

pub mod api;
pub mod load;
