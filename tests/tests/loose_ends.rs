//! The tournament night's loose ends (SPEC §23), from the league's seat:
//! drop-ins and leavers decide results as they played, a remake's match is
//! excluded from stats and results and included again, a finished pick is
//! repaired as one event on the draft's socket, a deactivated user cannot
//! log in and stays in history, a league keeps its rules and prize pool,
//! and `auto_link_games` says why it left a game.
//!
//! Every expected figure is worked by hand from the mock league
//! (`MockMatch::nth`): match n seats roster n mod 4 on radiant and roster
//! (n + 1) mod 4 on dire, and radiant wins unless 3 divides n.

use std::time::Duration;

use entity::steam_id::STEAM_ID64_OFFSET;
use serde_json::{Value, json};
use tests::steam_mock::{ACCOUNTS, MockMatch, SteamMock};
use tests::{Backend, Caller, Mode, Resp, TestApp, fixtures, in_both_modes, on_both_databases, ws};
use worker::domain::brackets::service::auto_link;
use worker::domain::stats::update_league_stats;
use worker::domain::sync::league_sync::sync_league;

const LEAGUE: i64 = 17929;

/// The leaderboard line of `user`: (games played, wins).
async fn record(app: &TestApp, league: i64, user: i64) -> (i64, i64) {
    let board = app.anon().get(&format!("/api/leagues/{league}/leaderboard?page_size=100")).await.body;
    let row = board["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["user_id"] == user)
        .cloned()
        .unwrap_or_else(|| panic!("user {user} on the leaderboard: {board}"));
    (row["games_played"].as_i64().unwrap(), row["wins"].as_i64().unwrap())
}

/// Players p0–p9 on the first two rosters' Steam accounts (p0–p4 roster 0,
/// p5–p9 roster 1), and x1–x3 without a Steam id.
async fn players(staff: &Caller<'_>) -> (Vec<i64>, Vec<i64>) {
    let mut p = Vec::new();
    for (i, account) in ACCOUNTS[..10].iter().enumerate() {
        let steam_id = (account + STEAM_ID64_OFFSET).to_string();
        let resp =
            staff.post("/api/users", json!({"username": format!("p{i}"), "steamId": steam_id, "mmr": 3000})).await;
        assert_eq!(resp.status, 201, "{}", resp.text);
        p.push(resp.id());
    }
    let mut x = Vec::new();
    for i in 1..=3 {
        x.push(fixtures::user(staff, &format!("x{i}"), 2000).await);
    }
    (p, x)
}

async fn link(staff: &Caller<'_>, game: i64, n: i64) -> Resp {
    staff.post(&format!("/api/games/{game}/link-match"), json!({"match_id": MockMatch::nth(n).match_id})).await
}

async fn a_remake_and_a_night_of_drop_ins(mode: Mode) {
    let steam = SteamMock::start((0..12).map(MockMatch::nth).collect()).await;
    let app = TestApp::spawn_with(mode.backend(), mode.options(steam.args(), false)).await;
    let staff = app.staff("admin").await;
    let league = staff.post("/api/leagues", json!({"steam_league_id": LEAGUE, "name": "DTX"})).await.id();
    let (p, x) = players(&staff).await;
    sync_league(&app.state.jobs, LEAGUE, false).await.expect("sync");
    update_league_stats(&app.state.jobs, LEAGUE).await.expect("stats");
    // p0 sits in roster 0: radiant in matches 0, 4, 8 (won 4 and 8), dire in 3, 7, 11 (won 3).
    assert_eq!(record(&app, league, p[0]).await, (6, 3));

    // The night: A is its captain p0, one member p1 and three drafted players who did not come (x1–x3);
    // p2–p4 dropped in. B is p5 and p6, and p7 and p8 who left.
    let night = chrono::DateTime::from_timestamp(MockMatch::nth(0).start_time, 0).unwrap();
    let t = staff
        .post("/api/tournaments", json!({"name": "Remake night", "date_played": night, "league_id": league}))
        .await
        .id();
    let mut pool = p.clone();
    pool.extend(&x);
    fixtures::add_players(&staff, t, &pool).await;
    let team_a = staff
        .post(
            "/api/teams",
            json!({"tournament_id": t, "name": "A", "captain_id": p[0], "member_ids": [p[1], x[0], x[1], x[2]]}),
        )
        .await
        .id();
    let team_b = staff
        .post(
            "/api/teams",
            json!({"tournament_id": t, "name": "B", "captain_id": p[5], "member_ids": [p[6], p[7], p[8]], "left_member_ids": [p[7], p[8]]}),
        )
        .await;
    assert_eq!((team_b.status, team_b.body["left_member_ids"].clone()), (201, json!([p[7], p[8]])), "{}", team_b.text);
    let team_b = team_b.id();

    // Attendance that cannot be: nothing changes.
    let before = staff.get(&format!("/api/teams/{team_a}")).await.body;
    for (body, status, code) in [
        (json!({"dropin_member_ids": [p[1]]}), 422, "dropin_is_member"),
        (json!({"left_member_ids": [p[2]]}), 422, "leaver_not_a_member"),
        (json!({"dropin_member_ids": [424242]}), 422, "unknown_users"),
    ] {
        let refused = staff.patch(&format!("/api/teams/{team_a}"), body.clone()).await;
        assert_eq!((refused.status, refused.error_code().as_str()), (status, code), "{body}: {}", refused.text);
    }
    assert_eq!(staff.get(&format!("/api/teams/{team_a}")).await.body, before);

    // Match 4: roster 0 radiant won against roster 1. Without its drop-ins A has 2 players there.
    let game = staff
        .post("/api/games", json!({"tournament_id": t, "radiant_team_id": team_a, "dire_team_id": team_b}))
        .await
        .id();
    let short = link(&staff, game, 4).await;
    assert_eq!((short.status, short.error_code().as_str()), (422, "rosters_do_not_match"), "{}", short.text);
    let with_drop_ins =
        staff.patch(&format!("/api/teams/{team_a}"), json!({"dropin_member_ids": [p[2], p[3], p[4]]})).await;
    assert_eq!(with_drop_ins.body["dropin_member_ids"], json!([p[2], p[3], p[4]]), "{}", with_drop_ins.text);
    // B counts p5 and p6 only: p7 and p8 left.
    let leaver = link(&staff, game, 4).await;
    assert_eq!((leaver.status, leaver.error_code().as_str()), (422, "rosters_do_not_match"), "{}", leaver.text);
    assert!(
        leaver.body["error"]["message"].as_str().unwrap().contains(&format!("team {team_b} has 2")),
        "{}",
        leaver.text
    );
    staff.patch(&format!("/api/teams/{team_b}"), json!({"left_member_ids": []})).await;
    let decided = link(&staff, game, 4).await;
    assert_eq!((decided.status, decided.body["winning_team_id"].as_i64()), (200, Some(team_a)), "{}", decided.text);

    // A match that decides a game is unlinked before it is excluded.
    let linked =
        staff.post(&format!("/api/matches/{}/exclude", MockMatch::nth(4).match_id), json!({"reason": "x"})).await;
    assert_eq!((linked.status, linked.error_code().as_str()), (409, "match_linked"));
    assert_eq!(linked.body["error"]["details"]["game_id"], game);

    // Match 8 was a remake of match 0: excluded, p0 has 5 games and 2 wins; included again, 6 and 3.
    let remake = MockMatch::nth(8).match_id;
    let path = format!("/api/matches/{remake}/exclude");
    assert_eq!(app.anon().post(&path, json!({"reason": "remake"})).await.status, 401);
    assert_eq!(app.user("p9").await.post(&path, json!({"reason": "remake"})).await.status, 403);
    assert_eq!(staff.post("/api/matches/424242/exclude", json!({"reason": "remake"})).await.status, 404);
    let blank = staff.post(&path, json!({"reason": "   "})).await;
    assert_eq!(blank.status, 422, "{}", blank.text);
    // A league admin of this league may; the match view says so.
    let admin = fixtures::user(&staff, "organiser", 1).await;
    staff.post(&format!("/api/leagues/{league}/admins"), json!({"user_id": admin})).await;
    let excluded = app.user("organiser").await.post(&path, json!({"reason": "remake of match 0"})).await;
    assert_eq!(excluded.status, 200, "{}", excluded.text);
    assert_eq!(
        (excluded.body["excluded"].as_bool(), excluded.body["excluded_reason"].as_str()),
        (Some(true), Some("remake of match 0"))
    );
    assert_eq!(app.anon().get(&format!("/api/matches/{remake}")).await.body["excluded"], true);
    assert_eq!(record(&app, league, p[0]).await, (5, 2));
    let game_2 = staff
        .post("/api/games", json!({"tournament_id": t, "radiant_team_id": team_a, "dire_team_id": team_b}))
        .await
        .id();
    let refused = link(&staff, game_2, 8).await;
    assert_eq!((refused.status, refused.error_code().as_str()), (409, "match_excluded"), "{}", refused.text);
    let offered: Vec<i64> = staff
        .get(&format!("/api/games/{game_2}/match-suggestions"))
        .await
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["match_id"].as_i64())
        .collect();
    assert!(offered.contains(&MockMatch::nth(0).match_id) && !offered.contains(&remake), "{offered:?}");

    let included = staff.delete(&path).await;
    assert_eq!((included.status, included.body["excluded"].as_bool()), (200, Some(false)), "{}", included.text);
    assert_eq!(record(&app, league, p[0]).await, (6, 3));

    // auto_link_games on a night in progress: two matches fit the second game (0 and its remake 8), so it
    // is left and says why; with the remake excluded, match 0 decides it.
    staff.patch(&format!("/api/tournaments/{t}"), json!({"state": "in_progress"})).await;
    let pass = auto_link(&app.state.services, LEAGUE).await.expect("auto link");
    assert_eq!(pass.linked_games, Vec::<i64>::new());
    assert_eq!(pass.left_games.len(), 1, "{pass:?}");
    assert_eq!(pass.left_games[0].game_id, game_2);
    assert!(pass.left_games[0].reason.starts_with("2 candidate matches"), "{pass:?}");
    staff.post(&path, json!({"reason": "remake of match 0"})).await;
    let pass = auto_link(&app.state.services, LEAGUE).await.expect("auto link");
    assert_eq!((pass.linked_games, pass.left_games.len()), (vec![game_2], 0));
    let decided = staff.get(&format!("/api/games/{game_2}")).await.body;
    // Match 0: radiant (roster 0, team A) lost.
    assert_eq!(
        (decided["match_id"].as_i64(), decided["winning_team_id"].as_i64()),
        (Some(MockMatch::nth(0).match_id), Some(team_b))
    );
}

async fn a_finished_pick_is_repaired_as_one_event(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let staff = app.staff("admin").await;
    let t = fixtures::tournament(&staff, "Repair night").await;
    let c1 = fixtures::user(&staff, "cap_one", 3000).await;
    let c2 = fixtures::user(&staff, "cap_two", 3000).await;
    let mut pool = Vec::new();
    for i in 0..4 {
        pool.push(fixtures::user(&staff, &format!("player{i}"), 1000 + 100 * i).await);
    }
    let late = fixtures::user(&staff, "late", 1500).await;
    let stranger = fixtures::user(&staff, "stranger", 1500).await;
    let mut everyone = vec![c1, c2, late];
    everyone.extend(&pool);
    fixtures::add_players(&staff, t, &everyone).await;
    let one = fixtures::team(&staff, t, "One", c1, 0).await;
    fixtures::team(&staff, t, "Two", c2, 1).await;
    let draft = staff.post(&format!("/api/tournaments/{t}/draft"), json!({"draft_style": "normal"})).await.id();
    // Normal order: One, Two, One, Two.
    for (i, player) in pool.iter().take(2).enumerate() {
        let r = staff.post(&format!("/api/drafts/{draft}/pick"), json!({"user_id": player})).await;
        assert_eq!(r.status, 200, "pick {}: {}", i + 1, r.text);
    }
    let mut socket = ws::connect(&app, &format!("/api/draft/{draft}/")).await;
    ws::next_of(&mut socket, "initial_state", Duration::from_secs(5)).await;

    let path = format!("/api/drafts/{draft}/rounds/1");
    for (url, body, status, code) in [
        (path.clone(), json!({"user_id": pool[1]}), 409, "player_already_drafted"),
        (path.clone(), json!({"user_id": stranger}), 422, "player_not_in_pool"),
        (format!("/api/drafts/{draft}/rounds/3"), json!({"user_id": late}), 409, "pick_not_made"),
        (format!("/api/drafts/{draft}/rounds/99"), json!({"user_id": late}), 404, "not_found"),
    ] {
        let refused = staff.patch(&url, body.clone()).await;
        assert_eq!((refused.status, refused.error_code().as_str()), (status, code), "{url} {body}: {}", refused.text);
    }
    assert_eq!(app.user("cap_one").await.patch(&path, json!({"user_id": late})).await.status, 403);

    let repaired = staff.patch(&path, json!({"user_id": late})).await;
    assert_eq!(repaired.status, 200, "{}", repaired.text);
    assert_eq!(repaired.body["rounds"][0]["choice_id"], late);
    assert_eq!(repaired.body["rounds"][1]["choice_id"], pool[1], "the other picks stay");
    assert_eq!(repaired.body["current_pick_number"], 3, "the draft goes on where it was");
    let members: Vec<i64> = staff.get(&format!("/api/teams/{one}")).await.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    let mut expected = vec![c1, late];
    expected.sort();
    assert_eq!(members, expected, "team One traded player0 for late");
    let pushed = ws::next_of(&mut socket, "draft_event", Duration::from_secs(5)).await;
    let event = &pushed["event"];
    assert_eq!(event["event_type"], "pick_repaired");
    assert_eq!(
        (event["payload"]["user_id"].as_i64(), event["payload"]["previous_user_id"].as_i64()),
        (Some(late), Some(pool[0]))
    );
    assert!(ws::next_json(&mut socket, Duration::from_millis(500)).await.is_none(), "one event");
    // player0 is back in the pool and can be picked again.
    let picked = staff.post(&format!("/api/drafts/{draft}/pick"), json!({"user_id": pool[0]})).await;
    assert_eq!(picked.status, 200, "{}", picked.text);
}

async fn a_deactivated_user_cannot_log_in_and_stays_in_history(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let staff = app.staff("admin").await;
    let t = fixtures::tournament(&staff, "History").await;
    let gone = app.user("gone").await;
    let me = gone.get("/api/me").await;
    assert_eq!(me.status, 200);
    let id = me.id();
    fixtures::add_players(&staff, t, &[id]).await;

    // Only staff deactivate, a staff account only a superuser.
    assert_eq!(
        app.user("someone").await.patch(&format!("/api/users/{id}"), json!({"is_active": false})).await.status,
        403
    );
    let other_staff = app.staff("other_staff").await.get("/api/me").await.id();
    assert_eq!(staff.patch(&format!("/api/users/{other_staff}"), json!({"is_active": false})).await.status, 403);
    let off = staff.patch(&format!("/api/users/{id}"), json!({"is_active": false})).await;
    assert_eq!((off.status, off.body["is_active"].as_bool()), (200, Some(false)), "{}", off.text);

    // The session ends; a new login is refused; the user stays where they played.
    assert_eq!(gone.get("/api/me").await.status, 401);
    let again = app.anon().post("/api/tests/login", json!({"username": "gone"})).await;
    assert_eq!((again.status, again.error_code().as_str()), (403, "user_inactive"), "{}", again.text);
    let pool = staff.get(&format!("/api/tournaments/{t}")).await.body;
    assert!(pool.to_string().contains("\"gone\""), "still a player of the tournament: {pool}");
    let audit = app.db_rows("SELECT field || ':' || old_value || '>' || new_value FROM identity_changes").await;
    assert!(audit.contains(&"is_active:true>false".to_owned()), "{audit:?}");

    let on = staff.patch(&format!("/api/users/{id}"), json!({"is_active": true})).await;
    assert_eq!(on.body["is_active"], true);
    assert_eq!(app.anon().post("/api/tests/login", json!({"username": "gone"})).await.status, 200);
}

async fn a_league_keeps_its_rules_and_prize_pool(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let staff = app.staff("admin").await;
    let rules = "1. Be on time.\n2. Captains pick in turn.\n\t3. Remakes within 5 minutes.";
    let created = staff
        .post(
            "/api/leagues",
            json!({"steam_league_id": 5001, "name": "Rules", "rules": rules, "prize_pool": "€50 and a mug"}),
        )
        .await;
    assert_eq!(
        (created.status, created.body["rules"].as_str(), created.body["prize_pool"].as_str()),
        (201, Some(rules), Some("€50 and a mug"))
    );
    let plain = staff.post("/api/leagues", json!({"steam_league_id": 5002, "name": "Plain"})).await;
    assert_eq!((plain.body["rules"].as_str(), plain.body["prize_pool"].as_str()), (Some(""), Some("")));
    let id = created.id();
    let long = staff.patch(&format!("/api/leagues/{id}"), json!({"prize_pool": "x".repeat(101)})).await;
    assert_eq!(long.status, 400, "the document's limit: {}", long.text);
    let changed = staff.patch(&format!("/api/leagues/{id}"), json!({"prize_pool": "€100"})).await;
    assert_eq!((changed.body["prize_pool"].as_str(), changed.body["rules"].as_str()), (Some("€100"), Some(rules)));
    let read: Value = app.anon().get(&format!("/api/leagues/{id}")).await.body;
    assert_eq!(read["prize_pool"], "€100");
}

in_both_modes!(a_remake_and_a_night_of_drop_ins);
on_both_databases!(
    a_finished_pick_is_repaired_as_one_event,
    a_deactivated_user_cannot_log_in_and_stays_in_history,
    a_league_keeps_its_rules_and_prize_pool,
);
