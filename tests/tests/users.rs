//! Users: CRUD, search, /me, derived fields, and who sees what.

use serde_json::json;
use tests::{Backend, TestApp, on_both_databases};

async fn staff_creates_and_edits_users(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let staff = app.staff("admin").await;
    let created = staff
        .post(
            "/api/users",
            json!({"username": "ana", "discordId": "198618246868500481", "steamId": 76561198000000000_i64, "mmr": 4200,
                   "positions": {"carry": 5, "mid": 3}}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.id();
    assert_eq!(created.body["steam_account_id"], 39_734_272, "derived from steamId");
    assert_eq!(created.body["avatarUrl"], "https://cdn.discordapp.com/embed/avatars/4.png");
    assert_eq!(
        created.body["positions"],
        json!({"carry": 5, "mid": 3, "offlane": 0, "soft_support": 0, "hard_support": 0})
    );

    let patched =
        staff.patch(&format!("/api/users/{id}"), json!({"steamId": 76561198000000001_i64, "nickname": "Ana B"})).await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(patched.body["steam_account_id"], 39_734_273, "kept in sync on update");
    assert_eq!(patched.body["nickname"], "Ana B");

    let cleared = staff.patch(&format!("/api/users/{id}"), json!({"steamId": null})).await;
    assert_eq!(cleared.body["steamId"], serde_json::Value::Null);
    assert_eq!(cleared.body["steam_account_id"], serde_json::Value::Null);

    let dup = staff.post("/api/users", json!({"username": "ana"})).await;
    assert_eq!((dup.status, dup.error_code().as_str()), (409, "user_exists"));

    let list = app.anon().get("/api/users?page_size=1&page=2").await;
    assert_eq!(list.status, 200);
    assert_eq!(
        (list.body["count"].as_i64(), list.body["page"].as_i64(), list.body["page_size"].as_i64()),
        (Some(2), Some(2), Some(1))
    );
    assert_eq!(list.body["results"][0]["username"], "ana", "ordered by id: admin first, ana second");

    let deleted = staff.delete(&format!("/api/users/{id}")).await;
    assert_eq!(deleted.status, 204);
    assert_eq!(app.anon().get(&format!("/api/users/{id}")).await.status, 404);
}

async fn anonymous_never_sees_private_fields(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let me = app.superuser("root").await;
    let id = me.get("/api/me").await.id();
    for path in [format!("/api/users/{id}"), "/api/users".to_owned()] {
        let text = app.anon().get(&path).await.text;
        for field in ["is_staff", "is_superuser", "last_login", "email", "session"] {
            assert!(!text.contains(field), "{path} shows {field} to anonymous: {text}");
        }
    }
    let own = me.get(&format!("/api/users/{id}")).await;
    assert_eq!((own.body["is_staff"].as_bool(), own.body["is_superuser"].as_bool()), (Some(true), Some(true)));
    let other = app.user("someone").await;
    assert!(
        other.get(&format!("/api/users/{id}")).await.body.get("is_superuser").is_none(),
        "plain users do not see others' flags"
    );
}

async fn me_and_profile_updates(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_eq!(app.anon().get("/api/me").await.status, 401);
    let me = app.user("player").await;
    // A Steam id is linked by proving it (Steam OpenID), never by writing it: not a field of the profile.
    let claimed = me.patch("/api/me", json!({"nickname": "Pro", "steamId": "76561198000000005"})).await;
    assert_eq!((claimed.status, claimed.error_code().as_str()), (400, "bad_request"), "{}", claimed.text);
    assert!(claimed.text.contains("steamId"), "the refusal names the field: {}", claimed.text);
    assert_eq!(me.get("/api/me").await.body["nickname"], serde_json::Value::Null, "a refused write changes nothing");
    let unlinked = me.delete("/api/auth/steam/link").await;
    assert_eq!(
        (unlinked.status, unlinked.body["steamId"].clone()),
        (200, serde_json::Value::Null),
        "{}",
        unlinked.text
    );
    let profile = me.patch("/api/me", json!({"nickname": "Pro", "positions": {"offlane": 4}})).await;
    assert_eq!(profile.status, 200, "{}", profile.text);
    assert_eq!(profile.body["nickname"], "Pro");
    assert_eq!(profile.body["positions"]["offlane"], 4);
    assert_eq!(profile.body["is_staff"], false);
    // Users cannot make themselves staff.
    let escalate = me.patch("/api/me", json!({"is_staff": true})).await;
    assert_eq!(escalate.status, 400, "unknown field is rejected: {}", escalate.text);
    assert_eq!(me.get("/api/me").await.body["is_staff"], false);
    let logout = me.post("/api/auth/logout", json!({})).await;
    assert_eq!(logout.status, 204);
    assert_eq!(me.get("/api/me").await.status, 401, "the old cookie no longer works");
}

async fn search_needs_login_and_three_characters(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let staff = app.staff("admin").await;
    tests::fixtures::user(&staff, "CarryKing", 5000).await;
    tests::fixtures::user(&staff, "support_100%", 3000).await;
    assert_eq!(app.anon().get("/api/users/search?q=carry").await.status, 401);
    let short = staff.get("/api/users/search?q=ca").await;
    assert_eq!((short.status, short.error_code().as_str()), (422, "query_too_short"));
    let found = staff.get("/api/users/search?q=CARRY").await;
    assert_eq!(found.status, 200);
    let names: Vec<&str> = found.body.as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["CarryKing"], "case-insensitive substring");
    let literal = staff.get("/api/users/search?q=100%25").await;
    assert_eq!(literal.body.as_array().unwrap().len(), 1, "% is matched literally");
    let underscore = staff.get("/api/users/search?q=t_1").await;
    assert_eq!(underscore.body.as_array().unwrap().len(), 1, "_ is matched literally");
    let none = staff.get("/api/users/search?q=r_k").await;
    assert_eq!(none.body.as_array().unwrap().len(), 0, "_ is not a wildcard");
}

on_both_databases!(
    staff_creates_and_edits_users,
    anonymous_never_sees_private_fields,
    me_and_profile_updates,
    search_needs_login_and_three_characters,
);
