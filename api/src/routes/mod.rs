//! The REST API under `/api/`: one module per resource, assembled here.

use poem_openapi::payload::Json;
use poem_openapi::types::{MaybeUndefined, ToJSON};
use poem_openapi::{ApiResponse, Tags};
use worker::domain::rosters::Patch;

pub mod auth;
pub mod brackets;
pub mod discord;
pub mod drafts;
pub mod games;
pub mod health;
pub mod herodrafts;
pub mod identity;
pub mod jobs;
pub mod leagues;
pub mod steam;
pub mod teams;
pub mod test_login;
pub mod tournaments;
pub mod users;

#[derive(Tags)]
pub enum Tag {
    /// Liveness and dependency health.
    Health,
    /// Login, logout and the current user.
    Auth,
    Users,
    Leagues,
    Tournaments,
    Teams,
    Games,
    /// Team (player) drafts.
    Drafts,
    /// Background jobs: enqueue, ledger, queues, schedules (staff).
    Jobs,
    /// League stats, leaderboards, matches and Steam lookups.
    Steam,
    /// Discord announcements: templates, scheduled events, post now (staff).
    Discord,
    /// Only with DTX_TEST_ENDPOINTS=1, never in production.
    Testing,
}

/// 201 with the created resource.
#[derive(ApiResponse)]
pub enum Created<T: ToJSON> {
    /// Created.
    #[oai(status = 201)]
    Created(Json<T>),
}

/// 204, nothing to say.
#[derive(ApiResponse)]
pub enum Deleted {
    /// Deleted.
    #[oai(status = 204)]
    NoContent,
}

/// Every API of the server except the test-only ones, by area.
pub type AllApis = (
    (health::HealthApi, auth::AuthApi, users::UsersApi, identity::IdentityApi),
    (leagues::LeaguesApi, tournaments::TournamentsApi, teams::TeamsApi, games::GamesApi, brackets::BracketsApi),
    (drafts::DraftsApi, herodrafts::HeroDraftsApi, jobs::JobsApi, steam::SteamApi, discord::DiscordApi),
);

pub fn all() -> AllApis {
    (
        (health::HealthApi, auth::AuthApi, users::UsersApi, identity::IdentityApi),
        (leagues::LeaguesApi, tournaments::TournamentsApi, teams::TeamsApi, games::GamesApi, brackets::BracketsApi),
        (drafts::DraftsApi, herodrafts::HeroDraftsApi, jobs::JobsApi, steam::SteamApi, discord::DiscordApi),
    )
}

/// A JSON field that may be omitted (keep), `null` (clear) or a value (set).
pub fn patch<T>(value: MaybeUndefined<T>) -> Patch<T> {
    match value {
        MaybeUndefined::Undefined => Patch::Keep,
        MaybeUndefined::Null => Patch::Clear,
        MaybeUndefined::Value(v) => Patch::Set(v),
    }
}
