//! Weekly schedules ("Skema") expanded into concrete occurrences.
//!
//! A schedule is a recurrence in the user's *local* time: "Monday 9–10" is 9–10 on the wall clock
//! in winter and in summer, so the UTC instants move by an hour across a daylight-saving change
//! (Europe/Copenhagen: 2026-03-29 and 2026-10-25). Each occurrence is computed from its local
//! date, never by adding 7 × 24 hours to the previous one.
//!
//! Rules, in order:
//! - An occurrence *starts* on a local date whose weekday is listed and which lies within
//!   `valid_from..=valid_until`.
//! - It ends on the same date at `end`, or on the next date when `end` is at or before `start`
//!   (crossing midnight: Friday 22:00–06:00 ends Saturday 06:00). `end == start` is a whole day.
//! - Local times are resolved by [`local_time::to_utc`](super::local_time::to_utc) (RFC 5545
//!   §3.3.5): a time that does not exist (the spring gap) is read with the offset before the
//!   gap, so 02:30 becomes 03:30 summer time; a time that occurs twice (the autumn overlap) is
//!   its first occurrence, the summer-time reading. An occurrence lying entirely in the gap
//!   (02:15–02:45 on 2026-03-29) thus happens an hour later on the wall clock, keeping its
//!   length; one that starts in the gap and ends by 03:00 (02:30–03:00) has no time left and is
//!   skipped that day.
//! - Occurrences are half-open `[start, end)`, like RFC 5545 `DTEND`, so back-to-back
//!   occurrences touch without overlapping.

use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};
use chrono_tz::Tz;

use super::local_time::{local_date, to_utc};
use super::state::Schedule;

/// How far [`occurrences`] will expand at most, in days, whatever window it is asked for: the
/// expansion is lazy, but an unbounded window would make a caller loop for ever.
pub const MAX_EXPANSION_DAYS: u64 = 3_700;

/// One concrete occurrence of a schedule, as instants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Occurrence {
    /// The local date the occurrence starts on (its weekday is in the schedule).
    pub date: NaiveDate,
    /// Start instant (inclusive).
    pub start: DateTime<Utc>,
    /// End instant (exclusive).
    pub end: DateTime<Utc>,
}

impl Schedule {
    /// Whether an occurrence starts on local date `date`.
    pub fn starts_on(&self, date: NaiveDate) -> bool {
        self.weekdays.contains(&date.weekday())
            && self.valid_from.is_none_or(|from| date >= from)
            && self.valid_until.is_none_or(|until| date <= until)
    }

    /// The occurrence starting on local date `date`, if there is one and it is not empty.
    pub fn occurrence_on(&self, date: NaiveDate, tz: Tz) -> Option<Occurrence> {
        if !self.starts_on(date) {
            return None;
        }
        let end_date = if self.end <= self.start {
            date.succ_opt()?
        } else {
            date
        };
        let start = to_utc(tz, date.and_time(self.start))?;
        let end = to_utc(tz, end_date.and_time(self.end))?;
        (end > start).then_some(Occurrence { date, start, end })
    }

    /// The occurrence in force at `at` (`start <= at < end`), if any. Should two occurrences
    /// contain `at` (only possible around a DST change), the later-starting one is returned.
    pub fn occurrence_at(&self, at: DateTime<Utc>, tz: Tz) -> Option<Occurrence> {
        // An occurrence lasts at most 24 h + a DST hour, so it started on the local date of `at`
        // or on one of the two dates before.
        let today = local_date(tz, at)?;
        (0..=2u64)
            .filter_map(|back| today.checked_sub_days(Days::new(back)))
            .filter_map(|date| self.occurrence_on(date, tz))
            .find(|o| o.start <= at && at < o.end)
    }

    /// The first instant after `t` at which an occurrence starts or ends, if any.
    pub(crate) fn next_boundary_after(&self, t: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        let today = local_date(tz, t)?;
        let near = today.checked_sub_days(Days::new(2))?;
        if self.weekdays.is_empty() || self.valid_until.is_some_and(|until| until < near) {
            return None;
        }
        // Every listed weekday comes round within a week, so two days back (an occurrence
        // started then may still run) to eight days ahead holds the next boundary — unless the
        // schedule only becomes valid later, in which case its first days hold it.
        let horizon = today.checked_add_days(Days::new(8))?;
        let later = self.valid_from.filter(|from| *from > horizon);
        [Some(near), later]
            .into_iter()
            .flatten()
            .flat_map(|first| first.iter_days().take(11))
            .filter_map(|date| self.occurrence_on(date, tz))
            .flat_map(|o| [o.start, o.end])
            .filter(|b| *b > t)
            .min()
    }
}

/// The occurrences of `schedule` that overlap the window `[from, to)`, in start order, for
/// timelines and the presence view. At most [`MAX_EXPANSION_DAYS`] local dates are visited.
pub fn occurrences(
    schedule: &Schedule,
    tz: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> impl Iterator<Item = Occurrence> + '_ {
    let first = local_date(tz, from).and_then(|d| d.checked_sub_days(Days::new(2)));
    let last = local_date(tz, to).unwrap_or(NaiveDate::MAX);
    let dates = first
        .into_iter()
        .flat_map(|first| first.iter_days())
        .take_while(move |date| *date <= last)
        .take(MAX_EXPANSION_DAYS as usize);
    dates
        .filter_map(move |date| schedule.occurrence_on(date, tz))
        .filter(move |o| o.end > from && o.start < to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Origin, Reason};
    use crate::routing::state::Destination;
    use chrono::{NaiveTime, TimeZone, Weekday};
    use chrono_tz::Europe::Copenhagen;

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    fn time(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    fn weekly(days: &[Weekday], start: NaiveTime, end: NaiveTime) -> Schedule {
        Schedule {
            id: 1,
            weekdays: days.to_vec(),
            start,
            end,
            valid_from: None,
            valid_until: None,
            reason: Reason::Meeting,
            destination: Destination::Voicemail,
            free_text: None,
            origin: Origin::Web,
            set_at: utc(2026, 1, 1, 0, 0),
        }
    }

    #[test]
    fn monday_meeting_stays_nine_to_ten_local_across_spring_change() {
        let s = weekly(&[Weekday::Mon], time(9, 0), time(10, 0));
        let got: Vec<_> = occurrences(
            &s,
            Copenhagen,
            utc(2026, 3, 20, 0, 0),
            utc(2026, 4, 4, 0, 0),
        )
        .collect();
        let spans: Vec<_> = got.iter().map(|o| (o.start, o.end)).collect();
        assert_eq!(
            spans,
            vec![
                (utc(2026, 3, 23, 8, 0), utc(2026, 3, 23, 9, 0)), // CET, +01:00
                (utc(2026, 3, 30, 7, 0), utc(2026, 3, 30, 8, 0)), // CEST, +02:00
            ]
        );
    }

    #[test]
    fn monday_meeting_stays_nine_to_ten_local_across_autumn_change() {
        let s = weekly(&[Weekday::Mon], time(9, 0), time(10, 0));
        let spans: Vec<_> = occurrences(
            &s,
            Copenhagen,
            utc(2026, 10, 19, 0, 0),
            utc(2026, 10, 27, 0, 0),
        )
        .map(|o| (o.start, o.end))
        .collect();
        assert_eq!(
            spans,
            vec![
                (utc(2026, 10, 19, 7, 0), utc(2026, 10, 19, 8, 0)),
                (utc(2026, 10, 26, 8, 0), utc(2026, 10, 26, 9, 0)),
            ]
        );
    }

    #[test]
    fn crossing_midnight_ends_the_next_day() {
        let s = weekly(&[Weekday::Fri], time(22, 0), time(6, 0));
        // Friday 2026-01-16 22:00 CET to Saturday 06:00 CET.
        let o = s.occurrence_at(utc(2026, 1, 17, 2, 0), Copenhagen).unwrap();
        assert_eq!(
            (o.start, o.end),
            (utc(2026, 1, 16, 21, 0), utc(2026, 1, 17, 5, 0))
        );
        assert_eq!(o.date.weekday(), Weekday::Fri);
        // Saturday night itself is not a start day.
        assert!(s
            .occurrence_at(utc(2026, 1, 18, 2, 0), Copenhagen)
            .is_none());
    }

    #[test]
    fn equal_start_and_end_is_a_whole_day() {
        let s = weekly(&[Weekday::Wed], time(0, 0), time(0, 0));
        let o = s
            .occurrence_at(utc(2026, 1, 14, 12, 0), Copenhagen)
            .unwrap();
        assert_eq!(
            (o.start, o.end),
            (utc(2026, 1, 13, 23, 0), utc(2026, 1, 14, 23, 0))
        );
    }

    #[test]
    fn occurrence_across_the_spring_night_is_an_hour_shorter() {
        // Saturday 2026-03-28 22:00 CET to Sunday 06:00 CEST: 7 real hours, not 8.
        let s = weekly(&[Weekday::Sat], time(22, 0), time(6, 0));
        let o = s
            .occurrence_on(NaiveDate::from_ymd_opt(2026, 3, 28).unwrap(), Copenhagen)
            .unwrap();
        assert_eq!(
            (o.start, o.end),
            (utc(2026, 3, 28, 21, 0), utc(2026, 3, 29, 4, 0))
        );
    }

    #[test]
    fn start_in_the_spring_gap_moves_forward() {
        // Sunday 02:30–04:00: 02:30 does not exist, read as 03:30 CEST (01:30 UTC).
        let s = weekly(&[Weekday::Sun], time(2, 30), time(4, 0));
        let o = s
            .occurrence_on(NaiveDate::from_ymd_opt(2026, 3, 29).unwrap(), Copenhagen)
            .unwrap();
        assert_eq!(
            (o.start, o.end),
            (utc(2026, 3, 29, 1, 30), utc(2026, 3, 29, 2, 0))
        );
    }

    #[test]
    fn occurrence_wholly_inside_the_gap_moves_an_hour_later() {
        let s = weekly(&[Weekday::Sun], time(2, 15), time(2, 45));
        let date = NaiveDate::from_ymd_opt(2026, 3, 29).unwrap();
        let o = s.occurrence_on(date, Copenhagen).unwrap();
        // 03:15–03:45 CEST.
        assert_eq!(
            (o.start, o.end),
            (utc(2026, 3, 29, 1, 15), utc(2026, 3, 29, 1, 45))
        );
    }

    #[test]
    fn occurrence_left_with_no_time_by_the_gap_is_skipped() {
        let s = weekly(&[Weekday::Sun], time(2, 30), time(3, 0));
        let date = NaiveDate::from_ymd_opt(2026, 3, 29).unwrap();
        assert!(s.occurrence_on(date, Copenhagen).is_none());
        // The week before and after it occurs normally.
        assert!(s.occurrence_on(date - Days::new(7), Copenhagen).is_some());
        assert!(s.occurrence_on(date + Days::new(7), Copenhagen).is_some());
    }

    #[test]
    fn ambiguous_autumn_times_take_the_first_occurrence() {
        // Sunday 2026-10-25 01:30–02:30: 02:30 happens twice; the first (CEST) is used, so the
        // occurrence lasts the nominal hour: 23:30–00:30 UTC.
        let s = weekly(&[Weekday::Sun], time(1, 30), time(2, 30));
        let o = s
            .occurrence_on(NaiveDate::from_ymd_opt(2026, 10, 25).unwrap(), Copenhagen)
            .unwrap();
        assert_eq!(
            (o.start, o.end),
            (utc(2026, 10, 24, 23, 30), utc(2026, 10, 25, 0, 30))
        );
    }

    #[test]
    fn validity_dates_bound_the_start_date() {
        let mut s = weekly(&[Weekday::Mon], time(9, 0), time(10, 0));
        s.valid_from = NaiveDate::from_ymd_opt(2026, 1, 12);
        s.valid_until = NaiveDate::from_ymd_opt(2026, 1, 19);
        let dates: Vec<_> =
            occurrences(&s, Copenhagen, utc(2026, 1, 1, 0, 0), utc(2026, 2, 1, 0, 0))
                .map(|o| o.date)
                .collect();
        assert_eq!(
            dates,
            vec![
                NaiveDate::from_ymd_opt(2026, 1, 12).unwrap(),
                NaiveDate::from_ymd_opt(2026, 1, 19).unwrap()
            ]
        );
    }

    #[test]
    fn window_includes_an_occurrence_started_before_it() {
        let s = weekly(&[Weekday::Fri], time(22, 0), time(6, 0));
        let got: Vec<_> = occurrences(
            &s,
            Copenhagen,
            utc(2026, 1, 17, 3, 0),
            utc(2026, 1, 17, 4, 0),
        )
        .collect();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].start, utc(2026, 1, 16, 21, 0));
    }

    #[test]
    fn empty_weekdays_never_occur() {
        let s = weekly(&[], time(9, 0), time(10, 0));
        assert_eq!(
            occurrences(&s, Copenhagen, utc(2026, 1, 1, 0, 0), utc(2027, 1, 1, 0, 0)).count(),
            0
        );
    }

    #[test]
    fn expansion_is_bounded() {
        let s = weekly(&[Weekday::Mon], time(9, 0), time(10, 0));
        let n = occurrences(
            &s,
            Copenhagen,
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MAX_UTC,
        )
        .count();
        assert!(n <= MAX_EXPANSION_DAYS as usize / 7 + 1, "{n}");
    }
}
