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
