//! The web client (OnePresence), served by the same binary at `/`.
//!
//! Where it sits: the router's fallback. Everything under `/api/` belongs to the API (an unknown
//! API path keeps its JSON 404); every other `GET` is the client. The client's files live in
//! `web/` and are embedded at compile time (`build.rs` lists them), so `onestatus serve` needs
//! nothing on disk. Paths without a file extension that are not a file (`/colleagues`,
//! `/voicemail`) answer `index.html`: the client routes with the History API and a reload or a
//! bookmark must land in it.
//!
//! Caching: there is no build step, so file names carry no content hash; every response says
//! `no-cache` with a strong `ETag` (SHA-256 of the contents), and a matching `If-None-Match`
//! answers 304 (RFC 9110 §13.1.2, RFC 9111 §5.2.2.4). A new binary therefore never serves a
//! stale client, and an unchanged one costs a round trip of headers.
//!
//! Security headers on every client response: a Content-Security-Policy that allows scripts
//! and styles only from this origin (no inline script, no `eval`), `frame-ancestors 'none'`
//! against clickjacking, `nosniff`, and no referrer.

use std::sync::OnceLock;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::error::ApiError;

mod assets {
    include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));
}

/// The client's files: (path below `web/`, contents).
pub fn assets() -> &'static [(&'static str, &'static [u8])] {
    assets::ASSETS
}

/// The policy for every client response. `media-src blob:` lets the settings page play back a
/// greeting recorded in the browser before it is uploaded.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; media-src 'self' blob:; connect-src 'self'; \
    font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

/// The media type of a file, by extension.
fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("webmanifest") => "application/manifest+json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Strong entity tags of the assets, in the order of [`assets`], computed once.
fn etags() -> &'static [String] {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    TAGS.get_or_init(|| {
        assets()
            .iter()
            .map(|(_, bytes)| format!("\"{}\"", &hex::encode(Sha256::digest(bytes))[..32]))
            .collect()
    })
}

/// Which asset answers `path` (the request path, starting with `/`): the file itself, or
/// `index.html` for a client route. `None` for a missing file.
pub fn resolve(path: &str) -> Option<usize> {
    let rel = path.trim_start_matches('/');
    let rel = if rel.is_empty() { "index.html" } else { rel };
    if let Some(i) = assets().iter().position(|(p, _)| *p == rel) {
        return Some(i);
    }
    let last = rel.rsplit('/').next().unwrap_or(rel);
    if last.contains('.') {
        return None;
    }
    assets().iter().position(|(p, _)| *p == "index.html")
}

/// Whether `path` belongs to the API rather than the client.
fn is_api(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// The router's fallback: the client for `GET`/`HEAD` outside `/api/`, the API's JSON 404
/// otherwise.
pub async fn fallback(request: Request) -> Response {
    let path = request.uri().path();
    let method = request.method();
    if is_api(path) || (method != Method::GET && method != Method::HEAD) {
        return ApiError::NotFound("route").into_response();
    }
    let Some(index) = resolve(path) else {
        return with_security_headers(
            (StatusCode::NOT_FOUND, "not found\n").into_response(),
            "text/plain; charset=utf-8",
        );
    };
    let (name, bytes) = assets()[index];
    let etag = &etags()[index];
    let fresh = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else if method == Method::HEAD {
        let mut r = Response::new(Body::empty());
        r.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
        r
    } else {
        Response::new(Body::from(bytes))
    };
    if let Ok(v) = HeaderValue::from_str(etag) {
        response.headers_mut().insert(header::ETAG, v);
    }
    with_security_headers(response, content_type(name))
}

/// Adds the content type, caching and security headers of a client response.
fn with_security_headers(mut response: Response, media_type: &'static str) -> Response {
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_routes_land_on_the_index_and_files_on_themselves() {
        let index = resolve("/").expect("index.html is embedded");
        assert_eq!(assets()[index].0, "index.html");
        assert_eq!(resolve("/colleagues"), Some(index));
        assert_eq!(resolve("/users/3/timeline"), Some(index));
        let app = resolve("/app.js").expect("app.js is embedded");
        assert_eq!(assets()[app].0, "app.js");
        assert_eq!(resolve("/missing.js"), None);
        assert_eq!(content_type("app.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("i18n/da.js"), "text/javascript; charset=utf-8");
        assert!(is_api("/api/v1/nothing") && is_api("/api") && !is_api("/apix"));
    }

    #[test]
    fn every_embedded_script_is_referenced_without_inline_code() {
        let index = assets()[resolve("/").unwrap_or(0)].1;
        let html = std::str::from_utf8(index).unwrap_or("");
        // The CSP forbids inline script; the page must not rely on any.
        for chunk in html.split("<script").skip(1) {
            let tag_end = chunk.find('>').unwrap_or(0);
            assert!(chunk[..tag_end].contains("src="), "inline script: {chunk}");
            assert!(chunk[tag_end + 1..].trim_start().starts_with("</script>"));
        }
        assert!(
            !html.contains(" style=\""),
            "inline styles are refused by the CSP"
        );
    }
}
