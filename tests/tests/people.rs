//! People's flows (SPEC §18) from each seat: captains find their drafts
//! (`/api/me` `active_drafts`, `herodraft_id`, the hero-draft list); a
//! league admin organises their league's nights and nothing else; Steam ids
//! pasted in every form; Discord announcements managed through the API and
//! posted now; Steam profiles refreshed in batches of 100.

use serde_json::{Value, json};
use tests::{Backend, Caller, Mode, Options, TestApp, eventually, fixtures, in_both_modes, on_both_databases};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The `active_drafts` entry of `kind` and `id` in the caller's `/api/me`.
async fn active(caller: &Caller<'_>, kind: &str, id: i64) -> Option<Value> {
    let me = caller.get("/api/me").await;
    assert_eq!(me.status, 200, "{}", me.text);
    me.body["active_drafts"].as_array().unwrap().iter().find(|d| d["kind"] == kind && d["id"] == id).cloned()
}

async fn captains_find_their_drafts(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let staff = app.staff("organiser").await;
    let (ana, bo) = (app.user("ana").await, app.user("bo").await);
    let (ana_id, bo_id) = (ana.get("/api/me").await.id(), bo.get("/api/me").await.id());
    let players = [fixtures::user(&staff, "p1", 3000).await, fixtures::user(&staff, "p2", 2000).await];
    let t = fixtures::tournament(&staff, "Thursday").await;
    fixtures::add_players(&staff, t, &[ana_id, bo_id, players[0], players[1]]).await;
    fixtures::team(&staff, t, "Ana's", ana_id, 0).await;
    fixtures::team(&staff, t, "Bo's", bo_id, 1).await;
    assert_eq!(ana.get("/api/me").await.body["active_drafts"], json!([]), "no draft yet");

    let draft = staff.post(&format!("/api/tournaments/{t}/draft"), json!({"draft_style": "snake"})).await;
    assert_eq!(draft.status, 201, "{}", draft.text);
    let draft_id = draft.id();
    // Snake with two teams: the first draft order (Ana) picks first.
    let first = draft.body["rounds"][0]["captain_id"].as_i64().unwrap();
    assert_eq!(first, ana_id, "{}", draft.text);
    let (a, b) =
        (active(&ana, "team_draft", draft_id).await.unwrap(), active(&bo, "team_draft", draft_id).await.unwrap());
    assert_eq!((a["my_turn"].clone(), b["my_turn"].clone()), (json!(true), json!(false)));
    assert_eq!((a["tournament_id"].as_i64(), a["state"].as_str()), (Some(t), Some("drafting")));
    let picked = ana.post(&format!("/api/drafts/{draft_id}/pick"), json!({"user_id": players[0]})).await;
    assert_eq!(picked.status, 200, "{}", picked.text);
    let (a, b) =
        (active(&ana, "team_draft", draft_id).await.unwrap(), active(&bo, "team_draft", draft_id).await.unwrap());
    assert_eq!((a["my_turn"].clone(), b["my_turn"].clone()), (json!(false), json!(true)), "the turn moved to Bo");
    assert!(active(&app.user("p1").await, "team_draft", draft_id).await.is_none(), "players are not captains");
    // Bo picks the last player: the draft is complete and leaves both lists.
    let done = bo.post(&format!("/api/drafts/{draft_id}/pick"), json!({"user_id": players[1]})).await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert!(active(&ana, "team_draft", draft_id).await.is_none(), "a finished draft is not active");

    // A hero draft: its captains see it with its game; the game links to it.
    let (hero_id, caps) = fixtures::hero_draft(&app, &staff).await;
    let radiant = app.user("radiant_cap").await;
    let mine = active(&radiant, "hero_draft", hero_id).await.expect("the captain sees the hero draft");
    let game_id = mine["game_id"].as_i64().unwrap();
    assert_eq!((mine["state"].as_str(), mine["my_turn"].clone()), (Some("waiting_for_captains"), json!(true)));
    assert_eq!(app.anon().get(&format!("/api/games/{game_id}")).await.body["herodraft_id"], hero_id);
    radiant.post(&format!("/api/herodrafts/{hero_id}/ready"), json!({})).await;
    assert_eq!(
        active(&radiant, "hero_draft", hero_id).await.unwrap()["my_turn"],
        false,
        "ready: waiting for the other"
    );
    let listed = app.anon().get(&format!("/api/herodrafts?game_id={game_id}")).await;
    assert_eq!(listed.body["count"], 1, "{}", listed.text);
    assert_eq!(listed.body["results"][0]["id"], hero_id);
    let by_state = app.anon().get("/api/herodrafts?state=completed").await;
    assert_eq!(by_state.body["count"], 0, "{}", by_state.text);
    assert_ne!(caps[0], caps[1]);
}

/// A league with a tournament, two captained teams and a game; returns
/// (steam league id, tournament, [team ids], game).
async fn league_night(staff: &Caller<'_>, steam_league_id: i64, tag: &str) -> (i64, i64, [i64; 2], i64) {
    let league =
        staff.post("/api/leagues", json!({"steam_league_id": steam_league_id, "name": format!("League {tag}")})).await;
    assert_eq!(league.status, 201, "{}", league.text);
    let t = staff
        .post(
            "/api/tournaments",
            json!({"name": format!("Night {tag}"), "date_played": "2026-12-01T18:00:00Z", "league_id": league.id()}),
        )
        .await
        .id();
    let caps = [
        fixtures::user(staff, &format!("{tag}cap1"), 3000).await,
        fixtures::user(staff, &format!("{tag}cap2"), 2900).await,
    ];
    fixtures::add_players(staff, t, &caps).await;
    let teams = [
        fixtures::team(staff, t, &format!("{tag}A"), caps[0], 0).await,
        fixtures::team(staff, t, &format!("{tag}B"), caps[1], 1).await,
    ];
    let game = staff
        .post("/api/games", json!({"tournament_id": t, "radiant_team_id": teams[0], "dire_team_id": teams[1]}))
        .await;
    assert_eq!(game.status, 201, "{}", game.text);
    (steam_league_id, t, teams, game.id())
}

async fn a_league_admin_runs_their_league_only(mode: Mode) {
    let app = TestApp::spawn_with(mode.backend(), mode.options(vec![], false)).await;
    let staff = app.staff("staff").await;
    let (league_a, t_a, teams_a, game_a) = league_night(&staff, 1001, "a").await;
    let (league_b, t_b, teams_b, game_b) = league_night(&staff, 1002, "b").await;
    let admin = app.user("trusted").await;
    let admin_id = admin.get("/api/me").await.id();
    let id_a = app_league_id(&staff, league_a).await;

    // Before the grant: a plain user.
    assert_eq!(admin.patch(&format!("/api/tournaments/{t_a}"), json!({"name": "x"})).await.status, 403);
    // Only staff grant, list and revoke.
    let grant = json!({"user_id": admin_id});
    assert_eq!(admin.post(&format!("/api/leagues/{id_a}/admins"), grant.clone()).await.status, 403);
    let granted = staff.post(&format!("/api/leagues/{id_a}/admins"), grant.clone()).await;
    assert_eq!((granted.status, granted.body["user_id"].as_i64()), (201, Some(admin_id)), "{}", granted.text);
    assert_eq!(staff.post(&format!("/api/leagues/{id_a}/admins"), grant.clone()).await.status, 409, "granted twice");
    let listed = staff.get(&format!("/api/leagues/{id_a}/admins")).await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1, "{}", listed.text);
    assert_eq!(listed.body[0]["username"], "trusted");

    // League A: tournaments, teams, games, results, drafts, hero drafts.
    let renamed = admin.patch(&format!("/api/tournaments/{t_a}"), json!({"name": "A night, renamed"})).await;
    assert_eq!(renamed.status, 200, "{}", renamed.text);
    let created = admin
        .post("/api/tournaments", json!({"name": "A extra", "date_played": "2026-12-08T18:00:00Z", "league_id": app_league_id(&staff, league_a).await}))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(admin.patch(&format!("/api/teams/{}", teams_a[0]), json!({"name": "A renamed"})).await.status, 200);
    assert_eq!(admin.patch(&format!("/api/games/{game_a}"), json!({"round": 2})).await.status, 200);
    let hero = admin.post(&format!("/api/games/{game_a}/herodraft"), json!({})).await;
    assert_eq!(hero.status, 201, "{}", hero.text);
    assert_eq!(admin.post(&format!("/api/herodrafts/{}/abandon", hero.id()), json!({})).await.status, 200);
    let draft = admin.post(&format!("/api/tournaments/{t_a}/draft"), json!({"draft_style": "snake"})).await;
    assert_eq!(draft.status, 201, "{}", draft.text);
    let result = admin.post(&format!("/api/games/{game_a}/result"), json!({"winning_team_id": teams_a[0]})).await;
    assert_eq!(result.status, 200, "{}", result.text);
    let sync =
        admin.post("/api/jobs", json!({"kind": "sync_league_matches", "args": {"steam_league_id": league_a}})).await;
    assert_eq!(sync.status, 202, "their league's sync: {}", sync.text);
    let polled = admin.get(&format!("/api/jobs/{}", sync.body["id"].as_str().unwrap())).await;
    assert_eq!(polled.status, 200, "whoever enqueued a job polls it: {}", polled.text);

    // League B, other jobs, roles and users: 403, and nothing changes.
    for (label, resp) in [
        ("tournament", admin.patch(&format!("/api/tournaments/{t_b}"), json!({"name": "mine now"})).await),
        ("team", admin.patch(&format!("/api/teams/{}", teams_b[0]), json!({"name": "mine"})).await),
        ("game", admin.patch(&format!("/api/games/{game_b}"), json!({"round": 3})).await),
        ("result", admin.post(&format!("/api/games/{game_b}/result"), json!({"winning_team_id": teams_b[0]})).await),
        ("hero draft", admin.post(&format!("/api/games/{game_b}/herodraft"), json!({})).await),
        ("draft", admin.post(&format!("/api/tournaments/{t_b}/draft"), json!({"draft_style": "snake"})).await),
        (
            "move a tournament to B",
            admin
                .patch(&format!("/api/tournaments/{t_a}"), json!({"league_id": app_league_id(&staff, league_b).await}))
                .await,
        ),
        (
            "other league's sync",
            admin
                .post("/api/jobs", json!({"kind": "sync_league_matches", "args": {"steam_league_id": league_b}}))
                .await,
        ),
        (
            "another kind",
            admin
                .post("/api/jobs", json!({"kind": "update_league_stats", "args": {"steam_league_id": league_a}}))
                .await,
        ),
        ("roles", admin.patch(&format!("/api/users/{admin_id}"), json!({"is_staff": true})).await),
        ("users", admin.post("/api/users", json!({"username": "sock"})).await),
        ("grants", admin.post(&format!("/api/leagues/{id_a}/admins"), json!({"user_id": teams_a[1]})).await),
        (
            "the league itself",
            admin.patch(&format!("/api/leagues/{}", app_league_id(&staff, league_a).await), json!({"name": "x"})).await,
        ),
    ] {
        assert_eq!(resp.status, 403, "{label}: {}", resp.text);
    }
    assert_eq!(staff.get(&format!("/api/tournaments/{t_b}")).await.body["name"], "Night b");
    assert_eq!(admin.get("/api/me").await.body["is_staff"], false);

    // Revoked: back to a plain user.
    assert_eq!(staff.delete(&format!("/api/leagues/{id_a}/admins/{admin_id}")).await.status, 204);
    assert_eq!(staff.delete(&format!("/api/leagues/{id_a}/admins/{admin_id}")).await.status, 404);
    assert_eq!(admin.patch(&format!("/api/tournaments/{t_a}"), json!({"name": "again"})).await.status, 403);
}

/// The internal id of the league with this Steam id.
async fn app_league_id(staff: &Caller<'_>, steam_league_id: i64) -> i64 {
    let leagues = staff.get("/api/leagues?page_size=100").await;
    leagues.body["results"].as_array().unwrap().iter().find(|l| l["steam_league_id"] == steam_league_id).unwrap()["id"]
        .as_i64()
        .unwrap()
}

async fn steam_ids_as_people_paste_them(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.superuser("root").await;
    // Worked by hand: 76561198196640475 − 76561197960265728 = 236374747 = 2 × 118187373 + 1.
    let forms = [
        json!("76561198196640475"),
        json!(76561198196640475_i64),
        json!("236374747"),
        json!(236374747),
        json!("[U:1:236374747]"),
        json!("STEAM_0:1:118187373"),
        json!("https://steamcommunity.com/profiles/76561198196640475/"),
        json!("https://www.dotabuff.com/players/236374747"),
        json!("https://www.opendota.com/players/236374747/matches"),
        json!("https://stratz.com/players/236374747?tab=matches"),
    ];
    for (i, form) in forms.iter().enumerate() {
        let created = admin.post("/api/users", json!({"username": format!("pasted{i}"), "steamId": form})).await;
        assert_eq!(created.status, 201, "{form}: {}", created.text);
        assert_eq!(
            created.body["steamId"], "76561198196640475",
            "{form}: stored as the SteamID64, returned as a string"
        );
        assert_eq!(created.body["steam_account_id"], 236374747);
        // Free the id for the next form.
        let cleared = admin.patch(&format!("/api/users/{}", created.id()), json!({"steamId": null})).await;
        assert_eq!(cleared.body["steamId"], Value::Null, "{}", cleared.text);
    }
    let vanity = admin
        .post("/api/users", json!({"username": "vanity", "steamId": "https://steamcommunity.com/id/gabelogannewell"}))
        .await;
    assert_eq!((vanity.status, vanity.error_code().as_str()), (422, "steam_vanity_url"), "{}", vanity.text);
    assert_eq!(vanity.body["error"]["details"]["resolve"], "/api/steam/resolve");
    assert_eq!(app.count("users").await, 1 + forms.len() as i64, "the refused write created nobody");
    for bad in [json!("nope"), json!(0), json!("4294967295")] {
        let resp = admin.post("/api/users", json!({"username": "bad", "steamId": bad})).await;
        assert_eq!(resp.status, 422, "{bad}: {}", resp.text);
    }
    let resolved = app.anon().get("/api/steam/resolve?vanity=%5BU%3A1%3A236374747%5D").await;
    assert_eq!(resolved.body["steam_id"], "76561198196640475", "{}", resolved.text);

    // Every SteamID64 the document describes is a string.
    let doc = app.anon().get("/api/openapi.json").await.body;
    let mut steam_fields = Vec::new();
    walk_properties(&doc["components"]["schemas"], &mut |schema, name, prop| {
        let lower = name.to_lowercase();
        if lower.contains("steam") && !lower.contains("league") {
            steam_fields.push(format!("{schema}.{name}"));
            let integer64 = prop["type"] == "integer" && prop["format"] == "int64";
            let account = lower.contains("account");
            assert!(!integer64 || account, "{schema}.{name} is a JSON number: {prop}");
        }
    });
    assert!(steam_fields.len() >= 4, "found {steam_fields:?}");
    assert_eq!(doc["components"]["schemas"]["SteamId64"]["type"], "string");
}

/// Calls `visit(schema name, property name, property)` for every property.
fn walk_properties(schemas: &Value, visit: &mut impl FnMut(&str, &str, &Value)) {
    for (schema, body) in schemas.as_object().unwrap() {
        for (name, prop) in body["properties"].as_object().into_iter().flatten() {
            let resolved = match prop["$ref"].as_str().or(prop["allOf"][0]["$ref"].as_str()) {
                Some(r) => &schemas[r.rsplit('/').next().unwrap()],
                None => prop,
            };
            visit(schema, name, resolved);
        }
    }
}

async fn mock_discord() -> MockServer {
    let discord = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/v10/channels/\d+/messages$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "4242"})))
        .mount(&discord)
        .await;
    Mock::given(method("PUT"))
        .and(path_regex(r"^/v10/channels/\d+/messages/4242/reactions/.*"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&discord)
        .await;
    discord
}

async fn discord_announcements_through_the_api(mode: Mode) {
    let discord = mock_discord().await;
    let args = [
        "--discord-bot-token",
        "bot-token",
        "--discord-api-base",
        &discord.uri(),
        "--discord-cdn-base",
        &discord.uri(),
    ]
    .map(String::from)
    .to_vec();
    let app = TestApp::spawn_with(mode.backend(), mode.options(args, true)).await;
    let staff = app.staff("announcer").await;
    let player = app.user("player").await;
    let channel = "81384788765712384";
    let body = json!({"title": "In-house night", "description": "Sign up!", "colour": 0x00ff00, "channel_id": channel, "include_rsvp": true});

    assert_eq!(player.post("/api/discord/templates", body.clone()).await.status, 403);
    assert_eq!(player.get("/api/discord/templates").await.status, 403);
    assert_eq!(app.anon().get("/api/discord/events").await.status, 401);
    for (bad, code) in [
        (json!({"channel_id": "general"}), "invalid_channel"),
        (json!({"channel_id": "123"}), "invalid_channel"),
        // Past 2^64 (18446744073709551616): no snowflake, and Discord would refuse it later.
        (json!({"channel_id": "99999999999999999999"}), "invalid_channel"),
        (json!({"colour": 0x1000000}), "invalid_colour"),
        (json!({"colour": -1}), "invalid_colour"),
    ] {
        let mut wrong = body.clone();
        wrong.as_object_mut().unwrap().extend(bad.as_object().unwrap().clone());
        let resp = staff.post("/api/discord/templates", wrong).await;
        assert_eq!((resp.status, resp.error_code()), (422, code.to_owned()), "{bad}: {}", resp.text);
    }
    assert_eq!(app.count("discord_event_templates").await, 0, "refused templates are not stored");

    let template = staff.post("/api/discord/templates", body).await;
    assert_eq!(template.status, 201, "{}", template.text);
    let tid = template.id();
    let edited = staff.patch(&format!("/api/discord/templates/{tid}"), json!({"title": "Thursday in-house"})).await;
    assert_eq!(edited.body["title"], "Thursday in-house", "{}", edited.text);
    let bad_edit = staff.patch(&format!("/api/discord/templates/{tid}"), json!({"colour": 16777216})).await;
    assert_eq!(bad_edit.status, 422);
    assert_eq!(staff.get(&format!("/api/discord/templates/{tid}")).await.body["colour"], 0x00ff00);

    let next = (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339();
    let event = staff
        .post("/api/discord/events", json!({"template_id": tid, "next_post_at": next, "recurrence": "weekly"}))
        .await;
    assert_eq!(event.status, 201, "{}", event.text);
    let eid = event.id();
    assert_eq!(event.body["recurrence"], "weekly");
    let unknown = staff.post("/api/discord/events", json!({"template_id": 999_999, "next_post_at": next})).await;
    assert_eq!((unknown.status, unknown.error_code().as_str()), (422, "unknown_template"));
    let paused = staff.patch(&format!("/api/discord/events/{eid}"), json!({"is_active": false})).await;
    assert_eq!(paused.body["is_active"], false, "{}", paused.text);
    let listed = staff.get("/api/discord/events").await;
    assert_eq!(listed.body["count"], 1);
    assert_eq!(staff.delete(&format!("/api/discord/templates/{tid}")).await.status, 409, "in use");

    // Post now: a job; Discord receives the message once, with the RSVP reactions.
    assert_eq!(player.post(&format!("/api/discord/events/{eid}/post"), json!({})).await.status, 403);
    let queued = staff.post(&format!("/api/discord/events/{eid}/post"), json!({})).await;
    assert_eq!(queued.status, 202, "{}", queued.text);
    let run_id = queued.body["id"].as_str().unwrap().to_owned();
    eventually("the post job succeeds", std::time::Duration::from_secs(20), || async {
        let run = staff.get(&format!("/api/jobs/{run_id}")).await;
        (run.body["status"] == "succeeded").then_some(())
    })
    .await;
    let requests = discord.received_requests().await.unwrap();
    let posts: Vec<_> = requests.iter().filter(|r| r.method.as_str() == "POST").collect();
    assert_eq!(posts.len(), 1, "posted once");
    assert_eq!(posts[0].url.path(), format!("/v10/channels/{channel}/messages"));
    let sent: Value = serde_json::from_slice(&posts[0].body).unwrap();
    assert_eq!(sent["embeds"][0]["title"], "Thursday in-house", "{sent}");
    assert_eq!(requests.iter().filter(|r| r.method.as_str() == "PUT").count(), 3, "✅ ❓ ❌");
    let after = staff.get(&format!("/api/discord/events/{eid}")).await;
    assert_eq!(after.body["discord_message_id"], "4242", "{}", after.text);
    assert_eq!(after.body["next_post_at"].as_str().map(|s| s.get(..16)), Some(next.get(..16)), "the schedule stays");

    assert_eq!(staff.delete(&format!("/api/discord/events/{eid}")).await.status, 204);
    assert_eq!(staff.delete(&format!("/api/discord/templates/{tid}")).await.status, 204);
    assert_eq!(staff.get("/api/discord/templates").await.body["count"], 0);
}

on_both_databases!(captains_find_their_drafts, steam_ids_as_people_paste_them);
in_both_modes!(a_league_admin_runs_their_league_only, discord_announcements_through_the_api);

/// 150 players with Steam ids: two `GetPlayerSummaries` calls (100 + 50),
/// persona names and avatars stored; a player Steam does not know keeps none.
#[tokio::test]
async fn steam_profiles_refresh_in_batches_of_one_hundred() {
    let steam = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/ISteamUser/GetPlayerSummaries/v2/"))
        .respond_with(|req: &wiremock::Request| {
            let ids = req.url.query_pairs().find(|(k, _)| k == "steamids").map(|(_, v)| v.into_owned()).unwrap_or_default();
            // Steam knows every account but 7777 (76561197960265728 + 7777 = 76561197960273505).
            let players: Vec<Value> = ids
                .split(',')
                .filter(|id| *id != "76561197960273505")
                .map(|id| json!({"steamid": id, "personaname": format!("persona {id}"), "avatarfull": format!("https://avatars.example/{id}.jpg")}))
                .collect();
            ResponseTemplate::new(200).set_body_json(json!({"response": {"players": players}}))
        })
        .mount(&steam)
        .await;
    let args = ["--steam-api-key", "k", "--steam-api-base", &steam.uri()].map(String::from).to_vec();
    let app = TestApp::spawn_with(Backend::Sqlite, Options { args, ..Default::default() }).await;
    let admin = app.superuser("root").await;
    let mut ids = Vec::new();
    for i in 0..150_i64 {
        let account = if i == 149 { 7777 } else { 1_000_000 + i };
        let resp = admin.post("/api/users", json!({"username": format!("s{i}"), "steamId": account})).await;
        assert_eq!(resp.status, 201, "{}", resp.text);
        ids.push(resp.id());
    }
    let result = worker::jobs::payload::RefreshSteamProfiles {}.run(&app.state.jobs).await.unwrap();
    assert_eq!(result, json!({"users": 150, "steam_calls": 2, "updated": 149}));
    let calls = steam.received_requests().await.unwrap();
    let sizes: Vec<usize> = calls
        .iter()
        .map(|r| r.url.query_pairs().find(|(k, _)| k == "steamids").unwrap().1.split(',').count())
        .collect();
    assert_eq!(sizes, vec![100, 50]);
    let first = app.anon().get(&format!("/api/users/{}", ids[0])).await.body;
    // Account 1000000 → SteamID64 76561197961265728 (offset 76561197960265728 + 1000000).
    assert_eq!(first["steamPersonaName"], "persona 76561197961265728", "{first}");
    assert_eq!(first["steamAvatarUrl"], "https://avatars.example/76561197961265728.jpg");
    let unknown = app.anon().get(&format!("/api/users/{}", ids[149])).await.body;
    assert_eq!(unknown["steamPersonaName"], Value::Null, "{unknown}");
}
