//! The Steam client under pressure: one rate limit shared by processes,
//! Retry-After honoured, the API key in no log line or ledger error.

use std::time::{Duration, Instant};

use serde_json::json;
use tests::steam_mock::{API_KEY, MockMatch, SteamMock};
use tests::{Mode, TestApp};

/// Two "processes" (separate job contexts, separate Redis connections) share
/// one bucket: in every one-second window Steam sees at most rate + burst calls.
#[tokio::test]
async fn two_processes_never_exceed_the_shared_rate() {
    let steam = SteamMock::start((0..3).map(MockMatch::nth).collect()).await;
    let mut args = steam.args();
    let rate = args.iter().position(|a| a == "--steam-rate-per-sec").unwrap();
    args[rate + 1] = "10".into();
    let app = TestApp::spawn_with(Mode::Distributed.backend(), Mode::Distributed.options(args, false)).await;
    let settings = (*app.state.jobs.settings).clone();
    let second_conn = worker::infra::db::connect_redis(&tests::redis_url()).await.unwrap();
    let cache = worker::JobContext::default_cache(&settings, &Some(second_conn.clone()));
    let other = worker::JobContext::build(settings, app.db().clone(), Some(second_conn), cache).await.unwrap();

    let started = Instant::now();
    let mut calls = Vec::new();
    for ctx in [app.state.jobs.clone(), other] {
        for _ in 0..20 {
            let ctx = ctx.clone();
            calls.push(tokio::spawn(async move { ctx.steam.match_history(17929, None, 10).await.map(|_| ()) }));
        }
    }
    for call in calls {
        call.await.unwrap().unwrap();
    }
    let times: Vec<Instant> = steam.state.lock().unwrap().calls.iter().map(|(_, t, _)| *t).collect();
    assert_eq!(times.len(), 40);
    for (i, t) in times.iter().enumerate() {
        let in_window = times[i..].iter().filter(|u| u.duration_since(*t) < Duration::from_secs(1)).count();
        assert!(
            in_window <= 10 + worker::clients::steam::ratelimit::BURST as usize,
            "{in_window} calls within one second"
        );
    }
    assert!(started.elapsed() >= Duration::from_millis(3000), "40 calls at 10/s with a burst of 5 take 3.5 s");
}

/// A 429 with Retry-After: the client waits that long, then carries on.
#[tokio::test]
async fn retry_after_is_honoured() {
    let steam = SteamMock::start((0..3).map(MockMatch::nth).collect()).await;
    steam.state.lock().unwrap().throttle_next = Some((1, 1));
    let app = TestApp::spawn_with(Mode::Embedded.backend(), Mode::Embedded.options(steam.args(), false)).await;
    app.staff("admin").await.post("/api/leagues", json!({"steam_league_id": 17929, "name": "DTX"})).await;
    let result = worker::domain::sync::league_sync::sync_league(&app.state.jobs, 17929, false).await.unwrap();
    assert_eq!(result["ingested"], 3);
    let history: Vec<Instant> = steam
        .state
        .lock()
        .unwrap()
        .calls
        .iter()
        .filter(|(m, _, _)| m == "GetMatchHistory")
        .map(|(_, t, _)| *t)
        .collect();
    assert_eq!(history.len(), 2, "one refused call, one retried");
    assert!(history[1].duration_since(history[0]) >= Duration::from_secs(1), "waited Retry-After before calling again");
}

/// Everything that can fail loudly fails, at TRACE level: the key shows up
/// in neither the logs nor the ledger.
#[tokio::test]
async fn the_api_key_never_appears_in_logs_or_errors() {
    let logs = tests::CapturedLogs::default();
    tracing_subscriber::fmt().with_writer(logs.clone()).with_max_level(tracing::Level::TRACE).with_ansi(false).init();

    // Throttled beyond the inline wait: the job fails with Retry-After.
    let steam = SteamMock::start((0..3).map(MockMatch::nth).collect()).await;
    steam.state.lock().unwrap().throttle_next = Some((100, 120));
    let app = TestApp::spawn_with(Mode::Embedded.backend(), Mode::Embedded.options(steam.args(), true)).await;
    let staff = app.staff("admin").await;
    staff.post("/api/leagues", json!({"steam_league_id": 17929, "name": "DTX"})).await;
    let throttled =
        staff.post("/api/jobs", json!({"kind": "sync_league_matches", "args": {"steam_league_id": 17929}})).await;
    let id = throttled.body["id"].as_str().unwrap().to_owned();
    let failed = tests::eventually("the throttled sync to fail", Duration::from_secs(20), || async {
        let run = staff.get(&format!("/api/jobs/{id}")).await;
        (run.body["status"] == "failed").then_some(run.body)
    })
    .await;
    assert!(failed["error"].as_str().unwrap().contains("rate limited"), "{failed}");

    // Unreachable Steam: the transport error carries the URL, which carries the key.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let args = ["--steam-api-key", API_KEY, "--steam-api-base", &format!("http://{closed}")].map(String::from).to_vec();
    let offline = TestApp::spawn_with(Mode::Embedded.backend(), Mode::Embedded.options(args, false)).await;
    offline.staff("admin").await.post("/api/leagues", json!({"steam_league_id": 17929, "name": "DTX"})).await;
    let err = worker::domain::sync::league_sync::sync_league(&offline.state.jobs, 17929, false).await.unwrap_err();
    assert!(err.to_string().contains("unreachable"), "{err}");
    tracing::error!(error = %err, "logged like the runner does");

    let text = logs.text();
    assert!(text.contains("Steam asked us to wait") || text.contains("rate limited"), "the failures were logged");
    assert!(!text.contains(API_KEY), "the API key leaked into the logs");
    assert!(!err.to_string().contains(API_KEY));
    assert!(!failed.to_string().contains(API_KEY));
    assert!(!format!("{:?}", app.state.jobs.settings).contains(API_KEY), "settings Debug hides secrets");
}
