//! Steam Web API: the client (rate-limited, budgeted, key never logged), the
//! wire types, the league sync and the ingest of one match.

pub mod client;
pub mod ingest;
pub mod link;
pub mod ratelimit;
pub mod sync;
pub mod types;
