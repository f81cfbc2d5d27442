//! The five default quick forwards of the web client ("Hurtige viderestillinger": Frokost ½
//! time, Pause 5 minutter, Gået for i dag, Møde 1 time, Møde 2 timer): the period each one
//! sets, from the instant the user presses it.
//!
//! "Gone for today" is the only one that depends on the clock on the wall: it lasts until the
//! start of the user's next working day, local time, because that is when they are back —
//! pressed on Tuesday at 10:02 with Monday–Friday 8–16 it ends Wednesday at 08:00 (callers hear
//! "back tomorrow at eight"), pressed on Friday it ends Monday at 08:00, pressed before work it
//! skips today. A night shift that began yesterday and is still running counts as today's
//! work. With no working hours at all it lasts until the next local midnight.
//!
//! Local times are resolved to instants as everywhere in routing (RFC 5545 §3.3.5, see
//! [`local_time`](super::local_time)).

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use super::local_time::{local_date, to_utc};
use super::state::WorkingHours;
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

/// The start of the user's next working day: after the shift running now (yesterday's night
/// shift, or today's), or after today's shift when it has not begun yet, or after `now` when
/// today's work is over or today is a day off.
fn gone_for_today_end(now: DateTime<Utc>, hours: &WorkingHours, tz: Tz) -> Option<DateTime<Utc>> {
    let today = local_date(tz, now)?;
    let todays_work = hours
        .shift_at(now, tz)
        .or_else(|| hours.shift_on(today, tz).filter(|(_, end)| *end > now))
        .map(|(_, end)| end);
    let after = todays_work.unwrap_or(now);
    hours.next_start_after(after, tz).or_else(|| {
        // No working day at all: the next local midnight.
        today
            .succ_opt()
            .and_then(|tomorrow| to_utc(tz, tomorrow.and_time(chrono::NaiveTime::MIN)))
    })
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
    fn gone_for_today_during_work_lasts_until_the_next_working_start() {
        // Tuesday 10:02 CET → Wednesday 08:00 CET = 07:00 UTC.
        let (_, end) = quick_forward_period(
            QuickForward::GoneForToday,
            utc(2026, 1, 13, 9, 2),
            &office(),
            Copenhagen,
        );
        assert_eq!(end, Some(utc(2026, 1, 14, 7, 0)));
        // In summer 08:00 CEST = 06:00 UTC.
        let (_, end) = quick_forward_period(
            QuickForward::GoneForToday,
            utc(2026, 7, 13, 10, 0),
            &office(),
            Copenhagen,
        );
        assert_eq!(end, Some(utc(2026, 7, 14, 6, 0)));
        // Friday during work → Monday 08:00.
        let (_, end) = quick_forward_period(
            QuickForward::GoneForToday,
            utc(2026, 1, 16, 9, 0),
            &office(),
            Copenhagen,
        );
        assert_eq!(end, Some(utc(2026, 1, 19, 7, 0)));
    }

    #[test]
    fn gone_for_today_before_work_skips_today() {
        // Monday 06:00 CET → Tuesday 08:00 CET.
        let (_, end) = quick_forward_period(
            QuickForward::GoneForToday,
            utc(2026, 1, 12, 5, 0),
            &office(),
            Copenhagen,
        );
        assert_eq!(end, Some(utc(2026, 1, 13, 7, 0)));
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
        // Tuesday 02:00 CET, inside Monday's shift → Tuesday's shift at 22:00 CET.
        let (_, end) = quick_forward_period(
            QuickForward::GoneForToday,
            utc(2026, 1, 13, 1, 0),
            &hours,
            Copenhagen,
        );
        assert_eq!(end, Some(utc(2026, 1, 13, 21, 0)));
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
