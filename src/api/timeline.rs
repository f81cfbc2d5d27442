//! A colleague's availability timeline: current (red) and future (blue) absences, weekly
//! schedule occurrences and calendar entries for the next N days (default 7).
//!
//! Calendar entries follow the product rule: Busy and Out of office are shown, Free and
//! Tentative are not (WorkingElsewhere is shown too — the phone stays open, but colleagues
//! see where the user is). Receptionist notes only for receptionists.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::auth::Caller;
use super::colleagues::colleague;
use super::error::ApiError;
use super::extract::{ApiPath, QueryParams};
use super::snapshot::schedule as routing_schedule;
use super::ApiState;
use crate::domain::{BusyStatus, DestinationKind, Origin, Reason, Role};
use crate::routing::schedule::occurrences;
use crate::store::UserId;

/// Days ahead at most.
const MAX_DAYS: u32 = 60;

/// Whether an item is in force now or still to come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum When {
    /// In force now (shown red).
    Current,
    /// Starts later (shown blue).
    Future,
}

/// One bar of the timeline.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineItem {
    /// `absence`, `schedule` or `calendar`.
    pub kind: &'static str,
    /// The stored id (absence, schedule or calendar entry).
    pub id: i64,
    /// Current or future.
    pub when: When,
    /// Why.
    pub reason: Reason,
    /// Start.
    pub from: DateTime<Utc>,
    /// End; `null` = until further notice.
    pub to: Option<DateTime<Utc>>,
    /// Text for colleagues (for calendar entries: the subject).
    pub text: Option<String>,
    /// `OL`, `WEB` or initials.
    pub origin: Origin,
    /// Shown, but calls still ring.
    pub keep_phone_open: bool,
    /// Receptionists only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receptionist_note: Option<String>,
}

/// Answer of the timeline endpoint.
#[derive(Debug, Serialize)]
pub struct Timeline {
    /// Whose.
    pub user_id: UserId,
    /// Window start (now).
    pub from: DateTime<Utc>,
    /// Window end.
    pub to: DateTime<Utc>,
    /// By start.
    pub items: Vec<TimelineItem>,
}

/// `GET /api/v1/users/{id}/timeline?days=7`.
pub async fn show(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    query: QueryParams,
) -> Result<Json<Timeline>, ApiError> {
    query.only(&["days"])?;
    let days = query.parsed::<u32>("days")?.unwrap_or(7);
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(ApiError::invalid("days", format!("1 to {MAX_DAYS}")));
    }
    let user = colleague(&state, &caller, UserId(id)).await?;
    let org = state.store.org(user.org_id).await?;
    let now = state.now();
    let to = now + Duration::days(i64::from(days));
    let when = |start: DateTime<Utc>| {
        if start <= now {
            When::Current
        } else {
            When::Future
        }
    };
    let show_note = caller.user.role == Role::Receptionist;
    let mut items = Vec::new();
    for a in state.store.absences_overlapping(user.id, now, to).await? {
        items.push(TimelineItem {
            kind: "absence",
            id: a.id.0,
            when: when(a.data.starts_at),
            reason: a.data.reason,
            from: a.data.starts_at,
            to: a.data.ends_at,
            text: a.data.free_text,
            origin: a.data.origin,
            keep_phone_open: a.data.destination.kind == DestinationKind::Open,
            receptionist_note: a.data.receptionist_note.filter(|_| show_note),
        });
    }
    for s in state.store.schedules(user.id).await? {
        let rs = routing_schedule(&s, org.timezone);
        for o in occurrences(&rs, org.timezone, now, to) {
            items.push(TimelineItem {
                kind: "schedule",
                id: s.id.0,
                when: when(o.start),
                reason: s.data.reason,
                from: o.start,
                to: Some(o.end),
                text: s.data.free_text.clone(),
                origin: Origin::Web,
                keep_phone_open: s.data.destination.kind == DestinationKind::Open,
                receptionist_note: None,
            });
        }
    }
    for e in state.store.calendar_entries(user.id, now, to).await? {
        let (reason, keep_open) = match e.busy_status {
            BusyStatus::Free | BusyStatus::Tentative => continue,
            BusyStatus::Busy => (Reason::Meeting, false),
            BusyStatus::OutOfOffice => (Reason::OutOfOffice, false),
            BusyStatus::WorkingElsewhere => (Reason::Custom, true),
        };
        items.push(TimelineItem {
            kind: "calendar",
            id: e.id.0,
            when: when(e.starts_at),
            reason,
            from: e.starts_at,
            to: Some(e.ends_at),
            text: Some(e.subject),
            origin: e.origin,
            keep_phone_open: keep_open,
            receptionist_note: None,
        });
    }
    items.sort_by_key(|i| (i.from, i.id));
    Ok(Json(Timeline {
        user_id: user.id,
        from: now,
        to,
        items,
    }))
}
