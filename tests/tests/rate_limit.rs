//! The per-IP limit on writes and logins.

use serde_json::json;
use tests::{Backend, Options, TestApp};

#[tokio::test]
async fn writes_past_the_limit_get_429_and_reads_do_not() {
    let args = ["--rate-limit-per-minute", "10"].map(String::from).to_vec();
    let app = TestApp::spawn_with(Backend::Sqlite, Options { args, ..Default::default() }).await;
    let staff = app.staff("admin").await; // one write (the login)
    let mut statuses = Vec::new();
    let mut refused = None;
    for i in 0..5 {
        let resp = staff.post("/api/leagues", json!({"steam_league_id": 100 + i, "name": format!("L{i}")})).await;
        statuses.push(resp.status);
        if resp.status == 429 {
            refused = Some(resp);
        }
    }
    let refused = refused.unwrap_or_else(|| panic!("no 429 in {statuses:?}"));
    assert_eq!(refused.error_code(), "rate_limited");
    assert!(refused.headers.get("retry-after").is_some(), "Retry-After tells when to come back");
    let created = statuses.iter().filter(|s| **s == 201).count() as i64;
    assert!(created >= 1, "{statuses:?}");
    assert_eq!(app.count("leagues").await, created, "refused writes wrote nothing");
    for _ in 0..20 {
        assert_eq!(app.anon().get("/api/leagues").await.status, 200, "reads are not limited");
    }
}
