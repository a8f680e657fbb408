//! Request ids: every request runs in a tracing span carrying `request_id`
//! (so every log line it causes, in text or JSON, names it), and every
//! response — errors included — returns it in `X-Request-Id`.
//!
//! A caller's own `X-Request-Id` is kept when it looks like an id (up to 64
//! of `[A-Za-z0-9._-]`), so a proxy's id follows the request through; other
//! values are replaced, so a client cannot write arbitrary text into logs.
//!
//! The span also carries the method and the URI with its secrets redacted
//! (an OAuth `code` and `state`, OpenID signatures and nonces never reach a
//! log line), and every response is logged with its status and duration.

use poem::{Endpoint, IntoResponse, Request, Response};
use tracing::Instrument;
use worker::runtime::telemetry::{self, TraceParent};

pub const HEADER: &str = "x-request-id";

/// The id to use for a request that arrived with `incoming`.
pub fn choose(incoming: Option<&str>) -> String {
    match incoming {
        Some(id)
            if !id.is_empty()
                && id.len() <= 64
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) =>
        {
            id.to_owned()
        }
        _ => ulid::Ulid::generate().to_string().to_lowercase(),
    }
}

/// Query parameters whose values are credentials.
const SECRET_PARAMS: [&str; 5] = ["code", "state", "openid.sig", "openid.assoc_handle", "openid.response_nonce"];

/// `uri` with the values of [`SECRET_PARAMS`] replaced by `REDACTED`.
pub fn redacted(uri: &poem::http::Uri) -> String {
    let Some(query) = uri.query() else { return uri.path().to_owned() };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if SECRET_PARAMS.contains(&name) => format!("{name}=REDACTED"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{}?{}", uri.path(), pairs.join("&"))
}

/// A request in flight: dropped unfinished while the api stops, it was cut
/// by the end of the shutdown grace — said in a log line (SPEC §22).
struct InFlight {
    probe: worker::runtime::ops::Probe,
    finished: bool,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if !self.finished && self.probe.is_draining() {
            tracing::warn!("request cut: the shutdown grace (SHUTDOWN_GRACE_SECS) ended before it did");
        }
    }
}

/// The middleware; errors are rendered here so they carry the header too.
pub async fn middleware<E: Endpoint>(
    next: E,
    req: Request,
    probe: worker::runtime::ops::Probe,
) -> poem::Result<Response> {
    let id = choose(req.header(HEADER));
    // The caller's W3C trace, continued (a malformed header is ignored), or a new one.
    let parent = req.header("traceparent").and_then(TraceParent::parse);
    let trace = parent.map_or_else(TraceParent::root, |p| p.child());
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        trace_id = %trace.trace_id_hex(),
        method = %req.method(),
        uri = %redacted(req.original_uri())
    );
    if let Some(parent) = &parent {
        telemetry::continue_trace(&span, parent);
    }
    let started = std::time::Instant::now();
    // Boxed: the span and the trace scope wrap it by value, and the whole
    // app's future inside is large — moving a pointer beats copying it.
    let handled = Box::pin(async move {
        // Inside the span: a cut request's line names it.
        let mut in_flight = InFlight { probe, finished: false };
        let resp = match next.call(req).await {
            Ok(resp) => resp.into_response(),
            Err(err) => crate::error::render_error(err).await,
        };
        in_flight.finished = true;
        tracing::info!(status = resp.status().as_u16(), duration_ms = started.elapsed().as_millis() as u64, "response");
        resp
    });
    let resp = telemetry::in_trace(trace, handled.instrument(span)).await;
    Ok(resp.with_header(HEADER, id).into_response())
}

#[cfg(test)]
mod tests {
    use super::{choose, redacted};

    #[test]
    fn credentials_in_query_strings_are_redacted() {
        let uri: poem::http::Uri = "/api/auth/discord/callback?code=SECRETCODE&state=SECRETSTATE&x=1".parse().unwrap();
        assert_eq!(redacted(&uri), "/api/auth/discord/callback?code=REDACTED&state=REDACTED&x=1");
        let plain: poem::http::Uri = "/api/users?page=2".parse().unwrap();
        assert_eq!(redacted(&plain), "/api/users?page=2");
    }

    #[test]
    fn plausible_incoming_ids_are_kept_and_others_replaced() {
        assert_eq!(choose(Some("lb-7f3a.42_x")), "lb-7f3a.42_x");
        for bad in [None, Some(""), Some("has space"), Some("{\"json\":1}"), Some(&*"x".repeat(65))] {
            let id = choose(bad);
            assert_eq!(id.len(), 26, "a fresh ulid for {bad:?}");
            assert_ne!(Some(id.as_str()), bad);
        }
    }
}
