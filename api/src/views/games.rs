//! Games (bracket nodes) as clients see them.

use chrono::{DateTime, Utc};
use entity::{BracketType, GameStatus, game};
use poem_openapi::Object;

#[derive(Debug, Object)]
pub struct GameView {
    pub id: i64,
    #[oai(nullable)]
    pub tournament_id: Option<i64>,
    #[oai(nullable)]
    pub league_id: Option<i64>,
    pub round: i32,
    pub position: i32,
    pub bracket_type: BracketType,
    pub status: GameStatus,
    #[oai(nullable)]
    pub radiant_team_id: Option<i64>,
    #[oai(nullable)]
    pub dire_team_id: Option<i64>,
    #[oai(nullable)]
    pub winning_team_id: Option<i64>,
    /// The linked Steam match.
    #[oai(nullable)]
    pub match_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<game::Model> for GameView {
    fn from(g: game::Model) -> Self {
        Self {
            id: g.id,
            tournament_id: g.tournament_id,
            league_id: g.league_id,
            round: g.round,
            position: g.position,
            bracket_type: g.bracket_type,
            status: g.status,
            radiant_team_id: g.radiant_team_id,
            dire_team_id: g.dire_team_id,
            winning_team_id: g.winning_team_id,
            match_id: g.match_id,
            created_at: g.created_at,
            updated_at: g.updated_at,
        }
    }
}
