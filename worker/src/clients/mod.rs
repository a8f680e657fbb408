//! Outside services over HTTP: Steam (rate-limited, budgeted) and Discord.

pub mod discord;
pub mod steam;
