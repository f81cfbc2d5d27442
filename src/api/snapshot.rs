//! A colleague's presence at an instant: the store's rows turned into the routing core's
//! [`UserState`], and the routing precedence asked who speaks for the user — so the web client
//! shows exactly what a caller would get (an ad hoc absence beats a schedule beats a calendar
//! entry; "keep phone open" is shown but rings).
//!
//! Calendar codes in subjects are the calendar module's to parse; until it exposes a parser,
//! entries route by their busy status alone here.

use chrono::{DateTime, Duration, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;
use serde::Serialize;

use super::error::ApiError;
use super::ApiState;
use crate::domain::{DestinationKind, Origin, Reason};
use crate::presence::Presence;
use crate::routing::precedence::{winner, Effect};
use crate::routing::route::Source;
use crate::routing::{self, UserState};
use crate::store::{self, MinuteOfDay, Organisation, Store, StoreError, User};

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

/// Presence of `user` (of `org`) at `now`; the receptionist note only when `show_note`.
pub async fn presence_of(
    state: &ApiState,
    user: &User,
    org: &Organisation,
    now: DateTime<Utc>,
    show_note: bool,
) -> Result<PresenceView, ApiError> {
    let snapshot = load(&state.store, user, org, now).await?;
    Ok(view(&snapshot, &state.presence, now, show_note))
}

/// The routing state of a user around `now`, with the rows it came from.
pub struct Snapshot {
    /// The routing core's view.
    pub state: UserState,
    /// Stored absences in force (for receptionist notes).
    pub absences: Vec<store::Absence>,
}

/// Loads what routing would see at `now`: absences in force, all schedules, calendar entries
/// overlapping the next day (enough for "until").
pub async fn load(
    store: &Store,
    user: &User,
    org: &Organisation,
    now: DateTime<Utc>,
) -> Result<Snapshot, StoreError> {
    let absences = store
        .absences_overlapping(user.id, now, now + Duration::days(400))
        .await?;
    let schedules = store.schedules(user.id).await?;
    let calendar = store
        .calendar_entries(user.id, now - Duration::days(2), now + Duration::days(2))
        .await?;
    let tz = org.timezone;
    let state = UserState {
        user: routing::User {
            id: user.id.0,
            name: user.profile.name.clone(),
            timezone: tz,
            devices: Vec::new(),
            mobile: None,
            no_answer_timeout: std::time::Duration::from_secs(u64::from(
                user.profile.no_answer_timeout_secs,
            )),
            allow_second_call: user.profile.allow_second_call,
            working_hours: working_hours(&user.profile.working_hours),
        },
        absences: absences.iter().map(absence).collect(),
        schedules: schedules.iter().map(|s| schedule(s, tz)).collect(),
        calendar: calendar.iter().map(calendar_entry).collect(),
        active_calls: 0,
        voicemail: routing::VoicemailSettings::default(),
    };
    Ok(Snapshot { state, absences })
}

/// The presence view of a snapshot at `now`.
pub fn view(
    snapshot: &Snapshot,
    presence: &Presence,
    now: DateTime<Utc>,
    show_note: bool,
) -> PresenceView {
    let active_calls = presence.active_calls(snapshot.state.user.id);
    let Some(w) = winner(&snapshot.state, now) else {
        let status = if active_calls > 0 {
            Status::OnThePhone
        } else {
            Status::Available
        };
        return PresenceView {
            status,
            active_calls,
            absence: None,
        };
    };
    let keep_open = matches!(w.effect, Effect::Open);
    let (source, note) = match w.source {
        Source::Absence(id) => (
            "absence",
            snapshot
                .absences
                .iter()
                .find(|a| a.id.0 == id)
                .and_then(|a| a.data.receptionist_note.clone()),
        ),
        Source::Schedule(_) => ("schedule", None),
        Source::Calendar(_) => ("calendar", None),
    };
    let absence = AbsenceView {
        reason: w.reason,
        until: until(&snapshot.state, now),
        free_text: w.free_text.map(str::to_owned),
        origin: w.origin.clone(),
        keep_phone_open: keep_open,
        source,
        receptionist_note: if show_note { note } else { None },
    };
    // An absence that takes calls away says where the user is; "keep open" rings, so a call in
    // progress is the more useful thing to show (routing rule 5).
    let status = if keep_open && active_calls > 0 {
        Status::OnThePhone
    } else {
        Status::Absent
    };
    PresenceView {
        status,
        active_calls,
        absence: Some(absence),
    }
}

/// When the user is back, as routing tells callers: `back_at` of the voicemail or forward
/// route, or the fallback of a "keep open" ring.
fn until(state: &UserState, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    // A fake device so a keep-open winner yields a Ring with its fallback greeting.
    let mut state = state.clone();
    state.user.devices = vec![routing::Device {
        contact: "sip:presence@invalid".to_owned(),
        kind: routing::DeviceKind::Desk,
    }];
    let route = routing::decide(&state, now, &routing::CallContext::default());
    let status = match route {
        routing::Route::Voicemail(info) | routing::Route::Ring { fallback: info, .. } => {
            info.status
        }
        routing::Route::Forward { absence, .. } => return absence.back_at,
    };
    match status {
        routing::GreetingStatus::Absent { back_at, .. } => back_at,
        _ => None,
    }
}

/// A stored destination as routing's.
pub fn destination(d: &store::Destination) -> routing::Destination {
    match (d.kind, &d.number) {
        (DestinationKind::Number, Some(n)) => routing::Destination::Number(n.clone()),
        (DestinationKind::Open, _) => routing::Destination::Open,
        _ => routing::Destination::Voicemail,
    }
}

fn absence(a: &store::Absence) -> routing::Absence {
    routing::Absence {
        id: a.id.0,
        reason: a.data.reason,
        starts_at: a.data.starts_at,
        ends_at: a.data.ends_at,
        destination: destination(&a.data.destination),
        free_text: a.data.free_text.clone(),
        origin: a.data.origin.clone(),
        set_at: a.updated_at,
    }
}

/// A minute of the day as a time; 24:00 becomes 00:00, which routing reads as "ends at the
/// next midnight" (an end at or before the start crosses midnight).
pub fn time(m: MinuteOfDay) -> NaiveTime {
    let minutes = u32::from(m.minutes()) % (24 * 60);
    NaiveTime::from_hms_opt(minutes / 60, minutes % 60, 0).unwrap_or(NaiveTime::MIN)
}

/// The weekdays of a stored bitmask.
pub fn weekdays(days: store::Weekdays) -> Vec<Weekday> {
    [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ]
    .into_iter()
    .filter(|d| days.contains(*d))
    .collect()
}

/// A stored schedule as routing's, its validity instants read as local dates in `tz`.
pub fn schedule(s: &store::Schedule, tz: Tz) -> routing::Schedule {
    let d = &s.data;
    routing::Schedule {
        id: s.id.0,
        weekdays: weekdays(d.weekdays),
        start: time(d.start),
        end: time(d.end),
        valid_from: d
            .valid_from
            .and_then(|t| routing::local_time::local_date(tz, t)),
        valid_until: d
            .valid_until
            .and_then(|t| routing::local_time::local_date(tz, t)),
        reason: d.reason,
        destination: destination(&d.destination),
        free_text: d.free_text.clone(),
        origin: Origin::Web,
        set_at: DateTime::<Utc>::MIN_UTC,
    }
}

fn calendar_entry(e: &store::CalendarEntry) -> routing::CalendarEntry {
    routing::CalendarEntry {
        id: e.id.0,
        start: e.starts_at,
        end: e.ends_at,
        busy: e.busy_status,
        subject: e.subject.clone(),
        all_day: e.all_day,
        override_code: None,
        origin: e.origin.clone(),
    }
}

fn working_hours(w: &store::WorkingHours) -> routing::WorkingHours {
    let day = Some(routing::WorkingDay {
        start: time(w.start),
        end: time(w.end),
    });
    let mut days = [None; 7];
    for weekday in weekdays(w.days) {
        days[weekday.num_days_from_monday() as usize] = day;
    }
    routing::WorkingHours { days }
}

/// The routing view of a user's working hours (for "gone for today").
pub fn routing_working_hours(w: &store::WorkingHours) -> routing::WorkingHours {
    working_hours(w)
}
