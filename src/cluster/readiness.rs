//! `GET /api/v1/ready`: whether a load balancer or dispatcher should send this node work.
//!
//! Liveness (`/api/v1/health`) says the process answers; readiness says it should get new
//! work: the store answers and the node is not draining. A draining node keeps serving the
//! HTTP API (and its running calls) until the drain is over, so the probe can say 503 while
//! the calls end, instead of the port just closing.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::shutdown::ShutdownListener;
use crate::store::Store;

/// A probe that waits longer than this for the database reports it unreachable: a
/// dispatcher's probe has its own timeout, and a slow answer is as bad as none.
const STORE_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// What the probe looks at.
#[derive(Clone)]
pub struct Readiness {
    store: Store,
    shutdown: ShutdownListener,
}

/// Why a node is not ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotReady {
    /// Shutdown has begun: running calls end, new ones go elsewhere.
    Draining,
    /// The store did not answer (in time).
    StoreUnreachable(String),
}

impl Readiness {
    /// A probe over the store and the shutdown signal.
    pub fn new(store: Store, shutdown: ShutdownListener) -> Self {
        Self { store, shutdown }
    }

    /// Ready, or why not. Draining is checked first: it needs no round trip.
    pub async fn check(&self) -> Result<(), NotReady> {
        if self.shutdown.is_shutdown() {
            return Err(NotReady::Draining);
        }
        match tokio::time::timeout(STORE_PROBE_TIMEOUT, self.store.ping()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(NotReady::StoreUnreachable(error.to_string())),
            Err(_) => Err(NotReady::StoreUnreachable(format!(
                "no answer within {} s",
                STORE_PROBE_TIMEOUT.as_secs()
            ))),
        }
    }

    /// The route, with its state applied, to merge into the API router.
    pub fn router(self) -> Router {
        Router::new()
            .route("/api/v1/ready", get(ready))
            .with_state(self)
    }
}

/// 200 `{"status":"ready"}`, or 503 `{"status":"draining"|"store_unreachable", "detail"}`.
async fn ready(State(readiness): State<Readiness>) -> Response {
    match readiness.check().await {
        Ok(()) => Json(json!({ "status": "ready" })).into_response(),
        Err(NotReady::Draining) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                json!({ "status": "draining", "detail": "shutting down; running calls end here" }),
            ),
        )
            .into_response(),
        Err(NotReady::StoreUnreachable(detail)) => {
            tracing::warn!(%detail, "readiness: store unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "store_unreachable", "detail": detail })),
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shutdown::Shutdown;

    #[tokio::test]
    async fn ready_until_draining_or_the_store_is_gone() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        let shutdown = Shutdown::new();
        let readiness = Readiness::new(store.clone(), shutdown.listener());
        assert_eq!(readiness.check().await, Ok(()));
        store.close().await;
        assert!(matches!(
            readiness.check().await,
            Err(NotReady::StoreUnreachable(_))
        ));
        shutdown.trigger();
        assert_eq!(readiness.check().await, Err(NotReady::Draining));
    }
}
