//! Bracket events as clients (and tournament sockets) see them.

use chrono::{DateTime, Utc};
use poem_openapi::Object;

/// A bracket event: `bracket_generated`, `result_recorded` or `result_undone`.
#[derive(Debug, Clone, Object)]
pub struct BracketEventView {
    pub id: i64,
    pub tournament_id: i64,
    #[oai(nullable)]
    pub game_id: Option<i64>,
    pub event_type: String,
    pub payload: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

impl From<entity::bracket_event::Model> for BracketEventView {
    fn from(e: entity::bracket_event::Model) -> Self {
        Self {
            id: e.id,
            tournament_id: e.tournament_id,
            game_id: e.game_id,
            event_type: e.event_type,
            payload: e.payload,
            created_at: e.created_at,
        }
    }
}
