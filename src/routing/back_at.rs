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

/// The first instant after `now` at which `still_away` no longer holds for the winner (or
/// nothing is in force), or `None` if that is open-ended or beyond the horizon. `still_away`
/// must hold for the winner at `now`.
pub(crate) fn back_at(
    state: &UserState,
    now: DateTime<Utc>,
    still_away: impl Fn(&Winner<'_>) -> bool,
) -> Option<DateTime<Utc>> {
    let horizon = now.checked_add_signed(Duration::days(HORIZON_DAYS))?;
    let mut t = now;
    for _ in 0..MAX_STEPS {
        // No further boundary: whatever is in force now is open-ended.
        t = next_boundary_after(state, t)?;
        if t > horizon {
            return None;
        }
        match winner(state, t) {
            Some(w) if still_away(&w) => continue,
            _ => return Some(t),
        }
    }
    None
}

/// Whether every route [`decide`](super::decide) can give at `now` depends only on periods
/// that start before `until`: true when the user is available at `now`, or when the chain
/// around what is in force at `now` has a gap (an instant with nothing in force) before
/// `until`.
///
/// Why: the call driver reads absences and calendar entries for a short window first (one
/// day), because most of the cost of a lookup is rows read, and the back-at walk is the only
/// part of routing that looks past `now`. The walk stops at the first boundary where nothing
/// is in force, or earlier; if that boundary is before `until`, a period starting at or after
/// `until` can neither be in force at an instant the walk visits nor add a boundary before
/// it, so the short read gives the very route the long one would. Otherwise (the chain
/// reaches `until`, or an open-ended period is in force) the caller reads the long window.
pub fn settled_before(state: &UserState, now: DateTime<Utc>, until: DateTime<Utc>) -> bool {
    if winner(state, now).is_none() {
        return true;
    }
    let mut t = now;
    for _ in 0..MAX_STEPS {
        match next_boundary_after(state, t) {
            Some(next) if next < until => t = next,
            // The chain reaches `until`, or nothing ends what is in force in this state.
            _ => return false,
        }
        if winner(state, t).is_none() {
            return true;
        }
    }
    false
}
