//! Health, docs, the OpenAPI document and the error body.

use serde_json::Value;
use tests::{Backend, TestApp, on_both_databases};

async fn health_reports_every_dependency(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let resp = app.anon().get("/api/health").await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, serde_json::json!({"status": "ok", "db": "ok", "queue": "ok", "redis": "disabled"}));
}

async fn docs_and_spec_are_served(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let docs = app.anon().get("/api/docs").await;
    assert_eq!(docs.status, 200);
    assert!(docs.text.to_lowercase().contains("swagger"), "docs page is Swagger UI");

    let spec = app.anon().get("/api/openapi.json").await;
    assert_eq!(spec.status, 200);
    assert!(spec.body["openapi"].as_str().unwrap().starts_with("3."));
    let paths = spec.body["paths"].as_object().unwrap();
    for path in [
        "/health",
        "/users",
        "/users/{id}",
        "/users/search",
        "/me",
        "/leagues",
        "/leagues/{id}",
        "/tournaments",
        "/tournaments/{id}",
        "/tournaments/{id}/players",
        "/tournaments/{id}/players/{user_id}",
        "/teams",
        "/teams/{id}",
        "/games",
        "/games/{id}",
        "/auth/discord/login",
        "/auth/discord/callback",
        "/auth/logout",
        "/tests/login",
    ] {
        assert!(paths.contains_key(path), "{path} is documented");
    }
    // Every operation documents its errors with the error body.
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            if path == "/health" {
                continue;
            }
            for status in ["400", "401", "403", "404", "422", "503"] {
                let schema = &responses.get(status).unwrap_or_else(|| panic!("{method} {path} documents {status}"))["content"]
                    ["application/json; charset=utf-8"]["schema"]["$ref"];
                assert_eq!(schema, &Value::from("#/components/schemas/ErrorBody"), "{method} {path} {status}");
            }
        }
    }
}

async fn unknown_routes_get_the_error_body(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let resp = app.anon().get("/api/no-such-thing").await;
    assert_eq!(resp.status, 404);
    assert_eq!(resp.error_code(), "not_found");
    let resp = app.anon().send(reqwest::Method::PUT, "/api/users", None, &[]).await;
    assert_eq!(resp.status, 405);
    assert_eq!(resp.error_code(), "method_not_allowed");
}

async fn test_login_is_absent_unless_enabled(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        tests::Options { args: vec!["--test-endpoints".into(), "false".into()], ..Default::default() },
    )
    .await;
    let resp = app.anon().post("/api/tests/login", serde_json::json!({"username": "x", "is_superuser": true})).await;
    assert_eq!(resp.status, 404);
    assert_eq!(resp.error_code(), "not_found");
    assert_eq!(app.count("users").await, 0);
    let spec = app.anon().get("/api/openapi.json").await;
    assert!(spec.body["paths"].get("/tests/login").is_none(), "not documented when not mounted");
}

async fn metrics_count_requests_by_route(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.anon().get("/api/users/12345").await;
    app.anon().get("/api/users/67890").await;
    let metrics = app.metrics().await;
    assert_eq!(metrics.status, 200);
    let line = metrics
        .text
        .lines()
        .find(|l| {
            l.starts_with("dtx_http_requests_total")
                && l.contains(r#"route="/api/users/:param0""#)
                && l.contains(r#"status="404""#)
        })
        .unwrap_or_else(|| panic!("no request counter in:\n{}", metrics.text));
    assert!(line.ends_with(" 2"), "both requests counted under one route label: {line}");
    assert!(metrics.text.contains("dtx_http_request_duration_seconds_bucket"), "latency histogram");
}

on_both_databases!(
    metrics_count_requests_by_route,
    health_reports_every_dependency,
    docs_and_spec_are_served,
    unknown_routes_get_the_error_body,
    test_login_is_absent_unless_enabled,
);

/// A handler that panics answers 500 with the error body (and the server lives on).
#[tokio::test]
async fn a_panicking_handler_answers_500_with_the_error_body() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let resp = app.http.post(format!("{}/api/tests/panic", app.base)).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 500);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "internal", "{body}");
    assert!(body["error"]["message"].is_string());
    assert_eq!(app.anon().get("/api/health").await.status, 200, "the server lives on");
}
