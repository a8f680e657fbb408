//! Discord OAuth2 login against a mock Discord, CSRF, sessions in Redis.

use api::auth::pkce::s256_challenge;
use serde_json::json;
use tests::{Backend, Options, TestApp, on_both_databases};
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const FRONTEND: &str = "http://front.example";

async fn mock_discord(discord_id: &str, username: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth2/token"))
        .and(body_string_contains("code=good-code"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": "tok", "token_type": "Bearer", "expires_in": 604800})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/oauth2/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": "invalid_grant"})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v10/users/@me"))
        .and(header("authorization", "Bearer tok"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"id": discord_id, "username": username, "global_name": "Ana Global", "avatar": "a_1269e74af4df7417b13759eae50c83dc"}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v10/users/@me/guilds/734185035623825559/member"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"nick": "GuildAna"})))
        .mount(&server)
        .await;
    server
}

async fn app_with_discord(backend: Backend, discord: &MockServer, redis: bool) -> TestApp {
    let args = [
        "--discord-client-id",
        "1234",
        "--discord-client-secret",
        "shh",
        "--discord-api-base",
        &discord.uri(),
        "--discord-guild-id",
        "734185035623825559",
        "--frontend-url",
        FRONTEND,
    ];
    TestApp::spawn_with(backend, Options { redis, args: args.map(String::from).to_vec(), ..Default::default() }).await
}

/// A login as a browser makes it: the redirect's `state` and PKCE challenge,
/// and the cookie that binds the state to this browser.
struct Login {
    state: String,
    challenge: String,
    binding: String,
}

impl Login {
    /// Discord sends the browser back with `code`.
    async fn callback(&self, app: &TestApp, code: &str) -> tests::Resp {
        let path = format!("/api/auth/discord/callback?code={code}&state={}", self.state);
        app.anon().send(reqwest::Method::GET, &path, None, &[("cookie", &self.binding)]).await
    }
}

/// Follows the login redirect.
async fn begin_login(app: &TestApp) -> Login {
    let resp = app.anon().get("/api/auth/discord/login").await;
    assert_eq!(resp.status, 302);
    let binding = resp.headers["set-cookie"].to_str().unwrap();
    assert!(binding.contains("HttpOnly") && binding.contains("SameSite=Lax"), "{binding}");
    let binding = binding.split(';').next().unwrap().to_owned();
    let location = url::Url::parse(resp.headers["location"].to_str().unwrap()).unwrap();
    let query: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert!(location.path().ends_with("/oauth2/authorize"));
    assert_eq!(query["client_id"], "1234");
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["scope"], "identify guilds.members.read");
    assert!(query["redirect_uri"].ends_with("/api/auth/discord/callback"));
    Login { state: query["state"].clone(), challenge: query["code_challenge"].clone(), binding }
}

async fn discord_login_creates_links_and_never_renames(backend: Backend) {
    let discord = mock_discord("198618246868500481", "ana").await;
    let app = app_with_discord(backend, &discord, false).await;
    let staff = app.staff("admin").await;
    // Someone already has the username "ana": no takeover by name.
    let squatter = tests::fixtures::user(&staff, "ana", 1000).await;

    let login = begin_login(&app).await;
    let forged = Login { state: "forged".into(), challenge: String::new(), binding: login.binding.clone() };
    let wrong = forged.callback(&app, "good-code").await;
    assert_eq!((wrong.status, wrong.error_code().as_str()), (400, "invalid_oauth_state"));

    let done = login.callback(&app, "good-code").await;
    assert_eq!(done.status, 302, "{}", done.text);
    assert_eq!(done.headers["location"], FRONTEND);
    let cookie = done.session_cookie().expect("session cookie");
    let set_cookie = done.headers["set-cookie"].to_str().unwrap();
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"), "{set_cookie}");

    // PKCE: the verifier sent to Discord matches the challenge of the redirect.
    let token_call =
        discord.received_requests().await.unwrap().into_iter().find(|r| r.url.path() == "/oauth2/token").unwrap();
    let form: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(&token_call.body).into_owned().collect();
    assert_eq!(s256_challenge(&form["code_verifier"]), login.challenge);

    let me = tests::Caller { app: &app, cookie: Some(cookie) };
    let profile = me.get("/api/me").await;
    assert_eq!(profile.status, 200);
    assert_eq!(profile.body["discordId"], "198618246868500481");
    assert_eq!(profile.body["username"], "ana_2", "the taken name gets a suffix");
    assert_eq!(profile.body["guildNickname"], "GuildAna");
    assert_eq!(
        profile.body["avatarUrl"],
        "https://cdn.discordapp.com/avatars/198618246868500481/a_1269e74af4df7417b13759eae50c83dc.gif"
    );
    let id = profile.id();
    assert_ne!(id, squatter);

    // The state is single-use.
    let replay = login.callback(&app, "good-code").await;
    assert_eq!(replay.status, 400);

    // Staff renames the user; the next login links by Discord id and keeps the name.
    staff.patch(&format!("/api/users/{id}"), json!({"username": "Ana the Great"})).await;
    let again = begin_login(&app).await.callback(&app, "good-code").await;
    assert_eq!(again.status, 302);
    let me = tests::Caller { app: &app, cookie: again.session_cookie() };
    let profile = me.get("/api/me").await;
    assert_eq!((profile.id(), profile.body["username"].as_str()), (id, Some("Ana the Great")));
    assert_eq!(app.count("users").await, 3, "admin, squatter, ana: no duplicate account");

    // A refused code is a clear 400, not a login.
    let refused = begin_login(&app).await.callback(&app, "bad-code").await;
    assert_eq!((refused.status, refused.error_code().as_str()), (400, "oauth_exchange_failed"));
}

/// The first administrator of a new league (SPEC §22): `api grant-superuser
/// --discord-id` on the server makes the account (printed back), the owner
/// of that Discord id logs in and is a superuser; running it again changes
/// nothing, and a malformed id is refused naming the rule.
async fn the_first_administrator_is_granted_on_the_command_line(backend: Backend) {
    let discord = mock_discord("198618246868500481", "founder").await;
    let app = app_with_discord(backend, &discord, false).await;
    let grant = |id: &str| {
        std::process::Command::new(tests::workspace_binary("api"))
            .args(["grant-superuser", "--discord-id", id, "--database-url", app.db_url()])
            .env("RUST_LOG", "warn")
            .output()
            .expect("api grant-superuser runs")
    };
    let first = grant("198618246868500481");
    let said = String::from_utf8_lossy(&first.stdout).to_string();
    assert!(first.status.success(), "{said}{}", String::from_utf8_lossy(&first.stderr));
    assert!(said.contains("(admin) is a superuser, created"), "{said}");
    assert!(grant("198618246868500481").status.success(), "again: nothing changes");
    assert_eq!(app.count("users").await, 1);
    let refused = grant("not-a-snowflake");
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("snowflake"));

    let done = begin_login(&app).await.callback(&app, "good-code").await;
    assert_eq!(done.status, 302, "{}", done.text);
    let me = tests::Caller { app: &app, cookie: done.session_cookie() };
    let profile = me.get("/api/me").await;
    assert_eq!(
        (profile.body["username"].as_str(), profile.body["is_superuser"].as_bool(), profile.body["is_staff"].as_bool()),
        (Some("admin"), Some(true), Some(true)),
        "{}",
        profile.text
    );
    let audit = me.get(&format!("/api/users/{}/identity-changes", profile.id())).await;
    let fields: Vec<&str> =
        audit.body["results"].as_array().unwrap().iter().filter_map(|c| c["field"].as_str()).collect();
    assert!(fields.contains(&"is_superuser"), "the grant is audited: {}", audit.text);
}

/// Login CSRF: an attacker starts a login, then sends the victim the
/// callback link with a valid state. The victim's browser lacks the binding
/// cookie (or has its own login's), so the callback is refused before any
/// call to Discord.
async fn a_callback_without_its_browser_binding_is_refused(backend: Backend) {
    let discord = mock_discord("198618246868500481", "ana").await;
    let app = app_with_discord(backend, &discord, false).await;
    let attackers = begin_login(&app).await;
    let victims = begin_login(&app).await;
    let path = format!("/api/auth/discord/callback?code=good-code&state={}", attackers.state);
    let bare = app.anon().get(&path).await;
    assert_eq!((bare.status, bare.error_code().as_str()), (400, "oauth_state_unbound"));
    let crossed = app.anon().send(reqwest::Method::GET, &path, None, &[("cookie", &victims.binding)]).await;
    assert_eq!((crossed.status, crossed.error_code().as_str()), (400, "oauth_state_unbound"));
    assert!(bare.session_cookie().is_none() && crossed.session_cookie().is_none(), "nobody is logged in");
    let token_calls =
        discord.received_requests().await.unwrap().iter().filter(|r| r.url.path() == "/oauth2/token").count();
    assert_eq!(token_calls, 0, "refused before any call to Discord");
}

async fn discord_login_not_configured(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let resp = app.anon().get("/api/auth/discord/login").await;
    assert_eq!((resp.status, resp.error_code().as_str()), (404, "not_configured"));
}

async fn cross_site_cookie_writes_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let staff = app.staff("admin").await;
    let body = Some(("application/json", br#"{"steam_league_id": 1, "name": "L"}"#.to_vec()));
    let evil =
        staff.send(reqwest::Method::POST, "/api/leagues", body.clone(), &[("origin", "https://evil.example")]).await;
    assert_eq!((evil.status, evil.error_code().as_str()), (403, "cross_site_request"));
    assert_eq!(app.count("leagues").await, 0);
    let ok = staff.send(reqwest::Method::POST, "/api/leagues", body, &[("origin", "http://localhost:5173")]).await;
    assert_eq!(ok.status, 201);
}

on_both_databases!(
    discord_login_creates_links_and_never_renames,
    a_callback_without_its_browser_binding_is_refused,
    discord_login_not_configured,
    cross_site_cookie_writes_are_refused,
    the_first_administrator_is_granted_on_the_command_line
);

/// Distributed mode: sessions and caches live in Redis under the prefix.
#[tokio::test]
async fn redis_mode_keeps_sessions_and_cache_in_redis() {
    let discord = mock_discord("42", "bob").await;
    let app = app_with_discord(Backend::Postgres, &discord, true).await;
    let prefix = app.redis_prefix.clone().unwrap();
    let health = app.anon().get("/api/health").await;
    assert_eq!(health.body["redis"], "ok");

    let done = begin_login(&app).await.callback(&app, "good-code").await;
    let me = tests::Caller { app: &app, cookie: done.session_cookie() };
    assert_eq!(me.get("/api/me").await.body["discordId"], "42");
    assert_eq!(app.count("kv_entries").await, 0, "nothing kept in the database");

    let client = redis::Client::open(tests::redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let sessions: Vec<String> =
        redis::cmd("KEYS").arg(format!("{prefix}:kv:session:*")).query_async(&mut conn).await.unwrap();
    assert_eq!(sessions.len(), 1);

    let staff = app.staff("admin").await;
    let t = tests::fixtures::tournament(&staff, "Cached").await;
    assert_eq!(app.anon().get(&format!("/api/tournaments/{t}")).await.body["name"], "Cached");
    let cached: Vec<String> =
        redis::cmd("KEYS").arg(format!("{prefix}:cache:tournaments:*")).query_async(&mut conn).await.unwrap();
    assert!(!cached.is_empty(), "detail cached in Redis");
    staff.patch(&format!("/api/tournaments/{t}"), json!({"name": "Fresh"})).await;
    assert_eq!(
        app.anon().get(&format!("/api/tournaments/{t}")).await.body["name"],
        "Fresh",
        "read after write is not stale"
    );

    let logout = me.post("/api/auth/logout", json!({})).await;
    assert_eq!(logout.status, 204);
    let sessions: Vec<String> =
        redis::cmd("KEYS").arg(format!("{prefix}:kv:session:*")).query_async(&mut conn).await.unwrap();
    assert_eq!(sessions.len(), 1, "only the staff session is left");
}
