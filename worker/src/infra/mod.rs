//! Connections and shared machinery, the same interface in both modes:
//! Redis-backed in distributed mode, in-process (or the SQLite file) in
//! embedded mode.

pub mod bus;
pub mod cache;
pub mod db;
pub mod lock;
pub mod presence;
pub mod queue;
pub mod rows;
pub mod schema;
