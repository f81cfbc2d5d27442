//! Live status for the web client: Server-Sent Events (WHATWG HTML §9.2) from the presence bus,
//! so the client never polls.
//!
//! Each stream starts with a `ready` event, then carries `calls` and `availability` events of
//! colleagues in the caller's organisation (never another organisation's) and `voicemail`
//! events of the caller's own mailbox only (others' counts are private). A subscriber too slow
//! to keep up gets a `resync` event and should re-read the state. A comment line is sent every
//! 15 seconds so proxies do not close an idle stream.
//!
//! Streams are capped per user and in all (`[security] sse_per_user`, `sse_total`,
//! [`super::limits::SseLimits`]): beyond either, 429 with a JSON error and `Retry-After`.

use std::collections::HashSet;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::IntoResponse;
use futures_util::stream::{self, Stream, StreamExt};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::broadcast::Receiver;

use super::auth::Caller;
use super::error::ApiError;
use super::ApiState;
use crate::presence::PresenceEvent;
use crate::store::{OrgId, Store, UserId};

/// What a stream needs between events.
struct Subscription {
    events: Receiver<PresenceEvent>,
    store: Store,
    me: UserId,
    org: OrgId,
    /// Users known to be in the organisation; others are looked up once and remembered as
    /// outsiders, both sets bounded by the number of users.
    colleagues: HashSet<i64>,
    outsiders: HashSet<i64>,
    /// This stream's place under the caps, given back when the stream is dropped.
    _ticket: super::limits::SseTicket,
}

/// Outsiders remembered at most; beyond it lookups simply repeat.
const MAX_OUTSIDERS: usize = 100_000;

impl Subscription {
    async fn in_org(&mut self, user_id: i64) -> bool {
        if self.colleagues.contains(&user_id) {
            return true;
        }
        if self.outsiders.contains(&user_id) {
            return false;
        }
        match self.store.user(UserId(user_id)).await {
            Ok(u) if u.org_id == self.org => {
                self.colleagues.insert(user_id);
                true
            }
            Ok(_) => {
                if self.outsiders.len() < MAX_OUTSIDERS {
                    self.outsiders.insert(user_id);
                }
                false
            }
            Err(_) => false,
        }
    }

    /// The SSE event for `event`, if this subscriber may see it.
    async fn filter(&mut self, event: PresenceEvent) -> Option<Event> {
        let (name, user_id) = match &event {
            PresenceEvent::Calls { user_id, .. } => ("calls", *user_id),
            PresenceEvent::Ringing { user_id } => ("ringing", *user_id),
            PresenceEvent::Availability { user_id } => ("availability", *user_id),
            PresenceEvent::Voicemail { user_id, .. } => {
                if *user_id != self.me.0 {
                    return None;
                }
                ("voicemail", *user_id)
            }
        };
        if !self.in_org(user_id).await {
            return None;
        }
        Event::default().event(name).json_data(&event).ok()
    }
}

/// `GET /api/v1/events`.
pub async fn stream(
    State(state): State<ApiState>,
    caller: Caller,
) -> Result<axum::response::Response, ApiError> {
    let ticket = match state.security.sse.acquire(caller.user.id) {
        Ok(ticket) => ticket,
        Err(refused) => return Ok(too_many_streams(refused)),
    };
    Ok(open(state, caller, ticket).await?.into_response())
}

/// The 429 for a stream over the caps (RFC 6585 §4), in the API's error shape.
fn too_many_streams(refused: super::limits::SseRefused) -> axum::response::Response {
    let message = match refused {
        super::limits::SseRefused::PerUser => "too many live-event streams open for this user",
        super::limits::SseRefused::Total => "too many live-event streams open on the server",
    };
    let body = serde_json::json!({
        "error": { "code": "too_many_streams", "message": message, "field": null }
    });
    (
        axum::http::StatusCode::TOO_MANY_REQUESTS,
        [(axum::http::header::RETRY_AFTER, "30")],
        axum::Json(body),
    )
        .into_response()
}

async fn open(
    state: ApiState,
    caller: Caller,
    ticket: super::limits::SseTicket,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    // Subscribe first, so nothing that happens while the organisation is loaded is lost.
    let events = state.presence.subscribe();
    let colleagues = state
        .store
        .users_in_org(caller.user.org_id)
        .await?
        .into_iter()
        .map(|u| u.id.0)
        .collect();
    let subscription = Subscription {
        events,
        store: state.store.clone(),
        me: caller.user.id,
        org: caller.user.org_id,
        colleagues,
        outsiders: HashSet::new(),
        _ticket: ticket,
    };
    let ready = Event::default()
        .event("ready")
        .json_data(serde_json::json!({ "user_id": caller.user.id }))
        .unwrap_or_else(|_| Event::default().event("ready"));
    let updates = stream::unfold(subscription, |mut sub| async move {
        loop {
            match sub.events.recv().await {
                Ok(event) => {
                    if let Some(e) = sub.filter(event).await {
                        return Some((Ok(e), sub));
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    let e = Event::default().event("resync").data(missed.to_string());
                    return Some((Ok(e), sub));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    });
    let all = stream::once(async move { Ok(ready) }).chain(updates);
    Ok(Sse::new(all).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
