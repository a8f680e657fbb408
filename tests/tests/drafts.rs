//! Team drafts over HTTP: orders, turns, undo, completion, shuffle, races.

use serde_json::{Value, json};
use tests::{Backend, Caller, TestApp, fixtures, on_both_databases};

/// A tournament with two captained teams and eight more players; returns
/// (tournament, captains, players).
async fn setup(staff: &Caller<'_>, captain_mmr: [i32; 2]) -> (i64, Vec<i64>, Vec<i64>) {
    let t = fixtures::tournament(staff, "Draft Night").await;
    let c1 = fixtures::user(staff, "cap_one", captain_mmr[0]).await;
    let c2 = fixtures::user(staff, "cap_two", captain_mmr[1]).await;
    let mut players = Vec::new();
    for i in 0..8 {
        players.push(fixtures::user(staff, &format!("player{i}"), 1000 + 500 * i).await);
    }
    let mut everyone = vec![c1, c2];
    everyone.extend(&players);
    fixtures::add_players(staff, t, &everyone).await;
    fixtures::team(staff, t, "One", c1, 0).await;
    fixtures::team(staff, t, "Two", c2, 1).await;
    (t, vec![c1, c2], players)
}

fn captains(draft: &Value) -> Vec<i64> {
    draft["rounds"].as_array().unwrap().iter().map(|r| r["captain_id"].as_i64().unwrap_or(0)).collect()
}

async fn snake_draft_turns_undo_and_completion(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let staff = app.staff("admin").await;
    let (t, caps, players) = setup(&staff, [3000, 3000]).await;
    assert_eq!(
        app.user("cap_two")
            .await
            .post(&format!("/api/tournaments/{t}/draft"), json!({"draft_style": "snake"}))
            .await
            .status,
        403
    );
    let created = staff.post(&format!("/api/tournaments/{t}/draft"), json!({"draft_style": "snake"})).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.id();
    assert_eq!(captains(&created.body), vec![caps[0], caps[1], caps[1], caps[0], caps[0], caps[1], caps[1], caps[0]]);
    assert_eq!(created.body["rounds"][4]["pick_phase"], 3);
    assert_eq!(created.body["users_remaining"].as_array().unwrap().len(), 8, "captains are not in the pool");
    assert_eq!(created.body["current_pick_number"], 1);

    let c1 = app.user("cap_one").await;
    let c2 = app.user("cap_two").await;
    let wrong = c2.post(&format!("/api/drafts/{id}/pick"), json!({"user_id": players[0]})).await;
    assert_eq!((wrong.status, wrong.error_code().as_str()), (409, "not_your_turn"));
    let stranger =
        app.user("stranger").await.post(&format!("/api/drafts/{id}/pick"), json!({"user_id": players[0]})).await;
    assert_eq!(stranger.status, 403);
    let outsider = fixtures::user(&staff, "outsider", 1).await;
    let bad = c1.post(&format!("/api/drafts/{id}/pick"), json!({"user_id": outsider})).await;
    assert_eq!((bad.status, bad.error_code().as_str()), (422, "player_not_in_pool"), "outside the pool");

    let before = staff.get(&format!("/api/drafts/{id}")).await.body;
    let picked = c1.post(&format!("/api/drafts/{id}/pick"), json!({"user_id": players[0]})).await;
    assert_eq!(picked.status, 200, "{}", picked.text);
    assert_eq!(picked.body["rounds"][0]["choice_id"], players[0]);
    assert_eq!(picked.body["current_pick_number"], 2);
    let again = c2.post(&format!("/api/drafts/{id}/pick"), json!({"user_id": players[0]})).await;
    assert_eq!(
        (again.status, again.error_code().as_str()),
        (409, "player_already_drafted"),
        "a player is drafted once"
    );
    let team_one = staff.get(&format!("/api/teams?tournament_id={t}")).await;
    assert_eq!(team_one.body["results"][0]["members"].as_array().unwrap().len(), 2, "the pick joined team One");

    let undone = staff.post(&format!("/api/drafts/{id}/undo"), json!({})).await;
    assert_eq!(undone.status, 200);
    assert_eq!(undone.body, before, "undo restores the exact previous state");

    for (i, p) in players.iter().enumerate() {
        let who = if captains(&before)[i] == caps[0] { &c1 } else { &c2 };
        let r = who.post(&format!("/api/drafts/{id}/pick"), json!({"user_id": p})).await;
        assert_eq!(r.status, 200, "pick {}: {}", i + 1, r.text);
    }
    let done = staff.get(&format!("/api/drafts/{id}")).await;
    assert_eq!(done.body["current_pick_number"], Value::Null);
    assert_eq!(done.body["users_remaining"], json!([]));
    let over = staff.post(&format!("/api/drafts/{id}/pick"), json!({"user_id": players[0]})).await;
    assert_eq!((over.status, over.error_code().as_str()), (409, "draft_complete"));
    let teams = staff.get(&format!("/api/teams?tournament_id={t}")).await;
    for team in teams.body["results"].as_array().unwrap() {
        assert_eq!(team["members"].as_array().unwrap().len(), 5, "captain + 4");
    }
    let events: Vec<String> = {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
        entity::draft_event::Entity::find()
            .filter(entity::draft_event::Column::DraftId.eq(id))
            .order_by_asc(entity::draft_event::Column::Id)
            .all(app.db())
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.event_type)
            .collect()
    };
    assert_eq!(events.first().map(String::as_str), Some("draft_started"));
    assert_eq!(events.last().map(String::as_str), Some("draft_completed"));
    assert_eq!(events.iter().filter(|e| *e == "player_picked").count(), 9);
    assert_eq!(events.iter().filter(|e| *e == "pick_undone").count(), 1);
}

async fn shuffle_gives_the_lowest_team_the_next_pick(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let staff = app.staff("admin").await;
    let (t, caps, players) = setup(&staff, [1000, 3000]).await;
    let created = staff.post(&format!("/api/tournaments/{t}/draft"), json!({"draft_style": "shuffle"})).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.id();
    assert_eq!(created.body["rounds"][0]["captain_id"], caps[0], "the lower team picks first");
    assert_eq!(created.body["rounds"][1]["captain_id"], Value::Null, "later rounds wait for the picks");
    // Team One takes the 4500 player: 5500 > 3000, so Two picks next.
    let before = staff.get(&format!("/api/drafts/{id}")).await.body;
    let picked = staff.post(&format!("/api/drafts/{id}/pick"), json!({"user_id": players[7]})).await;
    assert_eq!(picked.body["rounds"][1]["captain_id"], caps[1], "{}", picked.text);
    assert_eq!(picked.body["rounds"][1]["was_tie"], false);
    let undone = staff.post(&format!("/api/drafts/{id}/undo"), json!({})).await;
    assert_eq!(undone.body, before, "undo also forgets the next round's captain");

    let preview = staff.get(&format!("/api/drafts/{id}/style-mmrs")).await;
    assert_eq!(preview.status, 200);
    let total = |style: &str| -> i64 {
        preview.body[style].as_array().unwrap().iter().map(|t| t["total_mmr"].as_i64().unwrap()).sum()
    };
    let pool: i64 = (0..8).map(|i| 1000 + 500 * i).sum();
    assert_eq!(total("snake"), 4000 + pool, "every pool player lands on a team");
    assert_eq!(total("normal"), 4000 + pool);
}

async fn undo_in_a_normal_draft_restores_the_state(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let staff = app.staff("admin").await;
    let (t, caps, players) = setup(&staff, [3000, 3000]).await;
    let created = staff.post(&format!("/api/tournaments/{t}/draft"), json!({"draft_style": "normal"})).await;
    assert_eq!(captains(&created.body), vec![caps[0], caps[1], caps[0], caps[1], caps[0], caps[1], caps[0], caps[1]]);
    let id = created.id();
    staff.post(&format!("/api/drafts/{id}/pick"), json!({"user_id": players[0]})).await;
    let before = staff.get(&format!("/api/drafts/{id}")).await.body;
    staff.post(&format!("/api/drafts/{id}/pick"), json!({"user_id": players[1]})).await;
    let undone = staff.post(&format!("/api/drafts/{id}/undo"), json!({})).await;
    assert_eq!(undone.body, before);
}

async fn racing_picks_by_one_captain_one_wins(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let staff = app.staff("admin").await;
    let (t, _, players) = setup(&staff, [3000, 3000]).await;
    let id = staff.post(&format!("/api/tournaments/{t}/draft"), json!({"draft_style": "snake"})).await.id();
    let c1 = app.user("cap_one").await;
    let path = format!("/api/drafts/{id}/pick");
    let (a, b) =
        tokio::join!(c1.post(&path, json!({"user_id": players[0]})), c1.post(&path, json!({"user_id": players[1]})));
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{} / {}", a.text, b.text);
    let draft = staff.get(&path.replace("/pick", "")).await;
    assert_eq!(draft.body["current_pick_number"], 2, "exactly one pick was made");
}

async fn a_draft_needs_captained_teams(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let staff = app.staff("admin").await;
    let t = fixtures::tournament(&staff, "Empty").await;
    let resp = staff.post(&format!("/api/tournaments/{t}/draft"), json!({"draft_style": "normal"})).await;
    assert_eq!((resp.status, resp.error_code().as_str()), (409, "not_enough_teams"));
    assert_eq!(app.count("drafts").await, 0);
    assert_eq!(staff.get(&format!("/api/tournaments/{t}/draft")).await.status, 404);
}

on_both_databases!(
    snake_draft_turns_undo_and_completion,
    shuffle_gives_the_lowest_team_the_next_pick,
    racing_picks_by_one_captain_one_wins,
    undo_in_a_normal_draft_restores_the_state,
    a_draft_needs_captained_teams,
);
