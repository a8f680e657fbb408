//! The HTTP application: routes, docs, middleware, and serving it.

use poem::endpoint::BoxEndpoint;
use poem::http::StatusCode;
use poem::listener::{Acceptor, TcpAcceptor};
use poem::middleware::Tracing;
use poem::{Endpoint, EndpointExt, Request, Route};
use poem_openapi::{OpenApi, OpenApiService};

use crate::error::{ApiError, render_error};
use crate::routes;
use crate::routes::test_login::TestLoginApi;
use crate::state::AppState;

/// The OpenAPI service of `apis`.
fn openapi<T: OpenApi>(apis: T) -> OpenApiService<T, ()> {
    OpenApiService::new(apis, "DTX league API", env!("CARGO_PKG_VERSION"))
        .description(
            "Dota 2 community leagues: users, leagues, tournaments, teams, games, drafts and jobs. \
             Errors are `{\"error\": {\"code\", \"message\", \"details\"?}}`. Writes from a browser \
             session need an allowed Origin.",
        )
        .server("/api")
}

/// The OpenAPI document as JSON; test endpoints appear only when mounted.
pub fn spec_json(test_endpoints: bool) -> String {
    if test_endpoints { openapi((routes::all(), TestLoginApi)).spec() } else { openapi(routes::all()).spec() }
}

/// The whole application, ready to serve. The test-login API is mounted
/// only when enabled, so it does not exist (404) otherwise.
pub fn app(state: AppState) -> BoxEndpoint<'static> {
    if state.settings.test_endpoints {
        mount(openapi((routes::all(), TestLoginApi)), state)
    } else {
        mount(openapi(routes::all()), state)
    }
}

fn mount<T: OpenApi + 'static>(api: OpenApiService<T, ()>, state: AppState) -> BoxEndpoint<'static> {
    let docs = api.swagger_ui();
    let spec = api.spec_endpoint();
    let max_body = state.settings.max_body_bytes;
    Route::new()
        .at("/metrics", poem::get(prometheus_metrics))
        .at("/api/openapi.json", spec)
        .at("/api/herodraft/:id/", poem::get(crate::realtime::herodraft_socket))
        .at("/api/draft/:id/", poem::get(crate::realtime::draft_socket))
        .at("/api/tournament/:id/", poem::get(crate::realtime::tournament_socket))
        .nest("/admin", crate::dashboard::routes())
        .nest("/api/docs", docs)
        .nest("/api", api)
        .around(crate::auth::csrf::middleware)
        .around(crate::ratelimit::middleware)
        .around(move |next, req| limit_body(next, req, max_body))
        .data(state)
        .around(record_http_metrics)
        .with(Tracing)
        .around(crate::request_id::middleware)
        .catch_all_error(render_error)
        .boxed()
}

/// The Prometheus text of this process, with the queue gauges read from
/// the ledger at scrape time (the api exports them for the whole system).
#[poem::handler]
async fn prometheus_metrics(state: poem::web::Data<&AppState>) -> String {
    match worker::queue_summary::summarize(&state.db).await {
        Ok(summaries) => worker::queue_summary::record_gauges(&summaries, chrono::Utc::now()),
        Err(err) => tracing::warn!(error = %err, "queue gauges not refreshed"),
    }
    let workers =
        state.jobs.enqueuer.queue.workers_alive(state.jobs.heartbeat(), state.settings.runs_embedded_worker());
    ::metrics::gauge!("dtx_workers_alive").set(workers.await as f64);
    worker::telemetry::render_metrics()
}

/// `dtx_http_requests_total{method,route,status}` and the latency
/// histogram, with ids in paths folded so routes stay a small label set.
async fn record_http_metrics<E: Endpoint>(next: E, req: Request) -> poem::Result<poem::Response> {
    let method = req.method().to_string();
    let route = route_label(req.uri().path());
    let started = std::time::Instant::now();
    let result = next.call(req).await.map(poem::IntoResponse::into_response);
    let status = match &result {
        Ok(resp) => resp.status().as_u16(),
        Err(err) => err.status().as_u16(),
    };
    metrics::counter!("dtx_http_requests_total", "method" => method, "route" => route.clone(), "status" => status.to_string())
        .increment(1);
    metrics::histogram!("dtx_http_request_duration_seconds", "route" => route).record(started.elapsed().as_secs_f64());
    result
}

/// `/api/users/42` → `/api/users/:id`; unknown paths → `other`.
pub fn route_label(path: &str) -> String {
    if !path.starts_with("/api") && !path.starts_with("/admin/") && path != "/metrics" {
        return "other".to_owned();
    }
    path.split('/')
        .map(|seg| {
            let id_like = !seg.is_empty()
                && (seg.bytes().all(|b| b.is_ascii_digit())
                    || (seg.len() == 26 && seg.bytes().all(|b| b.is_ascii_alphanumeric())));
            if id_like { ":id" } else { seg }
        })
        .take(8)
        .collect::<Vec<_>>()
        .join("/")
}

/// Refuses bodies over `max` bytes with 413, whether or not they declare a
/// length (poem's `SizeLimit` needs a Content-Length even on GETs).
async fn limit_body<E: Endpoint>(next: E, mut req: Request, max: usize) -> poem::Result<E::Output> {
    let too_large = || {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", format!("bodies are limited to {max} bytes"))
    };
    if let Some(len) = req.header("content-length").and_then(|v| v.parse::<u64>().ok()) {
        if len > max as u64 {
            return Err(too_large().into());
        }
    } else if req.header("transfer-encoding").is_some() {
        let body = req.take_body();
        let bytes = body.into_bytes_limit(max).await.map_err(|_| too_large())?;
        req.set_body(bytes);
    }
    next.call(req).await
}

/// Serves the app on an acceptor until `shutdown` resolves.
pub async fn serve(
    state: AppState,
    acceptor: TcpAcceptor,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let local = acceptor.local_addr();
    tracing::info!(addr = ?local.first(), "api listening; docs at /api/docs");
    poem::Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(app(state), shutdown, Some(std::time::Duration::from_secs(10)))
        .await
}

#[cfg(test)]
mod tests {
    use super::route_label;

    #[test]
    fn ids_are_folded_out_of_route_labels() {
        assert_eq!(route_label("/api/users/42"), "/api/users/:id");
        assert_eq!(route_label("/api/jobs/01m88mnwga9bcnk2g8rv4yv32h/retry"), "/api/jobs/:id/retry");
        assert_eq!(route_label("/wp-admin"), "other");
    }
}
