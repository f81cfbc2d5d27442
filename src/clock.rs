//! Time as an input. The routing, calendar and IVR cores never read a clock; the drivers ask a
//! [`Clock`] and pass `now` in, so tests can set the time (product rule 5).

use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Where the drivers read the time from.
pub trait Clock: Send + Sync + 'static {
    /// Wall-clock time, for routing decisions, calendar windows and "back at" greetings.
    fn now(&self) -> DateTime<Utc>;
    /// Monotonic time, for protocol timers and RTP pacing (never jumps with NTP).
    fn instant(&self) -> Instant;
}

/// A shared clock is a clock, so holders of an `Arc<dyn Clock>` read it like any other.
impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }

    fn instant(&self) -> Instant {
        (**self).instant()
    }
}

/// The real clock of the machine.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one place the wall clock is read
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    #[allow(clippy::disallowed_methods)] // the one place the monotonic clock is read
    fn instant(&self) -> Instant {
        Instant::now()
    }
}

/// A wall clock that starts at a given instant and then runs at real speed; the monotonic part
/// is the machine's. `serve` uses it when `ONESTATUS_TEST_NOW` is set, so tests of the real
/// binary can place a call "at 10:00 on a Tuesday" (product rule 5: time is an input).
#[derive(Debug, Clone, Copy)]
pub struct OffsetClock {
    /// The wall time at `origin`.
    start: DateTime<Utc>,
    /// When the clock was made.
    origin: Instant,
}

impl OffsetClock {
    /// A clock reading `start` now and advancing with the monotonic clock.
    #[allow(clippy::disallowed_methods)] // the origin of the offset
    pub fn starting_at(start: DateTime<Utc>) -> Self {
        OffsetClock {
            start,
            origin: Instant::now(),
        }
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = self.instant().saturating_duration_since(self.origin);
        self.start + chrono::Duration::from_std(elapsed).unwrap_or(chrono::Duration::zero())
    }

    #[allow(clippy::disallowed_methods)] // the monotonic clock is the machine's
    fn instant(&self) -> Instant {
        Instant::now()
    }
}

/// The environment variable that sets the server's wall clock, for tests only.
pub const TEST_NOW_VAR: &str = "ONESTATUS_TEST_NOW";

/// Why `ONESTATUS_TEST_NOW` was not used.
#[derive(Debug, thiserror::Error)]
#[error("{TEST_NOW_VAR}={value:?} is not an RFC 3339 time: {source}")]
pub struct TestNowError {
    /// The variable's value.
    pub value: String,
    /// The parse error.
    pub source: chrono::ParseError,
}

/// The clock `serve` runs on: [`OffsetClock`] starting at `test_now` (the value of
/// `ONESTATUS_TEST_NOW`, an RFC 3339 time) when given, else [`SystemClock`].
pub fn from_test_now(test_now: Option<&str>) -> Result<Arc<dyn Clock>, TestNowError> {
    match test_now {
        None => Ok(Arc::new(SystemClock)),
        Some(value) => DateTime::parse_from_rfc3339(value.trim())
            .map(|start| Arc::new(OffsetClock::starting_at(start.with_timezone(&Utc))) as _)
            .map_err(|source| TestNowError {
                value: value.to_owned(),
                source,
            }),
    }
}

/// A clock that tests set by hand. The monotonic part advances together with the wall part.
#[derive(Debug, Clone)]
pub struct ManualClock {
    inner: Arc<Mutex<(DateTime<Utc>, Instant)>>,
}

impl ManualClock {
    /// A clock standing at `now`.
    #[allow(clippy::disallowed_methods)] // an arbitrary monotonic origin is all that is needed
    pub fn new(now: DateTime<Utc>) -> Self {
        Self {
            inner: Arc::new(Mutex::new((now, Instant::now()))),
        }
    }

    /// Moves both clocks forward by `by`.
    pub fn advance(&self, by: std::time::Duration) {
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        guard.0 += chrono::Duration::from_std(by).unwrap_or(chrono::Duration::zero());
        guard.1 += by;
    }

    /// Sets the wall clock (the monotonic clock does not go backwards).
    pub fn set(&self, now: DateTime<Utc>) {
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        guard.0 = now;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).0
    }

    fn instant(&self) -> Instant {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_clock_starts_at_the_given_time_and_runs() {
        let start = DateTime::parse_from_rfc3339("2026-11-24T10:00:00+01:00")
            .unwrap()
            .with_timezone(&Utc);
        let clock = OffsetClock::starting_at(start);
        let first = clock.now();
        assert!(first >= start && first - start < chrono::Duration::seconds(1));
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(clock.now() - first >= chrono::Duration::milliseconds(20));
    }

    #[test]
    fn test_now_parses_rfc3339_or_says_why_not() {
        let clock = from_test_now(Some("2026-11-24T09:00:00Z")).unwrap();
        assert_eq!(
            clock.now().date_naive(),
            chrono::NaiveDate::from_ymd_opt(2026, 11, 24).unwrap()
        );
        let error = from_test_now(Some("tomorrow")).err().unwrap();
        assert!(error.to_string().contains("ONESTATUS_TEST_NOW"), "{error}");
        assert!(from_test_now(None).is_ok());
    }
}
