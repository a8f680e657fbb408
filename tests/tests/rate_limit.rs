//! Write limits that fit deployments (SPEC §18): per user when logged in
//! (staff generously), per client address when anonymous, the client address
//! from `X-Forwarded-For` only behind a trusted proxy, shared by every
//! instance in distributed mode.

use reqwest::Method;
use serde_json::json;
use tests::{Backend, Options, TestApp};

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// The budgets a deployment gets when it sets nothing.
const DEFAULTS: [&str; 6] =
    ["--rate-limit-per-minute", "300", "--rate-limit-user-per-minute", "600", "--rate-limit-staff-per-minute", "3000"];

#[tokio::test]
async fn writes_past_the_limit_get_429_and_reads_do_not() {
    let args = args(&["--rate-limit-staff-per-minute", "10"]);
    let app = TestApp::spawn_with(Backend::Sqlite, Options { args, ..Default::default() }).await;
    let staff = app.staff("admin").await;
    let mut statuses = Vec::new();
    let mut refused = None;
    for i in 0..15 {
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

/// A league night from one office: 30 people behind one address, 450 writes
/// in well under a minute, never a 429 with the default budgets.
#[tokio::test]
async fn thirty_users_behind_one_address_are_not_throttled() {
    let app = TestApp::spawn_with(Backend::Sqlite, Options { args: args(&DEFAULTS), ..Default::default() }).await;
    let mut users = Vec::new();
    for i in 0..30 {
        users.push(app.user(&format!("player{i}")).await);
    }
    let mut refused = 0;
    for round in 0..15 {
        for user in &users {
            let resp = user.patch("/api/me", json!({"nickname": format!("n{round}")})).await;
            refused += usize::from(resp.status == 429);
            assert!(resp.status == 200 || resp.status == 429, "{}", resp.text);
        }
    }
    assert_eq!(refused, 0, "450 writes by 30 users from one address");
}

/// An anonymous login of `u{n}`, sent with an `X-Forwarded-For`.
async fn login(app: &TestApp, n: usize, forwarded: &str) -> u16 {
    let body = json!({"username": format!("u{n}")}).to_string().into_bytes();
    app.anon()
        .send(Method::POST, "/api/tests/login", Some(("application/json", body)), &[("x-forwarded-for", forwarded)])
        .await
        .status
}

/// Anonymous logins: each forwarded client has a budget of its own behind a
/// trusted proxy; without one, a forged header changes nothing.
#[tokio::test]
async fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
    let proxied = TestApp::spawn_with(
        Backend::Sqlite,
        Options {
            args: args(&["--rate-limit-per-minute", "10", "--trusted-proxies", "127.0.0.1/32"]),
            ..Default::default()
        },
    )
    .await;
    let mut first = Vec::new();
    for n in 0..8 {
        first.push(login(&proxied, n, "198.51.100.1").await);
    }
    assert!(first.contains(&429), "one forwarded client runs out: {first:?}");
    assert_eq!(login(&proxied, 100, "198.51.100.2").await, 200, "another forwarded client has its own budget");

    let direct = TestApp::spawn_with(
        Backend::Sqlite,
        Options { args: args(&["--rate-limit-per-minute", "10"]), ..Default::default() },
    )
    .await;
    let mut forged = Vec::new();
    for n in 0..8 {
        forged.push(login(&direct, n, &format!("203.0.113.{n}")).await);
    }
    assert!(forged.contains(&429), "a forged X-Forwarded-For without a trusted proxy buys nothing: {forged:?}");
}

/// In distributed mode the budget is one, whichever instance a write reaches.
#[tokio::test]
async fn the_budget_is_shared_by_every_instance() {
    let limited = args(&["--rate-limit-user-per-minute", "10"]);
    let a =
        TestApp::spawn_with(Backend::Postgres, Options { redis: true, args: limited.clone(), ..Default::default() })
            .await;
    let b = a.sibling_with(Options { args: limited, ..Default::default() }).await;
    let cookie = a.user("roamer").await.cookie;
    let on_a = tests::Caller { app: &a, cookie: cookie.clone() };
    let on_b = tests::Caller { app: &b, cookie };
    // The shared budget is a window per clock minute: start well inside one.
    while chrono::Timelike::second(&chrono::Utc::now()) >= 50 {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let mut statuses = Vec::new();
    for i in 0..8 {
        statuses.push(on_a.patch("/api/me", json!({"nickname": format!("a{i}")})).await.status);
        statuses.push(on_b.patch("/api/me", json!({"nickname": format!("b{i}")})).await.status);
    }
    let allowed = statuses.iter().filter(|s| **s == 200).count();
    assert_eq!(allowed, 10, "10 writes a minute in all, across both instances: {statuses:?}");
}
