//! WebSockets on `/api/draft/{id}/`, `/api/tournament/{id}/` and
//! `/api/herodraft/{id}/` (SPEC §11): initial state, then every event with
//! the new state; hero drafts also get a tick every second while drafting
//! or resuming, sent by exactly one instance cluster-wide (a token lock held
//! by whichever instance has sockets on the draft, renewed every tick; if
//! that instance dies the lease lapses and another takes over within 3 s).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::Utc;
use entity::{HeroDraftState, draft_event, hero_draft_event};
use futures_util::{SinkExt, StreamExt};
use poem::web::websocket::{Message, WebSocket};
use poem::web::{Data, Path};
use poem::{IntoResponse, Request, handler};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::{Value, json};
use worker::herodraft::{self, rules, service};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Sockets open on this instance, per hero draft (drives the ticker).
#[derive(Default)]
pub struct Realtime {
    sockets: Mutex<HashMap<i64, usize>>,
    pub instance: String,
}

impl Realtime {
    pub fn new() -> Self {
        Self { sockets: Mutex::default(), instance: worker::pool::worker_name() }
    }
}

const TICK: Duration = Duration::from_secs(1);
const TICK_LEASE: Duration = Duration::from_secs(3);
const LAST_EVENTS: u64 = 20;

fn check_origin(req: &Request, state: &AppState) -> ApiResult<()> {
    match req.header("origin") {
        Some(origin) if !state.settings.origin_allowed(origin) => {
            Err(ApiError::forbidden("this origin may not open realtime connections"))
        }
        _ => Ok(()),
    }
}

fn to_json<T: poem_openapi::types::ToJSON>(value: &T) -> Value {
    value.to_json().unwrap_or(Value::Null)
}

/// The last `limit` events of a draft, oldest first.
async fn last_events<E>(
    state: &AppState,
    owner: E::Column,
    id_column: E::Column,
    id: i64,
    limit: u64,
) -> ApiResult<Vec<Value>>
where
    E: EntityTrait,
    E::Model: serde::Serialize,
{
    let mut rows = E::find().filter(owner.eq(id)).order_by_desc(id_column).limit(limit).all(&state.db).await?;
    rows.reverse();
    Ok(rows.iter().map(|e| serde_json::to_value(e).unwrap_or(Value::Null)).collect())
}

async fn herodraft_events(state: &AppState, id: i64, limit: u64) -> ApiResult<Vec<Value>> {
    last_events::<hero_draft_event::Entity>(
        state,
        hero_draft_event::Column::HeroDraftId,
        hero_draft_event::Column::Id,
        id,
        limit,
    )
    .await
}

async fn draft_events(state: &AppState, id: i64, limit: u64) -> ApiResult<Vec<Value>> {
    last_events::<draft_event::Entity>(state, draft_event::Column::DraftId, draft_event::Column::Id, id, limit).await
}

async fn herodraft_state(state: &AppState, id: i64) -> ApiResult<Value> {
    let full = service::load(&state.db, id).await.map_err(crate::routes::herodrafts::api_error)?;
    Ok(to_json(&crate::routes::herodrafts::view(full)))
}

async fn draft_state(state: &AppState, id: i64) -> ApiResult<Value> {
    let loaded = crate::draft::service::load(&state.db, id).await?;
    Ok(to_json(&crate::routes::drafts::view(&state.db, &loaded).await?))
}

/// What a socket sends when its channel says "changed".
async fn event_message(state: &AppState, kind: &str, id: i64) -> ApiResult<String> {
    let (event_type, events, current) = match kind {
        "herodraft" => ("herodraft_event", herodraft_events(state, id, 1).await?, herodraft_state(state, id).await?),
        _ => ("draft_event", draft_events(state, id, 1).await?, draft_state(state, id).await?),
    };
    Ok(json!({"type": event_type, "event": events.into_iter().next(), "state": current}).to_string())
}

/// A captain's socket on a hero draft: heartbeats refresh presence, and a
/// newer socket of the same captain closes this one (code 4000).
#[derive(Clone)]
struct CaptainSocket {
    user_id: i64,
    socket_id: String,
}

/// Internal bus messages start with this and never reach clients.
const CONTROL: &str = "ctl:";
/// Close code telling a captain's old tab it was replaced.
const REPLACED: u16 = 4000;

fn kick_message(captain: &CaptainSocket) -> String {
    format!("{CONTROL}kick:{}:{}", captain.user_id, captain.socket_id)
}

/// Whether a control message replaces `captain`'s socket.
fn replaces(control: &str, captain: &CaptainSocket) -> bool {
    let mut parts = control.trim_start_matches(CONTROL).splitn(3, ':');
    matches!((parts.next(), parts.next(), parts.next()), (Some("kick"), Some(user), Some(socket))
        if user == captain.user_id.to_string() && socket != captain.socket_id)
}

/// Pumps channel messages to one socket until either side closes.
async fn pump(
    socket: poem::web::websocket::WebSocketStream,
    state: AppState,
    kind: &'static str,
    draft_id: i64,
    channels: Vec<String>,
    initial: String,
    captain: Option<CaptainSocket>,
) {
    let (mut sink, mut stream) = socket.split();
    let mut receivers: Vec<_> = channels.iter().map(|c| state.jobs.bus.subscribe(c)).collect();
    if sink.send(Message::Text(initial)).await.is_err() {
        return;
    }
    metrics::gauge!("dtx_websocket_connections").increment(1.0);
    let every = Duration::from_secs(state.settings.ws_ping_secs);
    let mut keepalive = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        let next = futures_util::future::select_all(receivers.iter_mut().map(|rx| Box::pin(rx.recv())));
        tokio::select! {
            _ = keepalive.tick() => if sink.send(Message::Ping(Vec::new())).await.is_err() { break },
            (received, _, _) = next => match received {
                Ok(payload) if payload.starts_with(CONTROL) => {
                    if captain.as_ref().is_some_and(|c| replaces(&payload, c)) {
                        let close = Message::Close(Some((poem::web::websocket::CloseCode::from(REPLACED), "opened in another tab".into())));
                        let _ = sink.send(close).await;
                        break;
                    }
                }
                Ok(payload) if &*payload == herodraft::CHANGED => {
                    match event_message(&state, kind, draft_id).await {
                        Ok(text) => if sink.send(Message::Text(text)).await.is_err() { break },
                        Err(err) => tracing::warn!(error = %err, "realtime state reload failed"),
                    }
                }
                Ok(payload) => if sink.send(Message::Text(payload.to_string())).await.is_err() { break },
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => break,
            },
            frame = stream.next() => match frame {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(Message::Text(text))) if text.contains("heartbeat") => {
                    if let Some(c) = &captain {
                        let _ = state.jobs.presence.touch(draft_id, c.user_id, Utc::now()).await;
                    }
                }
                Some(Ok(_)) => {}
            },
        }
    }
    metrics::gauge!("dtx_websocket_connections").decrement(1.0);
}

/// `/api/herodraft/{id}/`: state, events, and ticks.
#[handler]
pub async fn herodraft_socket(
    req: &Request,
    Path(id): Path<i64>,
    socket: WebSocket,
    state: Data<&AppState>,
    viewer: crate::auth::Viewer,
) -> poem::Result<impl IntoResponse> {
    check_origin(req, &state)?;
    let full = service::load(&state.db, id).await.map_err(crate::routes::herodrafts::api_error)?;
    let captain = viewer
        .user
        .as_ref()
        .filter(|u| full.team_of(u.id).is_some())
        .map(|u| CaptainSocket { user_id: u.id, socket_id: crate::auth::pkce::random_token() });
    let current = herodraft_state(&state, id).await?;
    let initial =
        json!({"type": "initial_state", "state": current, "events": herodraft_events(&state, id, LAST_EVENTS).await?})
            .to_string();
    let state = state.clone();
    Ok(socket.on_upgrade(move |stream| async move {
        start_ticker(&state, id);
        if let Some(c) = &captain {
            let _ = state.jobs.presence.touch(id, c.user_id, Utc::now()).await;
            state.jobs.bus.publish(&herodraft::channel(id), kick_message(c)).await;
        }
        pump(stream, state.clone(), "herodraft", id, vec![herodraft::channel(id)], initial, captain).await;
        let mut sockets = state.realtime.sockets.lock().expect("sockets");
        if let Some(n) = sockets.get_mut(&id) {
            *n = n.saturating_sub(1);
        }
    }))
}

/// `/api/draft/{id}/`: a team draft's state and events.
#[handler]
pub async fn draft_socket(
    req: &Request,
    Path(id): Path<i64>,
    socket: WebSocket,
    state: Data<&AppState>,
) -> poem::Result<impl IntoResponse> {
    check_origin(req, &state)?;
    let initial = json!({"type": "initial_state", "state": draft_state(&state, id).await?, "events": draft_events(&state, id, LAST_EVENTS).await?}).to_string();
    let state = state.clone();
    Ok(socket.on_upgrade(move |stream| pump(stream, state, "draft", id, vec![draft_channel(id)], initial, None)))
}

/// `/api/tournament/{id}/`: the tournament's team-draft events.
#[handler]
pub async fn tournament_socket(
    req: &Request,
    Path(id): Path<i64>,
    socket: WebSocket,
    state: Data<&AppState>,
) -> poem::Result<impl IntoResponse> {
    check_origin(req, &state)?;
    crate::routes::tournaments::find_tournament(&state.db, id).await?;
    let draft = entity::draft::Entity::find()
        .filter(entity::draft::Column::TournamentId.eq(id))
        .one(&state.db)
        .await
        .map_err(ApiError::from)?;
    let (initial_state, draft_id) = match &draft {
        Some(d) => (draft_state(&state, d.id).await?, d.id),
        None => (Value::Null, 0),
    };
    let initial = json!({"type": "initial_state", "state": initial_state}).to_string();
    let state = state.clone();
    Ok(socket
        .on_upgrade(move |stream| pump(stream, state, "draft", draft_id, vec![tournament_channel(id)], initial, None)))
}

pub fn draft_channel(id: i64) -> String {
    format!("draft:{id}")
}

pub fn tournament_channel(id: i64) -> String {
    format!("tournament:{id}")
}

/// Tells every socket of a team draft (and its tournament) that it changed.
pub async fn draft_changed(state: &AppState, draft_id: i64, tournament_id: i64) {
    state.jobs.bus.publish(&draft_channel(draft_id), herodraft::CHANGED.to_owned()).await;
    state.jobs.bus.publish(&tournament_channel(tournament_id), herodraft::CHANGED.to_owned()).await;
}

/// Tells every socket of a hero draft that it changed.
pub async fn herodraft_changed(state: &AppState, id: i64) {
    state.jobs.bus.publish(&herodraft::channel(id), herodraft::CHANGED.to_owned()).await;
}

/// The tick of a running draft.
pub fn tick_message(full: &service::HeroDraftFull, now: chrono::DateTime<Utc>) -> Option<Value> {
    let resuming = full.draft.state == HeroDraftState::Resuming;
    if full.draft.state != HeroDraftState::Drafting && !resuming {
        return None;
    }
    let round = full.active_round();
    let elapsed = round.and_then(|r| r.started_at).map_or(0, |s| (now - s).num_milliseconds().max(0));
    let team_of = |draft_team: i64| full.teams.iter().find(|(d, _)| d.id == draft_team);
    let reserve = |i: usize| {
        let (d, _) = &full.teams[i];
        match round {
            Some(r) if r.hero_draft_team_id == d.id => {
                rules::reserve_after(d.reserve_time_remaining_ms, r.grace_time_ms, elapsed)
            }
            _ => d.reserve_time_remaining_ms,
        }
    };
    Some(json!({
        "type": "herodraft_tick",
        "current_round": round.map(|r| r.round_number),
        "active_team_id": round.and_then(|r| team_of(r.hero_draft_team_id)).map(|(_, t)| t.id),
        "grace_time_remaining_ms": round.map_or(0, |r| (r.grace_time_ms - elapsed).max(0)),
        "team_a_id": full.teams[0].1.id,
        "team_a_reserve_ms": reserve(0),
        "team_b_id": full.teams[1].1.id,
        "team_b_reserve_ms": reserve(1),
        "draft_state": full.draft.state.as_str(),
        "countdown_remaining_ms": if resuming { full.draft.resuming_until.map_or(0, |u| (u - now).num_milliseconds().max(0)) } else { 0 },
    }))
}

/// While drafting, a captain who has connected but sent no heartbeat for
/// the configured time pauses the draft.
async fn pause_silent_captains(state: &AppState, id: i64, now: chrono::DateTime<Utc>) {
    let Ok(full) = service::load(&state.db, id).await else { return };
    if full.draft.state != HeroDraftState::Drafting {
        return;
    }
    let limit = chrono::Duration::milliseconds(state.jobs.settings.herodraft_heartbeat_timeout_ms);
    for (side, team) in &full.teams {
        let Some(captain) = team.captain_id else { continue };
        let Ok(Some(seen)) = state.jobs.presence.last_seen(id, captain).await else { continue };
        if now - seen > limit {
            if service::pause_for_silence(&state.db, id, side.id, now).await.is_ok() {
                tracing::info!(draft = id, captain, "captain silent; draft paused");
                herodraft_changed(state, id).await;
            }
            return;
        }
    }
}

/// Counts a socket on `id` and starts this instance's ticker for it if none runs.
fn start_ticker(state: &AppState, id: i64) {
    let first = {
        let mut sockets = state.realtime.sockets.lock().expect("sockets");
        let n = sockets.entry(id).or_default();
        *n += 1;
        *n == 1
    };
    if !first {
        return;
    }
    let state = state.clone();
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(TICK);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            if state.realtime.sockets.lock().expect("sockets").get(&id).copied().unwrap_or(0) == 0 {
                state.realtime.sockets.lock().expect("sockets").remove(&id);
                break;
            }
            // Holding (or taking over) the lease makes this instance the one broadcaster.
            let lease = state.jobs.locks.acquire_as(&format!("tick:{id}"), &state.realtime.instance, TICK_LEASE).await;
            let Ok(Some(guard)) = lease else { continue };
            std::mem::forget(guard); // the lease is renewed by the next tick, not released on drop
            let now = Utc::now();
            if let Ok(true) = service::settle(&state.db, id, now).await {
                herodraft_changed(&state, id).await;
            }
            pause_silent_captains(&state, id, now).await;
            if let Ok(full) = service::load(&state.db, id).await
                && let Some(tick) = tick_message(&full, now)
            {
                state.jobs.bus.publish(&herodraft::channel(id), tick.to_string()).await;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_newer_socket_of_the_same_captain_replaces() {
        let me = CaptainSocket { user_id: 7, socket_id: "old".into() };
        assert!(replaces("ctl:kick:7:new", &me));
        assert!(!replaces("ctl:kick:7:old", &me), "not by its own announcement");
        assert!(!replaces("ctl:kick:8:new", &me), "not by another captain");
    }
}
