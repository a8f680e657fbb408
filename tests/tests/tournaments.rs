//! Tournaments, players, teams and games: the rules and the cache.

use serde_json::json;
use tests::{Backend, TestApp, fixtures, on_both_databases};

async fn roster_rules_and_captain_succession(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let staff = app.staff("admin").await;
    let t = fixtures::tournament(&staff, "Winter Cup").await;
    let mut players = Vec::new();
    for i in 0..6 {
        players.push(fixtures::user(&staff, &format!("p{i}"), 1000 * (i + 1)).await);
    }
    let outsider = fixtures::user(&staff, "outsider", 1).await;
    fixtures::add_players(&staff, t, &players).await;
    // Adding again is harmless.
    fixtures::add_players(&staff, t, &players[..2]).await;

    let team = staff
        .post("/api/teams", json!({"tournament_id": t, "name": "A", "captain_id": players[0], "deputy_captain_id": players[1], "member_ids": [players[2]]}))
        .await;
    assert_eq!(team.status, 201, "{}", team.text);
    let team_id = team.id();
    let members: Vec<i64> =
        team.body["members"].as_array().unwrap().iter().map(|m| m["id"].as_i64().unwrap()).collect();
    assert_eq!(members, vec![players[0], players[1], players[2]], "captain and deputy are members");
    assert_eq!(team.body["total_mmr"], 6000);

    let not_player = staff.post("/api/teams", json!({"tournament_id": t, "name": "B", "captain_id": outsider})).await;
    assert_eq!((not_player.status, not_player.error_code().as_str()), (422, "not_a_player"));
    let taken = staff
        .post(
            "/api/teams",
            json!({"tournament_id": t, "name": "B", "captain_id": players[3], "member_ids": [players[2]]}),
        )
        .await;
    assert_eq!((taken.status, taken.error_code().as_str()), (409, "already_on_a_team"));
    let same = staff
        .post(
            "/api/teams",
            json!({"tournament_id": t, "name": "B", "captain_id": players[3], "deputy_captain_id": players[3]}),
        )
        .await;
    assert_eq!((same.status, same.error_code().as_str()), (422, "deputy_is_captain"));
    assert_eq!(app.count("teams").await, 1, "refused teams were not written");

    // The captain leaves the tournament: the deputy takes over, the team stays.
    let removed = staff.delete(&format!("/api/tournaments/{t}/players/{}", players[0])).await;
    assert_eq!(removed.status, 204);
    let team = staff.get(&format!("/api/teams/{team_id}")).await;
    assert_eq!(team.body["captain_id"], players[1]);
    assert_eq!(team.body["deputy_captain_id"], serde_json::Value::Null);
    assert_eq!(team.body["members"].as_array().unwrap().len(), 2);
    assert_eq!(staff.delete(&format!("/api/tournaments/{t}/players/{}", players[0])).await.status, 404);

    let patched =
        staff.patch(&format!("/api/teams/{team_id}"), json!({"member_ids": [players[4]], "placement": 1})).await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    let members: Vec<i64> =
        patched.body["members"].as_array().unwrap().iter().map(|m| m["id"].as_i64().unwrap()).collect();
    assert_eq!(members, vec![players[1], players[4]], "members replaced, captain kept");
    assert_eq!(patched.body["placement"], 1);
}

async fn games_belong_to_their_tournament(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let staff = app.staff("admin").await;
    let t1 = fixtures::tournament(&staff, "One").await;
    let t2 = fixtures::tournament(&staff, "Two").await;
    let (a, b, c) = (
        fixtures::user(&staff, "a", 1).await,
        fixtures::user(&staff, "b", 1).await,
        fixtures::user(&staff, "c", 1).await,
    );
    fixtures::add_players(&staff, t1, &[a, b]).await;
    fixtures::add_players(&staff, t2, &[c]).await;
    let ta = fixtures::team(&staff, t1, "A", a, 0).await;
    let tb = fixtures::team(&staff, t1, "B", b, 1).await;
    let tc = fixtures::team(&staff, t2, "C", c, 0).await;

    let game = staff
        .post("/api/games", json!({"tournament_id": t1, "radiant_team_id": ta, "dire_team_id": tb, "round": 1}))
        .await;
    assert_eq!(game.status, 201, "{}", game.text);
    assert_eq!((game.body["radiant_team_id"].as_i64(), game.body["dire_team_id"].as_i64()), (Some(ta), Some(tb)));
    let gid = game.id();
    let foreign =
        staff.post("/api/games", json!({"tournament_id": t1, "radiant_team_id": ta, "dire_team_id": tc})).await;
    assert_eq!((foreign.status, foreign.error_code().as_str()), (422, "unknown_team"));
    let itself =
        staff.post("/api/games", json!({"tournament_id": t1, "radiant_team_id": ta, "dire_team_id": ta})).await;
    assert_eq!((itself.status, itself.error_code().as_str()), (422, "same_team"));
    let bad_winner = staff.patch(&format!("/api/games/{gid}"), json!({"winning_team_id": tc})).await;
    assert_eq!((bad_winner.status, bad_winner.error_code().as_str()), (422, "unknown_team"), "not of this tournament");
    let sideless = staff.post("/api/games", json!({"tournament_id": t1, "winning_team_id": ta})).await;
    assert_eq!((sideless.status, sideless.error_code().as_str()), (422, "winner_not_playing"));
    let won = staff.patch(&format!("/api/games/{gid}"), json!({"winning_team_id": tb, "status": "completed"})).await;
    assert_eq!((won.body["winning_team_id"].as_i64(), won.body["status"].as_str()), (Some(tb), Some("completed")));

    let listed = app.anon().get(&format!("/api/games?tournament_id={t1}&status=completed")).await;
    assert_eq!(listed.body["count"], 1);

    // Deleting a team keeps the game's history, with the side unset.
    assert_eq!(staff.delete(&format!("/api/teams/{ta}")).await.status, 204);
    let after = app.anon().get(&format!("/api/games/{gid}")).await;
    assert_eq!(after.status, 200);
    assert_eq!(after.body["radiant_team_id"], serde_json::Value::Null);

    // Deleting the tournament removes its games and teams.
    assert_eq!(staff.delete(&format!("/api/tournaments/{t1}")).await.status, 204);
    assert_eq!(app.anon().get(&format!("/api/games/{gid}")).await.status, 404);
    assert_eq!(app.anon().get(&format!("/api/teams/{tb}")).await.status, 404);
}

async fn reads_after_writes_are_fresh(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let staff = app.staff("admin").await;
    let league = staff.post("/api/leagues", json!({"steam_league_id": 17929, "name": "DTX"})).await.id();
    let old = staff
        .post("/api/tournaments", json!({"name": "Old", "date_played": "2025-01-01T00:00:00Z", "league_id": league}))
        .await
        .id();
    let new = fixtures::tournament(&staff, "New").await;

    let list = app.anon().get("/api/tournaments").await;
    let names: Vec<&str> =
        list.body["results"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["New", "Old"], "newest first");
    let by_league = app.anon().get(&format!("/api/tournaments?league_id={league}")).await;
    assert_eq!(by_league.body["count"], 1);

    // Warm the cache, then write: the next read shows the write.
    assert_eq!(app.anon().get(&format!("/api/tournaments/{new}")).await.body["name"], "New");
    staff.patch(&format!("/api/tournaments/{new}"), json!({"name": "Newer"})).await;
    assert_eq!(app.anon().get(&format!("/api/tournaments/{new}")).await.body["name"], "Newer");
    let list = app.anon().get("/api/tournaments").await;
    assert_eq!(list.body["results"][0]["name"], "Newer");

    let u = fixtures::user(&staff, "late", 4000).await;
    assert_eq!(app.anon().get(&format!("/api/tournaments/{old}")).await.body["user_count"], 0);
    fixtures::add_players(&staff, old, &[u]).await;
    let detail = app.anon().get(&format!("/api/tournaments/{old}")).await;
    assert_eq!(detail.body["user_count"], 1);
    assert_eq!(detail.body["users"][0]["username"], "late");
    // A user edit shows in the tournament that embeds them.
    staff.patch(&format!("/api/users/{u}"), json!({"username": "renamed"})).await;
    assert_eq!(app.anon().get(&format!("/api/tournaments/{old}")).await.body["users"][0]["username"], "renamed");
}

on_both_databases!(roster_rules_and_captain_succession, games_belong_to_their_tournament, reads_after_writes_are_fresh);
