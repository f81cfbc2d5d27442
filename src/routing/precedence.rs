//! Which absence, schedule occurrence or calendar entry speaks for the user at an instant
//! (rules 1–3 of the precedence in [`routing`](super)).
//!
//! Tiers are tried in order — ad hoc absences, then schedules, then calendar entries — and the
//! first tier with anything in force decides, even when what it says is "keep the phone open":
//! an ad hoc absence is the user telling us where they are *now*, which beats a recurring rule,
//! which beats a copy of Outlook.
//!
//! Within a tier:
//! - absences and schedules: the most recently set (`set_at`) wins; ties go to the later start,
//!   then the higher id, so the choice never depends on the order of the input;
//! - calendar entries have no `set_at`. An entry that takes calls away (voicemail, forward)
//!   beats one that keeps the phone open — a meeting inside a day marked "keep open" still
//!   means the user is in the meeting; among equals the entry that started last wins (the
//!   meeting inside the all-day out-of-office is the more specific), then the one ending first,
//!   then the higher id.

use chrono::{DateTime, Utc};

use super::calendar::CalendarEffect;
use super::route::Source;
use super::state::{Destination, UserState};
use crate::domain::{Origin, Reason};

/// Where calls go while the winning item is in force, borrowed from the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect<'a> {
    /// To voicemail.
    Voicemail,
    /// Forward to this number.
    Forward(&'a str),
    /// Shown as absent, but ring the user.
    Open,
}

impl<'a> Effect<'a> {
    fn of_destination(destination: &'a Destination) -> Self {
        match destination {
            Destination::Voicemail => Effect::Voicemail,
            Destination::Number(n) => Effect::Forward(n),
            Destination::Open => Effect::Open,
        }
    }

    /// Whether the user cannot be reached on their own phones while this is in force.
    pub(crate) fn takes_calls_away(self) -> bool {
        !matches!(self, Effect::Open)
    }
}

/// The item that speaks for the user at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Winner<'a> {
    /// Why the user is away.
    pub(crate) reason: Reason,
    /// Where calls go.
    pub(crate) effect: Effect<'a>,
    /// Text for colleagues (never a calendar subject).
    pub(crate) free_text: Option<&'a str>,
    /// Who set it.
    pub(crate) origin: &'a Origin,
    /// Which stored item it is.
    pub(crate) source: Source,
}

/// The winner at `at`, or `None` when nothing is in force and the user is simply available.
pub(crate) fn winner(state: &UserState, at: DateTime<Utc>) -> Option<Winner<'_>> {
    absence_winner(state, at)
        .or_else(|| schedule_winner(state, at))
        .or_else(|| calendar_winner(state, at))
}

fn absence_winner(state: &UserState, at: DateTime<Utc>) -> Option<Winner<'_>> {
    let absence = state
        .absences
        .iter()
        .filter(|a| a.is_in_force(at))
        .max_by_key(|a| (a.set_at, a.starts_at, a.id))?;
    Some(Winner {
        reason: absence.reason,
        effect: Effect::of_destination(&absence.destination),
        free_text: absence.free_text.as_deref(),
        origin: &absence.origin,
        source: Source::Absence(absence.id),
    })
}

fn schedule_winner(state: &UserState, at: DateTime<Utc>) -> Option<Winner<'_>> {
    let tz = state.user.timezone;
    let (schedule, _) = state
        .schedules
        .iter()
        .filter_map(|s| s.occurrence_at(at, tz).map(|o| (s, o)))
        .max_by_key(|(s, o)| (s.set_at, o.start, s.id))?;
    Some(Winner {
        reason: schedule.reason,
        effect: Effect::of_destination(&schedule.destination),
        free_text: schedule.free_text.as_deref(),
        origin: &schedule.origin,
        source: Source::Schedule(schedule.id),
    })
}

fn calendar_winner(state: &UserState, at: DateTime<Utc>) -> Option<Winner<'_>> {
    let (entry, reason, effect) = state
        .calendar
        .iter()
        .filter(|e| e.is_in_force(at))
        .filter_map(|e| e.routing().map(|(reason, effect)| (e, reason, effect)))
        .max_by_key(|(e, _, effect)| {
            let takes_away = !matches!(effect, CalendarEffect::Open);
            (takes_away, e.start, std::cmp::Reverse(e.end), e.id)
        })?;
    Some(Winner {
        reason,
        effect: match effect {
            CalendarEffect::Voicemail => Effect::Voicemail,
            CalendarEffect::Forward(n) => Effect::Forward(n),
            CalendarEffect::Open => Effect::Open,
        },
        // Subjects are shown to colleagues, never read to callers.
        free_text: None,
        origin: &entry.origin,
        source: Source::Calendar(entry.id),
    })
}

/// The first instant after `t` at which anything in the state comes into or goes out of force:
/// between two such instants the winner cannot change.
pub(crate) fn next_boundary_after(state: &UserState, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let tz = state.user.timezone;
    let absences = state
        .absences
        .iter()
        .filter_map(|a| a.next_boundary_after(t));
    let schedules = state
        .schedules
        .iter()
        .filter_map(|s| s.next_boundary_after(t, tz));
    let calendar = state
        .calendar
        .iter()
        .filter(|e| e.routing().is_some())
        .filter_map(|e| e.next_boundary_after(t));
    absences.chain(schedules).chain(calendar).min()
}
