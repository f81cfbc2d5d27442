//! The words of the notifications in Danish, Swedish and English: dates, durations and the
//! caller, shared by the e-mail and SMS texts so both say the same thing the same way.
//!
//! Dates are spelt out in the user's own timezone and language ("mandag 24. november 2025
//! kl. 14:30", "måndag 24 november 2025 kl. 14:30", "Monday 24 November 2025 at 14:30"),
//! because a numeric date is ambiguous across the three (24/11 vs 11/24) and the reader may be
//! abroad. Times are 24-hour in all three, as the prompts say them.

use chrono::{DateTime, Datelike, TimeZone, Timelike};

use crate::domain::Lang;

const WEEKDAYS_DA: [&str; 7] = [
    "mandag", "tirsdag", "onsdag", "torsdag", "fredag", "lørdag", "søndag",
];
const WEEKDAYS_SV: [&str; 7] = [
    "måndag", "tisdag", "onsdag", "torsdag", "fredag", "lördag", "söndag",
];
const WEEKDAYS_EN: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const MONTHS_DA: [&str; 12] = [
    "januar",
    "februar",
    "marts",
    "april",
    "maj",
    "juni",
    "juli",
    "august",
    "september",
    "oktober",
    "november",
    "december",
];
const MONTHS_SV: [&str; 12] = [
    "januari",
    "februari",
    "mars",
    "april",
    "maj",
    "juni",
    "juli",
    "augusti",
    "september",
    "oktober",
    "november",
    "december",
];
const MONTHS_EN: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Longest caller name put in a subject or an SMS; a caller controls this text (it comes from
/// the From display name), so it is bounded.
const MAX_CALLER_NAME_CHARS: usize = 40;

/// "mandag 24. november 2025 kl. 14:30" and its Swedish and English equivalents.
pub(crate) fn date_time<Tz: TimeZone>(lang: Lang, at: &DateTime<Tz>) -> String {
    let weekday = at.weekday().num_days_from_monday() as usize;
    // month0() is 0..=11 and weekday 0..=6 by chrono's contract, so the indexing cannot fail;
    // `get` keeps it panic-free all the same.
    let month = at.month0() as usize;
    let (weekdays, months) = match lang {
        Lang::Da => (&WEEKDAYS_DA, &MONTHS_DA),
        Lang::Sv => (&WEEKDAYS_SV, &MONTHS_SV),
        Lang::En => (&WEEKDAYS_EN, &MONTHS_EN),
    };
    let weekday = weekdays.get(weekday).copied().unwrap_or_default();
    let month = months.get(month).copied().unwrap_or_default();
    let (day, year, hour, minute) = (at.day(), at.year(), at.hour(), at.minute());
    match lang {
        Lang::Da => format!("{weekday} {day}. {month} {year} kl. {hour:02}:{minute:02}"),
        Lang::Sv => format!("{weekday} {day} {month} {year} kl. {hour:02}:{minute:02}"),
        Lang::En => format!("{weekday} {day} {month} {year} at {hour:02}:{minute:02}"),
    }
}

/// A message length as minutes and seconds ("1:05"), the same in all three languages.
pub(crate) fn duration(duration_ms: u64) -> String {
    // Round to the nearest second: a 4.6 s message is "0:05", as a player would show it.
    let seconds = duration_ms.saturating_add(500) / 1000;
    format!("{}:{:02}", seconds / 60, seconds % 60)
}

/// Who called, for subjects and SMS: "Hans Hansen (4512345678)", "4512345678", "Hans Hansen",
/// or "unknown number" in the language.
pub(crate) fn caller(lang: Lang, name: Option<&str>, number: Option<&str>) -> String {
    let name = name.map(clean).filter(|n| !n.is_empty());
    let number = number.map(clean).filter(|n| !n.is_empty());
    match (name, number) {
        (Some(name), Some(number)) => format!("{name} ({number})"),
        (Some(only), None) | (None, Some(only)) => only,
        (None, None) => unknown_number(lang).to_owned(),
    }
}

/// "ukendt nummer" / "okänt nummer" / "unknown number".
pub(crate) fn unknown_number(lang: Lang) -> &'static str {
    match lang {
        Lang::Da => "ukendt nummer",
        Lang::Sv => "okänt nummer",
        Lang::En => "unknown number",
    }
}

/// Drops control characters (a CR/LF in a display name must not reach a mail header or split
/// an SMS) and bounds the length.
fn clean(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control())
        .take(MAX_CALLER_NAME_CHARS)
        .collect::<String>()
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    #[test]
    fn dates_in_each_language_and_local_time() {
        // 13:30 UTC is 14:30 in Copenhagen and Stockholm in November (CET).
        let at = Utc.with_ymd_and_hms(2025, 11, 24, 13, 30, 0).unwrap();
        let cph = at.with_timezone(&chrono_tz::Europe::Copenhagen);
        assert_eq!(
            date_time(Lang::Da, &cph),
            "mandag 24. november 2025 kl. 14:30"
        );
        let sto = at.with_timezone(&chrono_tz::Europe::Stockholm);
        assert_eq!(
            date_time(Lang::Sv, &sto),
            "måndag 24 november 2025 kl. 14:30"
        );
        let lon = at.with_timezone(&chrono_tz::Europe::London);
        assert_eq!(
            date_time(Lang::En, &lon),
            "Monday 24 November 2025 at 13:30"
        );
    }

    #[test]
    fn durations_round_to_seconds() {
        assert_eq!(duration(0), "0:00");
        assert_eq!(duration(4_600), "0:05");
        assert_eq!(duration(65_000), "1:05");
        assert_eq!(duration(u64::MAX), duration(u64::MAX));
    }

    #[test]
    fn callers_are_cleaned_and_bounded() {
        assert_eq!(caller(Lang::Da, None, Some("4512345678")), "4512345678");
        assert_eq!(
            caller(Lang::En, Some("Hans\r\nBcc: x"), Some("45")),
            "HansBcc: x (45)"
        );
        assert_eq!(caller(Lang::Sv, Some(" "), None), "okänt nummer");
        let long = "x".repeat(500);
        assert_eq!(caller(Lang::En, Some(&long), None).len(), 40);
    }
}
