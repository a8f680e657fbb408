//! The permission matrix: every endpoint × anonymous, user, staff,
//! superuser. Each row runs on fresh records, so a delete by one role does
//! not hide the answer another role gets.

use reqwest::Method;
use serde_json::{Value, json};
use tests::{Backend, Caller, TestApp, fixtures, on_both_databases};

/// Records a case acts on.
struct Ids {
    league: i64,
    tournament: i64,
    team: i64,
    game: i64,
    player: i64,
    plain_user: i64,
    staff_user: i64,
}

async fn fresh_records(root: &Caller<'_>, n: usize) -> Ids {
    let league =
        root.post("/api/leagues", json!({"steam_league_id": 1000 + n as i64, "name": format!("L{n}")})).await.id();
    let tournament = fixtures::tournament(root, &format!("T{n}")).await;
    let captain = fixtures::user(root, &format!("cap{n}"), 3000).await;
    let player = fixtures::user(root, &format!("player{n}"), 2000).await;
    fixtures::add_players(root, tournament, &[captain, player]).await;
    let team = fixtures::team(root, tournament, &format!("Team{n}"), captain, 0).await;
    let game = root.post("/api/games", json!({"tournament_id": tournament, "radiant_team_id": team})).await.id();
    let plain_user = fixtures::user(root, &format!("plain{n}"), 1000).await;
    let staff_user = root.post("/api/users", json!({"username": format!("staffer{n}"), "is_staff": true})).await.id();
    Ids { league, tournament, team, game, player, plain_user, staff_user }
}

struct Case {
    method: Method,
    path: fn(&Ids) -> String,
    body: fn(&Ids) -> Option<Value>,
    /// anonymous, user, staff, superuser
    expect: [u16; 4],
}

fn case(method: Method, path: fn(&Ids) -> String, body: fn(&Ids) -> Option<Value>, expect: [u16; 4]) -> Case {
    Case { method, path, body, expect }
}

fn cases() -> Vec<Case> {
    use Method as M;
    let none = |_: &Ids| None;
    vec![
        case(M::GET, |_| "/api/users".into(), none, [200, 200, 200, 200]),
        case(M::GET, |i| format!("/api/users/{}", i.plain_user), none, [200, 200, 200, 200]),
        case(M::GET, |_| "/api/users/search?q=plain".into(), none, [401, 200, 200, 200]),
        case(M::GET, |_| "/api/me".into(), none, [401, 200, 200, 200]),
        case(
            M::POST,
            |_| "/api/users".into(),
            |i| Some(json!({"username": format!("newbie{}", i.plain_user)})),
            [401, 403, 201, 201],
        ),
        case(
            M::POST,
            |_| "/api/users".into(),
            |i| Some(json!({"username": format!("newstaff{}", i.plain_user), "is_staff": true})),
            [401, 403, 403, 201],
        ),
        case(
            M::PATCH,
            |i| format!("/api/users/{}", i.plain_user),
            |_| Some(json!({"mmr": 1234})),
            [401, 403, 200, 200],
        ),
        case(
            M::PATCH,
            |i| format!("/api/users/{}", i.plain_user),
            |_| Some(json!({"is_superuser": true})),
            [401, 403, 403, 200],
        ),
        case(
            M::PATCH,
            |i| format!("/api/users/{}", i.plain_user),
            |_| Some(json!({"is_staff": true})),
            [401, 403, 403, 200],
        ),
        case(M::DELETE, |i| format!("/api/users/{}", i.plain_user), none, [401, 403, 204, 204]),
        case(M::DELETE, |i| format!("/api/users/{}", i.staff_user), none, [401, 403, 403, 204]),
        case(M::GET, |_| "/api/leagues".into(), none, [200, 200, 200, 200]),
        case(M::GET, |i| format!("/api/leagues/{}", i.league), none, [200, 200, 200, 200]),
        case(
            M::POST,
            |_| "/api/leagues".into(),
            |i| Some(json!({"steam_league_id": 100_000 + i.plain_user, "name": "New"})),
            [401, 403, 201, 201],
        ),
        case(
            M::PATCH,
            |i| format!("/api/leagues/{}", i.league),
            |_| Some(json!({"name": "Renamed"})),
            [401, 403, 200, 200],
        ),
        case(M::DELETE, |i| format!("/api/leagues/{}", i.league), none, [401, 403, 204, 204]),
        case(M::GET, |_| "/api/tournaments".into(), none, [200, 200, 200, 200]),
        case(M::GET, |i| format!("/api/tournaments/{}", i.tournament), none, [200, 200, 200, 200]),
        case(
            M::POST,
            |_| "/api/tournaments".into(),
            |_| Some(json!({"name": "Open", "date_played": "2026-12-24T18:00:00Z"})),
            [401, 403, 201, 201],
        ),
        case(
            M::PATCH,
            |i| format!("/api/tournaments/{}", i.tournament),
            |_| Some(json!({"state": "in_progress"})),
            [401, 403, 200, 200],
        ),
        case(M::DELETE, |i| format!("/api/tournaments/{}", i.tournament), none, [401, 403, 204, 204]),
        case(
            M::POST,
            |i| format!("/api/tournaments/{}/players", i.tournament),
            |i| Some(json!({"user_ids": [i.plain_user]})),
            [401, 403, 200, 200],
        ),
        case(
            M::DELETE,
            |i| format!("/api/tournaments/{}/players/{}", i.tournament, i.player),
            none,
            [401, 403, 204, 204],
        ),
        case(M::GET, |_| "/api/teams".into(), none, [200, 200, 200, 200]),
        case(M::GET, |i| format!("/api/teams/{}", i.team), none, [200, 200, 200, 200]),
        case(
            M::POST,
            |_| "/api/teams".into(),
            |i| Some(json!({"tournament_id": i.tournament, "name": "Second", "captain_id": i.player})),
            [401, 403, 201, 201],
        ),
        case(
            M::PATCH,
            |i| format!("/api/teams/{}", i.team),
            |_| Some(json!({"name": "Renamed", "draft_order": 3})),
            [401, 403, 200, 200],
        ),
        case(M::DELETE, |i| format!("/api/teams/{}", i.team), none, [401, 403, 204, 204]),
        case(M::GET, |_| "/api/games".into(), none, [200, 200, 200, 200]),
        case(M::GET, |i| format!("/api/games/{}", i.game), none, [200, 200, 200, 200]),
        case(
            M::POST,
            |_| "/api/games".into(),
            |i| Some(json!({"tournament_id": i.tournament, "round": 2})),
            [401, 403, 201, 201],
        ),
        case(M::PATCH, |i| format!("/api/games/{}", i.game), |_| Some(json!({"status": "live"})), [401, 403, 200, 200]),
        case(M::DELETE, |i| format!("/api/games/{}", i.game), none, [401, 403, 204, 204]),
    ]
}

async fn every_endpoint_by_every_role(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let root = app.superuser("root").await;
    let roles: [Caller<'_>; 4] =
        [app.anon(), app.user("alice").await, app.staff("steve").await, app.superuser("sue").await];
    let role_names = ["anonymous", "user", "staff", "superuser"];
    let mut n = 0;
    let mut failures = Vec::new();
    for c in cases() {
        for (role, caller) in roles.iter().enumerate() {
            n += 1;
            let ids = fresh_records(&root, n).await;
            let path = (c.path)(&ids);
            let body = (c.body)(&ids).map(|b| ("application/json", b.to_string().into_bytes()));
            let resp = caller.send(c.method.clone(), &path, body, &[]).await;
            if resp.status != c.expect[role] {
                failures.push(format!(
                    "{} {path} as {}: {} (expected {}) {}",
                    c.method, role_names[role], resp.status, c.expect[role], resp.text
                ));
            } else if resp.status >= 400 {
                resp.error_code();
            }
        }
    }
    assert!(failures.is_empty(), "permission matrix broken:\n{}", failures.join("\n"));
}

on_both_databases!(every_endpoint_by_every_role);
