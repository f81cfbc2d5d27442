//! The second defence against cross-site request forgery, for requests authenticated by the
//! session cookie.
//!
//! The cookie is already `SameSite=Strict`, so browsers do not attach it to requests started by
//! another site. This middleware does not rely on that alone (old browsers, same-site subdomains
//! under other control): a state-changing request (any method but `GET`, `HEAD`, `OPTIONS`) that
//! carries the session cookie and no `Authorization` header must also carry
//! `X-OneStatus-CSRF: 1`. A cross-origin page cannot add a custom header without a CORS
//! preflight, which this server never grants (the OWASP "custom request header" defence).
//! Bearer-token clients are not exposed to CSRF (a browser never adds the header by itself)
//! and are left alone, as are requests without a cookie (they are unauthenticated anyway).

use axum::extract::Request;
use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::auth::SESSION_COOKIE;
use super::error::ApiError;

/// The header the web client sends with every request.
pub const CSRF_HEADER: &str = "x-onestatus-csrf";

/// Whether the request must be refused as a possible forgery.
pub fn is_forgery_risk(method: &Method, headers: &HeaderMap) -> bool {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return false;
    }
    if headers.contains_key(AUTHORIZATION) {
        return false;
    }
    let has_session_cookie = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .any(|(name, _)| name == SESSION_COOKIE);
    has_session_cookie
        && headers
            .get(CSRF_HEADER)
            .is_none_or(|v| v.as_bytes() != b"1")
}

/// Middleware: 403 `csrf` for a cookie-authenticated state change without the header.
pub async fn require_header(request: Request, next: Next) -> Response {
    if is_forgery_risk(request.method(), request.headers()) {
        return ApiError::forbidden(
            "csrf",
            "a request authenticated by the session cookie must carry X-OneStatus-CSRF: 1",
        )
        .into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn only_cookie_state_changes_without_the_header_are_refused() {
        let mut h = HeaderMap::new();
        assert!(
            !is_forgery_risk(&Method::POST, &h),
            "no cookie: not ours to judge"
        );
        h.insert(COOKIE, HeaderValue::from_static("onestatus_session=abc"));
        assert!(!is_forgery_risk(&Method::GET, &h));
        assert!(is_forgery_risk(&Method::POST, &h));
        assert!(is_forgery_risk(&Method::DELETE, &h));
        h.insert(CSRF_HEADER, HeaderValue::from_static("1"));
        assert!(!is_forgery_risk(&Method::POST, &h));
        h.remove(CSRF_HEADER);
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer x"));
        assert!(!is_forgery_risk(&Method::PUT, &h));
    }
}
