//! WebSockets on `/api/draft/{id}/`, `/api/tournament/{id}/` and
//! `/api/herodraft/{id}/` (SPEC §11): `initial_state`, then one message per
//! event row, in order, exactly once ([`feed`]); hero drafts also get a tick
//! every second while drafting or resuming, sent by exactly one instance
//! cluster-wide ([`ticker`]).
//!
//! A socket keeps the id of the last row it sent. Signals from the bus (a
//! notice from a service, a tick, a resync after the bus reconnected) and a
//! slow timer of its own make it send every newer row; a lost signal costs
//! a little delay, never an event.

mod feed;
mod limits;
mod ticker;

use std::time::Duration;

use chrono::Utc;
use futures_util::{SinkExt, StreamExt};
use poem::web::websocket::{CloseCode, Message, WebSocket, WebSocketConfig, WebSocketStream};
use poem::web::{Data, Path};
use poem::{IntoResponse, Request, handler};
use serde_json::Value;
use worker::domain::live::{self, Signal};

use crate::auth::viewer::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
pub use feed::Feed;
pub use limits::SocketLimits;
pub use ticker::Tickers;

/// Close code telling a captain's old tab it was replaced.
const REPLACED: u16 = 4000;
/// A socket catches up on its own this often, whatever the bus says.
const SAFETY_POLL: Duration = Duration::from_secs(5);
/// Clients only send small control messages (heartbeats); anything larger
/// closes the socket before it is buffered.
const MAX_CLIENT_MESSAGE: usize = 4 * 1024;

fn check_origin(req: &Request, state: &AppState) -> ApiResult<()> {
    match req.header("origin") {
        Some(origin) if !state.settings.origin_allowed(origin) => {
            Err(ApiError::forbidden("this origin may not open realtime connections"))
        }
        _ => Ok(()),
    }
}

/// The bounded socket configuration every handler uses.
fn bounded(socket: WebSocket) -> WebSocket {
    let mut config = WebSocketConfig::default();
    config.max_message_size = Some(MAX_CLIENT_MESSAGE);
    config.max_frame_size = Some(MAX_CLIENT_MESSAGE);
    config.write_buffer_size = 0;
    config.max_write_buffer_size = 4 * 1024 * 1024;
    socket.config(config)
}

/// A captain's socket on a hero draft: heartbeats refresh presence, the
/// socket counts as connected while open, and a newer socket of the same
/// captain closes this one (code 4000).
#[derive(Clone)]
struct CaptainSocket {
    draft_id: i64,
    user_id: i64,
    socket_id: String,
}

/// Pumps one socket until either side closes.
async fn pump(
    socket: WebSocketStream,
    state: AppState,
    channel: String,
    mut feed: Feed,
    initial: String,
    captain: Option<CaptainSocket>,
) {
    let _open = state.realtime.open.token();
    let (mut sink, mut stream) = socket.split();
    let mut bus = state.jobs.bus.subscribe(&channel);
    if sink.send(Message::Text(initial)).await.is_err() {
        return;
    }
    metrics::gauge!("dtx_websocket_connections").increment(1.0);
    let every = Duration::from_secs(state.settings.ws_ping_secs);
    let start = tokio::time::Instant::now();
    let mut keepalive = tokio::time::interval_at(start + every, every);
    let mut safety = tokio::time::interval_at(start + SAFETY_POLL, SAFETY_POLL);
    let mut presence = tokio::time::interval(worker::infra::presence::SOCKET_REFRESH);
    // Rows written between the initial snapshot and the subscription.
    let mut behind = true;
    loop {
        if behind {
            behind = false;
            match feed.catch_up(&state).await {
                Ok(messages) => {
                    if send_all(&mut sink, messages).await.is_err() {
                        break;
                    }
                }
                Err(err) => tracing::warn!(error = %err, "realtime catch-up failed; retrying on the next signal"),
            }
            safety.reset();
        }
        tokio::select! {
            () = state.realtime.closing.cancelled() => {
                let close = Message::Close(Some((CloseCode::Away, "going away: the server restarts".into())));
                let _ = sink.send(close).await;
                break;
            }
            _ = keepalive.tick() => if sink.send(Message::Ping(Vec::new())).await.is_err() { break },
            _ = safety.tick() => behind = true,
            _ = presence.tick(), if captain.is_some() => {
                if let Some(c) = &captain {
                    let _ = state.jobs.presence.socket_seen(c.draft_id, c.user_id, &c.socket_id, Utc::now()).await;
                }
            }
            received = bus.recv() => match received {
                Ok(payload) => match Signal::decode(&payload) {
                    Some(Signal::Notice { kind, event_id }) => behind = feed.behind(kind, event_id),
                    Some(Signal::Resync) => behind = true,
                    Some(Signal::Kick { user_id, socket_id }) => {
                        if captain.as_ref().is_some_and(|c| c.user_id == user_id && c.socket_id != socket_id) {
                            let close = Message::Close(Some((CloseCode::from(REPLACED), "opened in another tab".into())));
                            let _ = sink.send(close).await;
                            break;
                        }
                    }
                    // A tick: to the client as it is; it names the newest event.
                    None => {
                        if let Some(newest) = newest_event_of_tick(&payload) {
                            behind = feed.behind(live::EventKind::HeroDraft, newest);
                        }
                        if sink.send(Message::Text(payload.to_string())).await.is_err() { break }
                    }
                },
                // This socket fell behind the channel: whatever it missed is in the database.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => behind = true,
                Err(_) => break,
            },
            frame = stream.next() => match frame {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(Message::Text(text))) if is_heartbeat(&text) => {
                    if let Some(c) = &captain {
                        let _ = state.jobs.presence.touch(c.draft_id, c.user_id, Utc::now()).await;
                    }
                }
                Some(Ok(_)) => {}
            },
        }
    }
    if let Some(c) = &captain {
        let _ = state.jobs.presence.socket_closed(c.draft_id, c.user_id, &c.socket_id).await;
    }
    metrics::gauge!("dtx_websocket_connections").decrement(1.0);
}

async fn send_all<S>(sink: &mut S, messages: Vec<String>) -> Result<(), S::Error>
where
    S: futures_util::Sink<Message> + Unpin,
{
    for text in messages {
        sink.feed(Message::Text(text)).await?;
    }
    sink.flush().await
}

fn is_heartbeat(text: &str) -> bool {
    serde_json::from_str::<Value>(text).is_ok_and(|v| v["type"] == "heartbeat")
}

fn newest_event_of_tick(payload: &str) -> Option<i64> {
    serde_json::from_str::<Value>(payload).ok()?["last_event_id"].as_i64()
}

/// `/api/herodraft/{id}/`: state, events, and ticks.
#[handler]
pub async fn herodraft_socket(
    req: &Request,
    Path(id): Path<i64>,
    socket: WebSocket,
    state: Data<&AppState>,
    viewer: Caller,
) -> poem::Result<impl IntoResponse> {
    check_origin(req, &state)?;
    let permit = state.realtime.limits.admit(req, &state, viewer.user.as_ref().map(|u| u.id), Some(id))?;
    let mut feed = Feed::HeroDraft { id, cursor: 0 };
    let initial = feed.initial(&state).await?;
    let full = worker::domain::hero_draft::service::snapshot(&state.db, id).await.map_err(ApiError::from)?;
    let captain = viewer.user.as_ref().filter(|u| full.team_of(u.id).is_some()).map(|u| CaptainSocket {
        draft_id: id,
        user_id: u.id,
        socket_id: crate::auth::pkce::random_token(),
    });
    let state = state.clone();
    Ok(bounded(socket).on_upgrade(move |stream| async move {
        let _permit = permit;
        let _ticker = state.realtime.tickers.watch(&state, id);
        if let Some(c) = &captain {
            let now = Utc::now();
            let _ = state.jobs.presence.socket_seen(id, c.user_id, &c.socket_id, now).await;
            let _ = state.jobs.presence.touch(id, c.user_id, now).await;
            let kick = Signal::Kick { user_id: c.user_id, socket_id: c.socket_id.clone() };
            state.jobs.bus.publish(&live::herodraft_channel(id), kick.encode()).await;
        }
        pump(stream, state.clone(), live::herodraft_channel(id), feed, initial, captain).await;
    }))
}

/// Admits a spectator socket on `channel` showing `feed` (the team-draft and
/// tournament sockets): origin, caps, initial state, then the pump.
async fn spectate(
    req: &Request,
    socket: WebSocket,
    state: &AppState,
    viewer: &Caller,
    channel: String,
    mut feed: Feed,
) -> poem::Result<impl IntoResponse + use<>> {
    check_origin(req, state)?;
    let permit = state.realtime.limits.admit(req, state, viewer.user.as_ref().map(|u| u.id), None)?;
    let initial = feed.initial(state).await?;
    let state = state.clone();
    Ok(bounded(socket).on_upgrade(move |stream| async move {
        let _permit = permit;
        pump(stream, state, channel, feed, initial, None).await;
    }))
}

/// `/api/draft/{id}/`: a team draft's state and events.
#[handler]
pub async fn draft_socket(
    req: &Request,
    Path(id): Path<i64>,
    socket: WebSocket,
    state: Data<&AppState>,
    viewer: Caller,
) -> poem::Result<impl IntoResponse> {
    spectate(req, socket, &state, &viewer, live::draft_channel(id), Feed::Draft { draft_id: id, cursor: 0 }).await
}

/// `/api/tournament/{id}/`: the tournament's team-draft events — also of a
/// draft created after the socket opened — and its bracket events.
#[handler]
pub async fn tournament_socket(
    req: &Request,
    Path(id): Path<i64>,
    socket: WebSocket,
    state: Data<&AppState>,
    viewer: Caller,
) -> poem::Result<impl IntoResponse> {
    worker::domain::rosters::find_tournament(&state.db, id).await.map_err(ApiError::from)?;
    let feed = Feed::Tournament { tournament_id: id, draft_id: None, cursor: 0, bracket_cursor: 0 };
    spectate(req, socket, &state, &viewer, live::tournament_channel(id), feed).await
}

/// The socket caps the settings ask for.
pub fn limits_caps(settings: &crate::settings::ApiSettings) -> limits::Caps {
    limits::Caps {
        per_address: settings.ws_max_per_address,
        per_user: settings.ws_max_per_user,
        per_draft: settings.ws_max_per_draft,
    }
}

/// Realtime bookkeeping of this instance.
pub struct Realtime {
    pub tickers: Tickers,
    pub limits: SocketLimits,
    /// Cancelled when the api stops: every socket says 1001 "going away".
    closing: tokio_util::sync::CancellationToken,
    /// The open sockets, so a stopping api can wait for their close frames.
    open: tokio_util::task::TaskTracker,
}

impl Realtime {
    pub fn new(limits: SocketLimits) -> Self {
        Self {
            tickers: Tickers::new(worker::runtime::pool::worker_name()),
            limits,
            closing: Default::default(),
            open: Default::default(),
        }
    }

    /// Closes every socket with 1001 "going away" (clients reconnect to
    /// another instance) and waits up to `within` for the close frames to go.
    pub async fn close_all(&self, within: Duration) {
        self.closing.cancel();
        self.open.close();
        if tokio::time::timeout(within, self.open.wait()).await.is_err() {
            tracing::warn!(open = self.open.len(), "sockets still open when the api stopped");
        }
    }
}
