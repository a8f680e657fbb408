//! WebSocket clients for the realtime suites.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::TestApp;

pub type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// An anonymous socket on `path` of `app`.
pub async fn connect(app: &TestApp, path: &str) -> Socket {
    connect_at(&app.addr.to_string(), path, None).await
}

/// A socket on `path` with a session cookie.
pub async fn connect_as(app: &TestApp, path: &str, cookie: &str) -> Socket {
    connect_at(&app.addr.to_string(), path, Some(cookie)).await
}

/// A socket on any host:port (an api process of a drill).
pub async fn connect_at(host: &str, path: &str, cookie: Option<&str>) -> Socket {
    let mut request = format!("ws://{host}{path}").into_client_request().expect("a websocket URL");
    if let Some(cookie) = cookie {
        request.headers_mut().insert("cookie", cookie.parse().expect("a cookie header"));
    }
    tokio_tungstenite::connect_async(request).await.expect("websocket opens").0
}

/// The next JSON text message, or `None` when nothing comes within `within`.
pub async fn next_json(socket: &mut Socket, within: Duration) -> Option<Value> {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, socket.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => return serde_json::from_str(&text).ok(),
            Ok(Some(Ok(_))) => continue,
            Ok(_) | Err(_) => return None,
        }
    }
}

/// The next message whose `type` is `kind`, within `within` (panics otherwise).
pub async fn next_of(socket: &mut Socket, kind: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match next_json(socket, left).await {
            Some(value) if value["type"] == kind => return value,
            Some(_) => continue,
            None => panic!("no {kind} within {within:?}"),
        }
    }
}

/// Event messages (`draft_event`/`herodraft_event`, or the events of an
/// `initial_state`) until `done` says the last one came, or `within` ends:
/// returns the event ids in arrival order.
pub async fn event_ids_until(socket: &mut Socket, within: Duration, mut done: impl FnMut(&Value) -> bool) -> Vec<i64> {
    let deadline = Instant::now() + within;
    let mut ids = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(message) = next_json(socket, left).await else { return ids };
        let events: Vec<&Value> = match message["type"].as_str() {
            Some("initial_state") => message["events"].as_array().map(|a| a.iter().collect()).unwrap_or_default(),
            Some("draft_event" | "herodraft_event") => vec![&message["event"]],
            _ => vec![],
        };
        for event in events {
            ids.push(event["id"].as_i64().expect("every event has an id"));
            if done(event) {
                return ids;
            }
        }
    }
}
