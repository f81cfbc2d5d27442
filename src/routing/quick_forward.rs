//! The five default quick forwards of the web client ("Hurtige viderestillinger": Frokost ½
//! time, Pause 5 minutter, Gået for i dag, Møde 1 time, Møde 2 timer): the period each one
//! sets, from the instant the user presses it.
//!
//! "Gone for today" is the only one that depends on the clock on the wall:
//! - during (or before) today's working hours it lasts until today's end of work, local time;
//! - when today's work is already over, or today is a day off, it lasts until the *start* of
//!   the next working day — pressed on Friday at 17:00 with Monday–Friday 8–16 it ends Monday at
//!   08:00, so callers hear "back on Monday at 08:00", which is the truth (ending it "now" would
//!   make the button do nothing);
//! - a night shift that began yesterday and is still running counts as today's work;
//! - with no working hours at all it lasts until the next local midnight.
//!
//! Local times are resolved to instants as everywhere in routing (RFC 5545 §3.3.5, see
//! [`local_time`](super::local_time)).

use chrono::{DateTime, Datelike, Days, Duration, NaiveDate, Utc};
use chrono_tz::Tz;

use super::local_time::{local_date, to_utc};
use super::state::{WorkingDay, WorkingHours};
use crate::domain::Reason;

/// One of the five default quick forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuickForward {
    /// Lunch, half an hour.
    Lunch,
    /// A short break, five minutes.
    Break,
    /// Gone for the rest of the working day.
    GoneForToday,
    /// A one-hour meeting.
    Meeting1h,
    /// A two-hour meeting.
    Meeting2h,
}

impl QuickForward {
    /// The defaults in the order the web client shows them.
    pub const ALL: [QuickForward; 5] = [
        QuickForward::Lunch,
        QuickForward::Break,
        QuickForward::GoneForToday,
        QuickForward::Meeting1h,
        QuickForward::Meeting2h,
    ];

    /// The absence reason the quick forward sets.
    pub fn reason(self) -> Reason {
        match self {
            QuickForward::Lunch => Reason::Lunch,
            QuickForward::Break => Reason::Break,
            QuickForward::GoneForToday => Reason::GoneForToday,
            QuickForward::Meeting1h | QuickForward::Meeting2h => Reason::Meeting,
        }
    }
}

/// The period a quick forward pressed at `now` sets: it starts at once, and ends as described
/// in the module doc. The end is an `Option` like every absence's, though the five defaults
/// always have one.
pub fn quick_forward_period(
    kind: QuickForward,
    now: DateTime<Utc>,
    hours: &WorkingHours,
    tz: Tz,
) -> (DateTime<Utc>, Option<DateTime<Utc>>) {
    let fixed = |d: Duration| now.checked_add_signed(d);
    let end = match kind {
        QuickForward::Lunch => fixed(Duration::minutes(30)),
        QuickForward::Break => fixed(Duration::minutes(5)),
        QuickForward::Meeting1h => fixed(Duration::hours(1)),
        QuickForward::Meeting2h => fixed(Duration::hours(2)),
        QuickForward::GoneForToday => gone_for_today_end(now, hours, tz),
    };
    (now, end)
}

/// The span of the working day starting on local `date`, as instants.
fn shift(date: NaiveDate, day: WorkingDay, tz: Tz) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let end_date = if day.end <= day.start {
        date.succ_opt()?
    } else {
        date
    };
    let start = to_utc(tz, date.and_time(day.start))?;
    let end = to_utc(tz, end_date.and_time(day.end))?;
    (end > start).then_some((start, end))
}

fn gone_for_today_end(now: DateTime<Utc>, hours: &WorkingHours, tz: Tz) -> Option<DateTime<Utc>> {
    let today = local_date(tz, now)?;
    let shift_on = |date: NaiveDate| {
        hours
            .on(date.weekday())
            .and_then(|day| shift(date, day, tz))
    };
    // A shift still running (yesterday's night shift, or today's) or still to come today ends
    // today's work.
    let yesterday = today
        .pred_opt()
        .and_then(shift_on)
        .filter(|(_, end)| *end > now);
    let this_day = shift_on(today).filter(|(_, end)| *end > now);
    if let Some((_, end)) = yesterday.or(this_day) {
        return Some(end);
    }
    // Work is over for today: back at the start of the next working day within a week.
    let next = (1..=7u64)
        .filter_map(|ahead| today.checked_add_days(Days::new(ahead)))
        .filter_map(shift_on)
        .map(|(start, _)| start)
        .find(|start| *start > now);
    next.or_else(|| {
        today
            .succ_opt()
            .and_then(|tomorrow| to_utc(tz, tomorrow.and_time(chrono::NaiveTime::MIN)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveTime, TimeZone};
    use chrono_tz::Europe::Copenhagen;

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    fn office() -> WorkingHours {
        WorkingHours::weekdays(
            NaiveTime::from_hms_opt(8, 0, 0).unwrap(),
            NaiveTime::from_hms_opt(16, 0, 0).unwrap(),
        )
    }

    #[test]
    fn fixed_length_forwards() {
        let now = utc(2026, 1, 12, 11, 0); // Monday 12:00 CET
        let h = office();
        assert_eq!(
            quick_forward_period(QuickForward::Lunch, now, &h, Copenhagen),
            (now, Some(utc(2026, 1, 12, 11, 30)))
        );
        assert_eq!(
            quick_forward_period(QuickForward::Break, now, &h, Copenhagen),
            (now, Some(utc(2026, 1, 12, 11, 5)))
        );
        assert_eq!(
            quick_forward_period(QuickForward::Meeting1h, now, &h, Copenhagen),
            (now, Some(utc(2026, 1, 12, 12, 0)))
        );
        assert_eq!(
            quick_forward_period(QuickForward::Meeting2h, now, &h, Copenhagen),
            (now, Some(utc(2026, 1, 12, 13, 0)))
        );
        assert_eq!(
            QuickForward::ALL.map(QuickForward::reason),
            [
                Reason::Lunch,
                Reason::Break,
                Reason::GoneForToday,
                Reason::Meeting,
                Reason::Meeting
            ]
        );
    }

    #[test]
    fn gone_for_today_during_work_ends_at_end_of_work_local() {
        // Monday 12:00 CET → 16:00 CET = 15:00 UTC.
        let (_, end) = quick_forward_period(
            QuickForward::GoneForToday,
            utc(2026, 1, 12, 11, 0),
            &office(),
            Copenhagen,
        );
        assert_eq!(end, Some(utc(2026, 1, 12, 15, 0)));
        // In summer 16:00 CEST = 14:00 UTC.
        let (_, end) = quick_forward_period(
            QuickForward::GoneForToday,
            utc(2026, 7, 13, 10, 0),
            &office(),
            Copenhagen,
        );
        assert_eq!(end, Some(utc(2026, 7, 13, 14, 0)));
    }

    #[test]
    fn gone_for_today_before_work_ends_at_todays_end() {
        let (_, end) = quick_forward_period(
            QuickForward::GoneForToday,
            utc(2026, 1, 12, 5, 0),
            &office(),
            Copenhagen,
        );
        assert_eq!(end, Some(utc(2026, 1, 12, 15, 0)));
    }

    #[test]
    fn gone_for_today_after_work_lasts_until_next_working_day() {
        // Tuesday 17:00 CET → Wednesday 08:00 CET.
        let (_, end) = quick_forward_period(
            QuickForward::GoneForToday,
            utc(2026, 1, 13, 16, 0),
            &office(),
            Copenhagen,
        );
        assert_eq!(end, Some(utc(2026, 1, 14, 7, 0)));
        // Friday 17:00 CET → Monday 08:00 CET.
        let (_, end) = quick_forward_period(
            QuickForward::GoneForToday,
            utc(2026, 1, 16, 16, 0),
            &office(),
            Copenhagen,
        );
        assert_eq!(end, Some(utc(2026, 1, 19, 7, 0)));
        // Saturday → Monday.
        let (_, end) = quick_forward_period(
            QuickForward::GoneForToday,
            utc(2026, 1, 17, 10, 0),
            &office(),
            Copenhagen,
        );
        assert_eq!(end, Some(utc(2026, 1, 19, 7, 0)));
    }

    #[test]
    fn gone_for_today_over_the_spring_weekend() {
        // Friday 2026-03-27 18:00 CET → Monday 2026-03-30 08:00 CEST = 06:00 UTC.
        let (_, end) = quick_forward_period(
            QuickForward::GoneForToday,
            utc(2026, 3, 27, 17, 0),
            &office(),
            Copenhagen,
        );
        assert_eq!(end, Some(utc(2026, 3, 30, 6, 0)));
    }

    #[test]
    fn gone_for_today_in_a_running_night_shift() {
        let night = WorkingDay {
            start: NaiveTime::from_hms_opt(22, 0, 0).unwrap(),
            end: NaiveTime::from_hms_opt(6, 0, 0).unwrap(),
        };
        let hours = WorkingHours {
            days: [Some(night); 7],
        };
        // Tuesday 02:00 CET, inside Monday's shift → Tuesday 06:00 CET.
        let (_, end) = quick_forward_period(
            QuickForward::GoneForToday,
            utc(2026, 1, 13, 1, 0),
            &hours,
            Copenhagen,
        );
        assert_eq!(end, Some(utc(2026, 1, 13, 5, 0)));
    }

    #[test]
    fn gone_for_today_without_working_hours_ends_at_midnight() {
        let (_, end) = quick_forward_period(
            QuickForward::GoneForToday,
            utc(2026, 1, 12, 11, 0),
            &WorkingHours::default(),
            Copenhagen,
        );
        assert_eq!(end, Some(utc(2026, 1, 12, 23, 0)));
    }
}
