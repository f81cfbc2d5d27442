//! One truth about a user at an instant: what colleagues see (presence, timeline) and what the
//! caller is told (greeting reason and "back at") come from the computation [`decide`] routes
//! with.
//!
//! In the call flow: the B2BUA asks [`decide`] when an INVITE arrives; the HTTP API asks
//! [`presence`] for `GET /api/v1/users/{id}` and the colleagues search, and [`timeline`] for a
//! colleague's timeline. All three start from the same [`UserState`] (loaded once, by
//! `user_state`) and the same [`standing`] — the winner of the precedence at `now`
//! and when the user is back — so a user shown absent is a user whose calls do not ring, unless
//! the absence keeps the phone open, which is shown too.
//!
//! [`decide`]: super::decide

use chrono::{DateTime, Utc};

use super::back_at::back_at;
use super::calendar::CalendarEffect;
use super::precedence::{winner, Effect, Winner};
use super::route::Source;
use super::schedule::occurrences;
use super::state::{Destination, UserState};
use crate::domain::{Origin, Reason};

/// Who speaks for the user at an instant and when they are back: the shared core of routing,
/// presence and the greeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Standing<'a> {
    /// The item in force that decides (rules 1–3 of the precedence).
    pub(crate) winner: Winner<'a>,
    /// When the user is back (rule 4), `None` for "until further notice".
    pub(crate) back_at: Option<DateTime<Utc>>,
}

/// The standing of the user at `now`, or `None` when nothing is in force.
///
/// "Back at" differs by effect: an absence that takes calls away lasts while anything keeps
/// taking them away; a "keep phone open" one lasts while anything at all is in force (its
/// greeting, after an unanswered ring, names the end of the whole absence).
pub(crate) fn standing(state: &UserState, now: DateTime<Utc>) -> Option<Standing<'_>> {
    let winner = winner(state, now)?;
    let back_at = match winner.effect {
        Effect::Open => back_at(state, now, |_| true),
        Effect::Voicemail | Effect::Forward(_) => {
            back_at(state, now, |w| w.effect.takes_calls_away())
        }
    };
    Some(Standing { winner, back_at })
}

/// The summary colleagues see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Nothing in force, not on a call.
    Available,
    /// On a call, and nothing takes calls away.
    OnThePhone,
    /// An absence, schedule occurrence or routing calendar entry is in force.
    Absent,
}

/// What is in force, as shown to colleagues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShownAbsence {
    /// Why: the reason the caller is told too.
    pub reason: Reason,
    /// When the user is back, exactly as the greeting says it; `None` is "until further
    /// notice".
    pub until: Option<DateTime<Utc>>,
    /// Text for colleagues (never a calendar subject: those are on the timeline).
    pub free_text: Option<String>,
    /// `OL`, `WEB` or a receptionist's initials.
    pub origin: Origin,
    /// Shown as absent, but calls still ring.
    pub keep_phone_open: bool,
    /// The number calls are forwarded to, when they are.
    pub forward_to: Option<String>,
    /// Which stored item.
    pub source: Source,
}

/// A user's presence at an instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presence {
    /// The summary.
    pub status: Status,
    /// Calls in progress.
    pub active_calls: u32,
    /// What is in force, if anything.
    pub absence: Option<ShownAbsence>,
}

/// The presence of the user described by `state` at `now`.
pub fn presence(state: &UserState, now: DateTime<Utc>) -> Presence {
    let active_calls = state.active_calls;
    let Some(standing) = standing(state, now) else {
        let status = if active_calls > 0 {
            Status::OnThePhone
        } else {
            Status::Available
        };
        return Presence {
            status,
            active_calls,
            absence: None,
        };
    };
    let w = standing.winner;
    let keep_phone_open = matches!(w.effect, Effect::Open);
    // "Keep open" rings, so a call in progress is the more useful thing to show (routing rule
    // 5); an absence that takes calls away says where the user is.
    let status = if keep_phone_open && active_calls > 0 {
        Status::OnThePhone
    } else {
        Status::Absent
    };
    Presence {
        status,
        active_calls,
        absence: Some(ShownAbsence {
            reason: w.reason,
            until: standing.back_at,
            free_text: w.free_text.map(str::to_owned),
            origin: w.origin.clone(),
            keep_phone_open,
            forward_to: match w.effect {
                Effect::Forward(n) => Some(n.to_owned()),
                Effect::Voicemail | Effect::Open => None,
            },
            source: w.source,
        }),
    }
}

/// One bar of a colleague's timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineItem {
    /// Which stored item (a schedule gives one item per occurrence).
    pub source: Source,
    /// The reason routing announces while the item decides.
    pub reason: Reason,
    /// Start.
    pub from: DateTime<Utc>,
    /// End; `None` is "until further notice".
    pub to: Option<DateTime<Utc>>,
    /// Text for colleagues: free text, or a calendar entry's subject.
    pub text: Option<String>,
    /// Who set it.
    pub origin: Origin,
    /// Shown, but calls still ring while it decides.
    pub keep_phone_open: bool,
}

/// Every item that can speak for the user during `[from, to)`, in start order: absences,
/// schedule occurrences and the calendar entries routing obeys — with the reason and effect
/// routing gives each. Calendar entries that never route (Free, Tentative, Working elsewhere,
/// `[ignore]`) are not absences and are not shown; a `[fwd …]` entry is, whatever its busy
/// status.
pub fn timeline(state: &UserState, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<TimelineItem> {
    let tz = state.user.timezone;
    let mut items = Vec::new();
    for a in &state.absences {
        let overlaps = a.starts_at < to && a.ends_at.is_none_or(|end| end > from);
        if !overlaps || !a.is_well_formed() {
            continue;
        }
        items.push(TimelineItem {
            source: Source::Absence(a.id),
            reason: a.reason,
            from: a.starts_at,
            to: a.ends_at,
            text: a.free_text.clone(),
            origin: a.origin.clone(),
            keep_phone_open: a.destination == Destination::Open,
        });
    }
    for s in &state.schedules {
        for o in occurrences(s, tz, from, to) {
            items.push(TimelineItem {
                source: Source::Schedule(s.id),
                reason: s.reason,
                from: o.start,
                to: Some(o.end),
                text: s.free_text.clone(),
                origin: s.origin.clone(),
                keep_phone_open: s.destination == Destination::Open,
            });
        }
    }
    for e in &state.calendar {
        if !(e.start < to && e.end > from) {
            continue;
        }
        let Some((reason, effect)) = e.routing() else {
            continue;
        };
        items.push(TimelineItem {
            source: Source::Calendar(e.id),
            reason,
            from: e.start,
            to: Some(e.end),
            text: Some(e.subject.clone()),
            origin: e.origin.clone(),
            keep_phone_open: matches!(effect, CalendarEffect::Open),
        });
    }
    items.sort_by_key(|i| (i.from, source_key(i.source)));
    items
}

/// A total order on sources, so the timeline's order never depends on the input's.
fn source_key(s: Source) -> (u8, i64) {
    match s {
        Source::Absence(id) => (0, id),
        Source::Schedule(id) => (1, id),
        Source::Calendar(id) => (2, id),
    }
}
