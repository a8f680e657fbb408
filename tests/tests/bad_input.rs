//! Bad input gets a 4xx with the error body, and changes nothing.

use reqwest::Method;
use serde_json::json;
use tests::{Backend, TestApp, fixtures, on_both_databases};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Tables a bad request must leave untouched.
const TABLES: [&str; 6] = ["users", "leagues", "tournaments", "tournament_users", "teams", "games"];

async fn snapshot(app: &TestApp) -> Vec<i64> {
    let mut counts = Vec::new();
    for table in TABLES {
        counts.push(app.count(table).await);
    }
    counts
}

async fn malformed_and_mistyped_bodies(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let staff = app.staff("admin").await;
    let t = fixtures::tournament(&staff, "Cup").await;
    let before = snapshot(&app).await;
    let cases: Vec<(Method, String, Vec<u8>, u16, &str)> = vec![
        (Method::POST, "/api/users".into(), b"{bad".to_vec(), 400, "bad_request"),
        (Method::POST, "/api/users".into(), br#"{"username": {"a": 1}}"#.to_vec(), 400, "bad_request"),
        (Method::POST, "/api/users".into(), br#"{"username": "x", "mmr": "high"}"#.to_vec(), 400, "bad_request"),
        (Method::POST, "/api/users".into(), br#"{"username": "x", "is_staff": "yes"}"#.to_vec(), 400, "bad_request"),
        (Method::POST, "/api/users".into(), br#"{}"#.to_vec(), 400, "bad_request"),
        (Method::POST, "/api/users".into(), br#"[1,2]"#.to_vec(), 400, "bad_request"),
        (Method::POST, "/api/users".into(), br#"{"username": "x", "steamid": 1}"#.to_vec(), 400, "bad_request"),
        (Method::POST, "/api/users".into(), br#"{"username": "x", "mmr": 99999999999}"#.to_vec(), 400, "bad_request"),
        (Method::POST, "/api/users".into(), br#"{"username": "x", "mmr": 30000}"#.to_vec(), 400, "bad_request"),
        (
            Method::POST,
            "/api/users".into(),
            br#"{"username": "x", "positions": {"carry": 9}}"#.to_vec(),
            400,
            "bad_request",
        ),
        (
            Method::POST,
            "/api/users".into(),
            "{\"username\": \"a\\u0000b\"}".as_bytes().to_vec(),
            422,
            "invalid_character",
        ),
        (Method::POST, "/api/users".into(), br#"{"username": "   "}"#.to_vec(), 422, "invalid_field"),
        (
            Method::POST,
            "/api/users".into(),
            br#"{"username": "x", "steamId": 4294967295}"#.to_vec(),
            422,
            "invalid_field",
        ),
        (
            Method::POST,
            "/api/users".into(),
            br#"{"username": "x", "steamId": "7656119x"}"#.to_vec(),
            422,
            "invalid_field",
        ),
        (
            Method::POST,
            "/api/users".into(),
            br#"{"username": "x", "steamId": "https://steamcommunity.com/id/gaben"}"#.to_vec(),
            422,
            "steam_vanity_url",
        ),
        (Method::POST, "/api/users".into(), br#"{"username": "x", "discordId": "abc"}"#.to_vec(), 400, "bad_request"),
        // Strings are JSON strings: a number is not an idempotency key (found by schemathesis).
        (
            Method::POST,
            "/api/jobs".into(),
            br#"{"kind": "check_scheduled_events", "args": {}, "idempotency_key": 5}"#.to_vec(),
            400,
            "bad_request",
        ),
        (
            Method::POST,
            "/api/jobs/batch".into(),
            br#"{"jobs": [{"kind": "check_scheduled_events", "idempotency_key": true}]}"#.to_vec(),
            400,
            "bad_request",
        ),
        (
            Method::POST,
            "/api/tournaments".into(),
            br#"{"name": "x", "date_played": "yesterday"}"#.to_vec(),
            400,
            "bad_request",
        ),
        (
            Method::POST,
            "/api/tournaments".into(),
            br#"{"name": "x", "date_played": "2026-12-01T00:00:00Z", "tournament_type": "knockout"}"#.to_vec(),
            400,
            "bad_request",
        ),
        (
            Method::POST,
            "/api/tournaments".into(),
            br#"{"name": "x", "date_played": "2026-12-01T00:00:00Z", "league_id": 999}"#.to_vec(),
            422,
            "unknown_league",
        ),
        (
            Method::POST,
            "/api/tournaments".into(),
            br#"{"name": "x", "date_played": "2026-12-01T00:00:00Z", "timezone": "Mars Base"}"#.to_vec(),
            422,
            "invalid_field",
        ),
        (Method::POST, format!("/api/tournaments/{t}/players"), br#"{"user_ids": []}"#.to_vec(), 400, "bad_request"),
        (
            Method::POST,
            format!("/api/tournaments/{t}/players"),
            br#"{"user_ids": [1, 424242]}"#.to_vec(),
            422,
            "unknown_users",
        ),
        (Method::POST, "/api/tournaments/424242/players".into(), br#"{"user_ids": [1]}"#.to_vec(), 404, "not_found"),
        (
            Method::POST,
            "/api/teams".into(),
            br#"{"tournament_id": 424242, "name": "x"}"#.to_vec(),
            422,
            "unknown_tournament",
        ),
        (Method::POST, "/api/games".into(), br#"{"tournament_id": 424242}"#.to_vec(), 422, "unknown_tournament"),
        (Method::POST, "/api/leagues".into(), br#"{"steam_league_id": -5, "name": "x"}"#.to_vec(), 400, "bad_request"),
        (Method::PATCH, "/api/users/424242".into(), br#"{"mmr": 1}"#.to_vec(), 404, "not_found"),
        (
            Method::PATCH,
            format!("/api/tournaments/{t}"),
            br#"{"winning_team_id": 424242}"#.to_vec(),
            422,
            "unknown_team",
        ),
        (Method::DELETE, "/api/teams/424242".into(), vec![], 404, "not_found"),
    ];
    let mut failures = Vec::new();
    for (method, path, body, status, code) in cases {
        let resp = staff.raw(method.clone(), &path, &body).await;
        if resp.status != status || resp.body["error"]["code"] != code {
            failures.push(format!(
                "{method} {path} {}: got {} {}",
                String::from_utf8_lossy(&body),
                resp.status,
                resp.text
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(snapshot(&app).await, before, "bad requests wrote nothing");
}

async fn bad_params_and_paths(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for path in [
        "/api/users/abc",
        "/api/users/99999999999999999999999",
        "/api/users?page=0",
        "/api/users?page_size=101",
        "/api/users?page=-1",
        "/api/tournaments?state=sideways",
        "/api/games?status=1",
    ] {
        let resp = app.anon().get(path).await;
        assert_eq!(resp.status, 400, "{path}: {}", resp.text);
        assert_eq!(resp.error_code(), "bad_request");
    }
    let missing = app.anon().get("/api/tournaments/424242").await;
    assert_eq!((missing.status, missing.error_code().as_str()), (404, "not_found"));
}

async fn oversize_bodies_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let staff = app.staff("admin").await;
    let before = snapshot(&app).await;
    let huge = format!(r#"{{"username": "{}"}}"#, "x".repeat(2 << 20));
    let resp = staff.raw(Method::POST, "/api/users", huge.as_bytes()).await;
    assert_eq!((resp.status, resp.error_code().as_str()), (413, "payload_too_large"));

    // Without a Content-Length (chunked), the limit still holds.
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let cookie = staff.cookie.clone().unwrap();
    let head = format!(
        "POST /api/users HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b' '; 64 * 1024];
    for _ in 0..40 {
        let sent = stream
            .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .await
            .and(stream.write_all(&chunk).await)
            .and(stream.write_all(b"\r\n").await);
        if sent.is_err() {
            break; // the server answered and closed early
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "chunked oversize body: {}", answer.lines().next().unwrap_or(""));
    assert_eq!(snapshot(&app).await, before);
}

async fn wrong_content_type(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let staff = app.staff("admin").await;
    let resp = staff.send(Method::POST, "/api/users", Some(("text/plain", b"username=x".to_vec())), &[]).await;
    assert_eq!((resp.status, resp.error_code().as_str()), (415, "unsupported_media_type"));
    assert_eq!(app.count("users").await, 1);
    let _ = json!({});
}

on_both_databases!(
    malformed_and_mistyped_bodies,
    bad_params_and_paths,
    oversize_bodies_are_refused,
    wrong_content_type
);
