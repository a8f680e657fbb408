//! What a socket shows, and its cursor: the id of the last event row it
//! sent. On any signal the feed sends every newer row, oldest first, one
//! message each, with the state as it stands — so nothing is lost to a
//! dropped notice and nothing is sent twice.

use chrono::Utc;
use poem_openapi::types::ToJSON;
use serde_json::{Value, json};
use worker::domain::brackets::service as brackets;
use worker::domain::hero_draft::service as hero;
use worker::domain::live::EventKind;
use worker::domain::team_draft::service as team_draft;

use crate::error::ApiResult;
use crate::state::AppState;
use crate::views::brackets::BracketEventView;
use crate::views::drafts::{self, DraftEventView};
use crate::views::games;
use crate::views::herodrafts::{self, HeroDraftEventView};

/// Rows read per query while catching up.
const BATCH: u64 = 100;
/// Events shown with the initial state.
const LAST_EVENTS: usize = 20;

fn to_json<T: ToJSON>(value: &T) -> Value {
    value.to_json().unwrap_or(Value::Null)
}

/// The rows a socket follows.
pub enum Feed {
    /// `/api/draft/{id}/`
    Draft { draft_id: i64, cursor: i64 },
    /// `/api/tournament/{id}/`: its team draft's events (the draft may be
    /// created after the socket opened) and its bracket events.
    Tournament { tournament_id: i64, draft_id: Option<i64>, cursor: i64, bracket_cursor: i64 },
    /// `/api/herodraft/{id}/`
    HeroDraft { id: i64, cursor: i64 },
}

impl Feed {
    /// Whether a notice of `kind` up to `event_id` may hold rows this feed has not sent.
    pub fn behind(&self, kind: EventKind, event_id: i64) -> bool {
        match self {
            Self::Draft { cursor, .. } => kind == EventKind::Draft && event_id > *cursor,
            Self::Tournament { cursor, bracket_cursor, .. } => match kind {
                EventKind::Draft => event_id > *cursor,
                EventKind::Bracket => event_id > *bracket_cursor,
                EventKind::HeroDraft => false,
            },
            Self::HeroDraft { cursor, .. } => kind == EventKind::HeroDraft && event_id > *cursor,
        }
    }

    /// The `initial_state` message, which also sets the cursor to the newest
    /// row shown (so later rows follow it exactly).
    pub async fn initial(&mut self, state: &AppState) -> ApiResult<String> {
        match self {
            Self::Draft { draft_id, cursor } => {
                let (view, events) = draft_snapshot(state, *draft_id).await?;
                *cursor = last_id(&events, |e| e.id);
                Ok(json!({"type": "initial_state", "state": view, "events": events.iter().map(to_json).collect::<Vec<_>>()})
                    .to_string())
            }
            Self::Tournament { tournament_id, draft_id, cursor, bracket_cursor } => {
                // Bracket events follow from now on (the bracket itself is `GET /api/tournaments/{id}/bracket`).
                *bracket_cursor = brackets::last_event_id(&state.db, *tournament_id).await?;
                *draft_id = team_draft::of_tournament(&state.db, *tournament_id).await?;
                let (view, events) = match draft_id {
                    Some(d) => draft_snapshot(state, *d).await?,
                    None => (Value::Null, Vec::new()),
                };
                *cursor = last_id(&events, |e| e.id);
                Ok(json!({"type": "initial_state", "state": view, "events": events.iter().map(to_json).collect::<Vec<_>>()})
                    .to_string())
            }
            Self::HeroDraft { id, cursor } => {
                // Rows first, then the state: the state is never older than the rows shown.
                let events: Vec<HeroDraftEventView> =
                    hero::events_after(&state.db, *id, 0, 1_000).await?.into_iter().map(Into::into).collect();
                let full = hero::load_live(&state.services, *id, Utc::now()).await?;
                let shown = &events[events.len().saturating_sub(LAST_EVENTS)..];
                *cursor = last_id(&events, |e| e.id);
                Ok(json!({
                    "type": "initial_state",
                    "state": to_json(&herodrafts::view(&full)),
                    "events": shown.iter().map(to_json).collect::<Vec<_>>(),
                })
                .to_string())
            }
        }
    }

    /// Messages for every row after the cursor, oldest first; advances the cursor.
    pub async fn catch_up(&mut self, state: &AppState) -> ApiResult<Vec<String>> {
        match self {
            Self::Draft { draft_id, cursor } => draft_rows(state, *draft_id, cursor).await,
            Self::Tournament { tournament_id, draft_id, cursor, bracket_cursor } => {
                if draft_id.is_none() {
                    *draft_id = team_draft::of_tournament(&state.db, *tournament_id).await?;
                }
                let mut messages = match draft_id {
                    Some(d) => draft_rows(state, *d, cursor).await?,
                    None => Vec::new(),
                };
                messages.extend(bracket_rows(state, *tournament_id, bracket_cursor).await?);
                Ok(messages)
            }
            Self::HeroDraft { id, cursor } => {
                let mut messages = Vec::new();
                loop {
                    let rows = hero::events_after(&state.db, *id, *cursor, BATCH).await?;
                    let Some(last) = rows.last() else { return Ok(messages) };
                    *cursor = last.id;
                    let view = to_json(&herodrafts::view(&hero::load_live(&state.services, *id, Utc::now()).await?));
                    messages.extend(rows.into_iter().map(|row| {
                        json!({"type": "herodraft_event", "event": to_json(&HeroDraftEventView::from(row)), "state": view})
                            .to_string()
                    }));
                }
            }
        }
    }
}

fn last_id<T>(rows: &[T], id: impl Fn(&T) -> i64) -> i64 {
    rows.last().map_or(0, id)
}

/// A draft's last events (oldest first) and its view, read in that order so
/// the view is never older than the rows.
async fn draft_snapshot(state: &AppState, draft_id: i64) -> ApiResult<(Value, Vec<DraftEventView>)> {
    let mut events: Vec<DraftEventView> = Vec::new();
    let mut after = 0;
    loop {
        let rows = team_draft::events_after(&state.db, draft_id, after, 1_000).await?;
        let Some(last) = rows.last() else { break };
        after = last.id;
        events.extend(rows.into_iter().map(Into::into));
        let keep = events.len().saturating_sub(LAST_EVENTS);
        events.drain(..keep);
    }
    let loaded = team_draft::snapshot(&state.db, draft_id).await?;
    let view = to_json(&drafts::view(&state.db, &loaded).await?);
    Ok((view, events))
}

/// `{"type":"bracket_event", "event", "game", "tournament": {"state", "winning_team_id"}}` for every
/// bracket event after the cursor, the game and tournament as they stand.
async fn bracket_rows(state: &AppState, tournament_id: i64, cursor: &mut i64) -> ApiResult<Vec<String>> {
    let mut messages = Vec::new();
    loop {
        let rows = brackets::events_after(&state.db, tournament_id, *cursor, BATCH).await?;
        let Some(last) = rows.last() else { return Ok(messages) };
        *cursor = last.id;
        let t = worker::domain::rosters::find_tournament(&state.db, tournament_id).await?;
        let outcome = json!({"state": t.state.as_str(), "winning_team_id": t.winning_team_id});
        for row in rows {
            let game = match row.game_id {
                Some(id) => match brackets::find_game(&state.db, id).await {
                    Ok(g) => to_json(&games::game_view(&state.db, g).await?),
                    Err(_) => Value::Null,
                },
                None => Value::Null,
            };
            let event = to_json(&BracketEventView::from(row));
            messages.push(
                json!({"type": "bracket_event", "event": event, "game": game, "tournament": outcome}).to_string(),
            );
        }
    }
}

async fn draft_rows(state: &AppState, draft_id: i64, cursor: &mut i64) -> ApiResult<Vec<String>> {
    let mut messages = Vec::new();
    loop {
        let rows = team_draft::events_after(&state.db, draft_id, *cursor, BATCH).await?;
        let Some(last) = rows.last() else { return Ok(messages) };
        *cursor = last.id;
        let loaded = team_draft::snapshot(&state.db, draft_id).await?;
        let view = to_json(&drafts::view(&state.db, &loaded).await?);
        messages.extend(rows.into_iter().map(|row| {
            json!({"type": "draft_event", "event": to_json(&DraftEventView::from(row)), "state": view}).to_string()
        }));
    }
}
