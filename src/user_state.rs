//! Loading a user's [`routing::UserState`] at `now` from the store: the bridge between the
//! store's rows and the routing core's own types (which are kept apart so a schema change
//! cannot silently change a routing rule; see `routing::state`).
//!
//! This is the only loader: the call driver routes from it, and the HTTP API's presence
//! (`GET /api/v1/users/{id}`, the colleagues search) and timeline are computed from the very
//! same state by `routing::presence`, so what colleagues see is what a caller gets.
//!
//! Absences and calendar entries are read from `now` to a horizon far enough ahead for
//! `back_at` to follow a chain of touching periods (RFC 5545-style half-open periods): first
//! one day ahead, which settles almost every call, and [`LOOK_AHEAD_DAYS`] only when the
//! chain may reach past that day ([`routing::back_at::settled_before`]). Active calls come
//! from [`Presence`], which the B2BUA keeps up to date.

use std::time::Duration;

use chrono::{DateTime, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;

use crate::domain::model::{self, Organisation, Registration};
use crate::number;
use crate::presence::Presence;
use crate::routing;
use crate::store::{Store, StoreError};

/// How far ahead absences and calendar entries are read: `back_at` follows a chain of
/// touching periods, and a holiday followed by a conference rarely spans more than this.
pub const LOOK_AHEAD_DAYS: i64 = 60;

/// The first, short read. A user with a meeting every hour has ~10 entries in a day and ~500
/// in 60 days; the rows read are most of a lookup's cost (benches/README.md, "Routing
/// lookup"), and a chain of busy periods that runs past tomorrow is rare.
pub const FIRST_READ_DAYS: i64 = 1;

/// Everything the call driver needs about a callee.
#[derive(Debug, Clone)]
pub struct LoadedUser {
    /// The store's user row.
    pub user: model::User,
    /// Their organisation (timezone, external-forwarding policy).
    pub org: Organisation,
    /// The routing snapshot.
    pub state: routing::UserState,
    /// Active registrations, to resolve a ring target's Contact to an address.
    pub registrations: Vec<Registration>,
    /// The stored absences `state.absences` came from, same order: what only the API shows
    /// (receptionist notes).
    pub absences: Vec<model::Absence>,
}

/// Loads `user`'s routing state at `now`.
pub async fn load(
    store: &Store,
    presence: &Presence,
    user: model::User,
    now: DateTime<Utc>,
) -> Result<LoadedUser, StoreError> {
    let first = now + chrono::Duration::days(FIRST_READ_DAYS);
    let loaded = load_until(store, presence, user, now, first).await?;
    if routing::back_at::settled_before(&loaded.state, now, first) {
        return Ok(loaded);
    }
    let ahead = now + chrono::Duration::days(LOOK_AHEAD_DAYS);
    load_until(store, presence, loaded.user, now, ahead).await
}

/// Loads `user`'s routing state at `now` with the absences and calendar entries that overlap
/// `[now, ahead)`.
pub async fn load_until(
    store: &Store,
    presence: &Presence,
    user: model::User,
    now: DateTime<Utc>,
    ahead: DateTime<Utc>,
) -> Result<LoadedUser, StoreError> {
    // One query for all of it (organisation, absences, schedules, calendar entries, bindings,
    // devices, voicemail settings): seven separate reads cost milliseconds in round trips to
    // the database driver's thread (see `store::routing_snapshot`).
    let snapshot = store
        .routing_snapshot(user.id, user.org_id, now, ahead)
        .await?;
    let org = snapshot.org;
    let tz = org.timezone;
    let absences = snapshot.absences;
    let schedules = snapshot.schedules;
    // The calendar module turns stored entries into routing inputs, with the calendar codes
    // in their subjects parsed ("[open]", "[fwd 4570100002]", ...). Entries overlapping
    // [now, ahead): routing only asks what is in force at or after `now` (precedence and the
    // back-at walk), so an entry that ended before `now` is never read, while one in force
    // since long ago is (a fixed look-behind of 31 days read a month of past meetings on every
    // call and missed a six-week leave that began 40 days ago).
    let plan = number::Plan::for_timezone(tz);
    let mut calendar =
        crate::calendar::routing_entries_from(store, user.id, org.id, snapshot.calendar).await?;
    // `[fwd +45 70 10 00 02]` is Karen's 4570100002: a code's number in the stored form, so
    // routing and the call driver compare it with OneNumbers as they are.
    for entry in &mut calendar {
        if let Some(routing::CalendarOverride::Forward(n)) = &mut entry.override_code {
            *n = normalised(n, &plan);
        }
    }
    let registrations = snapshot.registrations;
    let devices = snapshot.devices;
    let voicemail = snapshot.voicemail;
    let state = routing::UserState {
        user: routing::User {
            id: user.id.0,
            name: user.profile.name.clone(),
            timezone: tz,
            devices: registrations
                .iter()
                .map(|r| routing::Device {
                    contact: r.binding.contact_uri.clone(),
                    kind: match devices
                        .iter()
                        .find(|d| Some(d.id) == r.binding.device_id)
                        .map(|d| d.kind)
                    {
                        Some(model::DeviceKind::Desk) | None => routing::DeviceKind::Desk,
                        Some(model::DeviceKind::Soft | model::DeviceKind::Mobile) => {
                            routing::DeviceKind::Softphone
                        }
                    },
                })
                .collect(),
            mobile: user
                .profile
                .mobile_number
                .as_deref()
                .map(|m| normalised(m, &plan)),
            no_answer_timeout: Duration::from_secs(u64::from(user.profile.no_answer_timeout_secs)),
            allow_second_call: user.profile.allow_second_call,
            working_hours: working_hours(&user.profile.working_hours),
        },
        absences: absences.iter().map(|a| absence(a, &plan)).collect(),
        schedules: schedules.iter().map(|s| schedule(s, tz, &plan)).collect(),
        calendar,
        active_calls: presence.active_calls(user.id.0),
        voicemail: routing::VoicemailSettings {
            allow_messages: voicemail.allow_messages,
        },
    };
    Ok(LoadedUser {
        user,
        org,
        state,
        registrations,
        absences,
    })
}

/// A number in its stored form (`number::normalise`); text that is not a number is kept as
/// it is, and routing's loop guard then refuses to forward to it (voicemail tells the truth).
fn normalised(n: &str, plan: &number::Plan) -> String {
    number::normalise(n, plan).unwrap_or_else(|_| n.trim().to_owned())
}

fn destination(d: &model::Destination, plan: &number::Plan) -> routing::Destination {
    match (d.kind, &d.number) {
        (crate::domain::DestinationKind::Number, Some(n)) if !n.trim().is_empty() => {
            // Rows written before numbers were normalised on the way in.
            routing::Destination::Number(normalised(n, plan))
        }
        (crate::domain::DestinationKind::Open, _) => routing::Destination::Open,
        // A number destination without a number cannot forward: voicemail tells the truth.
        _ => routing::Destination::Voicemail,
    }
}

fn absence(a: &model::Absence, plan: &number::Plan) -> routing::Absence {
    routing::Absence {
        id: a.id.0,
        reason: a.data.reason,
        starts_at: a.data.starts_at,
        ends_at: a.data.ends_at,
        destination: destination(&a.data.destination, plan),
        free_text: a.data.free_text.clone(),
        origin: a.data.origin.clone(),
        set_at: a.updated_at,
    }
}

fn time(m: model::MinuteOfDay) -> NaiveTime {
    let m = u32::from(m.minutes());
    // 1440 (end of day) is midnight; routing reads an end at or before the start as "next day".
    NaiveTime::from_hms_opt((m / 60) % 24, m % 60, 0).unwrap_or(NaiveTime::MIN)
}

const WEEK: [Weekday; 7] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
    Weekday::Sun,
];

fn schedule(s: &model::Schedule, tz: Tz, plan: &number::Plan) -> routing::Schedule {
    let d = &s.data;
    routing::Schedule {
        id: s.id.0,
        weekdays: WEEK
            .into_iter()
            .filter(|w| d.weekdays.contains(*w))
            .collect(),
        start: time(d.start),
        end: time(d.end),
        valid_from: d.valid_from.map(|t| t.with_timezone(&tz).date_naive()),
        valid_until: d.valid_until.map(|t| t.with_timezone(&tz).date_naive()),
        reason: d.reason,
        destination: destination(&d.destination, plan),
        free_text: d.free_text.clone(),
        origin: crate::domain::Origin::Web,
        // The store keeps no edit time for schedules; all tie and the precedence's own order
        // (start, then id) decides — a constant, so the answer never depends on when asked.
        set_at: DateTime::<Utc>::MIN_UTC,
    }
}

/// The routing view of a user's stored working hours (also what "gone for today" is computed
/// from when the user presses it).
pub fn working_hours(w: &model::WorkingHours) -> routing::WorkingHours {
    let day = routing::WorkingDay {
        start: time(w.start),
        end: time(w.end),
    };
    let mut days = [None; 7];
    for (i, weekday) in WEEK.into_iter().enumerate() {
        if w.days.contains(weekday) {
            days[i] = Some(day);
        }
    }
    routing::WorkingHours { days }
}
