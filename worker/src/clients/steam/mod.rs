//! Steam Web API: the client (rate-limited, budgeted, key never logged) and
//! its wire types. What the league does with the answers is `domain::sync`.

pub mod client;
pub mod ratelimit;
pub mod types;
