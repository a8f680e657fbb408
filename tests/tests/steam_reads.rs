//! Steam lookups through the API: vanity resolve and live games, cached so a
//! burst of identical requests makes one Steam call — and never at the
//! league sync's expense (SPEC §20: jobs first, lookups a capped share,
//! anonymous vanity lookups refused, per-user limits).

use serde_json::json;
use tests::steam_mock::{MockMatch, SteamMock};
use tests::{Mode, TestApp};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

async fn app_with_lookups(steam: &SteamMock) -> TestApp {
    app_with_lookups_and(steam, &[]).await
}

async fn app_with_lookups_and(steam: &SteamMock, extra: &[&str]) -> TestApp {
    Mock::given(method("GET"))
        .and(path("/ISteamUser/ResolveVanityURL/v1/"))
        .and(query_param("vanityurl", "gaben"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"response": {"success": 1, "steamid": "76561197960287930"}})),
        )
        .mount(&steam.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/ISteamUser/ResolveVanityURL/v1/"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"response": {"success": 42, "message": "No match"}})),
        )
        .mount(&steam.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/IDOTA2Match_570/GetLiveLeagueGames/v1/"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"result": {"games": [{"match_id": 1, "players": []}], "status": 200}})),
        )
        .mount(&steam.server)
        .await;
    let mut args = steam.args();
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    let app = TestApp::spawn_with(Mode::Embedded.backend(), Mode::Embedded.options(args, false)).await;
    let league = app.staff("admin").await.post("/api/leagues", json!({"steam_league_id": 17929, "name": "DTX"})).await;
    assert_eq!(league.status, 201, "{}", league.text);
    app
}

async fn steam_calls(steam: &SteamMock, p: &str) -> usize {
    steam.server.received_requests().await.unwrap().iter().filter(|r| r.url.path() == p).count()
}

#[tokio::test]
async fn vanity_names_resolve_once_and_unknown_ones_are_404() {
    let steam = SteamMock::start(vec![MockMatch::nth(0)]).await;
    let app = app_with_lookups(&steam).await;
    let anonymous = app.anon().get("/api/steam/resolve?vanity=gaben").await;
    assert_eq!(anonymous.status, 401, "a vanity lookup spends the Steam budget: logged-in users only");
    let user = app.user("looker").await;
    for _ in 0..5 {
        let resp = user.get("/api/steam/resolve?vanity=https://steamcommunity.com/id/GabeN/").await;
        assert_eq!(resp.status, 200, "{}", resp.text);
        assert_eq!(resp.body, json!({"steam_id": "76561197960287930", "account_id": 22202}));
    }
    assert_eq!(steam_calls(&steam, "/ISteamUser/ResolveVanityURL/v1/").await, 1, "a burst makes one Steam call");
    let profile = app.anon().get("/api/steam/resolve?vanity=76561197960287930").await;
    assert_eq!(profile.body["account_id"], 22202, "a SteamID64 needs no Steam call");
    let unknown = user.get("/api/steam/resolve?vanity=nobody_here").await;
    assert_eq!((unknown.status, unknown.error_code().as_str()), (404, "not_found"));
    let bad = app.anon().get("/api/steam/resolve?vanity=not%20a%20name!").await;
    assert_eq!((bad.status, bad.error_code().as_str()), (422, "invalid_vanity"));
}

#[tokio::test]
async fn live_games_are_cached() {
    let steam = SteamMock::start(vec![]).await;
    let app = app_with_lookups(&steam).await;
    for _ in 0..3 {
        let live = app.anon().get(&format!("/api/steam/live?league_id={}", app.league_id(17929).await)).await;
        assert_eq!(live.status, 200, "{}", live.text);
        assert_eq!(live.body["games"][0]["match_id"], 1);
    }
    assert_eq!(steam_calls(&steam, "/IDOTA2Match_570/GetLiveLeagueGames/v1/").await, 1);
    let unknown = app.anon().get("/api/steam/live?league_id=424242").await;
    assert_eq!(unknown.status, 404, "only known leagues: invented ids never reach Steam or the cache");
    assert_eq!(steam_calls(&steam, "/IDOTA2Match_570/GetLiveLeagueGames/v1/").await, 1);
}

/// A flood of lookups while the league syncs: anonymous vanity lookups are
/// refused without a Steam call, a logged-in user's are capped per minute
/// and only take Steam's rate when it is free, and the sync completes.
#[tokio::test]
async fn lookups_never_starve_the_league_sync() {
    let steam = SteamMock::start((0..10).map(MockMatch::nth).collect()).await;
    let app = app_with_lookups_and(&steam, &["--steam-rate-per-sec", "20"]).await;
    let user = app.user("flooder").await;
    let anonymous = futures_util::future::join_all((0..100).map(|i| {
        let anon = app.anon();
        async move { anon.get(&format!("/api/steam/resolve?vanity=name{i}")).await.status }
    }));
    let logged_in = futures_util::future::join_all((0..30).map(|i| {
        let user = &user;
        async move { user.get(&format!("/api/steam/resolve?vanity=user{i}")).await.status }
    }));
    let sync = worker::domain::sync::league_sync::sync_league(&app.state.jobs, 17929, false);
    let (anonymous, logged_in, synced) = tokio::join!(anonymous, logged_in, sync);
    assert!(anonymous.iter().all(|s| *s == 401), "{anonymous:?}");
    let synced = synced.expect("the sync succeeds");
    assert_eq!(synced["ingested"], 10, "{synced}");
    let reached_steam = steam_calls(&steam, "/ISteamUser/ResolveVanityURL/v1/").await;
    assert!(reached_steam <= 10, "at most the per-user budget reaches Steam: {reached_steam}");
    assert!(logged_in.iter().filter(|s| **s == 429).count() >= 20, "the rest are told to wait: {logged_in:?}");
    assert!(logged_in.iter().all(|s| matches!(s, 404 | 429)), "{logged_in:?}");
}

/// Thirty users asking the same name at once make one Steam call.
#[tokio::test]
async fn identical_lookups_share_one_steam_call() {
    let steam = SteamMock::start(vec![]).await;
    let app = app_with_lookups(&steam).await;
    let mut users = Vec::new();
    for i in 0..30 {
        users.push(app.user(&format!("fan{i}")).await);
    }
    let answers =
        futures_util::future::join_all(users.iter().map(|u| async { u.get("/api/steam/resolve?vanity=gaben").await }))
            .await;
    assert!(answers.iter().all(|a| a.status == 200), "{:?}", answers.iter().map(|a| a.status).collect::<Vec<_>>());
    assert_eq!(steam_calls(&steam, "/ISteamUser/ResolveVanityURL/v1/").await, 1, "single flight");
}

#[tokio::test]
async fn lookups_without_a_key_say_not_configured() {
    let app = TestApp::spawn(tests::Backend::Sqlite).await;
    let resp = app.user("looker").await.get("/api/steam/resolve?vanity=gaben").await;
    assert_eq!((resp.status, resp.error_code().as_str()), (404, "not_configured"));
}

/// Six users asking the same name while Steam fails share that one failed
/// call (503 each); the next request tries Steam again.
#[tokio::test]
async fn identical_lookups_share_one_failed_steam_call() {
    let steam = SteamMock::start(vec![]).await;
    Mock::given(method("GET"))
        .and(path("/ISteamUser/ResolveVanityURL/v1/"))
        .and(query_param("vanityurl", "flaky"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string("<html>Steam is down</html>")
                .set_delay(std::time::Duration::from_millis(300)),
        )
        .with_priority(1)
        .mount(&steam.server)
        .await;
    let app = app_with_lookups(&steam).await;
    let mut users = Vec::new();
    for i in 0..6 {
        users.push(app.user(&format!("fan{i}")).await);
    }
    let answers =
        futures_util::future::join_all(users.iter().map(|u| async { u.get("/api/steam/resolve?vanity=flaky").await }))
            .await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [503; 6], "{:?}", answers.iter().map(|a| &a.text).collect::<Vec<_>>());
    assert_eq!(steam_calls(&steam, "/ISteamUser/ResolveVanityURL/v1/").await, 1, "one failed call, shared");
    assert_eq!(users[0].get("/api/steam/resolve?vanity=flaky").await.status, 503);
    assert_eq!(steam_calls(&steam, "/ISteamUser/ResolveVanityURL/v1/").await, 2, "a failure is not cached");
}
