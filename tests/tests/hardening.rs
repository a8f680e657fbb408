//! What a black-box attack found (issue 10), each pinned: privileged
//! identities, socket and connection bounds, the metrics surface, proof of
//! Steam ownership, look-alike usernames, pause limits, private errors.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

use futures_util::SinkExt;
use serde_json::{Value, json};
use tests::{Backend, Caller, Options, TestApp, on_both_databases, ws};
use tokio_tungstenite::tungstenite::Message;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

async fn id_of(caller: &Caller<'_>) -> i64 {
    caller.get("/api/me").await.id()
}

/// Staff cannot rewrite a superuser's or another staff member's identity
/// (the staff → superuser path: relink the root account's Discord id to an
/// alt, log in as root); a superuser can, the target's sessions end, and
/// the change is audited.
async fn privileged_identities_are_superuser_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let root = app.superuser("root").await;
    let staff = app.staff("mallory").await;
    let other_staff = app.staff("trent").await;
    let player = app.user("peggy").await;
    let (root_id, other_id, player_id) = (id_of(&root).await, id_of(&other_staff).await, id_of(&player).await);

    for (target, body) in [
        (root_id, json!({"discordId": "80351110224678912"})),
        (root_id, json!({"username": "root2"})),
        (root_id, json!({"is_superuser": false})),
        (other_id, json!({"discordId": "80351110224678913"})),
        (other_id, json!({"username": "trent2"})),
        (other_id, json!({"steamId": "76561198196640475"})),
        (player_id, json!({"discordId": "80351110224678914"})),
    ] {
        let resp = staff.patch(&format!("/api/users/{target}"), body.clone()).await;
        assert_eq!(resp.status, 403, "staff PATCH {target} {body}: {}", resp.text);
    }
    let renamed = staff.patch(&format!("/api/users/{player_id}"), json!({"username": "peggy_s"})).await;
    assert_eq!(renamed.status, 200, "staff still edit players: {}", renamed.text);
    assert_eq!(root.get(&format!("/api/users/{root_id}")).await.body["discordId"], Value::Null, "nothing changed");

    // The superuser relinks the other staff member: their sessions end, the change is audited.
    assert_eq!(other_staff.get("/api/me").await.status, 200);
    let relinked = root.patch(&format!("/api/users/{other_id}"), json!({"discordId": "80351110224678913"})).await;
    assert_eq!(relinked.status, 200, "{}", relinked.text);
    assert_eq!(other_staff.get("/api/me").await.status, 401, "the relinked account's session ended");
    let audit = staff.get(&format!("/api/users/{other_id}/identity-changes")).await;
    assert_eq!(audit.status, 200, "{}", audit.text);
    let change = &audit.body["results"][0];
    assert_eq!(
        (
            change["field"].as_str(),
            change["old_value"].clone(),
            change["new_value"].as_str(),
            change["actor_id"].as_i64()
        ),
        (Some("discordId"), Value::Null, Some("80351110224678913"), Some(root_id)),
        "{audit:?}"
    );
    let audited_rename = staff.get(&format!("/api/users/{player_id}/identity-changes")).await;
    assert_eq!(audited_rename.body["results"][0]["new_value"], "peggy_s");
    assert_eq!(player.get(&format!("/api/users/{player_id}/identity-changes")).await.status, 403);
}

/// Look-alike usernames are refused (409: they clash with an existing one),
/// invisible characters too (422), and sessions are stored hashed.
async fn usernames_cannot_impersonate(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let staff = app.staff("admin").await;
    tests::fixtures::user(&staff, "root", 1000).await;
    for (name, status, code) in [
        ("ROOT", 409, "username_confusable"),
        ("r\u{043E}\u{043E}t", 409, "username_confusable"),
        ("r\u{200B}oot", 422, "invalid_field"),
        ("\u{202E}toor", 422, "invalid_field"),
    ] {
        let resp = staff.post("/api/users", json!({"username": name})).await;
        assert_eq!((resp.status, resp.error_code().as_str()), (status, code), "{name:?}: {}", resp.text);
    }
    let fullwidth = staff.post("/api/users", json!({"username": "ｐｅｇｇｙ"})).await;
    assert_eq!(fullwidth.body["username"], "peggy", "NFKC-normalised: {}", fullwidth.text);
    assert_eq!(app.count("users").await, 3, "admin, root, peggy");

    let token = staff.cookie.clone().unwrap().split_once('=').unwrap().1.to_owned();
    let row = app.db_rows("SELECT key FROM kv_entries").await;
    assert!(!row.is_empty(), "the session is stored");
    assert!(row.iter().all(|key| !key.contains(&token)), "only the token's hash is stored: {row:?}");
}

/// A captain pauses at most the configured number of times; staff always can.
async fn captains_pause_a_limited_number_of_times(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        Options {
            args: args(&["--herodraft-pauses-per-team", "2", "--herodraft-resume-countdown-ms", "0"]),
            ..Default::default()
        },
    )
    .await;
    let staff = app.staff("admin").await;
    let (id, _) = tests::fixtures::hero_draft(&app, &staff).await;
    let first = tests::fixtures::start_hero_draft(&app, id).await;
    let captain = app.user(["radiant_cap", "dire_cap"][first]).await;
    let pause = format!("/api/herodrafts/{id}/pause");
    let resume = format!("/api/herodrafts/{id}/resume");
    for _ in 0..2 {
        assert_eq!(captain.post(&pause, json!({})).await.status, 200);
        assert_eq!(captain.post(&resume, json!({})).await.status, 200);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let third = captain.post(&pause, json!({})).await;
    assert_eq!((third.status, third.error_code().as_str()), (409, "pause_limit"), "{}", third.text);
    assert_eq!(staff.post(&pause, json!({})).await.status, 200, "staff are not limited");
}

/// Sync errors quote outside systems: staff see them, others do not.
async fn sync_errors_are_staff_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let staff = app.staff("admin").await;
    let league = staff.post("/api/leagues", json!({"steam_league_id": 5151, "name": "L"})).await.id();
    use sea_orm::{ActiveModelTrait, Set};
    entity::league_sync_state::ActiveModel {
        league_id: Set(league),
        failed_match_ids: Set(json!([])),
        last_error: Set(Some("Steam unreachable: connect to 10.1.2.3 refused".into())),
        ..Default::default()
    }
    .insert(app.db())
    .await
    .unwrap();
    let path = format!("/api/leagues/{league}/sync-state");
    let path = path.as_str();
    assert_eq!(app.anon().get(path).await.body["last_error"], Value::Null);
    assert_eq!(app.user("viewer").await.get(path).await.body["last_error"], Value::Null);
    assert!(staff.get(path).await.body["last_error"].as_str().unwrap().contains("10.1.2.3"));
}

on_both_databases!(
    privileged_identities_are_superuser_only,
    usernames_cannot_impersonate,
    captains_pause_a_limited_number_of_times,
    sync_errors_are_staff_only,
    steam_ids_are_linked_by_proof,
    steam_proofs_are_signed_fresh_single_use_and_steams,
);

/// The resident memory of this process (the app runs in it), in bytes.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()).unwrap_or(0) * 4096
}

/// A socket sending a 1 MiB message is closed without the server buffering
/// it; one address holds at most the configured number of sockets.
#[tokio::test]
async fn sockets_are_bounded() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        Options { args: args(&["--ws-max-per-address", "6"]), ..Default::default() },
    )
    .await;
    let staff = app.staff("admin").await;
    let (id, _) = tests::fixtures::hero_draft(&app, &staff).await;
    let path = format!("/api/herodraft/{id}/");
    let before = rss();
    let huge = "x".repeat(1 << 20);
    let mut closed = 0;
    for _ in 0..4 {
        let mut socket = ws::connect(&app, &path).await;
        ws::next_of(&mut socket, "initial_state", Duration::from_secs(5)).await;
        let _ = socket.send(Message::Text(huge.clone().into())).await;
        let end = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match futures_util::StreamExt::next(&mut socket).await {
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => {}
                }
            }
        })
        .await;
        closed += usize::from(end.is_ok());
    }
    assert_eq!(closed, 4, "every oversized message closes its socket");
    let grown = rss().saturating_sub(before);
    assert!(grown < 40 << 20, "memory stays flat: grew {} MiB", grown >> 20);

    let mut open = Vec::new();
    for _ in 0..6 {
        let mut socket = ws::connect(&app, &path).await;
        ws::next_of(&mut socket, "initial_state", Duration::from_secs(5)).await;
        open.push(socket);
    }
    let seventh = tokio_tungstenite::connect_async(format!("ws://{}{path}", app.addr)).await;
    assert!(seventh.is_err(), "the seventh socket from one address is refused");
    drop(open.pop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let again = tokio_tungstenite::connect_async(format!("ws://{}{path}", app.addr)).await;
    assert!(again.is_ok(), "a closed socket frees its place");
}

/// A connection that never sends its headers is closed within the timeout.
#[tokio::test]
async fn a_silent_connection_is_closed() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        Options { args: args(&["--http-idle-timeout-secs", "1"]), ..Default::default() },
    )
    .await;
    let addr = app.addr;
    let closed_after = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream.write_all(b"GET /api/health HTTP/1.1\r\n").unwrap(); // and never the rest
        let started = Instant::now();
        let mut buf = [0u8; 64];
        let read = stream.read(&mut buf);
        (started.elapsed(), read.map(|n| n == 0).unwrap_or(true))
    })
    .await
    .unwrap();
    assert!(closed_after.1, "the server closed the connection");
    assert!(closed_after.0 < Duration::from_secs(5), "within the timeout: {:?}", closed_after.0);
}

/// Twenty thousand unknown paths leave `/metrics` small (routes are labelled
/// by template), and `/metrics` is not served openly on the public address.
#[tokio::test]
async fn metrics_stay_small_and_private() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    for batch in 0..400 {
        let requests = (0..50).map(|i| {
            let http = app.http.clone();
            let url = format!("{}/probe/{batch}/{i}/{}", app.base, rand::random::<u64>());
            async move { http.get(url).send().await.map(|r| r.status().as_u16()).unwrap_or(0) }
        });
        let statuses = futures_util::future::join_all(requests).await;
        assert!(statuses.iter().all(|s| *s == 404), "{statuses:?}");
    }
    let metrics = app.metrics().await;
    assert_eq!(metrics.status, 200);
    assert!(metrics.text.len() < 200_000, "/metrics is {} bytes after 20 000 unknown paths", metrics.text.len());
    assert!(metrics.text.contains(r#"route="unmatched""#), "unknown paths share one label");
    assert!(!metrics.text.contains("/probe/"), "no raw path becomes a label");

    let anonymous = app.anon().get("/metrics").await;
    assert_eq!(anonymous.status, 404, "not served without the token");
    let wrong = app.anon().send(reqwest::Method::GET, "/metrics", None, &[("authorization", "Bearer nope")]).await;
    assert_eq!(wrong.status, 404);
}

/// A mock Steam OpenID provider that confirms assertions (or not).
async fn openid_provider(confirms: bool) -> MockServer {
    let server = MockServer::start().await;
    let answer = if confirms { "ns:http://specs.openid.net/auth/2.0\nis_valid:true\n" } else { "is_valid:false\n" };
    Mock::given(method("POST"))
        .and(path("/openid/login"))
        .and(body_string_contains("openid.mode=check_authentication"))
        .respond_with(ResponseTemplate::new(200).set_body_string(answer))
        .mount(&server)
        .await;
    server
}

/// Plays the browser: starts the link, "signs in" at the provider as
/// `steam_id`, and comes back with the assertion; returns the final redirect.
async fn prove(caller: &Caller<'_>, steam_id: &str) -> tests::Resp {
    prove_as(caller, steam_id, Assertion::default()).await
}

fn fresh_nonce() -> String {
    format!("{}{:x}", chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ"), rand::random::<u64>())
}

/// What the provider sends back, where a test departs from an honest Steam.
#[derive(Default)]
struct Assertion {
    /// The response nonce (default: a fresh one).
    nonce: Option<String>,
    /// The signed fields (default: all of them).
    signed: Option<&'static str>,
    /// The provider endpoint it names (default: the one we sent the user to).
    op_endpoint: Option<&'static str>,
}

/// [`prove`] with the provider's answer shaped by `assertion`.
async fn prove_as(caller: &Caller<'_>, steam_id: &str, assertion: Assertion) -> tests::Resp {
    let start = caller.get("/api/auth/steam/link").await;
    assert_eq!(start.status, 302, "{}", start.text);
    let location = url::Url::parse(start.headers["location"].to_str().unwrap()).unwrap();
    let query: BTreeMap<String, String> = location.query_pairs().into_owned().collect();
    let return_to = query["openid.return_to"].clone();
    let claimed = format!("https://steamcommunity.com/openid/id/{steam_id}");
    let endpoint = assertion
        .op_endpoint
        .map_or_else(|| format!("{}://{}/openid/login", location.scheme(), location.authority()), str::to_owned);
    let signed =
        assertion.signed.unwrap_or("signed,op_endpoint,claimed_id,identity,return_to,response_nonce,assoc_handle");
    let mut back = url::Url::parse(&return_to).unwrap();
    back.query_pairs_mut()
        .append_pair("openid.ns", "http://specs.openid.net/auth/2.0")
        .append_pair("openid.mode", "id_res")
        .append_pair("openid.op_endpoint", &endpoint)
        .append_pair("openid.claimed_id", &claimed)
        .append_pair("openid.identity", &claimed)
        .append_pair("openid.return_to", &return_to)
        .append_pair("openid.response_nonce", &assertion.nonce.unwrap_or_else(fresh_nonce))
        .append_pair("openid.assoc_handle", "1234567890")
        .append_pair("openid.signed", signed)
        .append_pair("openid.sig", "c2lnbmF0dXJl");
    let path = format!("{}?{}", back.path(), back.query().unwrap());
    caller.get(&path).await
}

/// Players link their Steam id by proving it; an id with league history held
/// by a squatter goes to a staff-visible claim, and staff hand it over.
async fn steam_ids_are_linked_by_proof(backend: Backend) {
    let provider = openid_provider(true).await;
    let app = TestApp::spawn_with(
        backend,
        Options {
            args: args(&["--steam-openid-base", &provider.uri(), "--frontend-url", "http://front.example"]),
            ..Default::default()
        },
    )
    .await;
    let owner = app.user("real_owner").await;
    let linked = prove(&owner, "76561198196640475").await;
    assert_eq!(linked.status, 302, "{}", linked.text);
    assert_eq!(linked.headers["location"], "http://front.example/?steam_link=linked");
    assert_eq!(owner.get("/api/me").await.body["steamId"], "76561198196640475");

    // Someone already holds another id: the real owner's proof becomes a claim, not a 409.
    let staff = app.staff("admin").await;
    let squatter = app.user("squatter").await;
    let squatter_id = id_of(&squatter).await;
    staff.patch(&format!("/api/users/{squatter_id}"), json!({"steamId": "76561198000000005"})).await;
    let second = app.user("second_owner").await;
    let claimed = prove(&second, "76561198000000005").await;
    assert_eq!(claimed.headers["location"], "http://front.example/?steam_link=claimed");
    let claims = staff.get("/api/steam-claims?status=pending").await;
    assert_eq!(claims.body["count"], 1, "{}", claims.text);
    let claim = &claims.body["results"][0];
    assert_eq!(
        (claim["steam_id"].as_str(), claim["holder_id"].as_i64()),
        (Some("76561198000000005"), Some(squatter_id))
    );
    let approved = staff.post(&format!("/api/steam-claims/{}/approve", claim["id"]), json!({})).await;
    assert_eq!(approved.body["status"], "approved", "{}", approved.text);
    assert_eq!(second.get("/api/me").await.body["steamId"], "76561198000000005");
    assert_eq!(squatter.get("/api/me").await.body["steamId"], Value::Null);

    // A link that Steam does not confirm, or from another account, changes nothing.
    let bad_provider = openid_provider(false).await;
    let strict = TestApp::spawn_with(
        backend,
        Options { args: args(&["--steam-openid-base", &bad_provider.uri()]), ..Default::default() },
    )
    .await;
    let forger = strict.user("forger").await;
    let refused = prove(&forger, "76561198196640475").await;
    assert_eq!((refused.status, refused.error_code().as_str()), (400, "steam_not_proven"));
    assert_eq!(forger.get("/api/me").await.body["steamId"], Value::Null);
}

/// Issue 25, finding 9: even when the provider confirms whatever it is
/// asked, an assertion proves nothing unless its signature covers the
/// fields read, it names Steam's endpoint, its nonce is fresh — and unused.
async fn steam_proofs_are_signed_fresh_single_use_and_steams(backend: Backend) {
    let provider = openid_provider(true).await;
    let app = TestApp::spawn_with(
        backend,
        Options { args: args(&["--steam-openid-base", &provider.uri()]), ..Default::default() },
    )
    .await;
    let forger = app.user("forger").await;
    let stale = format!("{}abc", (chrono::Utc::now() - chrono::Duration::hours(2)).format("%Y-%m-%dT%H:%M:%SZ"));
    for (why, assertion) in [
        (
            "claimed_id unsigned",
            Assertion { signed: Some("signed,op_endpoint,return_to,response_nonce"), ..Default::default() },
        ),
        (
            "nonce unsigned",
            Assertion { signed: Some("signed,op_endpoint,claimed_id,identity,return_to"), ..Default::default() },
        ),
        (
            "another provider",
            Assertion { op_endpoint: Some("https://evil.example/openid/login"), ..Default::default() },
        ),
        ("a stale nonce", Assertion { nonce: Some(stale), ..Default::default() }),
        (
            "a huge nonce",
            Assertion { nonce: Some(format!("{}{}", fresh_nonce(), "x".repeat(4000))), ..Default::default() },
        ),
    ] {
        let refused = prove_as(&forger, "76561198196640475", assertion).await;
        assert_eq!(
            (refused.status, refused.error_code().as_str()),
            (400, "steam_not_proven"),
            "{why}: {}",
            refused.text
        );
    }
    assert_eq!(forger.get("/api/me").await.body["steamId"], Value::Null, "nothing linked");

    // An honest assertion links once; the same nonce again (a replay, by anyone) proves nothing.
    let nonce = fresh_nonce();
    let first =
        prove_as(&forger, "76561198196640475", Assertion { nonce: Some(nonce.clone()), ..Default::default() }).await;
    assert_eq!(first.status, 302, "{}", first.text);
    let thief = app.user("thief").await;
    let replayed = prove_as(&thief, "76561198196640476", Assertion { nonce: Some(nonce), ..Default::default() }).await;
    assert_eq!((replayed.status, replayed.error_code().as_str()), (400, "steam_not_proven"), "{}", replayed.text);
    assert_eq!(thief.get("/api/me").await.body["steamId"], Value::Null);
}
