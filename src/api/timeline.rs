//! A colleague's availability timeline: current (red) and future (blue) absences, weekly
//! schedule occurrences and calendar entries for the next N days (default 7).
//!
//! Every item comes from `routing::timeline` over the state the call driver routes from, so
//! each bar says what routing does while it decides: calendar entries that route (Busy, Out of
//! office, any `[fwd …]`) are shown with the reason of their code (`[frokost]` is lunch,
//! `[ferie]` a holiday) and `[open]` ones as "keep phone open"; Free, Tentative, Working
//! elsewhere and `[ignore]` entries are not absences and are not shown (docs/calendar-codes.md).
//! Receptionist notes only for receptionists.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::auth::Caller;
use super::colleagues::colleague;
use super::error::ApiError;
use super::extract::{ApiPath, QueryParams};
use super::snapshot::source_name;
use super::ApiState;
use crate::domain::{Origin, Reason, Role};
use crate::routing::{self, Source};
use crate::store::UserId;
use crate::user_state;

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
    let now = state.now();
    let to = now + Duration::days(i64::from(days));
    let show_note = caller.user.role == Role::Receptionist;
    // The state the call driver routes from, read for the whole window: each item carries
    // the reason and "keep phone open" routing gives it (calendar codes included).
    let loaded = user_state::load_until(&state.store, &state.presence, user, now, to).await?;
    let mut items: Vec<TimelineItem> = routing::timeline(&loaded.state, now, to)
        .into_iter()
        .map(|item| {
            let note = match item.source {
                Source::Absence(id) if show_note => loaded
                    .absences
                    .iter()
                    .find(|a| a.id.0 == id)
                    .and_then(|a| a.data.receptionist_note.clone()),
                _ => None,
            };
            TimelineItem {
                kind: source_name(item.source),
                id: match item.source {
                    Source::Absence(id) | Source::Schedule(id) | Source::Calendar(id) => id,
                },
                when: if item.from <= now {
                    When::Current
                } else {
                    When::Future
                },
                reason: item.reason,
                from: item.from,
                to: item.to,
                text: item.text,
                origin: item.origin,
                keep_phone_open: item.keep_phone_open,
                receptionist_note: note,
            }
        })
        .collect();
    items.sort_by_key(|i| (i.from, i.id));
    Ok(Json(Timeline {
        user_id: loaded.user.id,
        from: now,
        to,
        items,
    }))
}
