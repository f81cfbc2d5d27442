//! Turning parsed events into the concrete instances that fall in a window: the recurrence
//! expansion of RFC 5545 §3.8.5 (`RRULE`, `EXDATE`) plus overridden instances (`RECURRENCE-ID`,
//! §3.8.4.4). Sans-I/O: the window is a parameter.
//!
//! Only the window (normally `now .. now + 60 days`, [`WINDOW`]) is expanded, and each sync
//! expands it again, so a weekly meeting "for ever" is a bounded number of rows that moves
//! forward with time. An instance already in progress at the window's start is included (a
//! caller at 09:30 must learn of the 09:00–10:00 meeting).
//!
//! Recurrences are expanded in the zone of `DTSTART`, by the `rrule` crate: a weekly meeting
//! at 09:00 Copenhagen time stays at 09:00 on the wall clock across the DST change, so its UTC
//! instant moves by an hour. Each instance keeps the master's length.
//!
//! Each instance gets a stable key — the master's `UID` plus the instance's original start
//! ([`EventTime::key`]) — so that an overridden instance replaces exactly the instance it names,
//! an `EXDATE` removes it, and the store can tell "the same instance, changed" from "a new one"
//! on the next sync (which is what lets a user's edit of one instance survive re-syncs).
//! Single events have the empty key.
//!
//! Cancelled events and instances (`STATUS:CANCELLED`) produce nothing.
//!
//! # Bounds (issue #19, finding 6)
//! A feed comes from outside, and 40 events of `RRULE:FREQ=MINUTELY` were 40,000 rows and
//! 13 s of work. So:
//! - a rule that repeats more often than hourly (`FREQ=SECONDLY`, `FREQ=MINUTELY`, or more
//!   than one `BYMINUTE`/`BYSECOND` value) rejects the feed ([`IcsError::TooFrequent`]);
//!   Exchange never writes one;
//! - one series yields at most [`MAX_INSTANCES_PER_SERIES`] instances in the window (the rest
//!   are dropped: an hourly series over 60 days is 1,440);
//! - a feed yields at most [`MAX_INSTANCES_PER_FEED`] instances in the window, else it is
//!   rejected ([`IcsError::TooManyInstances`]; the previous copy stays, sync rule 1);
//! - the recurrence engine walks every period from `DTSTART`, also the ones before the
//!   window, so each series is charged its periods up to the window's end (days for daily and
//!   longer rules, times the `BYHOUR` values; hours for hourly rules, over `INTERVAL`), and a
//!   feed whose series cost more than [`MAX_EXPANSION_STEPS`] in total is rejected
//!   ([`IcsError::TooCostly`]) before any is expanded. That bounds the expansion's time by a
//!   count, without a clock; the parse before it is bounded by the feed's size
//!   ([`MAX_FEED_BYTES`](super::ics::MAX_FEED_BYTES)) and event count.

use std::collections::{BTreeMap, HashSet};
use std::str::FromStr;

use chrono::{DateTime, Duration, NaiveTime, Utc};
use chrono_tz::Tz;
use rrule::{RRule, Unvalidated};

use super::ics::{EventTime, IcsError, Length, VEvent};
use crate::domain::BusyStatus;
use crate::routing::local_time::to_utc;

/// How far ahead a sync looks.
pub const WINDOW: Duration = Duration::days(60);

/// Most instances taken from one recurring series within a window (a daily series over 60 days
/// is 60; this bounds hourly nonsense).
pub const MAX_INSTANCES_PER_SERIES: u16 = 1_000;

/// Most instances one feed may have in a window. A full working diary is about 10 entries a
/// day, 600 in 60 days; 5,000 leaves room for shared calendars and stays a small read for
/// routing and the listing.
pub const MAX_INSTANCES_PER_FEED: usize = 5_000;

/// Most recurrence steps (see the module doc) the series of one feed may cost together:
/// 40 daily series started 25 years ago fit (365,000); one hourly series since 1970 (493,000)
/// does not. A step cost about 3 µs unoptimised on the loaded test machine (6 s for 90 daily
/// series since 1970, 1.85 M steps), so a feed at the bound costs about 1.2 s there.
pub const MAX_EXPANSION_STEPS: u64 = 400_000;

/// One concrete instance, ready to be stored as a calendar entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occurrence {
    /// The event's `UID`.
    pub uid: String,
    /// "" for a single event; the instance's original start ([`EventTime::key`]) otherwise.
    pub recurrence_id: String,
    /// The subject, with any calendar code still in it.
    pub subject: String,
    /// Start instant.
    pub start: DateTime<Utc>,
    /// End instant (exclusive).
    pub end: DateTime<Utc>,
    /// An all-day entry: `start`/`end` are the organisation's local midnights.
    pub all_day: bool,
    /// The busy status.
    pub busy: BusyStatus,
}

/// Every instance of `events` overlapping `[from, to)`, ordered by start then key.
pub fn expand(
    events: &[VEvent],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Occurrence>, IcsError> {
    // Overridden instances by (UID, original start). A later duplicate wins, as when Outlook
    // exports an exception twice.
    let mut overrides: BTreeMap<(&str, String), &VEvent> = BTreeMap::new();
    for e in events {
        if let Some(rid) = &e.recurrence_id {
            overrides.insert((e.uid.as_str(), rid.key()), e);
        }
    }
    // Every rule is read and charged before any is expanded, so a costly feed is refused
    // without doing the work.
    let mut rules = Vec::new();
    let mut steps: u64 = 0;
    for e in events
        .iter()
        .filter(|e| e.recurrence_id.is_none() && !e.cancelled)
    {
        let rule = match &e.rrule {
            None => None,
            Some(text) => {
                let rule = read_rule(e, text, to)?;
                steps = steps.saturating_add(rule.steps);
                Some(rule)
            }
        };
        rules.push((e, rule));
    }
    if steps > MAX_EXPANSION_STEPS {
        return Err(IcsError::TooCostly {
            limit: MAX_EXPANSION_STEPS,
        });
    }
    let too_many = IcsError::TooManyInstances {
        limit: MAX_INSTANCES_PER_FEED,
    };
    let mut out: BTreeMap<(String, String), Occurrence> = BTreeMap::new();
    for (e, rule) in rules {
        let starts = match rule {
            None => vec![(String::new(), e.start)],
            Some(rule) => instance_starts(e, rule, from, to)?
                .into_iter()
                .map(|t| (t.key(), t))
                .collect(),
        };
        for (key, start) in starts {
            if overrides.contains_key(&(e.uid.as_str(), key.clone())) {
                continue;
            }
            if let Some(o) = occurrence(e, key.clone(), start, from, to) {
                out.insert((e.uid.clone(), key), o);
                if out.len() > MAX_INSTANCES_PER_FEED {
                    return Err(too_many);
                }
            }
        }
    }
    for ((uid, key), e) in overrides {
        if e.cancelled {
            continue;
        }
        if let Some(o) = occurrence(e, key.clone(), e.start, from, to) {
            out.insert((uid.to_owned(), key), o);
            if out.len() > MAX_INSTANCES_PER_FEED {
                return Err(too_many);
            }
        }
    }
    let mut list: Vec<Occurrence> = out.into_values().collect();
    list.sort_by(|a, b| {
        (a.start, &a.uid, &a.recurrence_id).cmp(&(b.start, &b.uid, &b.recurrence_id))
    });
    Ok(list)
}

/// The instance starting at `start` (in `e`'s length), if it overlaps `[from, to)`.
fn occurrence(
    e: &VEvent,
    recurrence_id: String,
    start: EventTime,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Option<Occurrence> {
    let (s, end) = span(start, e.length)?;
    // Half-open overlap; a zero-length event counts if it is inside the window.
    let overlaps = s < to && (end > from || (end == s && s >= from));
    overlaps.then(|| Occurrence {
        uid: e.uid.clone(),
        recurrence_id,
        subject: e.summary.clone(),
        start: s,
        end,
        all_day: start.date_only,
        busy: e.busy,
    })
}

/// Start and end instants of an instance starting at `start`.
fn span(start: EventTime, length: Length) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let s = start.instant()?;
    let end = match length {
        Length::Exact(d) => s.checked_add_signed(d)?,
        Length::Days(n) => {
            let end_date = start
                .local
                .date()
                .checked_add_days(chrono::Days::new(u64::from(n)))?;
            to_utc(start.tz, end_date.and_time(NaiveTime::MIN))?
        }
    };
    Some((s, end))
}

/// A recurrence rule, read and checked: what [`instance_starts`] expands.
struct Rule {
    /// The rule without `UNTIL`, for the recurrence engine.
    parts: String,
    /// `UNTIL`, as an instant.
    until: Option<DateTime<Utc>>,
    /// What expanding it up to the window's end costs (module doc).
    steps: u64,
}

/// Reads `rule` of `e`, refusing sub-hourly rules and charging its cost up to `to`.
fn read_rule(e: &VEvent, rule: &str, to: DateTime<Utc>) -> Result<Rule, IcsError> {
    let bad = |reason: String| IcsError::BadRecurrence {
        event: e.uid.clone(),
        reason,
    };
    let too_frequent = |rule: &str| IcsError::TooFrequent {
        event: e.uid.clone(),
        rule: rule.chars().take(40).collect(),
    };
    // UNTIL is taken out and applied by `instance_starts`: Outlook writes it as a DATE, as a
    // UTC time or as a floating time, and the rrule crate accepts only UTC with a zoned
    // DTSTART (§3.3.10 says UTC, but real feeds differ).
    let mut until: Option<DateTime<Utc>> = None;
    let mut parts = Vec::new();
    let mut hourly = false;
    let mut interval: u64 = 1;
    let mut by_hours: u64 = 1;
    for part in rule.split(';').filter(|p| !p.is_empty()) {
        let (key, value) = part.split_once('=').unwrap_or((part, ""));
        let key = key.trim().to_ascii_uppercase();
        let value = value.trim();
        let values = value.split(',').filter(|v| !v.trim().is_empty()).count() as u64;
        match key.as_str() {
            "UNTIL" => {
                until = Some(
                    parse_until(value, e.start.tz)
                        .ok_or_else(|| bad(format!("UNTIL {value:?}")))?,
                );
                continue;
            }
            "FREQ" => match value.to_ascii_uppercase().as_str() {
                "SECONDLY" | "MINUTELY" => return Err(too_frequent(part)),
                "HOURLY" => hourly = true,
                _ => {}
            },
            "BYSECOND" | "BYMINUTE" if values > 1 => return Err(too_frequent(part)),
            "INTERVAL" => interval = value.parse::<u64>().unwrap_or(1).max(1),
            "BYHOUR" => by_hours = values.max(1),
            _ => {}
        }
        parts.push(part);
    }
    // Periods the engine walks from DTSTART to the end of the window (or UNTIL).
    let start = e.start.instant().unwrap_or(to);
    let end = until.map_or(to, |u| u.min(to));
    let span = end.signed_duration_since(start);
    let periods = if hourly {
        span.num_hours()
    } else {
        span.num_days() * by_hours as i64
    };
    let steps = (u64::try_from(periods).unwrap_or(0) / interval).max(1);
    Ok(Rule {
        parts: parts.join(";"),
        until,
        steps,
    })
}

/// The original starts of the instances of a recurring `e` that may overlap `[from, to)`.
fn instance_starts(
    e: &VEvent,
    rule: Rule,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<EventTime>, IcsError> {
    let bad = |reason: String| IcsError::BadRecurrence {
        event: e.uid.clone(),
        reason,
    };
    let zone = rrule::Tz::Tz(e.start.tz);
    let dt_start = e
        .start
        .instant()
        .ok_or_else(|| bad("DTSTART out of range".into()))?
        .with_timezone(&zone);
    let until = rule.until;
    if let Some(u) = until {
        if u < dt_start.with_timezone(&Utc) {
            // A series that ends before it starts has only its first instance (§3.8.5.3: DTSTART
            // is always the first instance).
            return Ok(vec![e.start]);
        }
    }
    let mut parsed: RRule<Unvalidated> =
        RRule::from_str(&rule.parts).map_err(|err| bad(err.to_string()))?;
    if let Some(u) = until {
        parsed = parsed.until(u.with_timezone(&rrule::Tz::UTC));
    }
    let mut set = parsed.build(dt_start).map_err(|err| bad(err.to_string()))?;
    let excluded: HashSet<String> = e.exdates.iter().map(EventTime::key).collect();
    // An instance starting up to one instance length before `from` may still be in progress.
    let longest = match e.length {
        Length::Exact(d) => d,
        Length::Days(n) => Duration::days(i64::from(n) + 1),
    };
    let after = from
        .checked_sub_signed(longest + Duration::seconds(1))
        .unwrap_or(from);
    set = set
        .after(after.with_timezone(&zone))
        .before(to.with_timezone(&zone));
    let result = set.all(MAX_INSTANCES_PER_SERIES);
    Ok(result
        .dates
        .into_iter()
        .map(|t| EventTime {
            local: t.naive_local(),
            tz: e.start.tz,
            date_only: e.start.date_only,
        })
        .filter(|t| !excluded.contains(&t.key()))
        .collect())
}

/// An `UNTIL` value as an instant: a DATE includes its whole local day.
fn parse_until(v: &str, tz: Tz) -> Option<DateTime<Utc>> {
    if v.len() == 8 {
        let date = chrono::NaiveDate::parse_from_str(v, "%Y%m%d").ok()?;
        let next = date.succ_opt()?.and_time(NaiveTime::MIN);
        return to_utc(tz, next).map(|t| t - Duration::seconds(1));
    }
    let (body, utc) = match v.strip_suffix(['Z', 'z']) {
        Some(b) => (b, true),
        None => (v, false),
    };
    let local = chrono::NaiveDateTime::parse_from_str(body, "%Y%m%dT%H%M%S").ok()?;
    if utc {
        Some(local.and_utc())
    } else {
        to_utc(tz, local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::ics::parse_feed;
    use chrono::TimeZone;

    const CPH: Tz = Tz::Europe__Copenhagen;

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    fn feed(body: &str) -> Vec<VEvent> {
        let text = format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n{body}END:VCALENDAR\r\n");
        parse_feed(&text, CPH).unwrap()
    }

    #[test]
    fn weekly_meeting_keeps_its_wall_clock_across_dst() {
        // Mondays 09:00-10:00 Copenhagen; DST starts Sunday 2026-03-29.
        let events = feed(
            "BEGIN:VEVENT\r\nUID:w\r\nSUMMARY:Team\r\n\
             DTSTART;TZID=Europe/Copenhagen:20260316T090000\r\n\
             DTEND;TZID=Europe/Copenhagen:20260316T100000\r\n\
             RRULE:FREQ=WEEKLY;BYDAY=MO\r\nEND:VEVENT\r\n",
        );
        let list = expand(&events, utc(2026, 3, 20, 0, 0), utc(2026, 4, 7, 0, 0)).unwrap();
        let starts: Vec<_> = list.iter().map(|o| o.start).collect();
        assert_eq!(
            starts,
            vec![
                utc(2026, 3, 23, 8, 0), // winter: UTC+1
                utc(2026, 3, 30, 7, 0), // summer: UTC+2
                utc(2026, 4, 6, 7, 0),
            ]
        );
        assert!(list.iter().all(|o| o.end - o.start == Duration::hours(1)));
        assert_eq!(list[1].recurrence_id, "20260330T070000Z");
    }

    #[test]
    fn exdate_override_and_cancelled_instance() {
        let events = feed(
            "BEGIN:VEVENT\r\nUID:w\r\nSUMMARY:Team\r\n\
             DTSTART;TZID=Europe/Copenhagen:20260302T090000\r\n\
             DTEND;TZID=Europe/Copenhagen:20260302T100000\r\n\
             RRULE:FREQ=WEEKLY;UNTIL=20260406T080000Z;BYDAY=MO\r\n\
             EXDATE;TZID=Europe/Copenhagen:20260309T090000\r\nEND:VEVENT\r\n\
             BEGIN:VEVENT\r\nUID:w\r\nSUMMARY:Team (moved)\r\n\
             RECURRENCE-ID;TZID=Europe/Copenhagen:20260316T090000\r\n\
             DTSTART;TZID=Europe/Copenhagen:20260317T130000\r\n\
             DTEND;TZID=Europe/Copenhagen:20260317T143000\r\nEND:VEVENT\r\n\
             BEGIN:VEVENT\r\nUID:w\r\nSUMMARY:Team\r\nSTATUS:CANCELLED\r\n\
             RECURRENCE-ID:20260323T080000Z\r\n\
             DTSTART;TZID=Europe/Copenhagen:20260323T090000\r\n\
             DTEND;TZID=Europe/Copenhagen:20260323T100000\r\nEND:VEVENT\r\n",
        );
        let list = expand(&events, utc(2026, 3, 1, 0, 0), utc(2026, 5, 1, 0, 0)).unwrap();
        let got: Vec<_> = list
            .iter()
            .map(|o| (o.start, o.subject.as_str(), o.recurrence_id.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (utc(2026, 3, 2, 8, 0), "Team", "20260302T080000Z"),
                // 9 March excluded; 16 March moved to Tuesday 13:00.
                (utc(2026, 3, 17, 12, 0), "Team (moved)", "20260316T080000Z"),
                // 23 March cancelled.
                (utc(2026, 3, 30, 7, 0), "Team", "20260330T070000Z"),
                // UNTIL 6 April 08:00Z = 10:00 local: the 09:00 (07:00Z) instance is in.
                (utc(2026, 4, 6, 7, 0), "Team", "20260406T070000Z"),
            ]
        );
    }

    #[test]
    fn window_includes_an_instance_in_progress_and_nothing_beyond() {
        let events = feed(
            "BEGIN:VEVENT\r\nUID:d\r\nDTSTART:20260101T080000Z\r\nDTEND:20260101T090000Z\r\n\
             RRULE:FREQ=DAILY\r\nEND:VEVENT\r\n",
        );
        let list = expand(&events, utc(2026, 2, 1, 8, 30), utc(2026, 2, 3, 0, 0)).unwrap();
        let starts: Vec<_> = list.iter().map(|o| o.start).collect();
        assert_eq!(starts, vec![utc(2026, 2, 1, 8, 0), utc(2026, 2, 2, 8, 0)]);
    }

    #[test]
    fn all_day_is_local_midnight_to_midnight_across_dst() {
        // Thursday to Monday over the spring change: 4 days, one of them 23 hours long.
        let events = feed(
            "BEGIN:VEVENT\r\nUID:h\r\nDTSTART;VALUE=DATE:20260326\r\n\
             DTEND;VALUE=DATE:20260330\r\nX-MICROSOFT-CDO-BUSYSTATUS:OOF\r\nEND:VEVENT\r\n",
        );
        let list = expand(&events, utc(2026, 3, 1, 0, 0), utc(2026, 5, 1, 0, 0)).unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].start, utc(2026, 3, 25, 23, 0));
        assert_eq!(list[0].end, utc(2026, 3, 29, 22, 0));
        assert!(list[0].all_day);
        assert_eq!(list[0].busy, BusyStatus::OutOfOffice);
    }

    #[test]
    fn cancelled_series_and_bad_rules() {
        let events = feed(
            "BEGIN:VEVENT\r\nUID:c\r\nSTATUS:CANCELLED\r\nDTSTART:20260301T080000Z\r\n\
             RRULE:FREQ=DAILY\r\nEND:VEVENT\r\n",
        );
        assert!(
            expand(&events, utc(2026, 3, 1, 0, 0), utc(2026, 4, 1, 0, 0))
                .unwrap()
                .is_empty()
        );
        let events = feed(
            "BEGIN:VEVENT\r\nUID:x\r\nDTSTART:20260301T080000Z\r\nRRULE:FREQ=SOMETIMES\r\n\
             END:VEVENT\r\n",
        );
        let err = expand(&events, utc(2026, 3, 1, 0, 0), utc(2026, 4, 1, 0, 0)).unwrap_err();
        assert!(matches!(err, IcsError::BadRecurrence { .. }), "{err}");
    }

    /// `n` events repeating by `rule`, starting at `dtstart`.
    fn series(n: usize, dtstart: &str, rule: &str) -> Vec<VEvent> {
        let body: String = (0..n)
            .map(|i| {
                format!(
                    "BEGIN:VEVENT\r\nUID:s{i}\r\nDTSTART:{dtstart}\r\nDURATION:PT1M\r\n\
                     RRULE:{rule}\r\nEND:VEVENT\r\n"
                )
            })
            .collect();
        feed(&body)
    }

    /// Issue #19 finding 6: 40 minutely events were 40,000 rows. Sub-hourly rules are refused.
    #[test]
    fn sub_hourly_rules_are_refused() {
        let (from, to) = (utc(2026, 3, 16, 0, 0), utc(2026, 5, 15, 0, 0));
        for rule in [
            "FREQ=MINUTELY",
            "FREQ=SECONDLY;INTERVAL=30",
            "freq=minutely;count=5",
            "FREQ=HOURLY;BYMINUTE=0,30",
            "FREQ=DAILY;BYHOUR=9;BYMINUTE=0;BYSECOND=0,1,2",
        ] {
            let err = expand(&series(40, "20260316T080000Z", rule), from, to).unwrap_err();
            assert!(matches!(err, IcsError::TooFrequent { .. }), "{rule}: {err}");
        }
        // One BYMINUTE value is an ordinary "at 09:30".
        let ok = expand(
            &series(1, "20260316T080000Z", "FREQ=DAILY;BYHOUR=9;BYMINUTE=30"),
            from,
            to,
        )
        .unwrap();
        assert_eq!(ok.len(), 60);
    }

    #[test]
    fn instances_are_capped_per_series_and_per_feed() {
        let (from, to) = (utc(2026, 3, 16, 0, 0), utc(2026, 5, 15, 0, 0));
        // Hourly over 60 days is 1,440 instances: one series yields the cap.
        let one = expand(&series(1, "20260316T000000Z", "FREQ=HOURLY"), from, to).unwrap();
        assert_eq!(one.len(), usize::from(MAX_INSTANCES_PER_SERIES));
        let six = series(6, "20260316T000000Z", "FREQ=HOURLY");
        assert_eq!(
            expand(&six, from, to).map(|list| list.len()).unwrap_err(),
            IcsError::TooManyInstances {
                limit: MAX_INSTANCES_PER_FEED
            }
        );
        let four = expand(&series(4, "20260316T000000Z", "FREQ=HOURLY"), from, to).unwrap();
        assert_eq!(four.len(), 4 * usize::from(MAX_INSTANCES_PER_SERIES));
    }

    #[test]
    fn series_walking_decades_before_the_window_are_charged() {
        let (from, to) = (utc(2026, 3, 16, 0, 0), utc(2026, 5, 15, 0, 0));
        // An hourly series since 1970 walks ~493,000 periods before the window.
        let costly = series(5, "19700101T000000Z", "FREQ=HOURLY");
        assert_eq!(
            expand(&costly, from, to)
                .map(|list| list.len())
                .unwrap_err(),
            IcsError::TooCostly {
                limit: MAX_EXPANSION_STEPS
            }
        );
        // Ending long ago, or running every 1,000 hours, it is cheap.
        assert!(expand(
            &series(5, "19700101T000000Z", "FREQ=HOURLY;UNTIL=19710101T000000Z"),
            from,
            to
        )
        .unwrap()
        .is_empty());
        assert!(expand(
            &series(5, "19700101T000000Z", "FREQ=HOURLY;INTERVAL=1000"),
            from,
            to
        )
        .is_ok());
        // Weekly meetings since 2000 and yearly birthdays since 1950 fit.
        let mut ordinary = series(20, "20000103T080000Z", "FREQ=WEEKLY;BYDAY=MO");
        ordinary.extend(series(5, "19500316T000000Z", "FREQ=YEARLY"));
        assert!(expand(&ordinary, from, to).is_ok());
        // One hourly series since 1970 alone is over the bound.
        assert!(expand(&series(1, "19700101T000000Z", "FREQ=HOURLY"), from, to).is_err());
    }
}
