//! Leagues as clients see them.

use chrono::{DateTime, Utc};
use entity::{league, league_admin, user};
use poem_openapi::Object;

#[derive(Debug, Object)]
pub struct LeagueView {
    pub id: i64,
    pub steam_league_id: i64,
    pub name: String,
    pub description: String,
    pub rules: String,
    pub prize_pool: String,
    pub timezone: String,
    pub sync_enabled: bool,
    #[oai(nullable)]
    pub last_synced: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<league::Model> for LeagueView {
    fn from(l: league::Model) -> Self {
        Self {
            id: l.id,
            steam_league_id: l.steam_league_id,
            name: l.name,
            description: l.description,
            rules: l.rules,
            prize_pool: l.prize_pool,
            timezone: l.timezone,
            sync_enabled: l.sync_enabled,
            last_synced: l.last_synced,
            created_at: l.created_at,
            updated_at: l.updated_at,
        }
    }
}

/// Someone a league trusts with its tournaments.
#[derive(Debug, Object)]
pub struct LeagueAdminView {
    pub user_id: i64,
    pub username: String,
    /// Who granted it, if still known.
    #[oai(nullable)]
    pub granted_by: Option<i64>,
    pub created_at: DateTime<Utc>,
}

impl From<(league_admin::Model, user::Model)> for LeagueAdminView {
    fn from((grant, u): (league_admin::Model, user::Model)) -> Self {
        Self { user_id: u.id, username: u.username, granted_by: grant.granted_by, created_at: grant.created_at }
    }
}
