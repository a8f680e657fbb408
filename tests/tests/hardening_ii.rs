//! What the second black-box pass found (issue 25, SPEC §24), each pinned
//! from the attacker's seat: a league admin of one league against a second
//! league's schedules, matches and games; made-up HTTP methods; NUL bytes
//! on PostgreSQL; a header sent a byte at a time; a connection flood's log;
//! a cache flood against a hot page; test endpoints on a public deployment.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tests::steam_mock::{ACCOUNTS, MockMatch, SteamMock};
use tests::{Backend, Caller, Mode, Options, TestApp};

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn run_id(resp: &tests::Resp) -> String {
    resp.body["id"].as_str().unwrap_or_else(|| panic!("no run id in {}", resp.text)).to_owned()
}

/// A league (by Steam league id) with `admin` granted on it; returns the
/// league's id here.
async fn league_run_by(staff: &Caller<'_>, steam_league_id: i64, admin: &Caller<'_>) -> i64 {
    let league = staff
        .post("/api/leagues", json!({"steam_league_id": steam_league_id, "name": format!("L{steam_league_id}")}))
        .await;
    assert_eq!(league.status, 201, "{}", league.text);
    let admin_id = admin.get("/api/me").await.id();
    let granted = staff.post(&format!("/api/leagues/{}/admins", league.id()), json!({"user_id": admin_id})).await;
    assert_eq!(granted.status, 201, "{}", granted.text);
    league.id()
}

/// Finding 1 (HIGH), 5 and 8: a league admin cannot take the scheduler's
/// keys (another league's tick still runs), a key someone else used is
/// another run, a full sync waits out its cooldown, and NUL bytes in a key
/// or a filter are a 422 on either database.
async fn a_league_admin_cannot_silence_another_leagues_schedule(mode: Mode) {
    let steam = SteamMock::start(vec![]).await;
    let app = TestApp::spawn_with(mode.backend(), mode.options(steam.args(), false)).await;
    let staff = app.staff("staff").await;
    let (mallory, victim_admin) = (app.user("mallory").await, app.user("victor").await);
    league_run_by(&staff, 1001, &mallory).await;
    league_run_by(&staff, 1002, &victim_admin).await;
    let tick = 1_800_000_000;

    let rows = app.count("job_runs").await;
    for key in [format!("cron:sync_league_matches:1002:{tick}"), format!("cron:check_scheduled_events:{tick}")] {
        let squat = mallory
            .post(
                "/api/jobs",
                json!({"kind": "retry_failed_matches", "args": {"steam_league_id": 1001}, "idempotency_key": key}),
            )
            .await;
        assert_eq!((squat.status, squat.error_code().as_str()), (422, "reserved_key"), "{key}: {}", squat.text);
    }
    assert_eq!(app.count("job_runs").await, rows, "a refused key enqueues nothing");
    // The tick comes: both leagues' syncs are enqueued under the scheduler's keys.
    let fired = worker::runtime::schedule::fire(&app.state.jobs, "sync_league_matches", tick).await.unwrap();
    assert_eq!(fired, 2, "one sync per league");
    assert!(
        app.tick_keys("sync_league_matches").await.contains(&format!("cron:sync_league_matches:1002:{tick}")),
        "the other league's tick ran"
    );

    // A key a staff member used is, from anyone else, another run: nothing of theirs comes back.
    let keyed =
        |key: &str| json!({"kind": "retry_failed_matches", "args": {"steam_league_id": 1001}, "idempotency_key": key});
    let staffs = staff.post("/api/jobs", keyed("night-7")).await;
    assert_eq!(staffs.status, 202, "{}", staffs.text);
    let cancelled = staff.post(&format!("/api/jobs/{}/cancel", run_id(&staffs)), json!({})).await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.text);
    let reused = mallory.post("/api/jobs", keyed("night-7")).await;
    assert_eq!(reused.status, 202, "{}", reused.text);
    assert_ne!(run_id(&reused), run_id(&staffs));
    assert_eq!(reused.body["enqueued_by"], mallory.get("/api/me").await.body["id"]);

    // Finding 5: a full sync by a league admin, then again within the cooldown: 429 with Retry-After.
    let full = json!({"kind": "sync_league_matches", "args": {"steam_league_id": 1001, "full": true}});
    let first = mallory.post("/api/jobs", full.clone()).await;
    assert_eq!(first.status, 202, "{}", first.text);
    assert_eq!(mallory.post(&format!("/api/jobs/{}/cancel", run_id(&first)), json!({})).await.status, 200);
    let again = mallory.post("/api/jobs", full.clone()).await;
    assert_eq!((again.status, again.error_code().as_str()), (429, "sync_cooldown"), "{}", again.text);
    let wait: u64 = again.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((3000..=3600).contains(&wait), "about an hour: {wait}");
    assert_eq!(
        victim_admin
            .post("/api/jobs", json!({"kind": "sync_league_matches", "args": {"steam_league_id": 1002, "full": true}}))
            .await
            .status,
        202,
        "another league's cooldown is its own"
    );
    assert_eq!(staff.post("/api/jobs", full).await.status, 202, "staff are not held to it");

    // Finding 8: NUL in a key or a filter (PostgreSQL refused the text with a 500).
    let nul_key =
        staff.post("/api/jobs", json!({"kind": "check_scheduled_events", "idempotency_key": "a\u{0}b"})).await;
    assert_eq!((nul_key.status, nul_key.error_code().as_str()), (422, "invalid_character"), "{}", nul_key.text);
    for path in ["/api/jobs?kind=%00", "/api/jobs?status=queued&kind=sync%00"] {
        let filtered = staff.get(path).await;
        assert_eq!(
            (filtered.status, filtered.error_code().as_str()),
            (422, "invalid_character"),
            "{path}: {}",
            filtered.text
        );
    }
}

/// Ten registered players, the two rosters of mock match 0
/// (ACCOUNTS[0..5] radiant, ACCOUNTS[5..10] dire).
async fn match_zero_players(staff: &Caller<'_>) -> Vec<i64> {
    let mut users = Vec::new();
    for (i, account) in ACCOUNTS[..10].iter().enumerate() {
        let steam_id = (account + entity::steam_id::STEAM_ID64_OFFSET).to_string();
        let resp =
            staff.post("/api/users", json!({"username": format!("p{i}"), "steamId": steam_id, "mmr": 3000})).await;
        assert_eq!(resp.status, 201, "{}", resp.text);
        users.push(resp.id());
    }
    users
}

/// A tournament of `league` on match 0's night, by `organiser`, with match
/// 0's rosters as two teams and a pending game between them; returns the game.
async fn night_with_match_zero_rosters(organiser: &Caller<'_>, league: i64, players: &[i64], tag: &str) -> i64 {
    let night = chrono::DateTime::from_timestamp(MockMatch::nth(0).start_time, 0).unwrap();
    let t = organiser
        .post("/api/tournaments", json!({"name": format!("Night {tag}"), "date_played": night, "league_id": league}))
        .await;
    assert_eq!(t.status, 201, "{}", t.text);
    let t = t.id();
    tests::fixtures::add_players(organiser, t, players).await;
    let roster = |range: std::ops::Range<usize>, name: String| json!({"tournament_id": t, "name": name, "captain_id": players[range.start], "member_ids": players[range].to_vec()});
    let radiant = organiser.post("/api/teams", roster(0..5, format!("{tag} radiant"))).await.id();
    let dire = organiser.post("/api/teams", roster(5..10, format!("{tag} dire"))).await.id();
    let game = organiser
        .post("/api/games", json!({"tournament_id": t, "radiant_team_id": radiant, "dire_team_id": dire}))
        .await;
    assert_eq!(game.status, 201, "{}", game.text);
    game.id()
}

/// Findings 2, 4 and 6: a league admin who copies another league's rosters
/// cannot link (or be offered) that league's match, nor file a game under
/// it; the other league still links its own match. Suggestions need a login.
async fn another_leagues_match_cannot_decide_a_game(mode: Mode) {
    let steam = SteamMock::start(vec![MockMatch::nth(0)]).await;
    let app = TestApp::spawn_with(mode.backend(), mode.options(steam.args(), false)).await;
    let staff = app.staff("staff").await;
    let (mallory, victor) = (app.user("mallory").await, app.user("victor").await);
    let own = league_run_by(&staff, 1001, &mallory).await;
    let victims = league_run_by(&staff, 17929, &victor).await;
    let players = match_zero_players(&staff).await;
    let synced = worker::domain::sync::league_sync::sync_league(&app.state.jobs, 17929, false).await.unwrap();
    assert_eq!(synced["ingested"], 1, "{synced}");
    let match_id = MockMatch::nth(0).match_id;

    let copied = night_with_match_zero_rosters(&mallory, own, &players, "copy").await;
    let suggested = mallory.get(&format!("/api/games/{copied}/match-suggestions")).await;
    assert_eq!((suggested.status, suggested.body.clone()), (200, json!([])), "{}", suggested.text);
    let taken = mallory.post(&format!("/api/games/{copied}/link-match"), json!({"match_id": match_id})).await;
    assert_eq!((taken.status, taken.error_code().as_str()), (422, "match_of_another_league"), "{}", taken.text);
    assert_eq!(
        (
            taken.body["error"]["details"]["match_league"].as_i64(),
            taken.body["error"]["details"]["tournament_league"].as_i64()
        ),
        (Some(17929), Some(1001))
    );
    assert_eq!(staff.get(&format!("/api/games/{copied}")).await.body["match_id"], Value::Null);
    assert_eq!(app.anon().get(&format!("/api/games/{copied}/match-suggestions")).await.status, 401);

    // Finding 4: a game filed under another league than its tournament's.
    let games = app.count("games").await;
    let t = staff.get(&format!("/api/games/{copied}")).await.body["tournament_id"].as_i64().unwrap();
    let misfiled = mallory.post("/api/games", json!({"tournament_id": t, "league_id": victims})).await;
    assert_eq!((misfiled.status, misfiled.error_code().as_str()), (422, "league_mismatch"), "{}", misfiled.text);
    assert_eq!(misfiled.body["error"]["details"]["tournament_league_id"], own);
    assert_eq!(app.count("games").await, games, "nothing was filed");
    let filed = mallory.post("/api/games", json!({"tournament_id": t, "league_id": own})).await;
    assert_eq!((filed.status, filed.body["league_id"].as_i64()), (201, Some(own)), "{}", filed.text);

    // The match's own league is offered it and links it.
    let real = night_with_match_zero_rosters(&victor, victims, &players, "real").await;
    let offered = victor.get(&format!("/api/games/{real}/match-suggestions")).await;
    assert_eq!(offered.body[0]["match_id"], match_id, "{}", offered.text);
    let linked = victor.post(&format!("/api/games/{real}/link-match"), json!({"match_id": match_id})).await;
    assert_eq!((linked.status, linked.body["match_id"].as_i64()), (200, Some(match_id)), "{}", linked.text);
}

tests::in_both_modes!(
    a_league_admin_cannot_silence_another_leagues_schedule,
    another_leagues_match_cannot_decide_a_game
);

/// Finding 3: three hundred requests with made-up 4 KB methods leave
/// `/metrics` small; they share the label `other`.
#[tokio::test]
async fn made_up_methods_share_one_metrics_label() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let mut made_up = Vec::new();
    for batch in 0..6 {
        let requests = (0..50).map(|i| {
            let name = format!("X{batch}{i}{}", "Q".repeat(4096));
            let method = reqwest::Method::from_bytes(name.as_bytes()).unwrap();
            let (http, url) = (app.http.clone(), format!("{}/api/health", app.base));
            async move { http.request(method, url).send().await.map(|r| r.status().as_u16()).unwrap_or(0) }
        });
        made_up.extend(futures_util::future::join_all(requests).await);
    }
    assert!(made_up.iter().all(|s| (400..500).contains(s)), "refused as client errors: {made_up:?}");
    let metrics = app.metrics().await;
    assert!(metrics.text.len() < 100_000, "/metrics is {} bytes after 300 made-up methods", metrics.text.len());
    assert!(metrics.text.contains(r#"method="other""#), "made-up methods share one label");
    assert!(!metrics.text.contains("QQQQ"), "no made-up method becomes a label");
}

/// Finding 10: a request whose headers arrive one byte every 300 ms is cut
/// at the header timeout although bytes keep moving (the idle timer alone
/// never fired); a normal request on the same server is served.
#[tokio::test]
async fn a_trickled_header_is_cut_at_the_header_timeout() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        Options {
            args: args(&["--http-header-timeout-secs", "2", "--http-idle-timeout-secs", "30"]),
            ..Default::default()
        },
    )
    .await;
    let addr = app.addr;
    let (elapsed, cut) = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream.write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Slow: ").unwrap();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(15) {
            std::thread::sleep(Duration::from_millis(300));
            if stream.write_all(b"a").is_err() {
                return (started.elapsed(), true);
            }
            stream.set_nonblocking(true).unwrap();
            let mut buf = [0u8; 64];
            let read = stream.read(&mut buf);
            stream.set_nonblocking(false).unwrap();
            if matches!(read, Ok(0)) || matches!(&read, Err(e) if e.kind() != std::io::ErrorKind::WouldBlock) {
                return (started.elapsed(), true);
            }
        }
        (started.elapsed(), false)
    })
    .await
    .unwrap();
    assert!(cut, "the trickling connection was never cut");
    assert!(elapsed < Duration::from_secs(6), "cut near the 2 s header timeout: {elapsed:?}");
    assert_eq!(app.anon().get("/api/health").await.status, 200);
}

/// Finding 10: sixty connections refused by the per-address cap log one
/// WARN line (with a count), not sixty.
#[tokio::test]
async fn refused_connections_log_once_a_minute() {
    let logged = tests::CapturedLogs::default();
    tracing_subscriber::fmt().with_max_level(tracing::Level::WARN).with_ansi(false).with_writer(logged.clone()).init();
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        Options { args: args(&["--max-connections-per-ip", "2"]), ..Default::default() },
    )
    .await;
    let addr = app.addr;
    let refused = tokio::task::spawn_blocking(move || {
        let held: Vec<_> = (0..2).map(|_| std::net::TcpStream::connect(addr).unwrap()).collect();
        std::thread::sleep(Duration::from_millis(200));
        let mut refused = 0;
        for _ in 0..60 {
            let mut extra = std::net::TcpStream::connect(addr).unwrap();
            extra.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let _ = extra.write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n");
            let mut buf = [0u8; 16];
            refused += usize::from(matches!(extra.read(&mut buf), Ok(0) | Err(_)));
        }
        drop(held);
        refused
    })
    .await
    .unwrap();
    assert_eq!(refused, 60, "every connection past the cap is closed unanswered");
    let text = logged.text();
    let lines = text.lines().filter(|l| l.contains("too many connections")).count();
    assert_eq!(lines, 1, "one line for the flood:\n{text}");
}

/// Finding 10: a flood of 3 200 distinct anonymous leaderboard pages (the
/// namespace holds 2 000) does not evict a page read all along: it is still
/// served from the cache (the database changed underneath, the page did not).
#[tokio::test]
async fn a_cache_flood_keeps_the_hot_page() {
    let steam = SteamMock::start((0..4).map(MockMatch::nth).collect()).await;
    let app = TestApp::spawn_with(Backend::Sqlite, Options { args: steam.args(), ..Default::default() }).await;
    let staff = app.staff("staff").await;
    // Four leagues of 800 cacheable pages each (4 sorts × 2 orders × 5 sizes × 20 pages).
    const LEAGUES: [i64; 4] = [17929, 1001, 1002, 1003];
    for steam_league in LEAGUES {
        staff.post("/api/leagues", json!({"steam_league_id": steam_league, "name": format!("L{steam_league}")})).await;
    }
    match_zero_players(&staff).await;
    worker::domain::sync::league_sync::sync_league(&app.state.jobs, 17929, false).await.unwrap();
    worker::domain::stats::update_league_stats(&app.state.jobs, 17929).await.unwrap();
    let hot = format!("/api/leagues/{}/leaderboard", app.league_id(17929).await);
    let hot = hot.as_str();
    let before = app.anon().get(hot).await;
    assert_eq!(before.status, 200, "{}", before.text);
    let top = before.body["results"][0]["games_played"].as_i64().expect("a player with games");
    // Changed underneath the cache (no write path, so no invalidation): only a fresh load would show it.
    let db = app.db();
    sea_orm::ConnectionTrait::execute_unprepared(
        db,
        "UPDATE league_player_stats SET games_played = games_played + 1000",
    )
    .await
    .unwrap();

    let mut distinct = Vec::new();
    for steam_league in LEAGUES {
        let league = app.league_id(steam_league).await;
        for sort in ["league_mmr", "win_rate", "games_played", "avg_kda"] {
            for order in ["asc", "desc"] {
                for size in [10, 20, 25, 50, 100] {
                    for page in 1..=20 {
                        distinct.push(format!(
                            "/api/leagues/{league}/leaderboard?sort_by={sort}&order={order}&page_size={size}&page={page}"
                        ));
                    }
                }
            }
        }
    }
    assert!(distinct.len() >= 3_000, "{}", distinct.len());
    for (n, chunk) in distinct.chunks(50).enumerate() {
        let statuses =
            futures_util::future::join_all(chunk.iter().map(|p| async { app.anon().get(p).await.status })).await;
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
        if n % 4 == 0 {
            let still = app.anon().get(hot).await;
            assert_eq!(still.body["results"][0]["games_played"], top, "the hot page stays cached (after {n} chunks)");
        }
    }
    assert_eq!(app.anon().get(hot).await.body["results"][0]["games_played"], top);
    // Pages past the cached ones are refused, not computed for anyone who asks.
    let deep = app.anon().get("/api/steam/guild-matches?page=50").await;
    assert_eq!(deep.status, 400, "{}", deep.text);
}

/// Finding 10: nicknames refuse what usernames refuse (RLO, zero-width,
/// Hangul filler) and are at most 100 characters.
#[tokio::test]
async fn nicknames_refuse_hidden_characters() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let staff = app.staff("staff").await;
    let user = tests::fixtures::user(&staff, "kuro", 3000).await;
    for bad in ["\u{202E}kcab", "zero\u{200B}width", "\u{3164}"] {
        let resp = staff.patch(&format!("/api/users/{user}"), json!({"nickname": bad})).await;
        assert_eq!((resp.status, resp.error_code().as_str()), (422, "invalid_field"), "{bad:?}: {}", resp.text);
    }
    let long = staff.patch(&format!("/api/users/{user}"), json!({"nickname": "n".repeat(101)})).await;
    assert_eq!(long.status, 400, "the schema's maxLength: {}", long.text);
    assert_eq!(staff.get(&format!("/api/users/{user}")).await.body["nickname"], Value::Null, "nothing stored");
    let fine = staff.patch(&format!("/api/users/{user}"), json!({"nickname": "  Kuro 黒  "})).await;
    assert_eq!(fine.body["nickname"], "Kuro 黒", "{}", fine.text);
}

/// Finding 10: the api refuses to start with test endpoints unless
/// development is said out loud, and never behind an https public URL.
#[tokio::test]
async fn test_endpoints_refuse_to_start_on_a_public_deployment() {
    let db = tests::TestDb::create(Backend::Sqlite).await;
    for (env, public_url) in
        [(None, "https://dtx.example"), (None, "http://127.0.0.1:8000"), (Some("development"), "https://dtx.example")]
    {
        let mut api = std::process::Command::new(tests::workspace_binary("api"));
        api.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &db.url)
            .env("DTX_TEST_ENDPOINTS", "true")
            .env("PUBLIC_URL", public_url)
            .env("BIND", "127.0.0.1:0")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        if let Some(env) = env {
            api.env("DTX_ENV", env);
        }
        let mut child = api.spawn().expect("the api binary starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                break None;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let output = child.wait_with_output().unwrap();
        let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(status.is_some_and(|s| !s.success()), "{env:?} {public_url}: it started anyway\n{said}");
        assert!(said.contains("DTX_TEST_ENDPOINTS"), "the refusal names the variable:\n{said}");
    }
}
