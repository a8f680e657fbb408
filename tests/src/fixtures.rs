//! Small builders for test data, through the API.

use serde_json::json;

use crate::Caller;

/// Creates a user through the API (as staff) and returns its id.
pub async fn user(staff: &Caller<'_>, username: &str, mmr: i32) -> i64 {
    let resp = staff.post("/api/users", json!({ "username": username, "mmr": mmr })).await;
    assert_eq!(resp.status, 201, "{}", resp.text);
    resp.id()
}

/// Creates a tournament and returns its id.
pub async fn tournament(staff: &Caller<'_>, name: &str) -> i64 {
    let resp = staff
        .post(
            "/api/tournaments",
            json!({ "name": name, "date_played": "2026-12-01T18:00:00Z", "tournament_type": "single_elimination" }),
        )
        .await;
    assert_eq!(resp.status, 201, "{}", resp.text);
    resp.id()
}

/// Adds players to a tournament.
pub async fn add_players(staff: &Caller<'_>, tournament_id: i64, user_ids: &[i64]) {
    let resp = staff.post(&format!("/api/tournaments/{tournament_id}/players"), json!({ "user_ids": user_ids })).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
}

/// Creates a team and returns its id.
pub async fn team(staff: &Caller<'_>, tournament_id: i64, name: &str, captain_id: i64, draft_order: i32) -> i64 {
    let resp = staff
        .post("/api/teams", json!({ "tournament_id": tournament_id, "name": name, "captain_id": captain_id, "draft_order": draft_order }))
        .await;
    assert_eq!(resp.status, 201, "{}", resp.text);
    resp.id()
}

/// A game between two captained teams ("radiant_cap", "dire_cap") and its
/// hero draft; returns (draft id, captain ids).
pub async fn hero_draft(app: &crate::TestApp, staff: &Caller<'_>) -> (i64, [i64; 2]) {
    let t = tournament(staff, "Final").await;
    let c1 = app.user("radiant_cap").await.get("/api/me").await.id();
    let c2 = app.user("dire_cap").await.get("/api/me").await.id();
    add_players(staff, t, &[c1, c2]).await;
    let a = team(staff, t, "A", c1, 0).await;
    let b = team(staff, t, "B", c2, 1).await;
    let game = staff
        .post("/api/games", json!({"tournament_id": t, "radiant_team_id": a, "dire_team_id": b, "round": 1}))
        .await
        .id();
    let created = staff.post(&format!("/api/games/{game}/herodraft"), json!({})).await;
    assert_eq!(created.status, 201, "{}", created.text);
    (created.id(), [c1, c2])
}

/// How far a hero draft has gone, in the order of its state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum HeroStage {
    WaitingForCaptains,
    Rolling,
    Choosing,
    Drafting,
    Paused,
}

/// Drives hero draft `id` (captains log in as `captains`) through the API
/// to `stage`; returns the index of the captain who acts next — the roll
/// winner once rolled (who then takes first pick), 0 before.
pub async fn advance_hero_draft(app: &crate::TestApp, id: i64, captains: [&str; 2], stage: HeroStage) -> usize {
    let caps = [app.user(captains[0]).await, app.user(captains[1]).await];
    if stage == HeroStage::WaitingForCaptains {
        return 0;
    }
    for c in &caps {
        c.post(&format!("/api/herodrafts/{id}/ready"), json!({})).await;
    }
    if stage == HeroStage::Rolling {
        return 0;
    }
    let rolled = caps[0].post(&format!("/api/herodrafts/{id}/roll"), json!({})).await;
    let winner_team = rolled.body["roll_winner_team_id"].as_i64().unwrap();
    let winner = rolled.body["teams"].as_array().unwrap().iter().position(|t| t["team_id"] == winner_team).unwrap();
    if stage == HeroStage::Choosing {
        return winner;
    }
    caps[winner]
        .post(&format!("/api/herodrafts/{id}/choose"), json!({"choice_type": "pick_order", "value": "first"}))
        .await;
    let drafting = caps[1 - winner]
        .post(&format!("/api/herodrafts/{id}/choose"), json!({"choice_type": "side", "value": "radiant"}))
        .await;
    assert_eq!(drafting.body["state"], "drafting", "{}", drafting.text);
    if stage == HeroStage::Paused {
        let paused = caps[winner].post(&format!("/api/herodrafts/{id}/pause"), json!({})).await;
        assert_eq!(paused.body["state"], "paused", "{}", paused.text);
    }
    winner
}

/// Readies, rolls and chooses through the API until the draft is drafting;
/// returns the index (0 = radiant_cap) of the first-pick captain.
pub async fn start_hero_draft(app: &crate::TestApp, id: i64) -> usize {
    advance_hero_draft(app, id, ["radiant_cap", "dire_cap"], HeroStage::Drafting).await
}

/// `count` dead runs of `kind` written straight into the ledger (ids
/// `bulk1`…), as an outage would leave them: more than the API would make in
/// a test's time.
pub async fn dead_runs(app: &crate::TestApp, kind: &str, count: u32) {
    use sea_orm::ConnectionTrait;
    let sql = match app.db().get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => format!(
            "INSERT INTO job_runs (id, kind, args, status, attempts, max_attempts, enqueued_at) \
             SELECT 'bulk' || n, '{kind}', '{{}}'::jsonb, 'dead', 1, 3, TIMESTAMPTZ '2026-12-01T00:00:00Z' \
             FROM generate_series(1, {count}) AS n"
        ),
        _ => format!(
            "INSERT INTO job_runs (id, kind, args, status, attempts, max_attempts, enqueued_at) \
             SELECT 'bulk' || n, '{kind}', '{{}}', 'dead', 1, 3, '2026-12-01T00:00:00Z' FROM \
             (WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {count}) SELECT n FROM s)"
        ),
    };
    app.db().execute_unprepared(&sql).await.expect("dead runs written");
}
