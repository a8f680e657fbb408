//! One league id and one error rule (SPEC §23), from the league's seat: the
//! `league_id` a tournament shows finds it again, opens its league and the
//! league's leaderboard; 404 only for the path's resource, 422 for what a
//! request names that does not exist or cannot be used, 409 for what the
//! state forbids — and the errors say who or what is in the way.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use tests::steam_mock::{ACCOUNTS, MockMatch, SteamMock};
use tests::{Backend, Mode, Resp, TestApp, fixtures, in_both_modes, on_both_databases};

async fn the_league_id_means_one_thing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let staff = app.staff("admin").await;
    // A Steam league id that cannot be mistaken for the API's id.
    let created = staff.post("/api/leagues", json!({"steam_league_id": 17929, "name": "DTX"})).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let league = created.id();
    assert_eq!(created.body["steam_league_id"], 17929);
    let t = staff
        .post("/api/tournaments", json!({"name": "Night", "date_played": "2026-12-10T18:00:00Z", "league_id": league}))
        .await;
    assert_eq!((t.status, t.body["league_id"].as_i64()), (201, Some(league)), "{}", t.text);
    let shown = t.body["league_id"].as_i64().unwrap();

    let found = app.anon().get(&format!("/api/tournaments?league_id={shown}")).await;
    assert_eq!(found.body["results"][0]["id"], t.id(), "{}", found.text);
    let opened = app.anon().get(&format!("/api/leagues/{shown}")).await;
    assert_eq!((opened.status, opened.body["steam_league_id"].as_i64()), (200, Some(17929)));
    for path in ["leaderboard", "sync-state"] {
        let resp = app.anon().get(&format!("/api/leagues/{shown}/{path}")).await;
        assert_eq!(resp.status, 200, "{path}: {}", resp.text);
    }
    let sync = app.anon().get(&format!("/api/leagues/{shown}/sync-state")).await.body;
    assert_eq!((sync["league_id"].as_i64(), sync["steam_league_id"].as_i64()), (Some(league), Some(17929)));
    let guild = app.anon().get(&format!("/api/steam/guild-matches?league_id={shown}")).await;
    assert_eq!(guild.status, 200, "{}", guild.text);
    // The Steam id is not the API's id, anywhere a league id goes.
    assert_eq!(app.anon().get("/api/leagues/17929/leaderboard").await.status, 404);
    let by_steam_id = staff
        .post("/api/tournaments", json!({"name": "x", "date_played": "2026-12-10T18:00:00Z", "league_id": 17929}))
        .await;
    assert_eq!((by_steam_id.status, by_steam_id.error_code().as_str()), (422, "unknown_league"));

    // The document says which is which.
    let doc = app.anon().get("/api/openapi.json").await.body;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            for p in op["parameters"].as_array().into_iter().flatten() {
                let description = p["description"].as_str().unwrap_or_default();
                match p["name"].as_str().unwrap_or_default() {
                    "league_id" => assert!(description.contains("not its Steam"), "{method} {path}: {description}"),
                    "steam_league_id" => assert!(description.contains("Steam"), "{method} {path}: {description}"),
                    _ => {}
                }
            }
        }
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in ["MatchView", "SyncStateView", "LeagueStatsEntry"] {
        assert!(schemas[name]["properties"].get("steam_league_id").is_some(), "{name} names its Steam league id");
    }
    assert!(schemas["MatchView"]["properties"].get("league_id").is_none(), "a match knows only its Steam league");
}

async fn errors_follow_one_rule_and_say_what_is_in_the_way(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let staff = app.staff("admin").await;

    // 404: the path's resource; 422: an id in the body that names nothing, with the ids.
    assert_eq!(staff.get("/api/tournaments/424242").await.status, 404);
    let t = fixtures::tournament(&staff, "Rules night").await;
    let known = fixtures::user(&staff, "known", 3000).await;
    let unknown = staff.post(&format!("/api/tournaments/{t}/players"), json!({"user_ids": [known, 424242]})).await;
    assert_eq!((unknown.status, unknown.error_code().as_str()), (422, "unknown_users"));
    assert_eq!(unknown.body["error"]["details"]["user_ids"], json!([424242]));

    // 409 naming the field and who holds it.
    let holder = staff
        .post(
            "/api/users",
            json!({"username": "holder", "discordId": "80351110224678912", "steamId": "76561198196640475"}),
        )
        .await
        .id();
    for (body, field) in [
        (json!({"username": "holder"}), "username"),
        (json!({"username": "other1", "discordId": "80351110224678912"}), "discordId"),
        (json!({"username": "other2", "steamId": "76561198196640475"}), "steamId"),
    ] {
        let taken = staff.post("/api/users", body.clone()).await;
        assert_eq!((taken.status, taken.error_code().as_str()), (409, "user_exists"), "{body}: {}", taken.text);
        assert_eq!(
            (taken.body["error"]["details"]["field"].as_str(), taken.body["error"]["details"]["holder_id"].as_i64()),
            (Some(field), Some(holder)),
            "{}",
            taken.text
        );
    }

    // A hero draft: a second one names the first; a hero outside the pool (24: no such hero) is 422, a used one 409.
    let (draft, _) = fixtures::hero_draft(&app, &staff).await;
    let game = staff.get(&format!("/api/herodrafts/{draft}")).await.body["game_id"].as_i64().unwrap();
    let second = staff.post(&format!("/api/games/{game}/herodraft"), json!({})).await;
    assert_eq!((second.status, second.error_code().as_str()), (409, "already_exists"));
    assert_eq!(second.body["error"]["details"]["herodraft_id"], draft);
    let first = fixtures::start_hero_draft(&app, draft).await;
    let captain = app.user(["radiant_cap", "dire_cap"][first]).await;
    let outside = captain.post(&format!("/api/herodrafts/{draft}/act"), json!({"hero_id": 24})).await;
    assert_eq!((outside.status, outside.error_code().as_str()), (422, "hero_not_in_pool"), "{}", outside.text);
    let banned = captain.post(&format!("/api/herodrafts/{draft}/act"), json!({"hero_id": 1})).await;
    assert_eq!(banned.status, 200, "{}", banned.text);
    // Whoever's turn round 2 is: the banned hero is taken.
    let mut answers = Vec::new();
    for name in ["radiant_cap", "dire_cap"] {
        let again = app.user(name).await.post(&format!("/api/herodrafts/{draft}/act"), json!({"hero_id": 1})).await;
        answers.push((again.status, again.error_code()));
    }
    assert!(answers.contains(&(409, "hero_taken".to_owned())), "{answers:?}");

    // A finished game gets no hero draft: 409 (a winner not in the game is 422: tests/tests/brackets.rs).
    let played = staff.get(&format!("/api/games/{game}")).await.body;
    let rematch = staff
        .post(
            "/api/games",
            json!({"tournament_id": played["tournament_id"], "radiant_team_id": played["radiant_team_id"], "dire_team_id": played["dire_team_id"], "round": 2}),
        )
        .await;
    assert_eq!(rematch.status, 201, "{}", rematch.text);
    let decided = staff
        .post(&format!("/api/games/{}/result", rematch.id()), json!({"winning_team_id": played["radiant_team_id"]}))
        .await;
    assert_eq!(decided.status, 200, "{}", decided.text);
    let late = staff.post(&format!("/api/games/{}/herodraft", rematch.id()), json!({})).await;
    assert_eq!((late.status, late.error_code().as_str()), (409, "game_finished"), "{}", late.text);

    // Every event list pages alike.
    for path in [
        format!("/api/herodrafts/{draft}/events?page_size=2"),
        format!("/api/tournaments/{t}/bracket/events?page_size=2"),
    ] {
        let page = app.anon().get(&path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.text);
        assert_eq!((page.body["page"].as_u64(), page.body["page_size"].as_u64()), (Some(1), Some(2)), "{path}");
        assert!(page.body["results"].as_array().is_some_and(|r| r.len() <= 2), "{path}: {}", page.text);
        assert!(page.body["count"].as_u64().is_some(), "{path}");
    }
}

/// How the document and the README quote an error: `NNN \`code\``.
fn quoted_errors() -> regex::Regex {
    regex::Regex::new(r"\b(4\d\d)\s+`([a-z_]+)`").unwrap()
}

/// The error codes the document lists: `NNN \`code\`` in each operation's
/// summary and description, by operation id.
fn documented_errors(doc: &Value) -> BTreeMap<String, BTreeSet<(u16, String)>> {
    let pair = quoted_errors();
    let mut found: BTreeMap<String, BTreeSet<(u16, String)>> = BTreeMap::new();
    for ops in doc["paths"].as_object().unwrap().values() {
        for op in ops.as_object().unwrap().values() {
            let text = format!("{} {}", op["summary"].as_str().unwrap_or(""), op["description"].as_str().unwrap_or(""));
            for c in pair.captures_iter(&text) {
                let id = op["operationId"].as_str().unwrap().to_owned();
                found.entry(id).or_default().insert((c[1].parse().unwrap(), c[2].to_owned()));
            }
        }
    }
    found
}

/// Every error code the OpenAPI document lists for an operation is what the
/// operation answers — each one provoked from the league's seat — and the
/// README quotes each of those codes with the same status.
async fn every_documented_error_code_is_answered(mode: Mode) {
    let steam = SteamMock::start((0..6).map(MockMatch::nth).collect()).await;
    let app = TestApp::spawn_with(mode.backend(), mode.options(steam.args(), false)).await;
    let staff = app.staff("admin").await;
    let mut seen: Vec<(&str, Resp)> = Vec::new();

    let league = staff.post("/api/leagues", json!({"steam_league_id": 17929, "name": "DTX"})).await.id();
    seen.push((
        "createTournament",
        staff
            .post("/api/tournaments", json!({"name": "x", "date_played": "2026-12-11T19:00:00Z", "league_id": 424242}))
            .await,
    ));
    // Night one: a snake draft whose first pick is made.
    let t = fixtures::tournament(&staff, "One").await;
    let (c1, c2) = (fixtures::user(&staff, "cap_one", 3000).await, fixtures::user(&staff, "cap_two", 3000).await);
    let mut pool = vec![c1, c2];
    for i in 0..8 {
        pool.push(fixtures::user(&staff, &format!("p{i}"), 2000 + i).await);
    }
    let outsider = fixtures::user(&staff, "outsider", 1).await;
    seen.push((
        "addPlayers",
        staff.post(&format!("/api/tournaments/{t}/players"), json!({"user_ids": [424242]})).await,
    ));
    fixtures::add_players(&staff, t, &pool).await;
    fixtures::team(&staff, t, "A", c1, 0).await;
    fixtures::team(&staff, t, "B", c2, 1).await;
    let d = staff.post(&format!("/api/tournaments/{t}/draft"), json!({"draft_style": "snake"})).await.id();
    let cap_one = app.user("cap_one").await;
    assert_eq!(cap_one.post(&format!("/api/drafts/{d}/pick"), json!({"user_id": pool[2]})).await.status, 200);
    let pick = format!("/api/drafts/{d}/pick");
    seen.push(("pickPlayer", cap_one.post(&pick, json!({"user_id": pool[3]})).await));
    let cap_two = app.user("cap_two").await;
    seen.push(("pickPlayer", cap_two.post(&pick, json!({"user_id": outsider})).await));
    seen.push(("pickPlayer", cap_two.post(&pick, json!({"user_id": pool[2]})).await));
    let round = |n: i64| format!("/api/drafts/{d}/rounds/{n}");
    seen.push(("repairPick", staff.patch(&round(3), json!({"user_id": pool[4]})).await));
    seen.push(("repairPick", staff.patch(&round(1), json!({"user_id": outsider})).await));
    seen.push(("repairPick", staff.patch(&round(1), json!({"user_id": c2})).await));
    let team = |mut body: Value| {
        body["name"] = json!("C");
        let staff = &staff;
        async move { staff.post("/api/teams", body).await }
    };
    seen.push(("createTeam", team(json!({"tournament_id": 424242})).await));
    seen.push(("createTeam", team(json!({"tournament_id": t, "member_ids": [outsider]})).await));
    seen.push(("createTeam", team(json!({"tournament_id": t, "member_ids": [pool[2]]})).await));
    seen.push((
        "createTeam",
        team(json!({"tournament_id": t, "captain_id": pool[5], "deputy_captain_id": pool[5]})).await,
    ));
    seen.push((
        "createTeam",
        team(json!({"tournament_id": t, "member_ids": [pool[5]], "dropin_member_ids": [pool[5]]})).await,
    ));
    seen.push(("createTeam", team(json!({"tournament_id": t, "left_member_ids": [pool[5]]})).await));

    // Night two: a draft drafted whole, its bracket and its one game decided.
    let t2 = fixtures::tournament(&staff, "Two").await;
    let (d1, d2) = (fixtures::user(&staff, "two_one", 3000).await, fixtures::user(&staff, "two_two", 3000).await);
    let mut pool2 = vec![d1, d2];
    for i in 0..8 {
        pool2.push(fixtures::user(&staff, &format!("q{i}"), 2000 + i).await);
    }
    fixtures::add_players(&staff, t2, &pool2).await;
    let team_a2 = fixtures::team(&staff, t2, "A2", d1, 0).await;
    fixtures::team(&staff, t2, "B2", d2, 1).await;
    let draft2 = staff.post(&format!("/api/tournaments/{t2}/draft"), json!({"draft_style": "normal"})).await.id();
    seen.push(("undoPick", staff.post(&format!("/api/drafts/{draft2}/undo"), json!({})).await));
    for p in &pool2[2..] {
        assert_eq!(staff.post(&format!("/api/drafts/{draft2}/pick"), json!({"user_id": p})).await.status, 200);
    }
    seen.push(("pickPlayer", staff.post(&format!("/api/drafts/{draft2}/pick"), json!({"user_id": pool2[2]})).await));
    let bracket = staff.post(&format!("/api/tournaments/{t2}/bracket"), json!({"format": "single_elimination"})).await;
    let g2 = bracket.body["games"][0]["id"].as_i64().unwrap();
    let result = format!("/api/games/{g2}/result");
    let team_a = staff.get(&format!("/api/teams?tournament_id={t}")).await.body["results"][0]["id"].as_i64().unwrap();
    seen.push(("recordResult", staff.post(&result, json!({"winning_team_id": team_a})).await));
    assert_eq!(staff.post(&result, json!({"winning_team_id": team_a2})).await.status, 200);
    seen.push(("recordResult", staff.post(&result, json!({"winning_team_id": team_a2})).await));
    seen.push((
        "generateBracket",
        staff.post(&format!("/api/tournaments/{t2}/bracket"), json!({"format": "single_elimination"})).await,
    ));

    // Night three: one team, then a second without a captain; a game missing a team.
    let t3 = fixtures::tournament(&staff, "Three").await;
    let lone = fixtures::user(&staff, "lone", 1).await;
    fixtures::add_players(&staff, t3, &[lone]).await;
    let lone_team = fixtures::team(&staff, t3, "Lone", lone, 0).await;
    seen.push((
        "generateBracket",
        staff.post(&format!("/api/tournaments/{t3}/bracket"), json!({"format": "single_elimination"})).await,
    ));
    seen.push((
        "createDraft",
        staff.post(&format!("/api/tournaments/{t3}/draft"), json!({"draft_style": "snake"})).await,
    ));
    staff.post("/api/teams", json!({"tournament_id": t3, "name": "Headless"})).await;
    seen.push((
        "createDraft",
        staff.post(&format!("/api/tournaments/{t3}/draft"), json!({"draft_style": "snake"})).await,
    ));
    let half = staff.post("/api/games", json!({"tournament_id": t3, "radiant_team_id": lone_team})).await.id();
    seen.push((
        "recordResult",
        staff.post(&format!("/api/games/{half}/result"), json!({"winning_team_id": lone_team})).await,
    ));

    // Night four, in the league, against its synced matches: rosters 0 and 1 of the mock league.
    let mut s = Vec::new();
    for (i, account) in ACCOUNTS[..10].iter().enumerate() {
        let steam_id = (account + entity::steam_id::STEAM_ID64_OFFSET).to_string();
        s.push(staff.post("/api/users", json!({"username": format!("s{i}"), "steamId": steam_id})).await.id());
    }
    seen.push(("createUser", staff.post("/api/users", json!({"username": "s0"})).await));
    seen.push(("createUser", staff.post("/api/users", json!({"username": "S0"})).await));
    worker::domain::sync::league_sync::sync_league(&app.state.jobs, 17929, false).await.expect("sync");
    let t4 = staff
        .post("/api/tournaments", json!({"name": "Four", "date_played": "2026-12-11T19:00:00Z", "league_id": league}))
        .await
        .id();
    fixtures::add_players(&staff, t4, &s).await;
    let r0 = staff
        .post(
            "/api/teams",
            json!({"tournament_id": t4, "name": "R0", "captain_id": s[0], "member_ids": s[1..5].to_vec()}),
        )
        .await
        .id();
    let r1 = staff
        .post(
            "/api/teams",
            json!({"tournament_id": t4, "name": "R1", "captain_id": s[5], "member_ids": s[5..10].to_vec()}),
        )
        .await
        .id();
    let game = || staff.post("/api/games", json!({"tournament_id": t4, "radiant_team_id": r0, "dire_team_id": r1}));
    let (first, second) = (game().await.id(), game().await.id());
    let link = |g: i64, m: i64| {
        let staff = &staff;
        async move { staff.post(&format!("/api/games/{g}/link-match"), json!({"match_id": m})).await }
    };
    assert_eq!(link(first, MockMatch::nth(0).match_id).await.status, 200);
    seen.push(("linkMatch", link(second, 424242).await));
    seen.push(("linkMatch", link(second, MockMatch::nth(0).match_id).await));
    // Match 1 seats roster 1 against roster 2: R0 is not there.
    seen.push(("linkMatch", link(second, MockMatch::nth(1).match_id).await));
    assert_eq!(
        staff
            .post(&format!("/api/matches/{}/exclude", MockMatch::nth(4).match_id), json!({"reason": "remake"}))
            .await
            .status,
        200
    );
    seen.push(("linkMatch", link(second, MockMatch::nth(4).match_id).await));
    seen.push((
        "excludeMatch",
        staff.post(&format!("/api/matches/{}/exclude", MockMatch::nth(0).match_id), json!({"reason": "x"})).await,
    ));
    assert_eq!(staff.post(&format!("/api/games/{second}/herodraft"), json!({})).await.status, 201);
    seen.push(("createHeroDraft", staff.post(&format!("/api/games/{second}/herodraft"), json!({})).await));
    seen.push(("createHeroDraft", staff.post(&format!("/api/games/{first}/herodraft"), json!({})).await));

    // The job steering calls: a cancelled run is finished; a filter over 10 000 runs is refused whole.
    let run = staff.post("/api/jobs", json!({"kind": "refresh_discord_avatars"})).await;
    let cancel = format!("/api/jobs/{}/cancel", run.body["id"].as_str().expect("a run id"));
    assert_eq!(staff.post(&cancel, json!({})).await.status, 200);
    seen.push(("cancelJob", staff.post(&cancel, json!({})).await));
    fixtures::dead_runs(&app, "refresh_steam_profiles", 10_001).await;
    seen.push((
        "bulkJobs",
        staff.post("/api/jobs/bulk", json!({"action": "retry", "kind": "refresh_steam_profiles"})).await,
    ));

    let answered: BTreeMap<String, BTreeSet<(u16, String)>> =
        seen.iter().fold(BTreeMap::new(), |mut acc, (op, resp)| {
            acc.entry((*op).to_owned()).or_default().insert((resp.status, resp.error_code()));
            acc
        });
    let doc = app.anon().get("/api/openapi.json").await.body;
    let documented = documented_errors(&doc);
    let walked: usize = answered.values().map(BTreeSet::len).sum();
    assert!(walked >= 30, "{walked} error answers walked");
    assert_eq!(documented.keys().collect::<Vec<_>>(), answered.keys().collect::<Vec<_>>(), "operations walked");
    for (op, pairs) in &answered {
        assert_eq!(documented.get(op), Some(pairs), "{op}: the document's codes (left) and the answers (right)");
    }
    // Every answered code the README quotes, it quotes with the status the api answers.
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let status_of: BTreeMap<&str, u16> = answered.values().flatten().map(|(s, c)| (c.as_str(), *s)).collect();
    let quoted = quoted_errors();
    for c in quoted.captures_iter(&readme) {
        if let Some(status) = status_of.get(&c[2]) {
            assert_eq!(c[1].parse::<u16>().unwrap(), *status, "README quotes {} `{}`", &c[1], &c[2]);
        }
    }
}

on_both_databases!(the_league_id_means_one_thing, errors_follow_one_rule_and_say_what_is_in_the_way);
in_both_modes!(every_documented_error_code_is_answered);
