//! Danish: how times, dates and numbers are said.
//!
//! Times follow the 24-hour reading of DSB announcements and the speaking clock: "klokken fjorten
//! tredive" (14:30), "klokken otte nul fem" (08:05), "klokken otte" (08:00), "ved midnat"
//! (00:00). The clock's one is "et" ("klokken et", "otte nul et"). Dates: "på mandag den
//! fireogtyvende november". Numbers above 59 put the unit first ("femogtres"), composed here as
//! "fem" "og" "tres"; "et hundrede og fem", "to tusind og tre".

use chrono::{Datelike, NaiveDate, NaiveTime, Timelike};

use super::fragment::{self as f, FragmentId};

/// "klokken fjorten tredive".
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
        _ => out.push(FragmentId::number(minute)),
    }
}

/// "på mandag den fireogtyvende november".
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
            let (tens, unit) = (n / 10 * 10, n % 10);
            if unit != 0 {
                // "enogtres": the compound's one is "en", not the clock's "et".
                out.push(if unit == 1 {
                    f::COUNT_ONE
                } else {
                    FragmentId::number(unit)
                });
                out.push(f::AND);
            }
            out.push(FragmentId::number(tens));
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
