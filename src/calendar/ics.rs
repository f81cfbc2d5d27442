//! Reading an iCalendar feed (RFC 5545) as Outlook and Exchange write it, into [`VEvent`]s whose
//! times are all tied to a zone. Sans-I/O: text in, events out, no clock.
//!
//! In the call flow this is the first step of a calendar sync: feed text → `VEvent`s →
//! [`expand`](super::expand) → stored entries → routing.
//!
//! The content-line grammar (§3.1 folding, §3.1.1 parameters, nested components) is parsed by
//! the `icalendar` crate's parser; this module gives the values their meaning:
//! - `DTSTART`/`DTEND`/`RECURRENCE-ID`/`EXDATE` (§3.3.4 DATE, §3.3.5 DATE-TIME in its three
//!   forms: UTC with `Z`, local with `TZID=`, and floating), with `TZID`s resolved by
//!   [`ZoneResolver`] (Windows zone names, `VTIMEZONE` offsets);
//! - all-day entries (`VALUE=DATE`) and floating times are local to the organisation's zone:
//!   a holiday is midnight to midnight where the user works;
//! - `DTEND` missing: `DURATION` (§3.3.6), else one day for a DATE and zero for a DATE-TIME
//!   (§3.6.1);
//! - the busy status ([`busy_status`](super::busy_status)) and `STATUS:CANCELLED`.
//!
//! Anything we cannot give a meaning to — a broken line, an event without `UID` or `DTSTART`,
//! a date that is not a date, a zone we cannot place, an end before the start — rejects the
//! whole feed ([`IcsError`]): a partial import would silently drop meetings, and the caller
//! keeps the previous good copy instead. Inputs are bounded ([`MAX_FEED_BYTES`],
//! [`MAX_EVENTS`], [`MAX_NESTING`]) because feeds come from the network.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use chrono_tz::Tz;
use icalendar::parser::{Component, Property};

use super::busy_status::busy_status;
use super::timezone::{VTimezone, ZoneResolver};
use crate::domain::BusyStatus;
use crate::routing::local_time::to_utc;

/// Largest feed accepted. A year of a busy person's Exchange calendar is well under 1 MiB.
/// The parser's time grows faster than linearly with the feed (measured unoptimised: 1.2 s
/// for 128 KiB, 14 s for 512 KiB, 69 s for 1 MiB of 300-byte events), so this bound is also
/// the parse-time bound of issue #19; it was 8 MiB.
pub const MAX_FEED_BYTES: usize = 2 * 1024 * 1024;
/// Most `VEVENT`s accepted in one feed (a window holds at most
/// [`MAX_INSTANCES_PER_FEED`](super::expand::MAX_INSTANCES_PER_FEED) instances anyway).
pub const MAX_EVENTS: usize = 5_000;
/// Deepest component nesting accepted (VCALENDAR › VTIMEZONE › STANDARD is 3; VALARM in a
/// VEVENT is 3). The parser recurses, so this also bounds its stack.
pub const MAX_NESTING: usize = 8;

/// Why a feed was rejected as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IcsError {
    /// The body is larger than [`MAX_FEED_BYTES`].
    #[error("feed is larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// The body does not start with `BEGIN:VCALENDAR` (an HTML login page, an empty body).
    #[error("not an iCalendar feed (no BEGIN:VCALENDAR)")]
    NotICalendar,
    /// Components nest deeper than [`MAX_NESTING`].
    #[error("components nest deeper than {MAX_NESTING}")]
    TooDeep,
    /// More than [`MAX_EVENTS`] events.
    #[error("more than {MAX_EVENTS} events")]
    TooManyEvents,
    /// The content lines do not parse (RFC 5545 §3.1); the parser's message, shortened.
    #[error("syntax error: {0}")]
    Syntax(String),
    /// A required property is missing from an event.
    #[error("event {event}: missing {property}")]
    Missing {
        /// The event's UID, or its position when the UID is what is missing.
        event: String,
        /// The property name.
        property: &'static str,
    },
    /// A date, date-time or duration value does not parse.
    #[error("event {event}: bad {property} value {value:?}")]
    BadValue {
        /// The event's UID.
        event: String,
        /// The property name.
        property: String,
        /// The value as written (shortened).
        value: String,
    },
    /// A `TZID` that names no zone we know and has no usable `VTIMEZONE`.
    #[error("unknown time zone {0:?}")]
    UnknownTimeZone(String),
    /// `DTEND` before `DTSTART`.
    #[error("event {0}: ends before it starts")]
    EndBeforeStart(String),
    /// An `RRULE` the recurrence engine rejects.
    #[error("event {event}: bad RRULE: {reason}")]
    BadRecurrence {
        /// The event's UID.
        event: String,
        /// Why.
        reason: String,
    },
    /// A recurrence more often than hourly (`FREQ=SECONDLY`/`MINUTELY`, or several `BYMINUTE`
    /// or `BYSECOND` values): no calendar needs one, and one such rule is thousands of
    /// entries a day (issue #19). See [`expand`](super::expand) for the bounds.
    #[error("event {event}: repeats more often than hourly ({rule})")]
    TooFrequent {
        /// The event's UID.
        event: String,
        /// The offending rule part, e.g. `FREQ=MINUTELY`.
        rule: String,
    },
    /// The feed has more instances in the sync window than
    /// [`MAX_INSTANCES_PER_FEED`](super::expand::MAX_INSTANCES_PER_FEED).
    #[error("more than {limit} entries in the sync window")]
    TooManyInstances {
        /// The limit.
        limit: usize,
    },
    /// Expanding the feed's series would take more than
    /// [`MAX_EXPANSION_STEPS`](super::expand::MAX_EXPANSION_STEPS) steps (series repeating
    /// often since long ago).
    #[error("recurring series too costly to expand (more than {limit} steps)")]
    TooCostly {
        /// The limit.
        limit: u64,
    },
}

/// A point in time as the feed wrote it: a wall-clock reading in a zone, or a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventTime {
    /// The wall-clock reading (midnight for a date).
    pub local: NaiveDateTime,
    /// The zone it is read in: the `TZID`'s, UTC for `Z` times, the organisation's for
    /// floating times and dates.
    pub tz: Tz,
    /// A `VALUE=DATE` value (all-day).
    pub date_only: bool,
}

impl EventTime {
    /// The instant, with RFC 5545 §3.3.5's rules for skipped and repeated local times.
    pub fn instant(&self) -> Option<DateTime<Utc>> {
        to_utc(self.tz, self.local)
    }

    /// The stable text key of this time, used to pair a `RECURRENCE-ID` with the instance it
    /// replaces and as the stored `recurrence_id`: `YYYYMMDD` for dates, the UTC instant
    /// `YYYYMMDDTHHMMSSZ` otherwise (so `TZID` and `Z` spellings of one instant agree).
    pub fn key(&self) -> String {
        if self.date_only {
            self.local.format("%Y%m%d").to_string()
        } else {
            match self.instant() {
                Some(t) => t.format("%Y%m%dT%H%M%SZ").to_string(),
                None => self.local.format("%Y%m%dT%H%M%S").to_string(),
            }
        }
    }
}

/// How long each instance of an event lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Length {
    /// Elapsed time, for timed events (a one-hour meeting is one hour even across a DST
    /// change, RFC 5545 §3.3.6 for `DURATION` in hours/minutes/seconds).
    Exact(Duration),
    /// Whole calendar days, for all-day events: midnight to midnight local, whatever DST does.
    Days(u32),
}

/// One `VEVENT`, with the meaning of its properties resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VEvent {
    /// `UID`.
    pub uid: String,
    /// `RECURRENCE-ID` of an overridden instance; `None` for a master or single event.
    pub recurrence_id: Option<EventTime>,
    /// `SUMMARY` (unescaped), where calendar codes live.
    pub summary: String,
    /// `DTSTART`.
    pub start: EventTime,
    /// From `DTEND`, `DURATION` or the §3.6.1 default.
    pub length: Length,
    /// `RRULE` as written (without the property name).
    pub rrule: Option<String>,
    /// Every `EXDATE` value.
    pub exdates: Vec<EventTime>,
    /// The busy status.
    pub busy: BusyStatus,
    /// `STATUS:CANCELLED`.
    pub cancelled: bool,
}

/// Parses a feed. `default_tz` is the organisation's zone, for floating times and dates.
pub fn parse_feed(text: &str, default_tz: Tz) -> Result<Vec<VEvent>, IcsError> {
    if text.len() > MAX_FEED_BYTES {
        return Err(IcsError::TooLarge {
            limit: MAX_FEED_BYTES,
        });
    }
    let text = text.trim_start_matches('\u{feff}').trim_start();
    if !text
        .get(..15)
        .is_some_and(|s| s.eq_ignore_ascii_case("BEGIN:VCALENDAR"))
    {
        return Err(IcsError::NotICalendar);
    }
    // The parser expects LF line ends after unfolding; Exchange writes CRLF (§3.1).
    let normalized = text.replace("\r\n", "\n");
    let unfolded = icalendar::parser::unfold(&normalized);
    check_nesting(&unfolded)?;
    let calendar = icalendar::parser::read_calendar(&unfolded).map_err(|e| {
        // The parser's message quotes the input; keep it short enough to store and show.
        IcsError::Syntax(shorten(
            e.lines().take(4).collect::<Vec<_>>().join(" / "),
            300,
        ))
    })?;

    let blocks: HashMap<String, VTimezone> = calendar
        .components
        .iter()
        .filter(|c| c.name.as_str().eq_ignore_ascii_case("VTIMEZONE"))
        .filter_map(vtimezone)
        .collect();
    let zones = ZoneResolver::new(blocks);

    let events: Vec<&Component<'_>> = calendar
        .components
        .iter()
        .filter(|c| c.name.as_str().eq_ignore_ascii_case("VEVENT"))
        .collect();
    if events.len() > MAX_EVENTS {
        return Err(IcsError::TooManyEvents);
    }
    events
        .iter()
        .enumerate()
        .map(|(i, c)| vevent(c, i, &zones, default_tz))
        .collect()
}

/// Rejects deep nesting before the recursive parser sees it.
fn check_nesting(unfolded: &str) -> Result<(), IcsError> {
    let mut depth = 0usize;
    for line in unfolded.lines() {
        let upper = line.get(..6).map(str::to_ascii_uppercase);
        match upper.as_deref() {
            Some("BEGIN:") => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(IcsError::TooDeep);
                }
            }
            Some(_)
                if line
                    .get(..4)
                    .is_some_and(|s| s.eq_ignore_ascii_case("END:")) =>
            {
                depth = depth.saturating_sub(1);
            }
            _ => {}
        }
    }
    Ok(())
}

fn shorten(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

fn prop<'c>(c: &'c Component<'_>, name: &str) -> Option<&'c Property<'c>> {
    c.properties
        .iter()
        .find(|p| p.name.as_str().eq_ignore_ascii_case(name))
}

fn props<'c>(c: &'c Component<'_>, name: &'c str) -> impl Iterator<Item = &'c Property<'c>> + 'c {
    c.properties
        .iter()
        .filter(move |p| p.name.as_str().eq_ignore_ascii_case(name))
}

fn param<'p>(p: &'p Property<'_>, name: &str) -> Option<&'p str> {
    p.params
        .iter()
        .find(|x| x.key.as_str().eq_ignore_ascii_case(name))
        .and_then(|x| x.val.as_ref())
        .map(|v| v.as_str())
}

fn value<'c>(c: &'c Component<'_>, name: &str) -> Option<&'c str> {
    prop(c, name).map(|p| p.val.as_str())
}

/// The offsets and switch rules of a `VTIMEZONE`, keyed by its `TZID`.
fn vtimezone(c: &Component<'_>) -> Option<(String, VTimezone)> {
    let tzid = value(c, "TZID")?.to_owned();
    let mut block = VTimezone::default();
    for sub in &c.components {
        let offset = value(sub, "TZOFFSETTO").and_then(parse_utc_offset);
        let rule = value(sub, "RRULE").unwrap_or("").to_ascii_uppercase();
        let last_sunday_of = |month: &str| {
            rule.split(';').any(|p| p == format!("BYMONTH={month}"))
                && rule.split(';').any(|p| p == "BYDAY=-1SU")
        };
        if sub.name.as_str().eq_ignore_ascii_case("STANDARD") {
            block.standard_offset = offset;
            block.standard_eu_rule = last_sunday_of("10");
        } else if sub.name.as_str().eq_ignore_ascii_case("DAYLIGHT") {
            block.daylight_offset = offset;
            block.daylight_eu_rule = last_sunday_of("3");
        }
    }
    Some((tzid, block))
}

/// RFC 5545 §3.3.14 UTC-OFFSET: `+hhmm` or `+hhmmss`, in seconds east of UTC.
fn parse_utc_offset(v: &str) -> Option<i32> {
    let v = v.trim();
    let (sign, digits) = match v.as_bytes().first()? {
        b'+' => (1, &v[1..]),
        b'-' => (-1, &v[1..]),
        _ => return None,
    };
    if !(digits.len() == 4 || digits.len() == 6) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let h: i32 = digits[0..2].parse().ok()?;
    let m: i32 = digits[2..4].parse().ok()?;
    let s: i32 = digits.get(4..6).map_or(Some(0), |s| s.parse().ok())?;
    Some(sign * (h * 3600 + m * 60 + s))
}

fn vevent(
    c: &Component<'_>,
    index: usize,
    zones: &ZoneResolver,
    default_tz: Tz,
) -> Result<VEvent, IcsError> {
    let uid = value(c, "UID")
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .ok_or_else(|| IcsError::Missing {
            event: format!("#{}", index + 1),
            property: "UID",
        })?
        .to_owned();
    let start_prop = prop(c, "DTSTART").ok_or_else(|| IcsError::Missing {
        event: uid.clone(),
        property: "DTSTART",
    })?;
    let start = one_time(start_prop, &uid, zones, default_tz)?;
    let length = length(c, &start, &uid, zones, default_tz)?;
    let recurrence_id = prop(c, "RECURRENCE-ID")
        .map(|p| one_time(p, &uid, zones, default_tz))
        .transpose()?;
    let mut exdates = Vec::new();
    for p in props(c, "EXDATE") {
        exdates.extend(times(p, &uid, zones, default_tz)?);
    }
    let summary = prop(c, "SUMMARY")
        .map(|p| p.val.clone().unescape_text().as_str().trim().to_owned())
        .unwrap_or_default();
    let status = value(c, "STATUS");
    Ok(VEvent {
        recurrence_id,
        summary: shorten(summary, 1000),
        start,
        length,
        rrule: value(c, "RRULE").map(|r| r.trim().to_owned()),
        exdates,
        busy: busy_status(
            value(c, "X-MICROSOFT-CDO-BUSYSTATUS"),
            value(c, "X-MICROSOFT-CDO-INTENDEDSTATUS"),
            value(c, "TRANSP"),
            status,
        ),
        cancelled: status.is_some_and(|s| s.trim().eq_ignore_ascii_case("CANCELLED")),
        uid,
    })
}

/// The instance length from `DTEND`, `DURATION` or the §3.6.1 default.
fn length(
    c: &Component<'_>,
    start: &EventTime,
    uid: &str,
    zones: &ZoneResolver,
    default_tz: Tz,
) -> Result<Length, IcsError> {
    let bad = |property: &str, value: &str| IcsError::BadValue {
        event: uid.to_owned(),
        property: property.to_owned(),
        value: shorten(value.to_owned(), 80),
    };
    if let Some(p) = prop(c, "DTEND") {
        let end = one_time(p, uid, zones, default_tz)?;
        if start.date_only && end.date_only {
            let days = (end.local.date() - start.local.date()).num_days();
            return u32::try_from(days)
                .map(Length::Days)
                .map_err(|_| IcsError::EndBeforeStart(uid.to_owned()));
        }
        let (Some(s), Some(e)) = (start.instant(), end.instant()) else {
            return Err(bad("DTEND", p.val.as_str()));
        };
        if e < s {
            return Err(IcsError::EndBeforeStart(uid.to_owned()));
        }
        return Ok(Length::Exact(e - s));
    }
    if let Some(v) = value(c, "DURATION") {
        let d = parse_duration(v).ok_or_else(|| bad("DURATION", v))?;
        if d < Duration::zero() {
            return Err(IcsError::EndBeforeStart(uid.to_owned()));
        }
        if start.date_only && d.num_seconds() % 86_400 == 0 {
            return u32::try_from(d.num_days())
                .map(Length::Days)
                .map_err(|_| bad("DURATION", v));
        }
        return Ok(Length::Exact(d));
    }
    Ok(if start.date_only {
        Length::Days(1)
    } else {
        Length::Exact(Duration::zero())
    })
}

/// A property that must hold exactly one date or date-time.
fn one_time(
    p: &Property<'_>,
    uid: &str,
    zones: &ZoneResolver,
    default_tz: Tz,
) -> Result<EventTime, IcsError> {
    let mut all = times(p, uid, zones, default_tz)?;
    match (all.pop(), all.is_empty()) {
        (Some(t), true) => Ok(t),
        _ => Err(IcsError::BadValue {
            event: uid.to_owned(),
            property: p.name.as_str().to_owned(),
            value: shorten(p.val.as_str().to_owned(), 80),
        }),
    }
}

/// The comma-separated date or date-time values of a property (EXDATE may list several).
fn times(
    p: &Property<'_>,
    uid: &str,
    zones: &ZoneResolver,
    default_tz: Tz,
) -> Result<Vec<EventTime>, IcsError> {
    let name = p.name.as_str();
    let bad = |v: &str| IcsError::BadValue {
        event: uid.to_owned(),
        property: name.to_owned(),
        value: shorten(v.to_owned(), 80),
    };
    let value_date = param(p, "VALUE").is_some_and(|v| v.eq_ignore_ascii_case("DATE"));
    let tz = match param(p, "TZID") {
        Some(tzid) => Some(
            zones
                .resolve(tzid)
                .ok_or_else(|| IcsError::UnknownTimeZone(shorten(tzid.to_owned(), 80)))?,
        ),
        None => None,
    };
    p.val
        .as_str()
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| parse_time(v, value_date, tz, default_tz).ok_or_else(|| bad(v)))
        .collect::<Result<Vec<_>, _>>()
        .and_then(|list| {
            if list.is_empty() {
                Err(bad(p.val.as_str()))
            } else {
                Ok(list)
            }
        })
}

/// RFC 5545 §3.3.4 DATE (`20260112`) or §3.3.5 DATE-TIME (`20260112T090000`, `…Z`).
fn parse_time(v: &str, value_date: bool, tz: Option<Tz>, default_tz: Tz) -> Option<EventTime> {
    if v.len() == 8 {
        // A bare date is a DATE even when VALUE=DATE is missing (Outlook sometimes omits it).
        let date = NaiveDate::parse_from_str(v, "%Y%m%d").ok()?;
        return Some(EventTime {
            local: date.and_time(NaiveTime::MIN),
            tz: default_tz,
            date_only: true,
        });
    }
    if value_date {
        return None;
    }
    let (body, utc) = match v.strip_suffix(['Z', 'z']) {
        Some(b) => (b, true),
        None => (v, false),
    };
    if body.len() != 15 {
        return None;
    }
    let local = NaiveDateTime::parse_from_str(body, "%Y%m%dT%H%M%S").ok()?;
    let tz = if utc {
        Tz::UTC
    } else {
        tz.unwrap_or(default_tz)
    };
    Some(EventTime {
        local,
        tz,
        date_only: false,
    })
}

/// RFC 5545 §3.3.6 DURATION: `[+|-]P[nW]` or `[+|-]P[nD][T[nH][nM][nS]]`.
pub fn parse_duration(v: &str) -> Option<Duration> {
    let v = v.trim();
    let (sign, rest) = match v.as_bytes().first()? {
        b'-' => (-1, &v[1..]),
        b'+' => (1, &v[1..]),
        _ => (1, v),
    };
    let rest = rest.strip_prefix(['P', 'p'])?;
    let mut total: i64 = 0;
    let mut number: Option<i64> = None;
    let mut in_time = false;
    let mut any = false;
    for ch in rest.chars() {
        if let Some(d) = ch.to_digit(10) {
            let n = number
                .unwrap_or(0)
                .checked_mul(10)?
                .checked_add(i64::from(d))?;
            number = Some(n);
            continue;
        }
        let unit = match (ch.to_ascii_uppercase(), in_time) {
            ('T', false) if number.is_none() => {
                in_time = true;
                continue;
            }
            ('W', false) => 7 * 86_400,
            ('D', false) => 86_400,
            ('H', true) => 3_600,
            ('M', true) => 60,
            ('S', true) => 1,
            _ => return None,
        };
        total = total.checked_add(number.take()?.checked_mul(unit)?)?;
        any = true;
    }
    if number.is_some() || !any {
        return None;
    }
    Duration::try_seconds(sign * total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const CPH: Tz = Tz::Europe__Copenhagen;

    fn feed(body: &str) -> String {
        format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n{body}END:VCALENDAR\r\n")
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("PT1H30M"), Some(Duration::minutes(90)));
        assert_eq!(parse_duration("P1D"), Some(Duration::days(1)));
        assert_eq!(parse_duration("P2W"), Some(Duration::days(14)));
        assert_eq!(parse_duration("-PT15M"), Some(Duration::minutes(-15)));
        assert_eq!(parse_duration("P1DT2H"), Some(Duration::hours(26)));
        for bad in [
            "",
            "P",
            "PT",
            "1H",
            "PT1",
            "P1H",
            "PT1D",
            "P99999999999999999999D",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn utc_offsets() {
        assert_eq!(parse_utc_offset("+0100"), Some(3600));
        assert_eq!(parse_utc_offset("-0230"), Some(-9000));
        assert_eq!(parse_utc_offset("+013015"), Some(5415));
        assert_eq!(parse_utc_offset("0100"), None);
        assert_eq!(parse_utc_offset("+1"), None);
    }

    #[test]
    fn three_forms_of_date_time_and_dates() {
        let text = feed(
            "BEGIN:VEVENT\r\nUID:a\r\nDTSTART;TZID=Romance Standard Time:20260330T090000\r\n\
             DTEND:20260330T080000Z\r\nSUMMARY:Status\\, uge 14\r\nEND:VEVENT\r\n\
             BEGIN:VEVENT\r\nUID:b\r\nDTSTART:20260330T090000\r\nDURATION:PT30M\r\n\
             END:VEVENT\r\n\
             BEGIN:VEVENT\r\nUID:c\r\nDTSTART;VALUE=DATE:20260330\r\n\
             DTEND;VALUE=DATE:20260404\r\nEND:VEVENT\r\n",
        );
        let events = parse_feed(&text, CPH).unwrap();
        assert_eq!(events.len(), 3);
        // 09:00 Paris summer time is 07:00Z; the end is 08:00Z: one hour.
        assert_eq!(
            events[0].start.instant(),
            Some(Utc.with_ymd_and_hms(2026, 3, 30, 7, 0, 0).unwrap())
        );
        assert_eq!(events[0].length, Length::Exact(Duration::hours(1)));
        assert_eq!(events[0].summary, "Status, uge 14");
        assert_eq!(events[0].busy, BusyStatus::Busy);
        // Floating: Copenhagen wall clock.
        assert_eq!(events[1].start.tz, CPH);
        assert_eq!(events[1].length, Length::Exact(Duration::minutes(30)));
        assert!(events[2].start.date_only);
        assert_eq!(events[2].length, Length::Days(5));
    }

    #[test]
    fn defaults_for_a_missing_end() {
        let text = feed(
            "BEGIN:VEVENT\r\nUID:a\r\nDTSTART;VALUE=DATE:20260330\r\nEND:VEVENT\r\n\
             BEGIN:VEVENT\r\nUID:b\r\nDTSTART:20260330T090000Z\r\nEND:VEVENT\r\n",
        );
        let events = parse_feed(&text, CPH).unwrap();
        assert_eq!(events[0].length, Length::Days(1));
        assert_eq!(events[1].length, Length::Exact(Duration::zero()));
    }

    #[test]
    fn rejects_what_it_cannot_read() {
        let cases = [
            ("<html>login</html>".to_owned(), "not an iCalendar"),
            (
                "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a\r\n".to_owned(),
                "syntax",
            ),
            (
                feed("BEGIN:VEVENT\r\nDTSTART:20260330T090000Z\r\nEND:VEVENT\r\n"),
                "missing UID",
            ),
            (
                feed("BEGIN:VEVENT\r\nUID:a\r\nEND:VEVENT\r\n"),
                "missing DTSTART",
            ),
            (
                feed("BEGIN:VEVENT\r\nUID:a\r\nDTSTART:2026-03-30\r\nEND:VEVENT\r\n"),
                "bad DTSTART",
            ),
            (
                feed("BEGIN:VEVENT\r\nUID:a\r\nDTSTART;TZID=Mars Standard Time:20260330T090000\r\nEND:VEVENT\r\n"),
                "unknown time zone",
            ),
            (
                feed("BEGIN:VEVENT\r\nUID:a\r\nDTSTART:20260330T090000Z\r\nDTEND:20260330T080000Z\r\nEND:VEVENT\r\n"),
                "ends before",
            ),
            (
                format!("BEGIN:VCALENDAR\r\n{}", "BEGIN:X\r\n".repeat(100)),
                "nest deeper",
            ),
        ];
        for (text, expected) in cases {
            let err = parse_feed(&text, CPH).unwrap_err().to_string();
            assert!(err.contains(expected), "{err:?} should say {expected:?}");
        }
    }

    #[test]
    fn keys_agree_across_spellings() {
        let zoned = EventTime {
            local: NaiveDate::from_ymd_opt(2026, 3, 30)
                .unwrap()
                .and_hms_opt(9, 0, 0)
                .unwrap(),
            tz: CPH,
            date_only: false,
        };
        let utc = EventTime {
            local: NaiveDate::from_ymd_opt(2026, 3, 30)
                .unwrap()
                .and_hms_opt(7, 0, 0)
                .unwrap(),
            tz: Tz::UTC,
            date_only: false,
        };
        assert_eq!(zoned.key(), "20260330T070000Z");
        assert_eq!(zoned.key(), utc.key());
    }
}
