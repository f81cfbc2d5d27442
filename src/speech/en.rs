//! English: how times, dates and numbers are said.
//!
//! Times use the 12-hour clock an English-speaking caller expects: "at two thirty p.m." (14:30),
//! "at eight oh five a.m." (08:05), "at eight a.m." (08:00), "at noon", "at midnight", "at twelve
//! thirty a.m." (00:30). Dates: "on Monday the twenty-fourth of November". Numbers in British
//! form: "one hundred and five", "two thousand and three".

use chrono::{Datelike, NaiveDate, NaiveTime, Timelike};

use super::fragment::{self as f, FragmentId};

/// "at two thirty p.m.".
pub(super) fn time(t: NaiveTime, out: &mut Vec<FragmentId>) {
    let (hour, minute) = (t.hour(), t.minute());
    match (hour, minute) {
        (0, 0) => return out.push(f::AT_MIDNIGHT),
        (12, 0) => return out.push(f::AT_NOON),
        _ => {}
    }
    let hour12 = match hour % 12 {
        0 => 12,
        h => h,
    };
    out.push(f::AT);
    out.push(FragmentId::number(hour12));
    match minute {
        0 => {}
        1..=9 => {
            out.push(f::OH);
            out.push(FragmentId::number(minute));
        }
        _ => out.push(FragmentId::number(minute)),
    }
    out.push(if hour < 12 { f::AM } else { f::PM });
}

/// "on Monday the twenty-fourth of November".
pub(super) fn date(d: NaiveDate, out: &mut Vec<FragmentId>) {
    out.extend([
        f::ON,
        FragmentId::weekday(d.weekday()),
        f::THE,
        FragmentId::ordinal(d.day()),
        f::OF,
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
                out.push(f::AND);
                number(n % 100, out);
            }
        }
        _ => {
            number(n / 1000, out);
            out.push(f::THOUSAND);
            let rest = n % 1000;
            if rest != 0 {
                if rest < 100 {
                    out.push(f::AND);
                }
                number(rest, out);
            }
        }
    }
}
