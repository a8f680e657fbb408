//! Hero drafts and their events as clients (and sockets) see them.

use chrono::{DateTime, Utc};
use entity::{HeroActionType, HeroDraftState, HeroRoundState, hero_draft_event};
use poem_openapi::Object;
use worker::domain::hero_draft::service::HeroDraftFull;

#[derive(Debug, Object)]
pub struct HeroDraftTeamView {
    pub id: i64,
    /// The tournament team.
    pub team_id: i64,
    #[oai(nullable)]
    pub captain_id: Option<i64>,
    #[oai(nullable)]
    pub is_first_pick: Option<bool>,
    #[oai(nullable)]
    pub is_radiant: Option<bool>,
    pub reserve_time_remaining_ms: i64,
    pub is_ready: bool,
    /// The captain has a live socket on this draft (any instance).
    pub is_connected: bool,
}

#[derive(Debug, Object)]
pub struct HeroRoundView {
    pub round_number: i32,
    /// The tournament team acting.
    pub team_id: i64,
    pub action_type: HeroActionType,
    #[oai(nullable)]
    pub hero_id: Option<i32>,
    pub state: HeroRoundState,
    #[oai(nullable)]
    pub started_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub completed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Object)]
pub struct HeroDraftView {
    pub id: i64,
    pub game_id: i64,
    pub state: HeroDraftState,
    pub version: i64,
    #[oai(nullable)]
    pub roll_winner_team_id: Option<i64>,
    pub teams: Vec<HeroDraftTeamView>,
    pub rounds: Vec<HeroRoundView>,
    /// The newest event id (0 before any): catch up with `GET /api/herodrafts/{id}/events?after=`.
    pub last_event_id: i64,
}

/// A hero draft in a list: enough to find yours and open it.
#[derive(Debug, Object)]
pub struct HeroDraftSummary {
    pub id: i64,
    pub game_id: i64,
    #[oai(nullable)]
    pub tournament_id: Option<i64>,
    pub state: HeroDraftState,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Object)]
pub struct HeroDraftEventView {
    pub id: i64,
    pub event_type: String,
    #[oai(nullable)]
    pub hero_draft_team_id: Option<i64>,
    pub metadata: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

impl From<hero_draft_event::Model> for HeroDraftEventView {
    fn from(e: hero_draft_event::Model) -> Self {
        Self {
            id: e.id,
            event_type: e.event_type,
            hero_draft_team_id: e.hero_draft_team_id,
            metadata: e.metadata,
            created_at: e.created_at,
        }
    }
}

pub fn view(full: &HeroDraftFull) -> HeroDraftView {
    let team_of = |draft_team: i64| full.teams.iter().find(|(d, _)| d.id == draft_team).map_or(0, |(_, t)| t.id);
    HeroDraftView {
        id: full.draft.id,
        game_id: full.draft.game_id,
        state: full.draft.state,
        version: full.draft.version,
        roll_winner_team_id: full.draft.roll_winner_team_id,
        last_event_id: full.last_event_id,
        rounds: full
            .rounds
            .iter()
            .map(|r| HeroRoundView {
                round_number: r.round_number,
                team_id: team_of(r.hero_draft_team_id),
                action_type: r.action_type,
                hero_id: r.hero_id,
                state: r.state,
                started_at: r.started_at,
                completed_at: r.completed_at,
            })
            .collect(),
        teams: full
            .teams
            .iter()
            .map(|(d, t)| HeroDraftTeamView {
                id: d.id,
                team_id: t.id,
                captain_id: t.captain_id,
                is_first_pick: d.is_first_pick,
                is_radiant: d.is_radiant,
                reserve_time_remaining_ms: d.reserve_time_remaining_ms,
                is_ready: d.is_ready,
                is_connected: full.is_connected(d.id),
            })
            .collect(),
    }
}

/// The `herodraft_tick` of a drafting or resuming draft at `now` (SPEC §11),
/// with the newest event id so a socket knows whether it missed a row.
pub fn tick(full: &HeroDraftFull, now: DateTime<Utc>) -> Option<serde_json::Value> {
    use worker::domain::hero_draft::rules;
    let resuming = full.draft.state == HeroDraftState::Resuming;
    if full.draft.state != HeroDraftState::Drafting && !resuming {
        return None;
    }
    let round = full.active_round();
    // During a resume countdown nobody can act, so the shown clock stands still: read it at the
    // countdown's end, where the round's shifted start puts it back at the moment of the pause.
    let clock_now = match full.draft.resuming_until {
        Some(until) if resuming => until.max(now),
        _ => now,
    };
    let elapsed = round.and_then(|r| r.started_at).map_or(0, |s| (clock_now - s).num_milliseconds().max(0));
    let side = |i: usize| {
        full.teams.get(i).map(|(d, t)| {
            let reserve = match round {
                Some(r) if r.hero_draft_team_id == d.id => {
                    rules::reserve_after(d.reserve_time_remaining_ms, r.grace_time_ms, elapsed)
                }
                _ => d.reserve_time_remaining_ms,
            };
            (t.id, reserve)
        })
    };
    let (a, b) = (side(0), side(1));
    Some(serde_json::json!({
        "type": "herodraft_tick",
        "current_round": round.map(|r| r.round_number),
        "active_team_id": round.and_then(|r| full.tournament_team_of(r.hero_draft_team_id)).map(|t| t.id),
        "grace_time_remaining_ms": round.map_or(0, |r| (r.grace_time_ms - elapsed).max(0)),
        "team_a_id": a.map(|(id, _)| id),
        "team_a_reserve_ms": a.map(|(_, ms)| ms),
        "team_b_id": b.map(|(id, _)| id),
        "team_b_reserve_ms": b.map(|(_, ms)| ms),
        "draft_state": full.draft.state.as_str(),
        "countdown_remaining_ms": if resuming { full.draft.resuming_until.map_or(0, |u| (u - now).num_milliseconds().max(0)) } else { 0 },
        "last_event_id": full.last_event_id,
    }))
}
