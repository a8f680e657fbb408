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
