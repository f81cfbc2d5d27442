//! "… and will be back at 14:30": when the user is *really* back (rule 4 of the precedence in
//! [`routing`](super)).
//!
//! Telling the caller the end of the one entry in force would often be a lie: lunch until 12:30
//! followed by a meeting 12:30–14:00 means the user is back at 14:00. The answer is the end of
//! the merged chain of overlapping or touching busy periods — absences, schedule occurrences
//! and routing calendar entries — around the one in force.
//!
//! We compute that chain with the same precedence `decide` uses, by walking forward from `now`
//! over the instants where anything starts or ends and stopping at the first instant at which
//! the user is no longer away. When every period takes calls away, this is exactly the end of
//! the merged chain; it differs only where precedence hides a busy period — e.g. the user set
//! an ad hoc "keep my phone open" absence over a calendar meeting, and is then reachable (and
//! so back) at the start of that meeting.
//!
//! A return that falls outside the user's working hours is said as the start of their next
//! working day (see [`working_time`](super::working_time)): a meeting until 16:00 with work
//! 08–16 is "back tomorrow at eight", a holiday ending with a Friday "back on Monday at
//! eight". If the user is still away at that start (a meeting at 08:00), the walk goes on.
//!
//! An open-ended period in the chain ("until further notice") gives `None`; so does a chain
//! longer than [`HORIZON_DAYS`] or [`MAX_STEPS`] boundaries (in practice a schedule that
//! covers every hour), which the greeting says as "is not available until further notice".

use chrono::{DateTime, Duration, Utc};

use super::precedence::{next_boundary_after, winner, Winner};
use super::state::UserState;

/// How far ahead a return is still announced as a time; beyond it the user is away "until
/// further notice". A little over a year covers the longest parental leave entered as dates.
pub const HORIZON_DAYS: i64 = 400;

/// How many start/end instants the walk may pass before giving up, so a pathological state
/// cannot make routing slow. A user away for a month with two daily schedules passes ~120.
pub const MAX_STEPS: usize = 2_000;

/// How many times the return may be moved to a working start and the walk resumed (a return
/// after work moved to the next morning, where a meeting keeps the user away, ...). Each move
/// passes at least one working day, so this bounds the search to about two weeks of working
/// days before the plain end is said.
pub const MAX_MOVES: usize = 16;

/// When the user is back, as a person would say it: the first instant after `now` at which
/// `still_away` no longer holds for the winner (or nothing is in force) — moved to the start of
/// the next working day when it falls outside the user's working hours, and walked on from
/// there if the user is still away then. `None` if that is open-ended or beyond the horizon.
/// `still_away` must hold for the winner at `now`.
///
/// A user without working hours keeps the plain end (nothing to move it to).
pub(crate) fn back_at(
    state: &UserState,
    now: DateTime<Utc>,
    still_away: impl Fn(&Winner<'_>) -> bool,
) -> Option<DateTime<Utc>> {
    // Without a limit nothing is ever beyond it: the error cannot occur.
    back_at_within(state, now, &still_away, None).unwrap_or_default()
}

/// The computation needed an instant at or after the end of what was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BeyondRead;

/// [`back_at`], failing with [`BeyondRead`] as soon as it would look at an instant at or after
/// `read_until` (or find no further boundary, which a longer read might have): a state read
/// up to `read_until` then gives exactly the answer of a longer read.
fn back_at_within(
    state: &UserState,
    now: DateTime<Utc>,
    still_away: &impl Fn(&Winner<'_>) -> bool,
    read_until: Option<DateTime<Utc>>,
) -> Result<Option<DateTime<Utc>>, BeyondRead> {
    let Some(horizon) = now.checked_add_signed(Duration::days(HORIZON_DAYS)) else {
        return Ok(None);
    };
    let seen = |t: DateTime<Utc>| match read_until {
        Some(limit) if t >= limit => Err(BeyondRead),
        _ => Ok(t),
    };
    let hours = &state.user.working_hours;
    let tz = state.user.timezone;
    let mut from = now;
    for _ in 0..=MAX_MOVES {
        // The plain end: walk the boundaries while the user is still away.
        let mut end = None;
        let mut t = from;
        for _ in 0..MAX_STEPS {
            let Some(next) = next_boundary_after(state, t) else {
                // Open-ended in this read; a longer one might hold a later boundary.
                read_until.map_or(Ok(()), |_| Err(BeyondRead))?;
                return Ok(None);
            };
            t = seen(next)?;
            if t > horizon {
                return Ok(None);
            }
            match winner(state, t) {
                Some(w) if still_away(&w) => continue,
                _ => {
                    end = Some(t);
                    break;
                }
            }
        }
        let Some(end) = end else {
            return Ok(None);
        };
        // Said as a person would: after work is the next working start.
        let at_work = hours.back_to_work(end, tz);
        if at_work == end || at_work > horizon {
            return Ok(Some(end));
        }
        match winner(state, seen(at_work)?) {
            Some(w) if still_away(&w) => from = at_work,
            _ => return Ok(Some(at_work)),
        }
    }
    Ok(None)
}

/// Whether every route [`decide`](super::decide) can give at `now` depends only on periods
/// that start before `until`: true when the user is available at `now`, or when working out
/// when they are back looks at no instant at or after `until`.
///
/// Why: the call driver reads absences and calendar entries for a short window first (one
/// day), because most of the cost of a lookup is rows read, and "back at" is the only part of
/// routing that looks past `now`. A period starting at or after `until` can neither be in force
/// at an instant before `until` nor add a boundary before it, so if the computation of "back
/// at" (the walk, and the move to a working start) only asks about instants before `until`, the
/// short read gives the very route the long one would. Otherwise the caller reads the long
/// window.
pub fn settled_before(state: &UserState, now: DateTime<Utc>, until: DateTime<Utc>) -> bool {
    let Some(w) = winner(state, now) else {
        return true;
    };
    let result = if w.effect.takes_calls_away() {
        back_at_within(
            state,
            now,
            &|w: &Winner<'_>| w.effect.takes_calls_away(),
            Some(until),
        )
    } else {
        back_at_within(state, now, &|_: &Winner<'_>| true, Some(until))
    };
    result.is_ok()
}
