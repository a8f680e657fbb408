//! Outside services over HTTP: Steam's Web API (rate-limited, budgeted),
//! Steam OpenID (proof of a Steam account), and Discord.

pub mod discord;
pub mod steam;
pub mod steam_openid;
