//! Steam lookups through the API: vanity resolve and live games, cached so a
//! burst of identical requests makes one Steam call.

use serde_json::json;
use tests::steam_mock::{MockMatch, SteamMock};
use tests::{Mode, TestApp};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

async fn app_with_lookups(steam: &SteamMock) -> TestApp {
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
    TestApp::spawn_with(Mode::Embedded.backend(), Mode::Embedded.options(steam.args(), false)).await
}

async fn steam_calls(steam: &SteamMock, p: &str) -> usize {
    steam.server.received_requests().await.unwrap().iter().filter(|r| r.url.path() == p).count()
}

#[tokio::test]
async fn vanity_names_resolve_once_and_unknown_ones_are_404() {
    let steam = SteamMock::start(vec![MockMatch::nth(0)]).await;
    let app = app_with_lookups(&steam).await;
    for _ in 0..5 {
        let resp = app.anon().get("/api/steam/resolve?vanity=https://steamcommunity.com/id/GabeN/").await;
        assert_eq!(resp.status, 200, "{}", resp.text);
        assert_eq!(resp.body, json!({"steam_id": 76561197960287930_i64, "account_id": 22202}));
    }
    assert_eq!(steam_calls(&steam, "/ISteamUser/ResolveVanityURL/v1/").await, 1, "a burst makes one Steam call");
    let profile = app.anon().get("/api/steam/resolve?vanity=76561197960287930").await;
    assert_eq!(profile.body["account_id"], 22202, "a SteamID64 needs no Steam call");
    let unknown = app.anon().get("/api/steam/resolve?vanity=nobody_here").await;
    assert_eq!((unknown.status, unknown.error_code().as_str()), (404, "not_found"));
    let bad = app.anon().get("/api/steam/resolve?vanity=not%20a%20name!").await;
    assert_eq!((bad.status, bad.error_code().as_str()), (422, "invalid_vanity"));
}

#[tokio::test]
async fn live_games_are_cached() {
    let steam = SteamMock::start(vec![]).await;
    let app = app_with_lookups(&steam).await;
    for _ in 0..3 {
        let live = app.anon().get("/api/steam/live?league_id=17929").await;
        assert_eq!(live.status, 200, "{}", live.text);
        assert_eq!(live.body["games"][0]["match_id"], 1);
    }
    assert_eq!(steam_calls(&steam, "/IDOTA2Match_570/GetLiveLeagueGames/v1/").await, 1);
}

#[tokio::test]
async fn lookups_without_a_key_say_not_configured() {
    let app = TestApp::spawn(tests::Backend::Sqlite).await;
    let resp = app.anon().get("/api/steam/resolve?vanity=gaben").await;
    assert_eq!((resp.status, resp.error_code().as_str()), (404, "not_configured"));
}
