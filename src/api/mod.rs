//! The HTTP side API for the web client (axum), under `/api/v1`.

use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

/// The API router.
pub fn router() -> Router {
    Router::new().route("/api/v1/health", get(health))
}

/// Liveness probe for load balancers and the test harness.
async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}
