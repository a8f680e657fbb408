//! Team drafts and their events as clients (and sockets) see them.

use chrono::{DateTime, Utc};
use entity::{DraftStyle, draft_event, user};
use poem_openapi::Object;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use worker::domain::team_draft::service::DraftState;

use crate::error::ApiResult;
use crate::views::users::UserView;

#[derive(Debug, Object)]
pub struct DraftRoundView {
    pub pick_number: i32,
    pub pick_phase: i32,
    #[oai(nullable)]
    pub captain_id: Option<i64>,
    #[oai(nullable)]
    pub team_id: Option<i64>,
    #[oai(nullable)]
    pub choice_id: Option<i64>,
    pub was_tie: bool,
    /// `{"tied_teams":[{"id","name","mmr"}], "roll_rounds":[[{"team_id","roll"}]], "winner_id"}`
    #[oai(nullable)]
    pub tie_roll_data: Option<serde_json::Value>,
}

#[derive(Debug, Object)]
pub struct DraftView {
    pub id: i64,
    pub tournament_id: i64,
    pub draft_style: DraftStyle,
    pub rounds: Vec<DraftRoundView>,
    /// Players still to be drafted.
    pub users_remaining: Vec<UserView>,
    /// The pick to make now; null when the draft is complete.
    #[oai(nullable)]
    pub current_pick_number: Option<i32>,
}

/// One draft event (`draft_started`, `player_picked`, `captain_assigned`,
/// `tie_roll`, `pick_undone`, `pick_repaired`, `draft_completed`); `payload` carries names,
/// pictures and team totals so a page renders it without more calls.
#[derive(Debug, Clone, Object)]
pub struct DraftEventView {
    pub id: i64,
    pub draft_id: i64,
    pub event_type: String,
    pub payload: serde_json::Value,
    #[oai(nullable)]
    pub actor_id: Option<i64>,
    pub created_at: DateTime<Utc>,
}

impl From<draft_event::Model> for DraftEventView {
    fn from(e: draft_event::Model) -> Self {
        Self {
            id: e.id,
            draft_id: e.draft_id,
            event_type: e.event_type,
            payload: e.payload,
            actor_id: e.actor_id,
            created_at: e.created_at,
        }
    }
}

pub async fn view<C: ConnectionTrait>(db: &C, state: &DraftState) -> ApiResult<DraftView> {
    let remaining = state.remaining();
    let users =
        user::Entity::find().filter(user::Column::Id.is_in(remaining)).order_by_asc(user::Column::Id).all(db).await?;
    Ok(DraftView {
        id: state.draft.id,
        tournament_id: state.draft.tournament_id,
        draft_style: state.draft.draft_style,
        rounds: state
            .rounds
            .iter()
            .map(|r| DraftRoundView {
                pick_number: r.pick_number,
                pick_phase: r.pick_phase,
                captain_id: r.captain_id,
                team_id: state.team_of_captain(r.captain_id).map(|t| t.id),
                choice_id: r.choice_id,
                was_tie: r.was_tie,
                tie_roll_data: r.tie_roll_data.clone(),
            })
            .collect(),
        users_remaining: users.iter().map(UserView::public).collect(),
        current_pick_number: state.current().map(|r| r.pick_number),
    })
}
