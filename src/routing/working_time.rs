//! The user's working time as instants: which shift is running, and when the next one starts.
//!
//! Return times are said the way a colleague would say them: someone whose absence ends after
//! the working day (a meeting until 16:00 with work 08–16, "gone for today", a holiday ending
//! on a Friday) is back at the start of their next working day, not at 16:00 or at midnight on
//! Saturday. [`back_at`](super::back_at) uses [`WorkingHours::back_to_work`] for that, and the
//! "gone for today" quick forward ([`quick_forward`](super::quick_forward)) ends at
//! [`WorkingHours::next_start_after`] the current day's work.
//!
//! Working hours are local times in the user's zone, resolved to instants across DST as
//! everywhere in routing (RFC 5545 §3.3.5, see [`local_time`](super::local_time)). Shifts are
//! half-open, `[start, end)`: a return at exactly the end of work is after work.

use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};
use chrono_tz::Tz;

use super::local_time::{local_date, to_utc};
use super::state::WorkingHours;

/// How many days ahead a next working start is looked for: a week covers any weekly pattern,
/// plus one day for a night shift that begins on the last day.
const SEARCH_DAYS: u64 = 8;

impl WorkingHours {
    /// Whether the user has any working day at all; without one, times are not moved.
    pub fn has_any(&self) -> bool {
        self.days.iter().any(Option::is_some)
    }

    /// The shift that starts on local `date`, as instants; `None` on a day off (or where the
    /// local times cannot be placed). An end at or before the start ends the next day.
    pub fn shift_on(&self, date: NaiveDate, tz: Tz) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let day = self.on(date.weekday())?;
        let end_date = if day.end <= day.start {
            date.succ_opt()?
        } else {
            date
        };
        let start = to_utc(tz, date.and_time(day.start))?;
        let end = to_utc(tz, end_date.and_time(day.end))?;
        (end > start).then_some((start, end))
    }

    /// The shift running at `t` (yesterday's night shift or today's), if any.
    pub fn shift_at(&self, t: DateTime<Utc>, tz: Tz) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let today = local_date(tz, t)?;
        [today.pred_opt(), Some(today)]
            .into_iter()
            .flatten()
            .filter_map(|d| self.shift_on(d, tz))
            .find(|(start, end)| *start <= t && t < *end)
    }

    /// The first shift start strictly after `t`, within [`SEARCH_DAYS`].
    pub fn next_start_after(&self, t: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        let today = local_date(tz, t)?;
        (0..=SEARCH_DAYS)
            .filter_map(|ahead| today.checked_add_days(Days::new(ahead)))
            .filter_map(|d| self.shift_on(d, tz))
            .map(|(start, _)| start)
            .find(|start| *start > t)
    }

    /// When someone whose absence ends at `t` is back at work: `t` itself during a shift (or
    /// for a user without working hours), otherwise the start of the next shift.
    pub fn back_to_work(&self, t: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
        if !self.has_any() || self.shift_at(t, tz).is_some() {
            return t;
        }
        self.next_start_after(t, tz).unwrap_or(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::state::WorkingDay;
    use chrono::{NaiveTime, TimeZone};
    use chrono_tz::Europe::Copenhagen;

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    fn time(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    fn office() -> WorkingHours {
        WorkingHours::weekdays(time(8, 0), time(16, 0))
    }

    #[test]
    fn during_work_the_time_stands() {
        // Tuesday 2026-01-13 11:00 CET.
        let t = utc(2026, 1, 13, 10, 0);
        assert_eq!(office().back_to_work(t, Copenhagen), t);
        // The start of a shift is at work.
        let start = utc(2026, 1, 13, 7, 0);
        assert_eq!(office().back_to_work(start, Copenhagen), start);
    }

    #[test]
    fn after_work_is_the_next_morning_and_friday_evening_is_monday() {
        // Tuesday 16:00 CET (the end of work) → Wednesday 08:00.
        assert_eq!(
            office().back_to_work(utc(2026, 1, 13, 15, 0), Copenhagen),
            utc(2026, 1, 14, 7, 0)
        );
        // Saturday 00:00 (an all-day entry ending with Friday) → Monday 08:00.
        assert_eq!(
            office().back_to_work(utc(2026, 1, 16, 23, 0), Copenhagen),
            utc(2026, 1, 19, 7, 0)
        );
        // Early morning → the same day's start.
        assert_eq!(
            office().back_to_work(utc(2026, 1, 14, 5, 0), Copenhagen),
            utc(2026, 1, 14, 7, 0)
        );
    }

    #[test]
    fn working_start_is_local_across_dst() {
        // Friday 27 March 2026 after work (CET) → Monday 30 March 08:00 CEST = 06:00 UTC.
        assert_eq!(
            office().back_to_work(utc(2026, 3, 27, 16, 0), Copenhagen),
            utc(2026, 3, 30, 6, 0)
        );
        // Friday 23 October (CEST) → Monday 26 October 08:00 CET = 07:00 UTC.
        assert_eq!(
            office().back_to_work(utc(2026, 10, 23, 15, 0), Copenhagen),
            utc(2026, 10, 26, 7, 0)
        );
    }

    #[test]
    fn night_shift_and_no_working_hours() {
        let night = WorkingHours {
            days: [Some(WorkingDay {
                start: time(22, 0),
                end: time(6, 0),
            }); 7],
        };
        // 03:00 is inside the shift that began at 22:00.
        let t = utc(2026, 1, 14, 2, 0);
        assert_eq!(night.back_to_work(t, Copenhagen), t);
        // 12:00 → 22:00 the same day.
        assert_eq!(
            night.back_to_work(utc(2026, 1, 14, 11, 0), Copenhagen),
            utc(2026, 1, 14, 21, 0)
        );
        let none = WorkingHours::default();
        assert_eq!(none.back_to_work(t, Copenhagen), t);
        assert!(!none.has_any());
    }
}
