//! CSRF defence for cookie-authenticated writes: the session cookie is
//! `SameSite=Lax`, and an unsafe request that carries it must come from an
//! allowed origin. Browsers always send `Origin` on cross-origin writes;
//! clients without a browser (no `Origin`, no `Sec-Fetch-Site`) pass.

use poem::http::Method;
use poem::{Endpoint, Request};

use crate::auth::session;
use crate::error::ApiError;
use crate::settings::ApiSettings;

/// Why a request is refused, if it is.
pub fn check(req: &Request, settings: &ApiSettings) -> Result<(), ApiError> {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) || session::token_of(req).is_none() {
        return Ok(());
    }
    let refused = match req.header("origin") {
        Some(origin) => !settings.origin_allowed(origin),
        None => req.header("sec-fetch-site") == Some("cross-site"),
    };
    if refused {
        return Err(ApiError::new(
            poem::http::StatusCode::FORBIDDEN,
            "cross_site_request",
            "this origin may not send authenticated writes",
        ));
    }
    Ok(())
}

/// Middleware form of [`check`].
pub async fn middleware<E: Endpoint>(next: E, req: Request) -> poem::Result<E::Output> {
    let settings = &req.data::<crate::state::AppState>().expect("AppState attached").settings;
    check(&req, settings)?;
    next.call(req).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::tests::parse;

    fn post(headers: &[(&str, &str)]) -> Request {
        let mut builder = Request::builder().method(Method::POST).header("cookie", "dtx_session=t");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.finish()
    }

    #[test]
    fn cross_origin_cookie_writes_are_refused() {
        let settings = parse(&["--allowed-origins", "https://dtx.example"]);
        assert!(check(&post(&[("origin", "https://evil.example")]), &settings).is_err());
        assert!(check(&post(&[("sec-fetch-site", "cross-site")]), &settings).is_err());
        assert!(check(&post(&[("origin", "https://dtx.example")]), &settings).is_ok());
        assert!(check(&post(&[]), &settings).is_ok(), "non-browser clients send no Origin");
    }

    #[test]
    fn reads_and_cookieless_writes_pass() {
        let settings = parse(&[]);
        let get =
            Request::builder().header("cookie", "dtx_session=t").header("origin", "https://evil.example").finish();
        assert!(check(&get, &settings).is_ok());
        let anon = Request::builder().method(Method::POST).header("origin", "https://evil.example").finish();
        assert!(check(&anon, &settings).is_ok());
    }
}
