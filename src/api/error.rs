//! One error shape for the whole side API: `{"error": {"code", "message", "field"}}`.
//!
//! Client errors say what was wrong and, for bad input, which field (so the web client can put
//! the message next to it). Internal errors are opaque to the client — a database message can
//! leak schema or data — and are logged instead: the response carries the detail in an
//! extension that [`log_internal_errors`] writes to the log with the request line, the pattern
//! of axum's error-handling example.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::pin::check::CheckError;
use crate::pin::PinError;
use crate::store::StoreError;

/// Why a request failed. Each variant has one HTTP status (RFC 9110 §15) and one stable `code`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body or query is not what the endpoint reads at all (malformed JSON, wrong content
    /// type, an unparsable id): 400.
    #[error("{message}")]
    BadRequest {
        /// Stable machine-readable code.
        code: &'static str,
        /// Human-readable explanation.
        message: String,
        /// The offending field, when there is one.
        field: Option<String>,
    },
    /// Well-formed input whose value is refused (an end before the start, a PIN of letters):
    /// 422, naming the field.
    #[error("{field}: {message}")]
    Invalid {
        /// Stable machine-readable code.
        code: &'static str,
        /// The offending field (`destination.number`, `to`, ...).
        field: String,
        /// Human-readable explanation.
        message: String,
    },
    /// No valid session: 401.
    #[error("not logged in")]
    Unauthenticated,
    /// Wrong local number or PIN, or a locked account — deliberately one answer for all three,
    /// so a caller cannot probe which local numbers exist: 401.
    #[error("wrong local number or PIN")]
    InvalidCredentials,
    /// The PIN is the default or was reset; only the PIN change is allowed until then: 403.
    #[error("the PIN must be changed first")]
    PinChangeRequired,
    /// Logged in, but not allowed to do this (a user acting for another, a forbidden forward):
    /// 403.
    #[error("{message}")]
    Forbidden {
        /// Stable machine-readable code.
        code: &'static str,
        /// Human-readable explanation.
        message: String,
        /// The field whose value is not allowed, if any.
        field: Option<String>,
    },
    /// No such object — or one the caller may not see, which must look the same: 404.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The write collides with an existing object: 409.
    #[error("already exists: {0}")]
    Conflict(String),
    /// The request cannot be carried out in the current state of things (no registered phone
    /// to ring, too many calls in progress): 409, with a code saying which.
    #[error("{message}")]
    NotNow {
        /// Stable machine-readable code.
        code: &'static str,
        /// Human-readable explanation.
        message: String,
    },
    /// A service behind the API cannot take the request now (RFC 9110 §15.6.4): 503.
    #[error("{message}")]
    Unavailable {
        /// Stable machine-readable code.
        code: &'static str,
        /// Human-readable explanation.
        message: String,
    },
    /// The body is not of a media type the endpoint reads (by `Content-Type`, or by content
    /// for uploads the decoder does not recognise): 415 (RFC 9110 §15.5.16).
    #[error("{message}")]
    UnsupportedMediaType {
        /// The upload's field (`audio`), when the content rather than the label was refused.
        field: Option<String>,
        /// What was expected.
        message: String,
    },
    /// The body is larger than the endpoint accepts: 413 (RFC 9110 §15.5.14).
    #[error("{message}")]
    PayloadTooLarge {
        /// The upload's field (`audio`), when the limit is the field's rather than the API's.
        field: Option<String>,
        /// The limit, in words.
        message: String,
    },
    /// The requested byte range lies outside the resource (RFC 9110 §15.5.17): 416, with
    /// `Content-Range: bytes */<length>`.
    #[error("range not satisfiable")]
    RangeNotSatisfiable {
        /// The resource's length in bytes.
        length: u64,
    },
    /// Too many attempts; try again after `retry_after_secs` (RFC 6585 §4): 429.
    #[error("too many attempts")]
    TooManyRequests {
        /// Seconds until a new attempt may succeed.
        retry_after_secs: u64,
    },
    /// Anything the client cannot fix: 500, logged, never described to the client.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// A 422 naming `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Invalid {
            code: "invalid_value",
            field: field.into(),
            message: message.into(),
        }
    }

    /// A 403 with a code and message.
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Forbidden {
            code,
            message: message.into(),
            field: None,
        }
    }

    /// A 415 for an endpoint that reads JSON.
    pub fn json_expected() -> Self {
        ApiError::UnsupportedMediaType {
            field: None,
            message: "expected Content-Type: application/json".to_owned(),
        }
    }

    /// A 413 for a JSON body over the API's limit.
    pub fn body_too_large() -> Self {
        ApiError::PayloadTooLarge {
            field: None,
            message: "request body too large".to_owned(),
        }
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthenticated | ApiError::InvalidCredentials => StatusCode::UNAUTHORIZED,
            ApiError::PinChangeRequired | ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) | ApiError::NotNow { .. } => StatusCode::CONFLICT,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable code of the JSON body.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. }
            | ApiError::Invalid { code, .. }
            | ApiError::Forbidden { code, .. }
            | ApiError::NotNow { code, .. }
            | ApiError::Unavailable { code, .. } => code,
            ApiError::Unauthenticated => "unauthenticated",
            ApiError::InvalidCredentials => "invalid_credentials",
            ApiError::PinChangeRequired => "pin_change_required",
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict(_) => "conflict",
            ApiError::UnsupportedMediaType { .. } => "unsupported_media_type",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::RangeNotSatisfiable { .. } => "range_not_satisfiable",
            ApiError::TooManyRequests { .. } => "too_many_requests",
            ApiError::Internal(_) => "internal",
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            ApiError::BadRequest { field, .. }
            | ApiError::Forbidden { field, .. }
            | ApiError::PayloadTooLarge { field, .. }
            | ApiError::UnsupportedMediaType { field, .. } => field.as_deref(),
            ApiError::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }
}

/// The detail of a 500, carried from the handler to [`log_internal_errors`] in the response
/// extensions, so the log line has the request and the client sees nothing of it.
#[derive(Debug, Clone)]
pub struct InternalErrorDetail(pub Arc<String>);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            ApiError::Internal(_) => "internal error".to_owned(),
            // The field is in its own member; the message need not repeat it.
            ApiError::Invalid { message, .. } => message.clone(),
            other => other.to_string(),
        };
        let body = json!({
            "error": { "code": self.code(), "message": message, "field": self.field() }
        });
        let mut response = (status, Json(body)).into_response();
        match &self {
            ApiError::Internal(detail) => {
                response
                    .extensions_mut()
                    .insert(InternalErrorDetail(Arc::new(detail.clone())));
            }
            ApiError::TooManyRequests { retry_after_secs } => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            ApiError::RangeNotSatisfiable { length } => {
                if let Ok(value) = HeaderValue::from_str(&format!("bytes */{length}")) {
                    response.headers_mut().insert(header::CONTENT_RANGE, value);
                }
            }
            ApiError::Unauthenticated | ApiError::InvalidCredentials => {
                // RFC 9110 §11.6.1: a 401 carries a challenge.
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"onestatus\""),
                );
            }
            _ => {}
        }
        response
    }
}

/// Middleware: logs the detail of every 500 with the request method and path.
pub async fn log_internal_errors(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    if let Some(InternalErrorDetail(detail)) = response.extensions().get::<InternalErrorDetail>() {
        tracing::error!(%method, %path, error = %detail, "API request failed");
    }
    response
}

impl From<StoreError> for ApiError {
    /// `NotFound` → 404, `Conflict` → 409, `Invalid` → 422 naming the value, the rest → 500.
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound(what) => ApiError::NotFound(what),
            StoreError::Conflict { what } => ApiError::Conflict(what),
            StoreError::Invalid { what, detail } => {
                ApiError::invalid(what.replace(' ', "_"), detail)
            }
            other @ (StoreError::Database(_) | StoreError::Migrate(_)) => {
                ApiError::Internal(other.to_string())
            }
        }
    }
}

impl From<CheckError> for ApiError {
    /// A store failure as any other; a failed verification task is internal.
    fn from(err: CheckError) -> Self {
        match err {
            CheckError::Store(err) => err.into(),
            CheckError::Task(err) => ApiError::Internal(format!("PIN verification task: {err}")),
        }
    }
}

impl From<PinError> for ApiError {
    fn from(err: PinError) -> Self {
        ApiError::Invalid {
            code: "pin_rule",
            field: "new_pin".to_owned(),
            message: err.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_are_opaque_to_the_client_and_kept_for_the_log() {
        let response =
            ApiError::Internal("database is locked at users.pin_hash".into()).into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let detail = response.extensions().get::<InternalErrorDetail>().cloned();
        assert_eq!(
            detail.map(|d| d.0.to_string()).as_deref(),
            Some("database is locked at users.pin_hash")
        );
        let body =
            futures_util::FutureExt::now_or_never(axum::body::to_bytes(response.into_body(), 1024))
                .and_then(Result::ok)
                .unwrap_or_default();
        let body = String::from_utf8_lossy(&body);
        assert!(!body.contains("pin_hash"), "{body}");
        assert!(body.contains("\"code\":\"internal\""), "{body}");
    }

    #[test]
    fn store_errors_map_to_statuses() {
        assert_eq!(
            ApiError::from(StoreError::NotFound("x")).status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            ApiError::from(StoreError::Conflict { what: "a.b".into() }).status(),
            StatusCode::CONFLICT
        );
        let invalid = ApiError::from(StoreError::Invalid {
            what: "absence period",
            detail: "must end after it starts".into(),
        });
        assert_eq!(invalid.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(invalid.field(), Some("absence_period"));
    }
}
