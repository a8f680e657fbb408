//! `api seed-demo` loads a demo league once, visible through the API.

use tests::{Backend, TestApp, on_both_databases};

async fn seed_demo_is_idempotent_and_visible(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = api::seed::seed_demo(app.db(), 17929, |_| {}).await.unwrap();
    assert!(first.created);
    let second = api::seed::seed_demo(app.db(), 17929, |_| {}).await.unwrap();
    assert!(!second.created, "running it again changes nothing");
    assert_eq!(second.tournament_id, first.tournament_id);
    assert_eq!(app.count("users").await, 20);

    let detail = app.anon().get(&format!("/api/tournaments/{}", first.tournament_id)).await;
    assert_eq!(detail.status, 200);
    assert_eq!(detail.body["user_count"], 20);
    assert_eq!(detail.body["teams"].as_array().unwrap().len(), 4);
    assert!(detail.body["teams"].as_array().unwrap().iter().all(|t| t["members"].as_array().unwrap().len() == 5));
    assert!(detail.body["users"][0]["steamId"].as_str().unwrap().parse::<i64>().unwrap() > 76_561_197_960_265_728);
    let games = app.anon().get(&format!("/api/games?tournament_id={}", first.tournament_id)).await;
    assert_eq!(games.body["count"], 2);
    let leagues = app.anon().get("/api/leagues").await;
    assert_eq!(leagues.body["results"][0]["steam_league_id"], 17929);
}

on_both_databases!(seed_demo_is_idempotent_and_visible);
