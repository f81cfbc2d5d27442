//! Failed-login counting per source address, in memory and bounded.
//!
//! The per-local-number lockout lives in the store (it must survive a restart and hold across
//! nodes); this second limit stops one address from walking through many local numbers, each
//! staying under its own lockout. It is fixed-window counting: after `max` failures within
//! `window` of the first, the address gets 429 until the window ends.
//!
//! The table holds at most `capacity` addresses: when full, expired windows are dropped, and
//! if none has expired the oldest window goes — an attacker spraying from many addresses can
//! only make us forget old entries, never grow memory.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

/// One address's window.
#[derive(Debug, Clone, Copy)]
struct Window {
    started: DateTime<Utc>,
    failures: u32,
}

/// Per-address failure counter.
#[derive(Debug)]
pub struct IpLimiter {
    max: u32,
    window: Duration,
    capacity: usize,
    table: Mutex<HashMap<IpAddr, Window>>,
}

impl IpLimiter {
    /// A limiter allowing `max` failures per `window`, remembering at most `capacity` addresses.
    pub fn new(max: u32, window: Duration, capacity: usize) -> IpLimiter {
        IpLimiter {
            max: max.max(1),
            window,
            capacity: capacity.max(1),
            table: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Window>> {
        // Each critical section is one map update; a panic cannot leave it half-done.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `Some(seconds to wait)` if `addr` has used up its attempts at `now`.
    pub fn blocked(&self, addr: IpAddr, now: DateTime<Utc>) -> Option<u64> {
        let table = self.lock();
        let w = table.get(&addr)?;
        let ends = w.started + self.window;
        (w.failures >= self.max && now < ends).then(|| {
            u64::try_from((ends - now).num_seconds())
                .unwrap_or(0)
                .max(1)
        })
    }

    /// Counts a failure of `addr` at `now`.
    pub fn record_failure(&self, addr: IpAddr, now: DateTime<Utc>) {
        let mut table = self.lock();
        if !table.contains_key(&addr) && table.len() >= self.capacity {
            let window = self.window;
            table.retain(|_, w| w.started + window > now);
            if table.len() >= self.capacity {
                if let Some(oldest) = table.iter().min_by_key(|(_, w)| w.started).map(|(a, _)| *a) {
                    table.remove(&oldest);
                }
            }
        }
        let entry = table.entry(addr).or_insert(Window {
            started: now,
            failures: 0,
        });
        if entry.started + self.window <= now {
            *entry = Window {
                started: now,
                failures: 0,
            };
        }
        entry.failures = entry.failures.saturating_add(1);
    }

    /// Addresses remembered now (for tests and metrics).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no address is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(min: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 5, 10, 0, 0).unwrap() + Duration::minutes(min)
    }

    #[test]
    fn blocks_after_max_until_the_window_ends() {
        let limiter = IpLimiter::new(3, Duration::minutes(10), 100);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..2 {
            limiter.record_failure(a, t(0));
        }
        assert_eq!(limiter.blocked(a, t(1)), None);
        limiter.record_failure(a, t(1));
        assert_eq!(limiter.blocked(a, t(1)), Some(9 * 60));
        assert_eq!(limiter.blocked("192.0.2.2".parse().unwrap(), t(1)), None);
        assert_eq!(limiter.blocked(a, t(10)), None);
        limiter.record_failure(a, t(10));
        assert_eq!(limiter.blocked(a, t(10)), None, "a new window starts");
    }

    #[test]
    fn the_table_is_bounded() {
        let limiter = IpLimiter::new(3, Duration::minutes(10), 4);
        for i in 0..100u8 {
            limiter.record_failure(IpAddr::from([10, 0, 0, i]), t(i64::from(i) / 10));
        }
        assert_eq!(limiter.len(), 4);
    }
}
