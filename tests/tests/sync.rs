//! League sync against a mock Steam whose history grows, and the stats /
//! league MMR computed from it.

use std::collections::HashMap;
use std::time::Duration;

use entity::steam_id::STEAM_ID64_OFFSET;
use serde_json::{Value, json};
use tests::steam_mock::{ACCOUNTS, MockMatch, SteamMock};
use tests::{Mode, TestApp, in_both_modes};
use worker::domain::sync::league_sync::{retry_failed, sync_league};

const LEAGUE: i64 = 17929;

async fn app_with(mode: Mode, steam: &SteamMock) -> TestApp {
    let app = TestApp::spawn_with(mode.backend(), mode.options(steam.args(), false)).await;
    let staff = app.staff("admin").await;
    let resp = staff.post("/api/leagues", json!({"steam_league_id": LEAGUE, "name": "DTX"})).await;
    assert_eq!(resp.status, 201);
    app
}

/// The stored match ids, ascending.
async fn stored_match_ids(app: &TestApp) -> Vec<i64> {
    use sea_orm::{EntityTrait, QueryOrder, QuerySelect};
    entity::steam_match::Entity::find()
        .select_only()
        .column(entity::steam_match::Column::MatchId)
        .order_by_asc(entity::steam_match::Column::MatchId)
        .into_tuple()
        .all(app.db())
        .await
        .unwrap()
}

async fn high_water_mark(app: &TestApp) -> Option<i64> {
    use sea_orm::EntityTrait;
    entity::league_sync_state::Entity::find().one(app.db()).await.unwrap().and_then(|s| s.last_match_id)
}

async fn sync(app: &TestApp, full: bool) -> Value {
    sync_league(&app.state.jobs, LEAGUE, full).await.expect("sync succeeds")
}

async fn incremental_sync_ingests_exactly_the_new_matches(mode: Mode) {
    let steam = SteamMock::start((0..30).map(MockMatch::nth).collect()).await;
    let app = app_with(mode, &steam).await;
    let league = app.league_id(LEAGUE).await;
    let first = sync(&app, false).await;
    assert_eq!(first["ingested"], 30, "{first}");
    assert_eq!((app.count("steam_matches").await, app.count("player_match_stats").await), (30, 300));

    let details_before = steam.calls("GetMatchHistoryBySequenceNum");
    let again = sync(&app, false).await;
    assert_eq!(again["ingested"], 0, "{again}");
    assert_eq!(steam.calls("GetMatchHistoryBySequenceNum"), details_before, "stored matches cost no details call");

    // Five newer matches, and a long match that started before the newest
    // stored one but only now shows up in the history.
    steam.push((30..35).map(MockMatch::nth));
    let mut late = MockMatch::nth(29);
    late.match_id -= 5;
    late.seq -= 5;
    late.start_time -= 1800;
    steam.push([late.clone()]);
    let third = sync(&app, false).await;
    assert_eq!(third["ingested"], 6, "{third}");
    assert_eq!(app.count("steam_matches").await, 36);
    assert_eq!(app.anon().get(&format!("/api/matches/{}", late.match_id)).await.status, 200);

    let fourth = sync(&app, false).await;
    assert_eq!(fourth["ingested"], 0);
    assert_eq!((app.count("steam_matches").await, app.count("player_match_stats").await), (36, 360));
    let state = app.anon().get(&format!("/api/leagues/{league}/sync-state")).await;
    assert_eq!(state.body["last_match_id"], MockMatch::nth(34).match_id);
    assert_eq!(state.body["stored_matches"], 36);
    assert_eq!(state.body["failed_matches"], json!([]));
}

async fn full_sync_of_a_thousand_matches_terminates(mode: Mode) {
    let steam = SteamMock::start((0..1000).map(MockMatch::nth).collect()).await;
    let app = app_with(mode, &steam).await;
    let full = sync(&app, true).await;
    assert_eq!(full["ingested"], 1000, "{full}");
    assert_eq!(full["pages"], 10, "100 per page, the last one says nothing remains");
    assert_eq!(app.count("steam_matches").await, 1000);
    let again = sync(&app, true).await;
    assert_eq!((again["ingested"].as_i64(), again["already_stored"].as_i64()), (Some(0), Some(1000)));
    assert_eq!(app.count("player_match_stats").await, 10_000);
}

async fn a_killed_sync_resumes_without_loss_or_duplicates(mode: Mode) {
    // 600 matches, each detail answered after 150 ms: six pages, each at least 150 ms of work.
    let steam = SteamMock::start((0..600).map(MockMatch::nth).collect()).await;
    steam.state.lock().unwrap().details_delay = Duration::from_millis(150);
    let app = app_with(mode, &steam).await;
    // Kill the run part-way (the future is dropped, as on a timeout or crash): as soon as the
    // first matches are stored, whatever the machine's speed — a fixed deadline raced a slow CI.
    let first_stored = async {
        while app.count("steam_matches").await == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::select! {
        finished = sync_league(&app.state.jobs, LEAGUE, false) => panic!("the first run was not cut short: {finished:?}"),
        () = first_stored => {}
    }
    // A commit already on the wire when the run was dropped may still land: let it settle.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let partial = app.count("steam_matches").await;
    assert!(partial > 0 && partial < 600, "part of the matches were stored: {partial}");
    // Runs are written side by side on PostgreSQL but committed oldest first: what a kill leaves
    // is the oldest matches and nothing else, and the high-water mark is the newest of them.
    let stored = stored_match_ids(&app).await;
    let oldest: Vec<i64> = (0..partial).map(|n| MockMatch::nth(n).match_id).collect();
    assert_eq!(stored, oldest, "a kill leaves a prefix of the oldest-first order");
    assert_eq!(high_water_mark(&app).await, oldest.last().copied());
    // The dropped run releases its lock; rerun until it is free.
    let resumed = tests::eventually("the lock to be released", Duration::from_secs(10), || async {
        let r = sync(&app, false).await;
        r.get("skipped").is_none().then_some(r)
    })
    .await;
    assert_eq!(resumed["ingested"].as_i64().unwrap() + partial, 600, "{resumed}");
    assert_eq!((app.count("steam_matches").await, app.count("player_match_stats").await), (600, 6000));
}

async fn details_failures_do_not_stop_the_sync_and_are_retried(mode: Mode) {
    let matches: Vec<MockMatch> = (0..10).map(MockMatch::nth).collect();
    let steam = SteamMock::start(matches.clone()).await;
    steam.state.lock().unwrap().broken_seqs = [matches[3].seq, matches[7].seq].into();
    let app = app_with(mode, &steam).await;
    let league = app.league_id(LEAGUE).await;
    let run = sync(&app, false).await;
    assert_eq!((run["ingested"].as_i64(), run["failed"].as_i64()), (Some(8), Some(2)), "{run}");
    assert_eq!(steam.calls("GetMatchDetails"), 2, "GetMatchDetails was only a fallback");
    let state = app.anon().get(&format!("/api/leagues/{league}/sync-state")).await;
    let failed: Vec<i64> =
        state.body["failed_matches"].as_array().unwrap().iter().map(|f| f["match_id"].as_i64().unwrap()).collect();
    assert_eq!(failed, vec![matches[3].match_id, matches[7].match_id]);
    assert!(
        state.body["failed_matches"][0]["error"].as_str().unwrap().contains("500")
            || !state.body["failed_matches"][0]["error"].as_str().unwrap().is_empty()
    );

    steam.state.lock().unwrap().broken_seqs.clear();
    let retried = retry_failed(&app.state.jobs, LEAGUE).await.unwrap();
    assert_eq!(retried, json!({"retried_count": 2, "still_failed_count": 0}));
    assert_eq!(app.count("steam_matches").await, 10);
    let state = app.anon().get(&format!("/api/leagues/{league}/sync-state")).await;
    assert_eq!(state.body["failed_matches"], json!([]));
}

/// Per-account totals straight from the mock's data (independent of the SQL).
fn expected_totals(matches: &[MockMatch], users: &HashMap<i64, i64>) -> Vec<worker::domain::mmr::Totals> {
    let mut totals: HashMap<i64, worker::domain::mmr::Totals> = HashMap::new();
    for m in matches {
        for (account, slot, k, d, a, gpm, xpm) in &m.players {
            let Some(&user_id) = users.get(account) else { continue };
            let t = totals.entry(user_id).or_insert(worker::domain::mmr::Totals {
                user_id,
                games_played: 0,
                wins: 0,
                kills: 0,
                deaths: 0,
                assists: 0,
                gpm: 0,
                xpm: 0,
            });
            t.games_played += 1;
            t.wins += i64::from((*slot < 128) == m.radiant_win);
            (t.kills, t.deaths, t.assists, t.gpm, t.xpm) = (
                t.kills + i64::from(*k),
                t.deaths + i64::from(*d),
                t.assists + i64::from(*a),
                t.gpm + i64::from(*gpm),
                t.xpm + i64::from(*xpm),
            );
        }
    }
    let mut out: Vec<_> = totals.into_values().collect();
    out.sort_by_key(|t| t.user_id);
    out
}

async fn league_mmr_from_mock_steam_to_the_leaderboard(mode: Mode) {
    let matches: Vec<MockMatch> = (0..12).map(MockMatch::nth).collect();
    let steam = SteamMock::start(matches.clone()).await;
    let app = app_with(mode, &steam).await;
    let league = app.league_id(LEAGUE).await;
    let staff = app.staff("staffer").await;
    // 19 of the 20 accounts are registered; one has no base MMR.
    let mut users = HashMap::new();
    for (i, account) in ACCOUNTS.iter().enumerate().take(19) {
        let mut body = json!({"username": format!("p{i}"), "steamId": account + STEAM_ID64_OFFSET});
        if i != 0 {
            body["mmr"] = json!(2000 + 100 * i as i64);
        }
        let id = staff.post("/api/users", body).await.id();
        users.insert(*account, id);
    }
    sync(&app, false).await;
    let stats = worker::domain::stats::update_league_stats(&app.state.jobs, LEAGUE).await.unwrap();
    assert_eq!(stats["players"], 19);

    let expected = expected_totals(&matches, &users);
    let adjustments = worker::domain::mmr::adjustments(&expected, &worker::domain::mmr::MmrConfig::default());
    assert!(
        adjustments.iter().any(|a| *a > 0) && adjustments.iter().any(|a| *a < 0),
        "the data spreads players: {adjustments:?}"
    );
    let board = app.anon().get(&format!("/api/leagues/{league}/leaderboard?page_size=100")).await;
    assert_eq!(board.status, 200, "{}", board.text);
    assert_eq!(board.body["count"], 19);
    let rows: HashMap<i64, Value> =
        board.body["results"].as_array().unwrap().iter().map(|r| (r["user_id"].as_i64().unwrap(), r.clone())).collect();
    for (t, adj) in expected.iter().zip(&adjustments) {
        let row = &rows[&t.user_id];
        assert_eq!(row["games_played"], t.games_played, "{row}");
        assert_eq!(row["wins"], t.wins);
        assert_eq!(row["mmr_adjustment"], *adj);
        let mmr = row["mmr"].as_i64();
        assert_eq!(
            row["league_mmr"].as_i64(),
            mmr.map(|m| m + i64::from(*adj)),
            "league_mmr = mmr + adjustment, null without mmr"
        );
        let a = t.averages();
        assert_eq!(row["avg_kda"].as_f64().unwrap(), worker::domain::mmr::display_kda(a.kda));
    }
    // Sorted by league_mmr descending, nulls last, user id tiebreak.
    let order: Vec<Option<i64>> =
        board.body["results"].as_array().unwrap().iter().map(|r| r["league_mmr"].as_i64()).collect();
    let mut sorted = order.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(order, sorted);
    // Pages are slices of one stable ordering.
    let ids = |body: &Value| -> Vec<i64> {
        body["results"].as_array().unwrap().iter().map(|r| r["user_id"].as_i64().unwrap()).collect()
    };
    let mut paged = Vec::new();
    for page in 1..=4 {
        let url = format!("/api/leagues/{league}/leaderboard?page_size=5&page={page}");
        paged.extend(ids(&app.anon().get(&url).await.body));
    }
    assert_eq!(paged, ids(&board.body));
    let by_rate =
        app.anon().get(&format!("/api/leagues/{league}/leaderboard?page_size=100&sort_by=win_rate&order=asc")).await;
    let rates: Vec<f64> =
        by_rate.body["results"].as_array().unwrap().iter().map(|r| r["win_rate"].as_f64().unwrap()).collect();
    assert!(rates.windows(2).all(|w| w[0] <= w[1]), "ascending win rate: {rates:?}");

    // Guild matches: newest first, each with its ten players in slot order and
    // the usernames of registered ones — the same view as the match detail.
    let guild = app.anon().get(&format!("/api/steam/guild-matches?league_id={league}&page_size=5&page=2")).await;
    assert_eq!((guild.status, guild.body["count"].as_u64()), (200, Some(12)), "{}", guild.text);
    let page = guild.body["results"].as_array().unwrap();
    let newest_first: Vec<i64> = matches.iter().rev().skip(5).take(5).map(|m| m.match_id).collect();
    assert_eq!(page.iter().map(|m| m["match_id"].as_i64().unwrap()).collect::<Vec<_>>(), newest_first);
    for m in page {
        let detail = app.anon().get(&format!("/api/matches/{}", m["match_id"])).await.body;
        assert_eq!(*m, detail, "guild list and match detail agree");
        let players = m["players"].as_array().unwrap();
        assert_eq!(players.len(), 10);
        assert!(players.iter().any(|p| p["username"].is_string()), "{m}");
    }

    // Recomputing changes nothing.
    let before = app
        .anon()
        .get(&format!("/api/leagues/{league}/leaderboard?page_size=100&sort_by=win_rate&order=asc"))
        .await
        .body;
    worker::domain::stats::update_league_stats(&app.state.jobs, LEAGUE).await.unwrap();
    let after = app
        .anon()
        .get(&format!("/api/leagues/{league}/leaderboard?page_size=100&sort_by=win_rate&order=asc"))
        .await
        .body;
    assert_eq!(before, after);

    // The 20th player registers their steamId later: their lines get linked
    // and the league's stats are queued for a recompute.
    let late = app.user("latecomer").await.get("/api/me").await.id();
    let me = staff.patch(&format!("/api/users/{late}"), json!({"steamId": ACCOUNTS[19] + STEAM_ID64_OFFSET})).await;
    assert_eq!(me.status, 200, "{}", me.text);
    let linked = app.anon().get(&format!("/api/matches/{}", matches[0].match_id)).await;
    let mine = linked.body["players"].as_array().unwrap().iter().filter(|p| p["user_id"] == me.body["id"]).count();
    let plays_first_match = matches[0].players.iter().any(|p| p.0 == ACCOUNTS[19]);
    assert_eq!(mine, usize::from(plays_first_match));
    // A reader of the ledger settles first (a run nobody claimed yet waits in Redis).
    app.state.jobs.enqueuer.ledger.settle().await.unwrap();
    let queued = app.count("job_runs").await;
    assert!(queued >= 2, "update_league_stats enqueued by the sync and by the steamId change");
}

in_both_modes!(
    incremental_sync_ingests_exactly_the_new_matches,
    full_sync_of_a_thousand_matches_terminates,
    a_killed_sync_resumes_without_loss_or_duplicates,
    details_failures_do_not_stop_the_sync_and_are_retried,
    league_mmr_from_mock_steam_to_the_leaderboard,
);
