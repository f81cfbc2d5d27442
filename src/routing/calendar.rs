//! How an imported calendar entry routes: Exchange's free/busy status, overridden per entry by
//! a calendar code in the subject.
//!
//! The default mapping is the one in the calendar-integration guide ("Standard
//! kalenderaktiviteter"):
//!
//! | busy status        | routes? | calls go to | reason announced |
//! |--------------------|---------|-------------|------------------|
//! | Free               | no      | —           | —                |
//! | Tentative          | no      | —           | —                |
//! | Busy               | yes     | voicemail   | Meeting          |
//! | OutOfOffice (Away) | yes     | voicemail   | OutOfOffice      |
//! | WorkingElsewhere   | no      | —           | —                |
//!
//! WorkingElsewhere is Exchange's "I am reachable, just not at my desk": the phone stays open
//! (the presence view still shows it), and a caller who gets no answer is not told of an absence
//! that is not one.
//!
//! Calendar codes, the user's explicit per-entry instruction, come before the mapping:
//! - `Ignore`: the entry does not exist for routing (a reminder, a note to self);
//! - `Forward(n)`: forward to `n` whatever the busy status — the user named a destination, and
//!   Outlook's busy status is often just its default;
//! - `KeepOpen`: a Busy/OutOfOffice entry is shown but the phone rings; on Free, Tentative and
//!   WorkingElsewhere it changes nothing, the phone is open anyway;
//! - `Reason(r)`: a Busy/OutOfOffice entry announces `r` instead of the default; on a
//!   non-routing entry there is no absence to give a reason for, so it changes nothing.
//!
//! Entries whose end is not after their start never route.

use chrono::{DateTime, Utc};

use super::state::{CalendarEntry, CalendarOverride};
use crate::domain::{BusyStatus, Reason};

/// What a routing calendar entry does with calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalendarEffect<'a> {
    /// To voicemail, announcing the reason.
    Voicemail,
    /// Forward to the number.
    Forward(&'a str),
    /// Shown as an absence, but the phone rings (calendar code KeepOpen).
    Open,
}

impl CalendarEntry {
    /// How the entry routes while in force: the reason announced and where calls go, or `None`
    /// when it never routes (see the module table).
    pub fn routing(&self) -> Option<(Reason, CalendarEffect<'_>)> {
        if self.end <= self.start {
            return None;
        }
        let default_reason = match self.busy {
            BusyStatus::OutOfOffice => Reason::OutOfOffice,
            BusyStatus::Free
            | BusyStatus::Tentative
            | BusyStatus::Busy
            | BusyStatus::WorkingElsewhere => Reason::Meeting,
        };
        let routes_by_default = matches!(self.busy, BusyStatus::Busy | BusyStatus::OutOfOffice);
        match (&self.override_code, routes_by_default) {
            (Some(CalendarOverride::Ignore), _) => None,
            (Some(CalendarOverride::Forward(number)), _) => {
                Some((default_reason, CalendarEffect::Forward(number)))
            }
            (_, false) => None,
            (Some(CalendarOverride::KeepOpen), true) => {
                Some((default_reason, CalendarEffect::Open))
            }
            (Some(CalendarOverride::Reason(reason)), true) => {
                Some((*reason, CalendarEffect::Voicemail))
            }
            (None, true) => Some((default_reason, CalendarEffect::Voicemail)),
        }
    }

    /// Whether the entry is in force at `at` (half-open, like RFC 5545 `DTEND`).
    pub fn is_in_force(&self, at: DateTime<Utc>) -> bool {
        self.start <= at && at < self.end
    }

    /// The first instant after `t` at which this entry comes into or goes out of force.
    pub(crate) fn next_boundary_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.end <= self.start {
            return None;
        }
        [self.start, self.end].into_iter().filter(|b| *b > t).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Origin;
    use chrono::TimeZone;

    fn entry(busy: BusyStatus, code: Option<CalendarOverride>) -> CalendarEntry {
        CalendarEntry {
            id: 7,
            start: Utc.with_ymd_and_hms(2026, 1, 12, 9, 0, 0).unwrap(),
            end: Utc.with_ymd_and_hms(2026, 1, 12, 10, 0, 0).unwrap(),
            busy,
            subject: "Styregruppe".into(),
            all_day: false,
            override_code: code,
            origin: Origin::Outlook,
        }
    }

    #[test]
    fn default_mapping_follows_the_guide() {
        assert_eq!(entry(BusyStatus::Free, None).routing(), None);
        assert_eq!(entry(BusyStatus::Tentative, None).routing(), None);
        assert_eq!(entry(BusyStatus::WorkingElsewhere, None).routing(), None);
        assert_eq!(
            entry(BusyStatus::Busy, None).routing(),
            Some((Reason::Meeting, CalendarEffect::Voicemail))
        );
        assert_eq!(
            entry(BusyStatus::OutOfOffice, None).routing(),
            Some((Reason::OutOfOffice, CalendarEffect::Voicemail))
        );
    }

    #[test]
    fn codes_override_the_mapping() {
        for busy in BusyStatus::ALL {
            assert_eq!(entry(*busy, Some(CalendarOverride::Ignore)).routing(), None);
            let fwd = entry(*busy, Some(CalendarOverride::Forward("+4533445566".into())));
            assert!(matches!(
                fwd.routing(),
                Some((_, CalendarEffect::Forward("+4533445566")))
            ));
        }
        assert_eq!(
            entry(BusyStatus::Busy, Some(CalendarOverride::KeepOpen)).routing(),
            Some((Reason::Meeting, CalendarEffect::Open))
        );
        assert_eq!(
            entry(BusyStatus::Free, Some(CalendarOverride::KeepOpen)).routing(),
            None
        );
        assert_eq!(
            entry(
                BusyStatus::OutOfOffice,
                Some(CalendarOverride::Reason(Reason::Holiday))
            )
            .routing(),
            Some((Reason::Holiday, CalendarEffect::Voicemail))
        );
        assert_eq!(
            entry(
                BusyStatus::Tentative,
                Some(CalendarOverride::Reason(Reason::Sick))
            )
            .routing(),
            None
        );
    }

    #[test]
    fn empty_or_inverted_entries_never_route() {
        let mut e = entry(BusyStatus::Busy, None);
        e.end = e.start;
        assert_eq!(e.routing(), None);
        assert_eq!(
            e.next_boundary_after(e.start - chrono::Duration::hours(1)),
            None
        );
    }
}
