//! Live events arrive exactly (SPEC §11): every event row, once, in id
//! order, on the draft's socket and on the tournament's socket — also one
//! opened before the draft existed — on one instance and across two; and
//! presence tells whether a captain is connected, on either instance.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use tests::ws::{self, Socket};
use tests::{Backend, Caller, Options, TestApp, eventually, fixtures, on_both_databases};

const PLAYERS: usize = 16;

/// Every event of a draft through the paginated REST endpoint, oldest first.
async fn rest_events(caller: &Caller<'_>, draft: i64) -> Vec<Value> {
    let mut events = Vec::new();
    let mut page = 1;
    loop {
        let resp = caller.get(&format!("/api/drafts/{draft}/events?page={page}&page_size=7")).await;
        assert_eq!(resp.status, 200, "{}", resp.text);
        let results = resp.body["results"].as_array().unwrap().clone();
        if results.is_empty() {
            return events;
        }
        events.extend(results);
        page += 1;
    }
}

/// Reads a socket until `draft_completed`, then makes sure nothing more comes.
async fn ids_through_completion(socket: &mut Socket) -> Vec<i64> {
    let ids = ws::event_ids_until(socket, Duration::from_secs(20), |e| e["event_type"] == "draft_completed").await;
    let extra = ws::event_ids_until(socket, Duration::from_millis(1500), |_| false).await;
    assert!(extra.is_empty(), "events after the last one (doubled?): {extra:?}");
    ids
}

/// A shuffle draft of four equal teams (every pick ties, so one pick writes
/// `player_picked`, `tie_roll` and `captain_assigned`), made through
/// `actors`, watched on `watchers` by a tournament socket opened before the
/// draft exists and a draft socket opened after it started.
async fn shuffle_draft_watched(actors: &TestApp, watchers: &TestApp) {
    let staff = actors.staff("admin").await;
    let t = fixtures::tournament(&staff, "Shuffle night").await;
    let mut ids = Vec::new();
    for i in 0..(4 + PLAYERS) {
        ids.push(fixtures::user(&staff, &format!("p{i}"), 1000).await);
    }
    fixtures::add_players(&staff, t, &ids).await;
    for (order, captain) in ids[..4].iter().enumerate() {
        fixtures::team(&staff, t, &format!("Team {order}"), *captain, order as i32).await;
    }
    let mut on_tournament = ws::connect(watchers, &format!("/api/tournament/{t}/")).await;
    let initial = ws::next_of(&mut on_tournament, "initial_state", Duration::from_secs(5)).await;
    assert_eq!(initial["state"], Value::Null, "no draft yet");

    let draft = staff.post(&format!("/api/tournaments/{t}/draft"), json!({"draft_style": "shuffle"})).await;
    assert_eq!(draft.status, 201, "{}", draft.text);
    let draft = draft.id();
    let mut on_draft = ws::connect(watchers, &format!("/api/draft/{draft}/")).await;
    for _ in 0..PLAYERS {
        let state = staff.get(&format!("/api/drafts/{draft}")).await.body;
        let next = state["users_remaining"][0]["id"].as_i64().unwrap();
        let picked = staff.post(&format!("/api/drafts/{draft}/pick"), json!({"user_id": next})).await;
        assert_eq!(picked.status, 200, "{}", picked.text);
    }

    let expected = rest_events(&staff, draft).await;
    let expected_ids: Vec<i64> = expected.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    let mut by_type: BTreeMap<&str, usize> = BTreeMap::new();
    for e in &expected {
        *by_type.entry(e["event_type"].as_str().unwrap()).or_default() += 1;
    }
    // Worked by hand: 16 picks; a captain before each pick (16); one start, one end; every pick of
    // equal teams ties until their totals differ, so there are tie rolls.
    assert_eq!(by_type["player_picked"], PLAYERS);
    assert_eq!(by_type["captain_assigned"], PLAYERS);
    assert_eq!((by_type["draft_started"], by_type["draft_completed"]), (1, 1));
    assert!(by_type["tie_roll"] >= 4, "equal teams tie: {by_type:?}");
    assert!(expected_ids.windows(2).all(|w| w[0] < w[1]), "oldest first");

    assert_eq!(ids_through_completion(&mut on_tournament).await, expected_ids, "the socket opened before the draft");
    assert_eq!(ids_through_completion(&mut on_draft).await, expected_ids, "the draft socket");

    let caught_up = staff.get(&format!("/api/drafts/{draft}/events?after={}", expected_ids[10])).await;
    let tail: Vec<i64> =
        caught_up.body["results"].as_array().unwrap().iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert_eq!(tail, expected_ids[11..].iter().take(20).copied().collect::<Vec<_>>(), "?after= catches up");
    let pick = expected.iter().find(|e| e["event_type"] == "player_picked").unwrap();
    let payload = &pick["payload"];
    assert!(payload["captain"]["username"].is_string() && payload["player"]["username"].is_string(), "{pick}");
    assert_eq!(payload["team"]["total_mmr"], 2000, "captain and the first pick, 1000 each: {pick}");
}

async fn a_shuffle_draft_reaches_every_socket_exactly_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    shuffle_draft_watched(&app, &app).await;
}

on_both_databases!(a_shuffle_draft_reaches_every_socket_exactly_once);

#[tokio::test]
async fn a_shuffle_draft_on_one_instance_reaches_sockets_on_another_exactly_once() {
    let a = TestApp::spawn_with(Backend::Postgres, Options { redis: true, ..Default::default() }).await;
    let b = a.sibling().await;
    shuffle_draft_watched(&a, &b).await;
}

/// `is_connected` follows a captain's socket on any instance.
#[tokio::test]
async fn is_connected_while_the_captains_socket_is_open_on_either_instance() {
    let a = TestApp::spawn_with(Backend::Postgres, Options { redis: true, ..Default::default() }).await;
    let b = a.sibling().await;
    let staff = a.staff("admin").await;
    let (id, [radiant, _]) = fixtures::hero_draft(&a, &staff).await;
    let connected = |body: &Value| -> bool {
        body["teams"].as_array().unwrap().iter().find(|t| t["captain_id"] == radiant).unwrap()["is_connected"]
            .as_bool()
            .unwrap()
    };
    let on_b = b.anon();
    assert!(!connected(&on_b.get(&format!("/api/herodrafts/{id}")).await.body), "nobody connected yet");
    let cookie = a.user("radiant_cap").await.cookie.clone().unwrap();
    let mut socket = ws::connect_as(&a, &format!("/api/herodraft/{id}/"), &cookie).await;
    ws::next_of(&mut socket, "initial_state", Duration::from_secs(5)).await;
    eventually("B to see the captain connected", Duration::from_secs(5), || async {
        connected(&on_b.get(&format!("/api/herodrafts/{id}")).await.body).then_some(())
    })
    .await;
    drop(socket);
    eventually("B to see the captain gone", Duration::from_secs(5), || async {
        (!connected(&on_b.get(&format!("/api/herodrafts/{id}")).await.body)).then_some(())
    })
    .await;
}
