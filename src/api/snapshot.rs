//! A colleague's presence at an instant, as the web client shows it: the routing core's
//! [`routing::presence`] of the state the call driver routes from (`user_state`), so
//! the web client shows exactly what a caller would get — an ad hoc absence beats a schedule
//! beats a calendar entry, calendar codes count (`[open]` is shown but rings, `[ignore]` is not
//! shown), and "until" is the return time the greeting says.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::error::ApiError;
use super::ApiState;
use crate::domain::{Origin, Reason};
use crate::routing::{self, Source};
use crate::store::User;
use crate::user_state;

/// How the web client shows a colleague.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Nothing in force, not on a call.
    Available,
    /// On a call (and nothing takes calls away).
    OnThePhone,
    /// An absence, schedule or calendar entry is in force.
    Absent,
}

impl From<routing::Status> for Status {
    fn from(s: routing::Status) -> Self {
        match s {
            routing::Status::Available => Status::Available,
            routing::Status::OnThePhone => Status::OnThePhone,
            routing::Status::Absent => Status::Absent,
        }
    }
}

/// The item that makes a colleague absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AbsenceView {
    /// Why.
    pub reason: Reason,
    /// Until when, as the caller is told (the end of the merged chain of busy periods);
    /// `null` is "until further notice".
    pub until: Option<DateTime<Utc>>,
    /// Text for colleagues.
    pub free_text: Option<String>,
    /// `OL`, `WEB` or a receptionist's initials.
    pub origin: Origin,
    /// Shown as absent, but calls still ring.
    pub keep_phone_open: bool,
    /// Where calls are forwarded, when they are.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forward_to: Option<String>,
    /// `absence`, `schedule` or `calendar`.
    pub source: &'static str,
    /// The note only receptionists see (absent for everyone else).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receptionist_note: Option<String>,
}

/// A colleague's presence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PresenceView {
    /// The summary.
    pub status: Status,
    /// Calls in progress.
    pub active_calls: u32,
    /// What is in force, if anything.
    pub absence: Option<AbsenceView>,
}

/// Presence of `user` at `now`; the receptionist note only when `show_note`.
pub async fn presence_of(
    state: &ApiState,
    user: &User,
    now: DateTime<Utc>,
    show_note: bool,
) -> Result<PresenceView, ApiError> {
    let loaded = user_state::load(&state.store, &state.presence, user.clone(), now).await?;
    Ok(view(&loaded, now, show_note))
}

/// The `source` field's word for a stored item.
pub fn source_name(source: Source) -> &'static str {
    match source {
        Source::Absence(_) => "absence",
        Source::Schedule(_) => "schedule",
        Source::Calendar(_) => "calendar",
    }
}

/// The presence view of a loaded user at `now`.
pub fn view(loaded: &user_state::LoadedUser, now: DateTime<Utc>, show_note: bool) -> PresenceView {
    let p = routing::presence(&loaded.state, now);
    let absence = p.absence.map(|a| {
        let note = match a.source {
            Source::Absence(id) if show_note => loaded
                .absences
                .iter()
                .find(|s| s.id.0 == id)
                .and_then(|s| s.data.receptionist_note.clone()),
            _ => None,
        };
        AbsenceView {
            reason: a.reason,
            until: a.until,
            free_text: a.free_text,
            origin: a.origin,
            keep_phone_open: a.keep_phone_open,
            forward_to: a.forward_to,
            source: source_name(a.source),
            receptionist_note: note,
        }
    });
    PresenceView {
        status: p.status.into(),
        active_calls: p.active_calls,
        absence,
    }
}
