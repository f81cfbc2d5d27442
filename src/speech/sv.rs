//! Swedish: how times, dates and numbers are said.
//!
//! Times use the announcer's 24-hour form with "och" between hour and minutes: "klockan fjorton
//! och trettio" (14:30). Minutes 1–9 are read "noll fem" without "och" ("klockan åtta noll
//! fem"), the full hour alone ("klockan åtta"), 00:00 "vid midnatt". Dates: "på måndag den
//! tjugofjärde november". Numbers compose tens then unit ("sextio" "fem"), "ett" "hundra" "fem".

use chrono::{Datelike, NaiveDate, NaiveTime, Timelike};

use super::fragment::{self as f, FragmentId};

/// "klockan fjorton och trettio".
pub(super) fn time(t: NaiveTime, out: &mut Vec<FragmentId>) {
    let (hour, minute) = (t.hour(), t.minute());
    if hour == 0 && minute == 0 {
        out.push(f::AT_MIDNIGHT);
        return;
    }
    out.push(f::AT);
    out.push(FragmentId::number(hour));
    match minute {
        0 => {}
        1..=9 => {
            out.push(FragmentId::number(0));
            out.push(FragmentId::number(minute));
        }
        _ => {
            out.push(f::AND);
            out.push(FragmentId::number(minute));
        }
    }
}

/// "på måndag den tjugofjärde november".
pub(super) fn date(d: NaiveDate, out: &mut Vec<FragmentId>) {
    out.extend([
        f::ON,
        FragmentId::weekday(d.weekday()),
        f::THE,
        FragmentId::ordinal(d.day()),
        FragmentId::month(d.month()),
    ]);
}

/// A cardinal up to 999 999 (the caller reads larger ones as digits).
pub(super) fn number(n: u32, out: &mut Vec<FragmentId>) {
    match n {
        0..=59 => out.push(FragmentId::number(n)),
        60..=99 => {
            out.push(FragmentId::number(n / 10 * 10));
            if !n.is_multiple_of(10) {
                out.push(FragmentId::number(n % 10));
            }
        }
        100..=999 => {
            out.extend([FragmentId::number(n / 100), f::HUNDRED]);
            if !n.is_multiple_of(100) {
                number(n % 100, out);
            }
        }
        _ => {
            number(n / 1000, out);
            out.push(f::THOUSAND);
            if !n.is_multiple_of(1000) {
                number(n % 1000, out);
            }
        }
    }
}
