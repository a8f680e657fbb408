//! Request ids: every request runs in a tracing span carrying `request_id`
//! (so every log line it causes, in text or JSON, names it), and every
//! response — errors included — returns it in `X-Request-Id`.
//!
//! A caller's own `X-Request-Id` is kept when it looks like an id (up to 64
//! of `[A-Za-z0-9._-]`), so a proxy's id follows the request through; other
//! values are replaced, so a client cannot write arbitrary text into logs.

use poem::{Endpoint, IntoResponse, Request, Response};
use tracing::Instrument;

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

/// The middleware; errors are rendered here so they carry the header too.
pub async fn middleware<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let id = choose(req.header(HEADER));
    let span = tracing::info_span!("request", request_id = %id);
    let resp = match next.call(req).instrument(span).await {
        Ok(resp) => resp.into_response(),
        Err(err) => crate::error::render_error(err).await,
    };
    Ok(resp.with_header(HEADER, id).into_response())
}

#[cfg(test)]
mod tests {
    use super::choose;

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
