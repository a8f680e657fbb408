//! The HTTP application: routes, docs, middleware, and serving it.

use poem::endpoint::BoxEndpoint;
use poem::http::StatusCode;
use poem::listener::{Acceptor, TcpAcceptor};
use poem::middleware::CatchPanic;
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Route};
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
             session need an allowed Origin. No string anywhere — path, query or JSON body — may hold a \
             NUL character (U+0000): 422 `invalid_character`.",
        )
        .server("/api")
}

/// The OpenAPI document as JSON (finished: [`crate::openapi::finish`]);
/// test endpoints appear only when mounted.
pub fn spec_json(test_endpoints: bool) -> String {
    let generated =
        if test_endpoints { openapi((routes::all(), TestLoginApi)).spec() } else { openapi(routes::all()).spec() };
    serde_json::to_string_pretty(&crate::openapi::finish(&generated)).expect("documents serialize")
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
    let generated = api.spec();
    let finished = crate::openapi::finish(&generated);
    let methods = std::sync::Arc::new(crate::openapi::PathMethods::of(&finished));
    let finished = serde_json::to_string_pretty(&finished).expect("documents serialize");
    // Swagger UI shows the finished document: poem embeds the generated one verbatim.
    let docs_html = api.swagger_ui_html().replacen(&generated, &finished, 1);
    let docs = poem::endpoint::make_sync(move |_| poem::web::Html(docs_html.clone()));
    let spec = poem::endpoint::make_sync(move |_| {
        poem::Response::builder().content_type("application/json; charset=utf-8").body(finished.clone())
    });
    let max_body = state.settings.max_body_bytes;
    let probe = state.probe.clone();
    Route::new()
        .at("/livez", poem::get(worker::runtime::ops::livez))
        .at("/readyz", poem::get(readyz))
        .at("/metrics", poem::get(public_metrics))
        .at("/api/openapi.json", poem::get(spec))
        .at("/api/herodraft/:id/", poem::get(crate::realtime::herodraft_socket))
        .at("/api/draft/:id/", poem::get(crate::realtime::draft_socket))
        .at("/api/tournament/:id/", poem::get(crate::realtime::tournament_socket))
        .nest("/admin", crate::dashboard::routes())
        .at("/api/docs", poem::get(docs))
        .nest("/api", api)
        .around(crate::auth::csrf::middleware)
        .around(crate::ratelimit::middleware)
        .around(move |next, req| screen_input(next, req, max_body))
        .data(state)
        .with(CatchPanic::new().with_handler(panic_response))
        .around(record_http_metrics)
        .around(move |next, req| crate::request_id::middleware(next, req, probe.clone()))
        .catch_all_error(render_error)
        .around(move |next, req| allow_header(next, req, methods.clone()))
        .boxed()
}

/// A 405 says which methods the path has (`Allow`, RFC 9110).
async fn allow_header<E: Endpoint>(
    next: E,
    req: Request,
    methods: std::sync::Arc<crate::openapi::PathMethods>,
) -> poem::Result<poem::Response> {
    let path = req.uri().path().to_owned();
    let mut resp = next.call(req).await?.into_response();
    if resp.status() == StatusCode::METHOD_NOT_ALLOWED
        && let Some(allowed) = methods.allowed(&path)
        && let Ok(value) = poem::http::HeaderValue::from_str(&allowed)
    {
        resp.headers_mut().insert(poem::http::header::ALLOW, value);
    }
    Ok(resp)
}

/// A handler panicked: the client gets the 500 error body, the log gets the panic.
fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> poem::Response {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned());
    tracing::error!(panic = %what, "handler panicked");
    poem::error::ResponseError::as_response(&ApiError::internal())
}

/// `/metrics` on the public address: only with `Authorization: Bearer
/// <METRICS_TOKEN>` (without a token configured, it is not served here; use
/// the loopback `API_METRICS_BIND` listener).
#[poem::handler]
async fn public_metrics(req: &Request, state: poem::web::Data<&AppState>) -> poem::Result<String> {
    let presented = req.header("authorization").and_then(|h| h.strip_prefix("Bearer "));
    match (&state.settings.metrics_token, presented) {
        (Some(token), Some(given)) if crate::auth::pkce::constant_time_eq(token.expose(), given) => {
            Ok(prometheus_text(&state).await)
        }
        _ => Err(ApiError::not_found("route").into()),
    }
}

/// The metrics app served on `API_METRICS_BIND` (loopback by default).
pub fn metrics_app(state: AppState) -> BoxEndpoint<'static> {
    Route::new().at("/metrics", poem::get(private_metrics)).data(state).catch_all_error(render_error).boxed()
}

/// `/readyz` (SPEC §22): 200 when the database and Redis answer within 1 s
/// each, 503 once a shutdown drains the api.
#[poem::handler]
async fn readyz(state: poem::web::Data<&AppState>) -> poem::Response {
    worker::runtime::ops::readyz(&state.probe).await
}

#[poem::handler]
async fn private_metrics(state: poem::web::Data<&AppState>) -> String {
    prometheus_text(&state).await
}

/// The Prometheus text of this process, with the queue gauges read from
/// the ledger at scrape time (the api exports them for the whole system).
async fn prometheus_text(state: &AppState) -> String {
    match worker::jobs::queue_summary::summarize(&state.db).await {
        Ok(summaries) => worker::jobs::queue_summary::record_gauges(&summaries, chrono::Utc::now()),
        Err(err) => tracing::warn!(error = %err, "queue gauges not refreshed"),
    }
    ::metrics::gauge!("dtx_workers_alive").set(state.workers_alive().await as f64);
    worker::runtime::ops::record_backlog(&state.jobs).await;
    worker::runtime::telemetry::render_metrics()
}

/// A method as a metrics label: the standard ones by name, any other
/// `other` — a client may send any token as a method (SPEC §24).
pub fn method_label(method: &poem::http::Method) -> &'static str {
    use poem::http::Method as M;
    match *method {
        M::GET => "GET",
        M::HEAD => "HEAD",
        M::POST => "POST",
        M::PUT => "PUT",
        M::PATCH => "PATCH",
        M::DELETE => "DELETE",
        M::OPTIONS => "OPTIONS",
        M::CONNECT => "CONNECT",
        M::TRACE => "TRACE",
        _ => "other",
    }
}

/// `dtx_http_requests_total{method,route,status}` and the latency
/// histogram, labelled by the matched route template (`/api/users/:id`);
/// every unmatched path shares the label `unmatched` and every non-standard
/// method the label `other`, so no request can grow the label set.
async fn record_http_metrics<E: Endpoint>(next: E, req: Request) -> poem::Result<poem::Response> {
    let method = method_label(req.method());
    let started = std::time::Instant::now();
    let result = next.call(req).await.map(IntoResponse::into_response);
    let (status, pattern) = match &result {
        Ok(resp) => (resp.status().as_u16(), resp.data::<poem::PathPattern>().map(|p| p.0.to_string())),
        Err(err) => (err.status().as_u16(), err.data::<poem::PathPattern>().map(|p| p.0.to_string())),
    };
    let route = pattern.unwrap_or_else(|| "unmatched".to_owned());
    metrics::counter!("dtx_http_requests_total", "method" => method, "route" => route.clone(), "status" => status.to_string())
        .increment(1);
    metrics::histogram!("dtx_http_request_duration_seconds", "route" => route).record(started.elapsed().as_secs_f64());
    result
}

/// What every handler may assume of its input: a body within `max` bytes
/// (413 otherwise, whether or not it declared a length — poem's `SizeLimit`
/// needs a Content-Length even on GETs), and no NUL anywhere in the URL
/// (`%00`) or escaped in a JSON body (`\u0000`): PostgreSQL cannot store a
/// NUL in text, so it is refused with 422 up front and no parameter ever
/// reaches a query with one (SPEC §24).
async fn screen_input<E: Endpoint>(next: E, mut req: Request, max: usize) -> poem::Result<E::Output> {
    let nul =
        || ApiError::invalid("invalid_character", "NUL characters are not accepted (in the URL or in any JSON string)");
    let too_large = || {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", format!("bodies are limited to {max} bytes"))
    };
    let url = req.uri().path_and_query().map_or("", |p| p.as_str());
    if url.as_bytes().windows(3).any(|w| w == b"%00") {
        return Err(nul().into());
    }
    if req.header("content-length").and_then(|v| v.parse::<u64>().ok()).is_some_and(|len| len > max as u64) {
        return Err(too_large().into());
    }
    let json = req.header("content-type").is_some_and(|t| t.to_ascii_lowercase().contains("json"));
    if json || req.header("transfer-encoding").is_some() {
        let body = req.take_body().into_bytes_limit(max).await.map_err(|_| too_large())?;
        if json && body.windows(6).any(|w| w == b"\\u0000") {
            return Err(nul().into());
        }
        req.set_body(body);
    }
    next.call(req).await
}

/// Serves the app on an acceptor until `shutdown` resolves, then stops as
/// SPEC §22 asks: `/readyz` turns 503 while the api still serves for
/// `SHUTDOWN_DRAIN_SECS` (a balancer stops sending), the listener closes,
/// sockets get 1001 "going away", and requests in flight get
/// `SHUTDOWN_GRACE_SECS` — each one cut after that is logged.
pub async fn serve(
    state: AppState,
    acceptor: TcpAcceptor,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let local = acceptor.local_addr();
    tracing::info!(addr = ?local.first(), "api listening; docs at /api/docs");
    let limits = crate::listener::Limits {
        idle: std::time::Duration::from_secs(state.settings.http_idle_timeout_secs),
        header: std::time::Duration::from_secs(state.settings.http_header_timeout_secs),
    };
    let guarded = crate::listener::GuardedAcceptor::new(
        acceptor,
        limits,
        state.settings.max_connections_per_ip,
        state.settings.trusted_proxies.clone(),
    );
    let (drain, grace) =
        (state.settings.shutdown_drain(), std::time::Duration::from_secs(state.settings.shutdown_grace_secs));
    let stopping = state.clone();
    let signal = async move {
        shutdown.await;
        stopping.probe.drain();
        tracing::info!(drain_s = drain.as_secs(), grace_s = grace.as_secs(), "api stopping: not ready, still serving");
        tokio::time::sleep(drain).await;
        tracing::info!("api listener closing; sockets told 1001, requests in flight may finish");
        stopping.realtime.close_all(std::time::Duration::from_secs(2)).await;
    };
    poem::Server::new_with_acceptor(guarded).run_with_graceful_shutdown(app(state), signal, Some(grace)).await
}
