//! `GET /metrics` in the Prometheus text format (exposition format 0.0.4), for operators
//! running one or several nodes (issue #20).
//!
//! The counters live in one [`Metrics`] that `serve` makes and hands to the parts that count
//! (no global statics: two servers in one test process keep their own), as plain atomics, so
//! counting costs one relaxed add and no client library sits in the call path. What the store
//! already knows (active registrations) is read when scraped instead of being counted twice.
//!
//! Exposed: call history records by outcome, active registrations, SSE clients connected,
//! scrapes answered. Not yet: transactions, RTP sessions and packet loss, voicemail stored or
//! dropped, store latency (README "Running several nodes").

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::StreamExt;

use crate::clock::Clock;
use crate::store::model::{CallData, CallDirection};
use crate::store::Store;

/// The server's counters. Cheap to share (`Arc`).
#[derive(Debug, Default)]
pub struct Metrics {
    answered: AtomicU64,
    missed: AtomicU64,
    voicemail: AtomicU64,
    outgoing: AtomicU64,
    sse_clients: AtomicU64,
    scrapes: AtomicU64,
}

/// Held while an SSE client is connected.
#[derive(Debug)]
pub struct SseGuard(Arc<Metrics>);

impl Drop for SseGuard {
    fn drop(&mut self) {
        self.0.sse_clients.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// Counters at zero.
    pub fn new() -> Arc<Metrics> {
        Arc::default()
    }

    /// One ended call's history record, by outcome: `answered` (incoming, answered),
    /// `voicemail` (incoming, routed to voicemail), `missed` (incoming, neither), `outgoing`.
    /// A call between two users has a record for each, and counts for each.
    pub fn call_recorded(&self, data: &CallData) {
        let counter = match data.direction {
            CallDirection::In => &self.answered,
            CallDirection::Out => &self.outgoing,
            CallDirection::Missed
                if data
                    .route
                    .as_deref()
                    .is_some_and(|r| r.starts_with("voicemail")) =>
            {
                &self.voicemail
            }
            CallDirection::Missed => &self.missed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// An SSE client connected; it counts until the guard drops (the stream closes).
    pub fn sse_connected(self: &Arc<Self>) -> SseGuard {
        self.sse_clients.fetch_add(1, Ordering::Relaxed);
        SseGuard(self.clone())
    }

    /// The exposition text; `registrations` is the store's count of active bindings (`None`
    /// when the store did not answer: the series is left out rather than reported as 0).
    pub fn render(&self, registrations: Option<u64>) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut out = String::new();
        out.push_str(
            "# HELP onestatus_calls_total Ended calls by outcome (one per user's history record).\n\
             # TYPE onestatus_calls_total counter\n",
        );
        for (outcome, counter) in [
            ("answered", &self.answered),
            ("voicemail", &self.voicemail),
            ("missed", &self.missed),
            ("outgoing", &self.outgoing),
        ] {
            let _ = writeln!(
                out,
                "onestatus_calls_total{{outcome=\"{outcome}\"}} {}",
                get(counter)
            );
        }
        if let Some(n) = registrations {
            let _ = write!(
                out,
                "# HELP onestatus_registrations Active registrar bindings in the store.\n\
                 # TYPE onestatus_registrations gauge\nonestatus_registrations {n}\n"
            );
        }
        let _ = write!(
            out,
            "# HELP onestatus_sse_clients Live event streams (GET /api/v1/events) on this node.\n\
             # TYPE onestatus_sse_clients gauge\nonestatus_sse_clients {}\n\
             # HELP onestatus_metrics_scrapes_total Scrapes of this endpoint answered.\n\
             # TYPE onestatus_metrics_scrapes_total counter\nonestatus_metrics_scrapes_total {}\n",
            get(&self.sse_clients),
            get(&self.scrapes),
        );
        out
    }
}

/// What `/metrics` reads.
#[derive(Clone)]
pub struct MetricsState {
    /// The counters.
    pub metrics: Arc<Metrics>,
    /// For the registrations gauge.
    pub store: Store,
    /// For "active" bindings.
    pub clock: Arc<dyn Clock>,
}

/// The `/metrics` route with its state applied.
pub fn router(state: MetricsState) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(state)
}

async fn scrape(State(state): State<MetricsState>) -> Response {
    state.metrics.scrapes.fetch_add(1, Ordering::Relaxed);
    let registrations = state
        .store
        .registrations_active_count(state.clock.now())
        .await
        .ok();
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(registrations),
    )
        .into_response()
}

/// Middleware: counts a `GET /api/v1/events` stream as an SSE client for as long as its body
/// is being sent (the guard rides in the body and drops with it).
pub async fn track_sse(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let is_events = request.uri().path() == "/api/v1/events";
    let response = next.run(request).await;
    if !is_events || !response.status().is_success() {
        return response;
    }
    let guard = metrics.sse_connected();
    let (parts, body) = response.into_parts();
    let body = Body::from_stream(body.into_data_stream().map(move |chunk| {
        let _held = &guard;
        chunk
    }));
    Response::from_parts(parts, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::model::UserId;

    fn record(direction: CallDirection, route: Option<&str>) -> CallData {
        CallData {
            user_id: UserId(1),
            direction,
            other_number: "4512345678".into(),
            other_name: None,
            started_at: chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            answered_at: None,
            ended_at: None,
            route: route.map(str::to_owned),
        }
    }

    #[test]
    fn counts_by_outcome_and_sse_clients_while_connected() {
        let metrics = Metrics::new();
        metrics.call_recorded(&record(CallDirection::In, Some("ring")));
        metrics.call_recorded(&record(CallDirection::Missed, Some("voicemail:busy")));
        metrics.call_recorded(&record(CallDirection::Missed, None));
        metrics.call_recorded(&record(CallDirection::Missed, None));
        let guard = metrics.sse_connected();
        let text = metrics.render(Some(3));
        assert!(
            text.contains("onestatus_calls_total{outcome=\"answered\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("onestatus_calls_total{outcome=\"voicemail\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("onestatus_calls_total{outcome=\"missed\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("onestatus_calls_total{outcome=\"outgoing\"} 0\n"),
            "{text}"
        );
        assert!(text.contains("onestatus_registrations 3\n"), "{text}");
        assert!(text.contains("onestatus_sse_clients 1\n"), "{text}");
        drop(guard);
        let text = metrics.render(None);
        assert!(text.contains("onestatus_sse_clients 0\n"), "{text}");
        assert!(!text.contains("onestatus_registrations"), "{text}");
    }
}
