//! `GET /metrics` in the Prometheus text format (exposition format 0.0.4), for operators
//! running one or several nodes (issue #20).
//!
//! The counters live in one [`Metrics`] that `serve` makes and hands to the parts that count
//! (no global statics: two servers in one test process keep their own), as plain atomics, so
//! counting costs one relaxed add and no client library sits in the call path. What the store
//! already knows (active registrations) is read when scraped instead of being counted twice.
//!
//! Exposed: call history records by outcome, active registrations, SSE clients connected,
//! scrapes answered; SIP transactions live and started (the SIP task publishes the layer's
//! counts after each turn, two relaxed stores); RTP sessions active (IVR media sessions and
//! anchored-call relays, counted by a guard each holds) and RTP packets lost (the sequence
//! gaps an IVR session saw, RFC 3550 A.3, added when it closes); voicemail messages stored and
//! dropped; and the latency of the store operations on the call path (routing look-up, call
//! history write, voicemail insert) as a histogram with fixed buckets,
//! each observation a few relaxed adds.

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
use crate::domain::model::{CallData, CallDirection};
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
    transactions_live: AtomicU64,
    transactions_started: AtomicU64,
    rtp_sessions: AtomicU64,
    rtp_lost: AtomicU64,
    voicemail_stored: AtomicU64,
    voicemail_dropped: AtomicU64,
    store_latency: [Histogram; StoreOp::ALL.len()],
}

/// A store operation on the call path, timed for `onestatus_store_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOp {
    /// The routing snapshot read for an INVITE.
    Route,
    /// A batch of call history records written.
    History,
    /// A voicemail message inserted.
    Voicemail,
}

impl StoreOp {
    const ALL: [StoreOp; 3] = [StoreOp::Route, StoreOp::History, StoreOp::Voicemail];

    fn label(self) -> &'static str {
        match self {
            StoreOp::Route => "route",
            StoreOp::History => "history",
            StoreOp::Voicemail => "voicemail",
        }
    }
}

/// Upper bounds of the latency buckets, in microseconds (0.5 ms to 2.5 s).
const BUCKETS_MICROS: [u64; 12] = [
    500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000,
];

/// A Prometheus histogram of durations: per-bucket counts (not cumulative: summed when
/// rendered), their sum and count.
#[derive(Debug, Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS_MICROS.len()],
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn observe(&self, elapsed: std::time::Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        if let Some(i) = BUCKETS_MICROS.iter().position(|b| micros <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, label: &str) {
        let mut cumulative = 0;
        for (bound, bucket) in BUCKETS_MICROS.iter().zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{{{label},le=\"{}\"}} {cumulative}",
                *bound as f64 / 1e6
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_bucket{{{label},le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum{{{label}}} {sum}");
        let _ = writeln!(out, "{name}_count{{{label}}} {count}");
    }
}

/// Held while an RTP session (an IVR's media session or an anchored call's relay) is open.
#[derive(Debug)]
pub struct RtpSessionGuard(Arc<Metrics>);

impl Drop for RtpSessionGuard {
    fn drop(&mut self) {
        self.0.rtp_sessions.fetch_sub(1, Ordering::Relaxed);
    }
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

    /// The SIP transaction layer's counts: live now, and started since the server began.
    pub fn set_transactions(&self, live: usize, started: u64) {
        self.transactions_live
            .store(u64::try_from(live).unwrap_or(u64::MAX), Ordering::Relaxed);
        self.transactions_started.store(started, Ordering::Relaxed);
    }

    /// An RTP session opened; it counts until the guard drops.
    pub fn rtp_session_opened(self: &Arc<Self>) -> RtpSessionGuard {
        self.rtp_sessions.fetch_add(1, Ordering::Relaxed);
        RtpSessionGuard(self.clone())
    }

    /// RTP packets a closed session never received (its sequence gaps).
    pub fn rtp_packets_lost(&self, lost: u64) {
        self.rtp_lost.fetch_add(lost, Ordering::Relaxed);
    }

    /// A voicemail message stored.
    pub fn voicemail_stored(&self) {
        self.voicemail_stored.fetch_add(1, Ordering::Relaxed);
    }

    /// A recording that did not become a message (no audio, refused or lost by the store).
    pub fn voicemail_dropped(&self) {
        self.voicemail_dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// One store operation of kind `op` took `elapsed`.
    pub fn store_latency(&self, op: StoreOp, elapsed: std::time::Duration) {
        if let Some(i) = StoreOp::ALL.iter().position(|o| *o == op) {
            self.store_latency[i].observe(elapsed);
        }
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
        let _ = write!(
            out,
            "# HELP onestatus_sip_transactions SIP transactions live on this node.\n\
             # TYPE onestatus_sip_transactions gauge\nonestatus_sip_transactions {}\n\
             # HELP onestatus_sip_transactions_total SIP transactions started on this node.\n\
             # TYPE onestatus_sip_transactions_total counter\nonestatus_sip_transactions_total {}\n\
             # HELP onestatus_rtp_sessions RTP sessions open (IVR media and call relays).\n\
             # TYPE onestatus_rtp_sessions gauge\nonestatus_rtp_sessions {}\n\
             # HELP onestatus_rtp_packets_lost_total RTP packets lost (sequence gaps) in IVR sessions.\n\
             # TYPE onestatus_rtp_packets_lost_total counter\nonestatus_rtp_packets_lost_total {}\n\
             # HELP onestatus_voicemail_total Voicemail recordings by outcome.\n\
             # TYPE onestatus_voicemail_total counter\n\
             onestatus_voicemail_total{{outcome=\"stored\"}} {}\n\
             onestatus_voicemail_total{{outcome=\"dropped\"}} {}\n\
             # HELP onestatus_store_seconds Store operations on the call path, by operation.\n\
             # TYPE onestatus_store_seconds histogram\n",
            get(&self.transactions_live),
            get(&self.transactions_started),
            get(&self.rtp_sessions),
            get(&self.rtp_lost),
            get(&self.voicemail_stored),
            get(&self.voicemail_dropped),
        );
        for (op, histogram) in StoreOp::ALL.iter().zip(&self.store_latency) {
            let label = format!("op=\"{}\"", op.label());
            histogram.render(&mut out, "onestatus_store_seconds", &label);
        }
        out
    }
}

/// Runs `work` (a store operation of kind `op`) and records how long it took, when there
/// are `metrics` to record it in. Drivers only: it reads tokio's monotonic clock.
pub async fn timed<T>(
    metrics: Option<&Metrics>,
    op: StoreOp,
    work: impl std::future::Future<Output = T>,
) -> T {
    let Some(metrics) = metrics else {
        return work.await;
    };
    let started = tokio::time::Instant::now();
    let out = work.await;
    metrics.store_latency(op, started.elapsed());
    out
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
    use crate::domain::model::UserId;

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

    #[test]
    fn transactions_rtp_voicemail_and_store_latency() {
        let metrics = Metrics::new();
        metrics.set_transactions(3, 41);
        let a = metrics.rtp_session_opened();
        let b = metrics.rtp_session_opened();
        drop(a);
        metrics.rtp_packets_lost(7);
        metrics.voicemail_stored();
        metrics.voicemail_stored();
        metrics.voicemail_dropped();
        metrics.store_latency(StoreOp::Route, std::time::Duration::from_micros(800));
        metrics.store_latency(StoreOp::Route, std::time::Duration::from_millis(30));
        metrics.store_latency(StoreOp::Route, std::time::Duration::from_secs(9));
        let text = metrics.render(None);
        for line in [
            "onestatus_sip_transactions 3\n",
            "onestatus_sip_transactions_total 41\n",
            "onestatus_rtp_sessions 1\n",
            "onestatus_rtp_packets_lost_total 7\n",
            "onestatus_voicemail_total{outcome=\"stored\"} 2\n",
            "onestatus_voicemail_total{outcome=\"dropped\"} 1\n",
            "onestatus_store_seconds_bucket{op=\"route\",le=\"0.0005\"} 0\n",
            "onestatus_store_seconds_bucket{op=\"route\",le=\"0.001\"} 1\n",
            "onestatus_store_seconds_bucket{op=\"route\",le=\"0.05\"} 2\n",
            "onestatus_store_seconds_bucket{op=\"route\",le=\"2.5\"} 2\n",
            "onestatus_store_seconds_bucket{op=\"route\",le=\"+Inf\"} 3\n",
            "onestatus_store_seconds_count{op=\"route\"} 3\n",
            "onestatus_store_seconds_count{op=\"history\"} 0\n",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
        assert!(
            text.contains("onestatus_store_seconds_sum{op=\"route\"} 9.0308"),
            "{text}"
        );
        drop(b);
        assert!(metrics.render(None).contains("onestatus_rtp_sessions 0\n"));
    }

    #[test]
    fn the_text_is_well_formed() {
        let text = Metrics::new().render(Some(0));
        for line in text.lines() {
            assert!(
                line.starts_with('#')
                    || line
                        .rsplit_once(' ')
                        .is_some_and(|(_, v)| v.parse::<f64>().is_ok()),
                "{line}"
            );
        }
        assert!(text.contains("onestatus_registrations 0\n"), "{text}");
    }
}
