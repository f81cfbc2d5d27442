//! Ad hoc absences: when one is in force, and the instants at which that can change.
//!
//! An absence's period is half-open, `[starts_at, ends_at)`, so "lunch 12:00–12:30" followed by
//! "meeting 12:30–13:30" hands over at 12:30 without a gap or an overlap. An absence whose end
//! is not after its start never comes into force: the web client should refuse it, but a bad
//! row must not route calls.

use chrono::{DateTime, Utc};

use super::state::Absence;

impl Absence {
    /// Whether the absence is in force at `at`.
    pub fn is_in_force(&self, at: DateTime<Utc>) -> bool {
        self.starts_at <= at && self.ends_at.is_none_or(|end| at < end) && self.is_well_formed()
    }

    /// Whether the period is usable: open-ended, or ending after it starts.
    pub fn is_well_formed(&self) -> bool {
        self.ends_at.is_none_or(|end| end > self.starts_at)
    }

    /// The first instant after `t` at which this absence comes into or goes out of force.
    pub(crate) fn next_boundary_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if !self.is_well_formed() {
            return None;
        }
        [Some(self.starts_at), self.ends_at]
            .into_iter()
            .flatten()
            .filter(|b| *b > t)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Origin, Reason};
    use crate::routing::state::Destination;
    use chrono::TimeZone;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 12, h, m, 0).unwrap()
    }

    fn absence(start: DateTime<Utc>, end: Option<DateTime<Utc>>) -> Absence {
        Absence {
            id: 1,
            reason: Reason::Lunch,
            starts_at: start,
            ends_at: end,
            destination: Destination::Voicemail,
            free_text: None,
            origin: Origin::Web,
            set_at: start,
        }
    }

    #[test]
    fn period_is_half_open() {
        let a = absence(at(12, 0), Some(at(12, 30)));
        assert!(!a.is_in_force(at(11, 59)));
        assert!(a.is_in_force(at(12, 0)));
        assert!(a.is_in_force(at(12, 29)));
        assert!(!a.is_in_force(at(12, 30)));
    }

    #[test]
    fn open_ended_stays_in_force() {
        let a = absence(at(12, 0), None);
        assert!(a.is_in_force(Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap()));
        assert_eq!(a.next_boundary_after(at(12, 0)), None);
        assert_eq!(a.next_boundary_after(at(11, 0)), Some(at(12, 0)));
    }

    #[test]
    fn inverted_period_never_applies() {
        let a = absence(at(12, 30), Some(at(12, 0)));
        assert!(!a.is_in_force(at(12, 15)));
        assert!(!a.is_in_force(at(12, 30)));
        assert_eq!(a.next_boundary_after(at(0, 0)), None);
    }

    #[test]
    fn boundaries_are_start_then_end() {
        let a = absence(at(12, 0), Some(at(12, 30)));
        assert_eq!(a.next_boundary_after(at(11, 0)), Some(at(12, 0)));
        assert_eq!(a.next_boundary_after(at(12, 0)), Some(at(12, 30)));
        assert_eq!(a.next_boundary_after(at(12, 30)), None);
    }
}
