//! WebSockets: initial state, events after HTTP actions, ticks once per
//! second from one broadcaster, Origin check, and two api instances on one
//! Redis (a spectator on B sees A's action; ticks never doubled; B takes
//! over the ticks when A stops).

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use tests::{Backend, TestApp, fixtures};
use tokio_tungstenite::tungstenite::Message;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(app: &TestApp, path: &str) -> Socket {
    let (socket, _) =
        tokio_tungstenite::connect_async(format!("ws://{}{path}", app.addr)).await.expect("websocket opens");
    socket
}

/// The next JSON message whose type is `kind`, within `within`.
async fn next_of(socket: &mut Socket, kind: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let frame =
            tokio::time::timeout(left, socket.next()).await.unwrap_or_else(|_| panic!("no {kind} within {within:?}"));
        if let Some(Ok(Message::Text(text))) = frame {
            let value: Value = serde_json::from_str(&text).unwrap();
            if value["type"] == kind {
                return value;
            }
        }
    }
}

/// Ticks received over `window`.
async fn ticks_during(socket: &mut Socket, window: Duration) -> Vec<Instant> {
    let end = Instant::now() + window;
    let mut seen = Vec::new();
    while let Ok(Some(Ok(Message::Text(text)))) =
        tokio::time::timeout(end.saturating_duration_since(Instant::now()), socket.next()).await
    {
        if text.contains("herodraft_tick") {
            seen.push(Instant::now());
        }
    }
    seen
}

#[tokio::test]
async fn a_spectator_gets_state_events_and_one_tick_a_second() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let staff = app.staff("admin").await;
    let (id, _) = fixtures::hero_draft(&app, &staff).await;
    let mut socket = connect(&app, &format!("/api/herodraft/{id}/")).await;
    let initial = next_of(&mut socket, "initial_state", Duration::from_secs(5)).await;
    assert_eq!(initial["state"]["state"], "waiting_for_captains");
    assert!(initial["events"].as_array().unwrap().iter().any(|e| e["event_type"] == "draft_created"));

    let first = fixtures::start_hero_draft(&app, id).await;
    let caps = [app.user("radiant_cap").await, app.user("dire_cap").await];
    caps[first].post(&format!("/api/herodrafts/{id}/act"), json!({"hero_id": 5})).await;
    let event = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let e = next_of(&mut socket, "herodraft_event", Duration::from_secs(5)).await;
            if e["event"]["event_type"] == "hero_selected" {
                return e;
            }
        }
    })
    .await
    .expect("the action reaches the socket");
    assert_eq!(event["state"]["rounds"][0]["hero_id"], 5);

    let tick = next_of(&mut socket, "herodraft_tick", Duration::from_secs(3)).await;
    assert_eq!(tick["current_round"], 2);
    assert_eq!(tick["draft_state"], "drafting");
    assert!(tick["grace_time_remaining_ms"].as_i64().unwrap() <= 30_000);
    let ticks = ticks_during(&mut socket, Duration::from_millis(3_500)).await;
    assert!((3..=4).contains(&ticks.len()), "one tick a second: {}", ticks.len());
}

#[tokio::test]
async fn a_foreign_origin_cannot_open_a_socket() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let staff = app.staff("admin").await;
    let (id, _) = fixtures::hero_draft(&app, &staff).await;
    let mut request = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!(
        "ws://{}/api/herodraft/{id}/",
        app.addr
    ))
    .unwrap();
    request.headers_mut().insert("origin", "https://evil.example".parse().unwrap());
    let refused = tokio_tungstenite::connect_async(request).await;
    assert!(refused.is_err(), "the handshake is refused");
    assert!(
        tokio_tungstenite::connect_async(format!("ws://{}/api/herodraft/424242/", app.addr)).await.is_err(),
        "unknown draft"
    );
}

#[tokio::test]
async fn team_draft_events_reach_draft_and_tournament_sockets() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let staff = app.staff("admin").await;
    let t = fixtures::tournament(&staff, "Cup").await;
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(fixtures::user(&staff, &format!("u{i}"), 1000 + i).await);
    }
    fixtures::add_players(&staff, t, &ids).await;
    fixtures::team(&staff, t, "A", ids[0], 0).await;
    fixtures::team(&staff, t, "B", ids[1], 1).await;
    let draft = staff.post(&format!("/api/tournaments/{t}/draft"), json!({"draft_style": "normal"})).await.id();
    let mut on_draft = connect(&app, &format!("/api/draft/{draft}/")).await;
    let mut on_tournament = connect(&app, &format!("/api/tournament/{t}/")).await;
    next_of(&mut on_draft, "initial_state", Duration::from_secs(5)).await;
    next_of(&mut on_tournament, "initial_state", Duration::from_secs(5)).await;
    staff.post(&format!("/api/drafts/{draft}/pick"), json!({"user_id": ids[2]})).await;
    for socket in [&mut on_draft, &mut on_tournament] {
        let e = next_of(socket, "draft_event", Duration::from_secs(5)).await;
        assert_eq!(e["event"]["event_type"], "player_picked");
        assert_eq!(e["state"]["rounds"][0]["choice_id"], ids[2]);
    }
}

#[tokio::test]
async fn two_instances_share_events_and_one_ticker() {
    let a = TestApp::spawn_with(Backend::Postgres, tests::Options { redis: true, ..Default::default() }).await;
    let staff = a.staff("admin").await;
    let (id, _) = fixtures::hero_draft(&a, &staff).await;
    let first = fixtures::start_hero_draft(&a, id).await;
    let b = a.sibling().await;
    // B's socket comes first, so B's ticker holds the lease: B broadcasts.
    let mut on_b = connect(&b, &format!("/api/herodraft/{id}/")).await;
    next_of(&mut on_b, "herodraft_tick", Duration::from_secs(5)).await;
    let mut on_a = connect(&a, &format!("/api/herodraft/{id}/")).await;
    next_of(&mut on_a, "initial_state", Duration::from_secs(5)).await;

    let cap = if first == 0 { a.user("radiant_cap").await } else { a.user("dire_cap").await };
    let acted = cap.post(&format!("/api/herodrafts/{id}/act"), json!({"hero_id": 7})).await;
    assert_eq!(acted.status, 200, "{}", acted.text);
    let seen_on_b = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let e = next_of(&mut on_b, "herodraft_event", Duration::from_secs(5)).await;
            if e["event"]["event_type"] == "hero_selected" {
                return e;
            }
        }
    })
    .await
    .expect("an action through A reaches a spectator on B");
    assert_eq!(seen_on_b["state"]["rounds"][0]["hero_id"], 7);

    let ticks = ticks_during(&mut on_a, Duration::from_millis(3_500)).await;
    assert!((3..=4).contains(&ticks.len()), "ticks from B reach A's socket, once a second: {}", ticks.len());

    // Stop the broadcasting instance: A takes the ticks over within 10 s.
    drop(on_b);
    drop(b);
    let resumed = ticks_during(&mut on_a, Duration::from_secs(10)).await;
    assert!(resumed.len() >= 5, "A ticks within 10 s of B stopping: {}", resumed.len());
    let gaps: Vec<Duration> = resumed.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.iter().filter(|g| **g < Duration::from_millis(500)).count() <= 1, "not doubled: {gaps:?}");
}

async fn connect_as(app: &TestApp, path: &str, cookie: &str) -> Socket {
    let mut request = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!(
        "ws://{}{path}",
        app.addr
    ))
    .unwrap();
    request.headers_mut().insert("cookie", cookie.parse().unwrap());
    tokio_tungstenite::connect_async(request).await.expect("websocket opens").0
}

/// A quiet socket (a team draft between picks) is pinged, so proxies keep it open.
#[tokio::test]
async fn quiet_sockets_are_pinged() {
    let args = ["--ws-ping-secs", "1"].map(String::from).to_vec();
    let app = TestApp::spawn_with(Backend::Sqlite, tests::Options { args, ..Default::default() }).await;
    let staff = app.staff("admin").await;
    let t = fixtures::tournament(&staff, "Quiet").await;
    let mut socket = connect(&app, &format!("/api/tournament/{t}/")).await;
    next_of(&mut socket, "initial_state", Duration::from_secs(5)).await;
    let mut pings = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    while pings < 2 {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, socket.next()).await.expect("pings within 10 s") {
            Some(Ok(Message::Ping(_))) => pings += 1,
            Some(Ok(_)) => {}
            other => panic!("socket ended: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_captains_second_tab_closes_the_first_with_4000() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let staff = app.staff("admin").await;
    let (id, _) = fixtures::hero_draft(&app, &staff).await;
    let captain = app.user("radiant_cap").await;
    let cookie = captain.cookie.clone().unwrap();
    let path = format!("/api/herodraft/{id}/");
    let mut first = connect_as(&app, &path, &cookie).await;
    next_of(&mut first, "initial_state", Duration::from_secs(5)).await;
    let mut spectator = connect(&app, &path).await;
    next_of(&mut spectator, "initial_state", Duration::from_secs(5)).await;
    let mut second = connect_as(&app, &path, &cookie).await;
    next_of(&mut second, "initial_state", Duration::from_secs(5)).await;
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match first.next().await {
                Some(Ok(Message::Close(Some(frame)))) => return u16::from(frame.code),
                Some(Ok(_)) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    })
    .await
    .expect("the first tab is closed");
    assert_eq!(closed, 4000);
    // Spectators and the new tab stay connected.
    staff.post(&format!("/api/herodrafts/{id}/abandon"), json!({})).await;
    next_of(&mut second, "herodraft_event", Duration::from_secs(5)).await;
    next_of(&mut spectator, "herodraft_event", Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_captain_whose_heartbeats_stop_pauses_the_draft() {
    use futures_util::SinkExt;
    let args = ["--herodraft-heartbeat-timeout-ms", "1500"].map(String::from).to_vec();
    let app = TestApp::spawn_with(Backend::Sqlite, tests::Options { args, ..Default::default() }).await;
    let staff = app.staff("admin").await;
    let (id, _) = fixtures::hero_draft(&app, &staff).await;
    fixtures::start_hero_draft(&app, id).await;
    let cookie = app.user("dire_cap").await.cookie.clone().unwrap();
    let mut socket = connect_as(&app, &format!("/api/herodraft/{id}/"), &cookie).await;
    next_of(&mut socket, "initial_state", Duration::from_secs(5)).await;
    // Heartbeats keep the draft running…
    for _ in 0..3 {
        socket.send(Message::Text(r#"{"type":"heartbeat"}"#.into())).await.unwrap();
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    assert_eq!(staff.get(&format!("/api/herodrafts/{id}")).await.body["state"], "drafting");
    // …then they stop (the socket stays open): paused after the timeout.
    let paused = tests::eventually("the draft to pause", Duration::from_secs(10), || async {
        let d = staff.get(&format!("/api/herodrafts/{id}")).await.body;
        (d["state"] == "paused").then_some(d)
    })
    .await;
    assert_eq!(paused["state"], "paused");
    let events = staff.get(&format!("/api/herodrafts/{id}/events?page_size=100")).await.body["results"].clone();
    assert!(
        events
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event_type"] == "draft_paused" && e["metadata"]["reason"] == "heartbeat")
    );
}
