//! What an operator needs around every HTTP request (issue #20): a request id, an access log
//! line, and a time limit — as one axum middleware, with no extra crate.
//!
//! - **Request id**: the caller's `X-Request-Id` when it sends a sane one (a proxy in front
//!   that already numbers requests), else a random one; echoed in the response and in the
//!   access line, so a user's report and the log meet.
//! - **Access log**: one `info` line per request on target `onestatus::access`: method, path
//!   (without the query, which can carry tokens), status, duration in ms, request id.
//! - **Time limit**: a handler that has not produced its response within [`REQUEST_TIMEOUT`]
//!   is answered 503 with the API's JSON error shape. It bounds the response head only: an
//!   event stream (SSE) answers at once and then streams for as long as the client stays.

use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use tracing::info;

use crate::clock::{Clock, SystemClock};

/// Longest time a handler may take to answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The request id header.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest request id taken from a caller.
const MAX_ID_LEN: usize = 64;

/// The caller's id when it is short and printable, else a new one.
fn request_id(request: &Request) -> String {
    request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= MAX_ID_LEN
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        })
        .map_or_else(|| format!("{:016x}", rand::random::<u64>()), str::to_owned)
}

/// The middleware (`axum::middleware::from_fn(http_ops::layer)`).
pub async fn layer(request: Request, next: Next) -> Response {
    with_timeout(request, next, REQUEST_TIMEOUT).await
}

/// [`layer`] with a given time limit.
pub async fn with_timeout(request: Request, next: Next, limit: Duration) -> Response {
    let id = request_id(&request);
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = SystemClock.instant();
    let mut response = match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "error": {
                "code": "timeout",
                "message": format!("no answer within {} s", limit.as_secs()),
                "field": null,
            }})),
        )
            .into_response(),
    };
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID.clone(), value);
    }
    info!(
        target: "onestatus::access",
        request_id = %id,
        %method,
        %path,
        status = response.status().as_u16(),
        ms = SystemClock.instant().saturating_duration_since(started).as_millis() as u64,
        "http"
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt;

    fn app() -> Router {
        Router::new()
            .route("/fast", get(|| async { "ok" }))
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    "late"
                }),
            )
            .layer(axum::middleware::from_fn(|r: Request, n: Next| {
                with_timeout(r, n, Duration::from_secs(5))
            }))
    }

    #[tokio::test(start_paused = true)]
    async fn ids_are_kept_or_made_and_slow_handlers_time_out() {
        let response = app()
            .oneshot(
                Request::get("/fast")
                    .header("x-request-id", "abc-123")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["x-request-id"], "abc-123");
        // A header that could forge log lines is replaced.
        let response = app()
            .oneshot(
                Request::get("/fast")
                    .header("x-request-id", "a b\tc")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(id.len(), 16, "{id}");
        let response = app()
            .oneshot(Request::get("/slow").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
