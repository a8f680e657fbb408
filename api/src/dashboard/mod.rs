//! The jobs dashboard: one static page for staff at `/admin/jobs`, built
//! only on the jobs API (`/api/queues`, `/api/jobs`, `/api/schedules`, retry,
//! cancel, bulk, pause and resume), so it shows exactly what API clients see
//! and can do nothing they cannot.
//!
//! The page is gated server-side (401/403 pages for others); its script and
//! style hold no data and are public. A strict Content-Security-Policy
//! forbids inline script: the script builds every cell with `textContent`,
//! so job errors (which may quote outside data) cannot inject markup.

use poem::http::StatusCode;
use poem::web::Html;
use poem::{IntoResponse, Response, Route, handler};

use crate::auth::viewer::Caller;

const PAGE: &str = include_str!("page.html");
const SCRIPT: &str = include_str!("dashboard.js");
const STYLE: &str = include_str!("dashboard.css");
const CSP: &str =
    "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// `/admin/jobs` and its two assets.
pub fn routes() -> Route {
    Route::new()
        .at("/jobs", poem::get(page))
        .at("/assets/dashboard.js", poem::get(asset(SCRIPT, "text/javascript; charset=utf-8")))
        .at("/assets/dashboard.css", poem::get(asset(STYLE, "text/css; charset=utf-8")))
}

fn asset(body: &'static str, content_type: &'static str) -> impl poem::Endpoint<Output = Response> {
    poem::endpoint::make_sync(move |_| {
        Response::builder().content_type(content_type).header("cache-control", "no-cache").body(body)
    })
}

#[handler]
fn page(viewer: Caller) -> Response {
    let (status, body) = match &viewer.user {
        None => (StatusCode::UNAUTHORIZED, notice("Log in first", "Log in with Discord, then come back to this page.")),
        Some(u) if !(u.is_staff || u.is_superuser) => {
            (StatusCode::FORBIDDEN, notice("Staff only", "The jobs dashboard is for league staff."))
        }
        Some(_) => (StatusCode::OK, PAGE.to_owned()),
    };
    Html(body)
        .with_status(status)
        .with_header("content-security-policy", CSP)
        .with_header("cache-control", "no-store")
        .into_response()
}

/// A minimal page for callers who may not see the dashboard.
fn notice(title: &str, text: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title} · DTX jobs</title>\
         <link rel=\"stylesheet\" href=\"/admin/assets/dashboard.css\"></head><body><main class=\"notice\">\
         <h1>{title}</h1><p>{text}</p><p><a href=\"/api/auth/discord/login\">Log in with Discord</a></p>\
         </main></body></html>"
    )
}
