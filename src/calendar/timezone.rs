//! Which time zone a `TZID` parameter means (RFC 5545 §3.2.19, §3.6.5).
//!
//! Outlook and Exchange do not write IANA names: they write Windows zone ids ("Romance
//! Standard Time") or a display name ("(UTC+01:00) Brussels, Copenhagen, Madrid, Paris"), and
//! describe the zone's rules in a `VTIMEZONE` block. We resolve, in this order:
//!
//! 1. an IANA name (other calendar servers write those; chrono-tz knows them all);
//! 2. a Windows zone id from [`WINDOWS_ZONES`], the zones Nordic users and their business
//!    partners see, taken from CLDR's `windowsZones.xml` "001" (territory-neutral) mapping;
//! 3. the `VTIMEZONE` block's own offsets: a zone that switches on the last Sundays of March
//!    and October is the EU rule and maps to the IANA zone with the same offsets; a zone
//!    without daylight saving maps to the fixed `Etc/GMT±N` zone;
//! 4. otherwise the feed is rejected: guessing an offset would send calls to voicemail at
//!    the wrong hour, which is worse than keeping yesterday's good copy.
//!
//! All-day and floating times are not here: they are local to the organisation's zone.

use std::collections::HashMap;

use chrono_tz::Tz;

/// Windows zone id → IANA zone, CLDR "001" mapping, for the zones a Danish, Swedish or
/// Norwegian company's partners use. Compared case-insensitively.
pub const WINDOWS_ZONES: &[(&str, Tz)] = &[
    ("UTC", Tz::UTC),
    ("Coordinated Universal Time", Tz::UTC),
    ("GMT Standard Time", Tz::Europe__London),
    ("Greenwich Standard Time", Tz::Atlantic__Reykjavik),
    // Copenhagen, Brussels, Madrid, Paris.
    ("Romance Standard Time", Tz::Europe__Paris),
    // Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna (and Oslo).
    ("W. Europe Standard Time", Tz::Europe__Berlin),
    // Belgrade, Bratislava, Budapest, Ljubljana, Prague.
    ("Central Europe Standard Time", Tz::Europe__Budapest),
    // Sarajevo, Skopje, Warsaw, Zagreb.
    ("Central European Standard Time", Tz::Europe__Warsaw),
    // Helsinki, Kyiv, Riga, Sofia, Tallinn, Vilnius.
    ("FLE Standard Time", Tz::Europe__Kiev),
    ("GTB Standard Time", Tz::Europe__Bucharest),
    ("E. Europe Standard Time", Tz::Europe__Chisinau),
    ("Russian Standard Time", Tz::Europe__Moscow),
    ("Greenland Standard Time", Tz::America__Godthab),
    ("Eastern Standard Time", Tz::America__New_York),
    ("Central Standard Time", Tz::America__Chicago),
    ("Pacific Standard Time", Tz::America__Los_Angeles),
    ("China Standard Time", Tz::Asia__Shanghai),
    ("Tokyo Standard Time", Tz::Asia__Tokyo),
    ("India Standard Time", Tz::Asia__Calcutta),
];

/// Outlook's display names for the same zones, matched by their "(UTC±hh:mm) City" start.
const DISPLAY_NAMES: &[(&str, Tz)] = &[
    ("(UTC+01:00) Brussels, Copenhagen", Tz::Europe__Paris),
    ("(UTC+01:00) Amsterdam, Berlin", Tz::Europe__Berlin),
    ("(UTC+01:00) Belgrade", Tz::Europe__Budapest),
    ("(UTC+01:00) Sarajevo", Tz::Europe__Warsaw),
    ("(UTC+02:00) Helsinki", Tz::Europe__Kiev),
    ("(UTC+00:00) Dublin, Edinburgh", Tz::Europe__London),
    ("(UTC) Dublin, Edinburgh", Tz::Europe__London),
    ("(UTC) Coordinated Universal Time", Tz::UTC),
];

/// The rules of one `VTIMEZONE` block (RFC 5545 §3.6.5), as much as we use of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VTimezone {
    /// `TZOFFSETTO` of the `STANDARD` sub-component, in seconds east of UTC.
    pub standard_offset: Option<i32>,
    /// `TZOFFSETTO` of the `DAYLIGHT` sub-component, if the zone has daylight saving.
    pub daylight_offset: Option<i32>,
    /// Whether `DAYLIGHT` starts on the last Sunday of March (`BYMONTH=3;BYDAY=-1SU`).
    pub daylight_eu_rule: bool,
    /// Whether `STANDARD` starts on the last Sunday of October (`BYMONTH=10;BYDAY=-1SU`).
    pub standard_eu_rule: bool,
}

impl VTimezone {
    /// The IANA zone with the same offsets and switch rule, if there is one we can be sure of.
    fn equivalent(&self) -> Option<Tz> {
        let standard = self.standard_offset?;
        match self.daylight_offset {
            None => fixed_offset_zone(standard),
            Some(daylight) if daylight == standard => fixed_offset_zone(standard),
            Some(daylight) if self.daylight_eu_rule && self.standard_eu_rule => {
                // Since 1996 every EU zone switches at 01:00 UTC on these Sundays, so zones
                // with equal offsets agree at every instant we expand (now .. +60 days).
                match (standard, daylight) {
                    (0, 3600) => Some(Tz::Europe__London),
                    (3600, 7200) => Some(Tz::Europe__Paris),
                    (7200, 10800) => Some(Tz::Europe__Helsinki),
                    _ => None,
                }
            }
            Some(_) => None,
        }
    }
}

/// `Etc/GMT-1` is UTC+01:00 (POSIX signs are inverted); whole hours only.
fn fixed_offset_zone(seconds: i32) -> Option<Tz> {
    if seconds % 3600 != 0 {
        return None;
    }
    let hours = -seconds / 3600;
    let name = match hours {
        0 => "Etc/UTC".to_owned(),
        h if h > 0 => format!("Etc/GMT+{h}"),
        h => format!("Etc/GMT{h}"),
    };
    name.parse().ok()
}

/// Resolves `TZID` values against the built-in tables and the feed's `VTIMEZONE` blocks.
#[derive(Debug, Clone, Default)]
pub struct ZoneResolver {
    blocks: HashMap<String, VTimezone>,
}

impl ZoneResolver {
    /// A resolver that also knows the feed's `VTIMEZONE` blocks, keyed by their `TZID`.
    pub fn new(blocks: HashMap<String, VTimezone>) -> Self {
        Self { blocks }
    }

    /// The zone `tzid` names, or `None` when none of the rules in the module doc applies.
    pub fn resolve(&self, tzid: &str) -> Option<Tz> {
        // RFC 5545 §3.2.19: a leading "/" marks a globally unique id; Mozilla writes
        // "/mozilla.org/20050126_1/Europe/Copenhagen".
        let trimmed = tzid.trim().trim_matches('"');
        if let Ok(tz) = trimmed.parse::<Tz>() {
            return Some(tz);
        }
        if let Some(tz) = trimmed.rsplit_once('/').and_then(|_| iana_suffix(trimmed)) {
            return Some(tz);
        }
        if let Some((_, tz)) = WINDOWS_ZONES
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(trimmed))
        {
            return Some(*tz);
        }
        if let Some((_, tz)) = DISPLAY_NAMES
            .iter()
            .find(|(prefix, _)| trimmed.starts_with(prefix))
        {
            return Some(*tz);
        }
        self.blocks.get(tzid).and_then(VTimezone::equivalent)
    }
}

/// The IANA name at the end of a prefixed id ("/mozilla.org/…/Europe/Copenhagen").
fn iana_suffix(tzid: &str) -> Option<Tz> {
    let parts: Vec<&str> = tzid.split('/').collect();
    (1..parts.len()).find_map(|i| parts[i..].join("/").parse::<Tz>().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_and_iana_names() {
        let r = ZoneResolver::default();
        assert_eq!(r.resolve("Romance Standard Time"), Some(Tz::Europe__Paris));
        assert_eq!(
            r.resolve("w. europe standard time"),
            Some(Tz::Europe__Berlin)
        );
        assert_eq!(r.resolve("Europe/Copenhagen"), Some(Tz::Europe__Copenhagen));
        assert_eq!(r.resolve("UTC"), Some(Tz::UTC));
        assert_eq!(
            r.resolve("/mozilla.org/20050126_1/Europe/Copenhagen"),
            Some(Tz::Europe__Copenhagen)
        );
        assert_eq!(
            r.resolve("(UTC+01:00) Brussels, Copenhagen, Madrid, Paris"),
            Some(Tz::Europe__Paris)
        );
        assert_eq!(r.resolve("Customized Time Zone"), None);
    }

    #[test]
    fn falls_back_to_the_vtimezone_offsets() {
        let mut blocks = HashMap::new();
        blocks.insert(
            "Customized Time Zone".to_owned(),
            VTimezone {
                standard_offset: Some(3600),
                daylight_offset: Some(7200),
                daylight_eu_rule: true,
                standard_eu_rule: true,
            },
        );
        blocks.insert(
            "Fixed".to_owned(),
            VTimezone {
                standard_offset: Some(-3 * 3600),
                ..VTimezone::default()
            },
        );
        blocks.insert(
            "Odd".to_owned(),
            VTimezone {
                standard_offset: Some(3600),
                daylight_offset: Some(7200),
                daylight_eu_rule: false,
                standard_eu_rule: true,
            },
        );
        let r = ZoneResolver::new(blocks);
        assert_eq!(r.resolve("Customized Time Zone"), Some(Tz::Europe__Paris));
        assert_eq!(r.resolve("Fixed").map(|t| t.name()), Some("Etc/GMT+3"));
        assert_eq!(r.resolve("Odd"), None);
    }
}
