//! Turning a wall-clock time in the user's zone into an instant, including the two hours a year
//! where that is not a one-to-one mapping.
//!
//! We follow RFC 5545 §3.3.5 (iCalendar), because our schedules and working hours are the same
//! kind of data as an Exchange calendar and users expect them to behave alike:
//! - a local time that occurs twice (clocks going back, e.g. 02:30 on 2026-10-25 in
//!   Europe/Copenhagen) "refers to the first occurrence of the referenced time", i.e. the summer
//!   time reading;
//! - a local time that does not exist (clocks going forward, e.g. 02:30 on 2026-03-29) "is
//!   interpreted using the UTC offset before the gap", so 02:30 becomes 03:30 summer time — the
//!   wall clock a person would read one "nominal" half hour after 02:00.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

/// The instant at which the wall clock in `tz` shows `local`, per RFC 5545 §3.3.5. `None` only
/// at the very ends of chrono's range, where the offset cannot be applied.
pub fn to_utc(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        chrono::LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        chrono::LocalResult::Ambiguous(first, second) => {
            // The earlier instant is the first occurrence on the wall clock.
            Some(first.with_timezone(&Utc).min(second.with_timezone(&Utc)))
        }
        chrono::LocalResult::None => {
            // Inside a gap: use the offset in force before it. A day earlier is before any gap
            // on this date; no zone has two transitions within 24 hours.
            let before = local.checked_sub_signed(Duration::days(1))?;
            let offset = tz.offset_from_utc_datetime(&before).fix();
            let utc =
                local.checked_sub_signed(Duration::seconds(i64::from(offset.local_minus_utc())))?;
            Some(utc.and_utc())
        }
    }
}

/// The local date in `tz` at instant `t`. Unlike `DateTime::date_naive`, which panics when the
/// offset pushes the date past chrono's range, this returns `None` there.
pub fn local_date(tz: Tz, t: DateTime<Utc>) -> Option<NaiveDate> {
    let offset = tz.offset_from_utc_datetime(&t.naive_utc()).fix();
    let local = t
        .naive_utc()
        .checked_add_signed(Duration::seconds(i64::from(offset.local_minus_utc())))?;
    Some(local.date())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use chrono_tz::Europe::Copenhagen;

    fn local(y: i32, m: u32, d: u32, h: u32, min: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(h, min, 0)
            .unwrap()
    }

    #[test]
    fn ordinary_times_use_the_offset_of_the_day() {
        // CET (+1) in winter, CEST (+2) in summer.
        assert_eq!(
            to_utc(Copenhagen, local(2026, 1, 12, 9, 0)).unwrap(),
            Utc.with_ymd_and_hms(2026, 1, 12, 8, 0, 0).unwrap()
        );
        assert_eq!(
            to_utc(Copenhagen, local(2026, 7, 13, 9, 0)).unwrap(),
            Utc.with_ymd_and_hms(2026, 7, 13, 7, 0, 0).unwrap()
        );
    }

    #[test]
    fn a_time_in_the_spring_gap_uses_the_offset_before_it() {
        // 02:30 does not exist on 2026-03-29; with +01:00 it is 01:30 UTC = 03:30 CEST.
        let t = to_utc(Copenhagen, local(2026, 3, 29, 2, 30)).unwrap();
        assert_eq!(t, Utc.with_ymd_and_hms(2026, 3, 29, 1, 30, 0).unwrap());
        // 02:00 itself is the transition instant.
        let t = to_utc(Copenhagen, local(2026, 3, 29, 2, 0)).unwrap();
        assert_eq!(t, Utc.with_ymd_and_hms(2026, 3, 29, 1, 0, 0).unwrap());
    }

    #[test]
    fn an_ambiguous_autumn_time_is_its_first_occurrence() {
        // 02:30 happens twice on 2026-10-25: first at +02:00 (00:30 UTC), then +01:00.
        let t = to_utc(Copenhagen, local(2026, 10, 25, 2, 30)).unwrap();
        assert_eq!(t, Utc.with_ymd_and_hms(2026, 10, 25, 0, 30, 0).unwrap());
    }

    #[test]
    fn local_date_handles_the_ends_of_time() {
        assert_eq!(local_date(Copenhagen, DateTime::<Utc>::MAX_UTC), None);
        assert!(local_date(Copenhagen, DateTime::<Utc>::MIN_UTC).is_some());
        // 23:30 UTC on 12 January is already the 13th in Copenhagen.
        let t = Utc.with_ymd_and_hms(2026, 1, 12, 23, 30, 0).unwrap();
        assert_eq!(
            local_date(Copenhagen, t),
            NaiveDate::from_ymd_opt(2026, 1, 13)
        );
    }
}
