//! A tournament night's bracket through the API (SPEC §17): layouts for 2–16
//! teams, whole events with upsets and their placements, results taken back
//! and re-entered, Swiss rounds appearing by themselves, racing results, the
//! tournament socket's `bracket_event`s, and a game completed from a Steam
//! match found by the scheduled sync.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use serde_json::{Value, json};
use tests::steam_mock::{ACCOUNTS, MockMatch, SteamMock};
use tests::{Backend, Caller, Options, TestApp, eventually, fixtures, on_both_databases, ws};

/// A tournament of `n` teams; team i's captain has MMR 5000 − 100·i, so
/// seeding by MMR makes team i seed i + 1. Returns (tournament, team ids by seed).
async fn tournament_of(staff: &Caller<'_>, n: usize, tag: &str) -> (i64, Vec<i64>) {
    let t = fixtures::tournament(staff, &format!("Night {tag}")).await;
    let mut captains = Vec::new();
    for i in 0..n {
        captains.push(fixtures::user(staff, &format!("{tag}c{i}"), 5000 - 100 * i as i32).await);
    }
    fixtures::add_players(staff, t, &captains).await;
    let mut teams = Vec::new();
    for (i, c) in captains.iter().enumerate() {
        teams.push(fixtures::team(staff, t, &format!("{tag}T{i}"), *c, (n - i) as i32).await);
    }
    (t, teams)
}

async fn generate(staff: &Caller<'_>, t: i64, body: Value) -> Value {
    let resp = staff.post(&format!("/api/tournaments/{t}/bracket"), body).await;
    assert_eq!(resp.status, 201, "{}", resp.text);
    resp.body
}

async fn bracket(caller: &Caller<'_>, t: i64) -> Value {
    caller.get(&format!("/api/tournaments/{t}/bracket")).await.body
}

fn games(bracket: &Value) -> Vec<Value> {
    bracket["games"].as_array().unwrap().clone()
}

fn ready(game: &Value) -> bool {
    game["winning_team_id"].is_null() && game["radiant_team_id"].is_i64() && game["dire_team_id"].is_i64()
}

/// Plays every game as it becomes ready, `pick` choosing the winner among
/// (radiant, dire); returns the games played, in order.
async fn play(staff: &Caller<'_>, t: i64, pick: impl Fn(&Value, i64, i64) -> i64) -> Vec<Value> {
    let mut played = Vec::new();
    loop {
        let b = bracket(staff, t).await;
        let Some(game) = games(&b).into_iter().find(ready) else { return played };
        let (radiant, dire) = (game["radiant_team_id"].as_i64().unwrap(), game["dire_team_id"].as_i64().unwrap());
        let winner = pick(&game, radiant, dire);
        let resp = staff.post(&format!("/api/games/{}/result", game["id"]), json!({"winning_team_id": winner})).await;
        assert_eq!(resp.status, 200, "{}", resp.text);
        played.push(game);
    }
}

fn placements(bracket: &Value) -> Vec<i64> {
    let mut places: Vec<i64> =
        bracket["standings"].as_array().unwrap().iter().map(|s| s["placement"].as_i64().unwrap_or(0)).collect();
    places.sort_unstable();
    places
}

async fn layouts_for_two_to_sixteen_teams(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let staff = app.staff("admin").await;
    for double in [false, true] {
        for n in 2..=16usize {
            let (t, teams) = tournament_of(&staff, n, &format!("{}{n}", if double { "d" } else { "s" })).await;
            let seed: HashMap<i64, usize> = teams.iter().enumerate().map(|(i, id)| (*id, i + 1)).collect();
            let format = if double { "double_elimination" } else { "single_elimination" };
            let b = generate(&staff, t, json!({"format": format, "seeding": "mmr"})).await;
            let all = games(&b);
            assert_eq!(all.len(), if double { 2 * n - 2 } else { n - 1 }, "{format} of {n}");
            let size = n.next_power_of_two();
            for g in all.iter().filter(|g| g["bracket_type"] == "winners" && g["round"] == 1) {
                let pair = [g["radiant_team_id"].as_i64(), g["dire_team_id"].as_i64()];
                let pair: Vec<usize> = pair.iter().map(|id| seed[&id.expect("round 1 starts full")]).collect();
                assert_eq!(pair[0] + pair[1], size + 1, "{format} of {n}: round-1 seeds {pair:?}");
            }
            // No game waits on a bye: every empty slot is fed by exactly one earlier game.
            for g in &all {
                let teams_in = ["radiant_team_id", "dire_team_id"].iter().filter(|k| g[**k].is_i64()).count();
                let fed = all.iter().filter(|o| o["next_game_id"] == g["id"]).count()
                    + all.iter().filter(|o| o["loser_next_game_id"] == g["id"]).count();
                assert_eq!(teams_in + fed, 2, "{format} of {n}: game {g}");
            }
            let played = play(&staff, t, |_, r, d| if seed[&r] < seed[&d] { r } else { d }).await;
            assert_eq!(played.len(), if double { 2 * n - 2 } else { n - 1 }, "{format} of {n}: games played");
            let meetings: Vec<&Value> = played
                .iter()
                .filter(|g| {
                    let pair = [g["radiant_team_id"].as_i64().unwrap(), g["dire_team_id"].as_i64().unwrap()];
                    pair.contains(&teams[0]) && pair.contains(&teams[1])
                })
                .collect();
            // Only in a final: the final (single), the winners' final or the grand final (double).
            let winners_final =
                all.iter().filter(|g| g["bracket_type"] == "winners").map(|g| g["round"].as_i64()).max();
            let in_a_final = |g: &&Value| match double {
                false => g["id"] == played.last().unwrap()["id"],
                true => {
                    g["bracket_type"] == "grand_finals"
                        || (g["bracket_type"] == "winners" && g["round"].as_i64() == winners_final.flatten())
                }
            };
            assert!(meetings.iter().all(in_a_final), "{format} of {n}: seeds 1 and 2 meet only in a final");
            let t_after = staff.get(&format!("/api/tournaments/{t}")).await.body;
            assert_eq!(
                (t_after["state"].as_str(), t_after["winning_team_id"].as_i64()),
                (Some("past"), Some(teams[0]))
            );
        }
    }
}

/// Upsets: in round-1 games the lower seed wins when the game's position is even.
fn upsets(seed: &HashMap<i64, usize>) -> impl Fn(&Value, i64, i64) -> i64 + '_ {
    move |g, r, d| {
        let (better, worse) = if seed[&r] < seed[&d] { (r, d) } else { (d, r) };
        if g["round"] == 1 && g["position"].as_i64().unwrap() % 2 == 0 { worse } else { better }
    }
}

async fn an_eight_team_single_elimination_night(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let staff = app.staff("admin").await;
    let (t, teams) = tournament_of(&staff, 8, "se").await;
    let seed: HashMap<i64, usize> = teams.iter().enumerate().map(|(i, id)| (*id, i + 1)).collect();
    let mut socket = ws::connect(&app, &format!("/api/tournament/{t}/")).await;
    ws::next_of(&mut socket, "initial_state", Duration::from_secs(5)).await;
    generate(&staff, t, json!({"format": "single_elimination"})).await;
    let generated = ws::next_of(&mut socket, "bracket_event", Duration::from_secs(5)).await;
    assert_eq!(generated["event"]["event_type"], "bracket_generated");

    // Wrong calls first.
    let b = bracket(&staff, t).await;
    let waiting = games(&b).into_iter().find(|g| g["round"] == 2).unwrap();
    let first = games(&b).into_iter().find(ready).unwrap();
    let result = |g: &Value| format!("/api/games/{}/result", g["id"]);
    let not_ready = staff.post(&result(&waiting), json!({"winning_team_id": teams[0]})).await;
    assert_eq!((not_ready.status, not_ready.error_code().as_str()), (409, "game_not_ready"));
    let outsider = staff.post(&result(&first), json!({"winning_team_id": teams[1]})).await;
    assert_eq!((outsider.status, outsider.error_code().as_str()), (422, "not_in_game"), "{}", outsider.text);
    let player = app.user("nosy").await;
    assert_eq!(player.post(&result(&first), json!({"winning_team_id": first["radiant_team_id"]})).await.status, 403);
    assert_eq!(staff.delete(&result(&first)).await.error_code(), "no_result");

    let played = play(&staff, t, upsets(&seed)).await;
    assert_eq!(played.len(), 7);
    let done = bracket(&staff, t).await;
    assert_eq!(placements(&done), vec![1, 2, 3, 3, 5, 5, 5, 5]);
    let tournament = staff.get(&format!("/api/tournaments/{t}")).await.body;
    let champion = done["standings"][0]["team_id"].as_i64().unwrap();
    assert_eq!((tournament["state"].as_str(), tournament["winning_team_id"].as_i64()), (Some("past"), Some(champion)));
    let again = staff.post(&result(&played[0]), json!({"winning_team_id": played[0]["radiant_team_id"]})).await;
    assert_eq!((again.status, again.error_code().as_str()), (409, "already_decided"));
    let regenerate =
        staff.post(&format!("/api/tournaments/{t}/bracket"), json!({"format": "single_elimination"})).await;
    assert_eq!((regenerate.status, regenerate.error_code().as_str()), (409, "bracket_has_results"));
    let fed = staff.delete(&result(&played[0])).await;
    assert_eq!((fed.status, fed.error_code().as_str()), (409, "feeds_a_played_game"));

    // Take the final back: the tournament reopens; enter it the other way round.
    let final_game = played.last().unwrap();
    let undone = staff.delete(&result(final_game)).await;
    assert_eq!(undone.status, 200, "{}", undone.text);
    assert_eq!(staff.get(&format!("/api/tournaments/{t}")).await.body["state"], "in_progress");
    let runner_up = [final_game["radiant_team_id"].as_i64().unwrap(), final_game["dire_team_id"].as_i64().unwrap()]
        .into_iter()
        .find(|id| *id != champion)
        .unwrap();
    assert_eq!(staff.post(&result(final_game), json!({"winning_team_id": runner_up})).await.status, 200);
    let after = staff.get(&format!("/api/tournaments/{t}")).await.body;
    assert_eq!((after["state"].as_str(), after["winning_team_id"].as_i64()), (Some("past"), Some(runner_up)));
    assert_eq!(placements(&bracket(&staff, t).await), vec![1, 2, 3, 3, 5, 5, 5, 5]);

    // The socket saw every result, the take-back and the re-entry, in order.
    let mut seen = Vec::new();
    while seen.len() < 9 {
        let e = ws::next_of(&mut socket, "bracket_event", Duration::from_secs(5)).await;
        seen.push(e["event"]["event_type"].as_str().unwrap().to_owned());
        if seen.len() == 9 {
            assert_eq!(e["tournament"]["state"], "past");
            assert_eq!(e["game"]["winning_team_id"], runner_up);
        }
    }
    let mut expected = vec!["result_recorded"; 7];
    expected.extend(["result_undone", "result_recorded"]);
    assert_eq!(seen, expected);
}

async fn an_eight_team_double_elimination_night(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let staff = app.staff("admin").await;
    let (t, teams) = tournament_of(&staff, 8, "de").await;
    let seed: HashMap<i64, usize> = teams.iter().enumerate().map(|(i, id)| (*id, i + 1)).collect();
    generate(&staff, t, json!({"format": "double_elimination", "seeding": "mmr"})).await;
    let played = play(&staff, t, upsets(&seed)).await;
    assert_eq!(played.len(), 14, "2N − 2");
    assert_eq!(placements(&bracket(&staff, t).await), vec![1, 2, 3, 4, 5, 5, 7, 7]);

    // With a reset: seed 1 loses its first game and wins through the losers' bracket, then the first grand final.
    let (t, teams) = tournament_of(&staff, 8, "dr").await;
    let seed: HashMap<i64, usize> = teams.iter().enumerate().map(|(i, id)| (*id, i + 1)).collect();
    generate(&staff, t, json!({"format": "double_elimination", "grand_final_reset": true})).await;
    let top = teams[0];
    let played = play(&staff, t, |g, r, d| {
        if g["bracket_type"] == "winners" && g["round"] == 1 && (r == top || d == top) {
            if r == top { d } else { r }
        } else if r == top || d == top {
            top
        } else if seed[&r] < seed[&d] {
            r
        } else {
            d
        }
    })
    .await;
    assert_eq!(played.len(), 15, "2N − 1: the reset was played");
    let done = bracket(&staff, t).await;
    assert_eq!(done["standings"][0]["team_id"], top);
    assert_eq!(placements(&done), vec![1, 2, 3, 4, 5, 5, 7, 7]);
}

/// Before each Swiss round is paired, records of the teams as they stand.
fn records_before(played: &[Value], round: i64) -> HashMap<i64, (u32, u32)> {
    let mut records: HashMap<i64, (u32, u32)> = HashMap::new();
    for g in played.iter().filter(|g| g["round"].as_i64().unwrap() < round) {
        let w = g["winning_team_id"].as_i64().unwrap();
        records.entry(w).or_default().0 += 1;
        if let Some(d) = g["dire_team_id"].as_i64() {
            let l = if d == w { g["radiant_team_id"].as_i64().unwrap() } else { d };
            records.entry(l).or_default().1 += 1;
        }
    }
    records
}

async fn swiss_nights_of_eight_and_seven(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let staff = app.staff("admin").await;
    for n in [8usize, 7] {
        let (t, teams) = tournament_of(&staff, n, &format!("sw{n}")).await;
        let seed: HashMap<i64, usize> = teams.iter().enumerate().map(|(i, id)| (*id, i + 1)).collect();
        let b = generate(&staff, t, json!({"format": "swiss", "swiss_rounds": 3})).await;
        assert_eq!(games(&b).iter().filter(|g| g["round"] == 1 && g["dire_team_id"].is_i64()).count(), n / 2);
        play(&staff, t, |_, r, d| if seed[&r] < seed[&d] { r } else { d }).await;
        let done = bracket(&staff, t).await;
        let all = games(&done);
        assert_eq!(
            all.iter().map(|g| g["round"].as_i64().unwrap()).max(),
            Some(3),
            "three rounds, appearing by themselves"
        );
        let mut met = BTreeSet::new();
        for g in all.iter().filter(|g| g["dire_team_id"].is_i64()) {
            let (a, b) = (g["radiant_team_id"].as_i64().unwrap(), g["dire_team_id"].as_i64().unwrap());
            assert!(met.insert((a.min(b), a.max(b))), "no rematch: {a} v {b}");
            let before = records_before(&all, g["round"].as_i64().unwrap());
            let record = |id: i64| before.get(&id).copied().unwrap_or_default();
            if n == 8 {
                assert_eq!(record(a), record(b), "equal records meet in round {}", g["round"]);
            }
        }
        let byes: Vec<i64> = all
            .iter()
            .filter(|g| g["dire_team_id"].is_null())
            .map(|g| g["radiant_team_id"].as_i64().unwrap())
            .collect();
        assert_eq!(byes.len(), if n == 7 { 3 } else { 0 });
        assert_eq!(byes.iter().collect::<BTreeSet<_>>().len(), byes.len(), "at most one bye each");
        let standings = done["standings"].as_array().unwrap();
        if n == 8 {
            let mut records: Vec<(i64, i64)> =
                standings.iter().map(|s| (s["wins"].as_i64().unwrap(), s["losses"].as_i64().unwrap())).collect();
            records.sort_unstable();
            assert_eq!(records, vec![(0, 3), (1, 2), (1, 2), (1, 2), (2, 1), (2, 1), (2, 1), (3, 0)]);
        }
        let places: Vec<i64> = standings.iter().map(|s| s["placement"].as_i64().unwrap()).collect();
        assert_eq!(places, (1..=n as i64).collect::<Vec<_>>(), "placed in standings order");
        assert!(standings.windows(2).all(|w| w[0]["wins"].as_i64() >= w[1]["wins"].as_i64()));
        assert_eq!(staff.get(&format!("/api/tournaments/{t}")).await.body["winning_team_id"], standings[0]["team_id"]);
    }
}

async fn two_racing_results_one_wins(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let staff = app.staff("admin").await;
    let (t, _) = tournament_of(&staff, 4, "race").await;
    generate(&staff, t, json!({"format": "single_elimination"})).await;
    let g = games(&bracket(&staff, t).await).into_iter().find(ready).unwrap();
    let path = format!("/api/games/{}/result", g["id"]);
    let (a, b) = tokio::join!(
        staff.post(&path, json!({"winning_team_id": g["radiant_team_id"]})),
        staff.post(&path, json!({"winning_team_id": g["dire_team_id"]}))
    );
    let mut statuses = [a.status, b.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "{} / {}", a.text, b.text);
    let events = staff.get(&format!("/api/tournaments/{t}/bracket/events?page_size=100")).await.body["results"].clone();
    let recorded = events.as_array().unwrap().iter().filter(|e| e["event_type"] == "result_recorded").count();
    assert_eq!(recorded, 1, "one result, one event");
}

on_both_databases!(
    layouts_for_two_to_sixteen_teams,
    an_eight_team_single_elimination_night,
    an_eight_team_double_elimination_night,
    swiss_nights_of_eight_and_seven,
    two_racing_results_one_wins,
);

/// A waiting game whose two rosters play a league match (sides swapped in
/// the lobby) is completed after the scheduled sync, with nobody entering
/// the result; an unrelated match links nothing. Suggestions and a manual
/// link agree.
#[tokio::test]
async fn the_scheduled_sync_completes_a_game_from_its_steam_match() {
    // The only schedule of this process: a sync every second.
    for (kind, cron) in [
        ("SYNC_LEAGUE_MATCHES", "* * * * * *"),
        ("CHECK_SCHEDULED_EVENTS", "off"),
        ("REFRESH_DISCORD_AVATARS", "off"),
        ("REFRESH_ALL_DISCORD_DATA", "off"),
        ("PRUNE_JOB_RUNS", "off"),
    ] {
        // SAFETY: set before the app (and its threads) starts; nextest runs this test in a process of its own.
        unsafe { std::env::set_var(format!("SCHEDULE_{kind}"), cron) };
    }
    // Match 0: ACCOUNTS[0..5] radiant, ACCOUNTS[5..10] dire, dire wins. Match 2: two other rosters.
    let steam = SteamMock::start(vec![MockMatch::nth(0), MockMatch::nth(2)]).await;
    let mut args = steam.args();
    args.extend(["--embedded-scheduler", "true"].map(String::from));
    let app = TestApp::spawn_with(Backend::Sqlite, Options { worker: true, args, ..Default::default() }).await;
    let staff = app.staff("admin").await;
    let league = staff.post("/api/leagues", json!({"steam_league_id": 17929, "name": "DTX"})).await.id();
    let night = chrono::DateTime::from_timestamp(MockMatch::nth(0).start_time, 0).unwrap();
    let t = staff
        .post("/api/tournaments", json!({"name": "Linked night", "date_played": night, "league_id": league}))
        .await
        .id();
    let mut users = Vec::new();
    for (i, account) in ACCOUNTS[..10].iter().enumerate() {
        // The dire roster of the match is stronger, so it is seed 1 and plays radiant in the bracket.
        let mmr = if i < 5 { 2000 } else { 4000 };
        let steam_id = (account + entity::steam_id::STEAM_ID64_OFFSET).to_string();
        let resp =
            staff.post("/api/users", json!({"username": format!("p{i}"), "steamId": steam_id, "mmr": mmr})).await;
        users.push(resp.id());
    }
    fixtures::add_players(&staff, t, &users).await;
    let roster = |range: std::ops::Range<usize>, name: &str| json!({"tournament_id": t, "name": name, "captain_id": users[range.start], "member_ids": users[range].to_vec()});
    let team_a = staff.post("/api/teams", roster(0..5, "A")).await.id();
    let team_b = staff.post("/api/teams", roster(5..10, "B")).await.id();
    let b = generate(&staff, t, json!({"format": "single_elimination"})).await;
    let game = games(&b).remove(0);
    assert_eq!((game["radiant_team_id"].as_i64(), game["dire_team_id"].as_i64()), (Some(team_b), Some(team_a)));

    let done = eventually("the sync and auto-link to complete the game", Duration::from_secs(30), || async {
        let g = staff.get(&format!("/api/games/{}", game["id"])).await.body;
        (g["status"] == "completed").then_some(g)
    })
    .await;
    assert_eq!(done["winning_team_id"], team_b, "dire won the match, and B sat dire");
    assert_eq!(done["match_id"], MockMatch::nth(0).match_id);
    let t_after = staff.get(&format!("/api/tournaments/{t}")).await.body;
    assert_eq!((t_after["state"].as_str(), t_after["winning_team_id"].as_i64()), (Some("past"), Some(team_b)));
    let linked: BTreeMap<i64, i64> = staff.get(&format!("/api/games?tournament_id={t}")).await.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|g| Some((g["match_id"].as_i64()?, g["id"].as_i64()?)))
        .collect();
    assert_eq!(linked.len(), 1, "the unrelated match links nothing: {linked:?}");
    let events = staff.get(&format!("/api/tournaments/{t}/bracket/events?page_size=100")).await.body["results"].clone();
    assert_eq!(events.as_array().unwrap().last().unwrap()["payload"]["source"], "automatic");

    // Taken back through the link, then the suggestions rank the match first and a manual link agrees.
    let unlinked = staff.delete(&format!("/api/games/{}/link-match", game["id"])).await;
    assert_eq!((unlinked.body["status"].as_str(), unlinked.body["match_id"].clone()), (Some("pending"), Value::Null));
    let suggestions = staff.get(&format!("/api/games/{}/match-suggestions", game["id"])).await.body;
    let best = &suggestions[0];
    assert_eq!(best["match_id"], MockMatch::nth(0).match_id);
    assert_eq!((best["tier"].as_str(), best["as_scheduled"].as_bool()), (Some("all_players"), Some(false)));
    assert_eq!((best["radiant_overlap"].as_i64(), best["dire_overlap"].as_i64()), (Some(5), Some(5)));
    let wrong = staff
        .post(&format!("/api/games/{}/link-match", game["id"]), json!({"match_id": MockMatch::nth(2).match_id}))
        .await;
    assert_eq!((wrong.status, wrong.error_code().as_str()), (422, "rosters_do_not_match"));
    let relinked = staff
        .post(&format!("/api/games/{}/link-match", game["id"]), json!({"match_id": MockMatch::nth(0).match_id}))
        .await;
    assert_eq!(relinked.body["winning_team_id"], team_b, "{}", relinked.text);
}
