//! What clients see: the JSON shapes of the API (and of the WebSocket
//! messages), built from core models. Shared by `routes` and `realtime`.

pub mod brackets;
pub mod discord;
pub mod drafts;
pub mod games;
pub mod herodrafts;
pub mod jobs;
pub mod leagues;
pub mod teams;
pub mod tournaments;
pub mod users;
