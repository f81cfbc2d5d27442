//! Failed-login counting per source address: in memory and bounded, and (with a store) shared
//! by every node and kept over a restart.
//!
//! The per-local-number lockout lives in the store (it must survive a restart and hold across
//! nodes); this second limit stops one address from walking through many local numbers, each
//! staying under its own lockout. It is fixed-window counting: after `max` failures within
//! `window` of the first, the address gets 429 until the window ends.
//!
//! With a store ([`IpLimiter::with_store`], as `serve` runs it) every failure is also counted
//! in `source_limits` (scope [`SCOPE`]) and an address blocked there is blocked on every node
//! (issue #20: several nodes behind one dispatcher each gave an attacker its own 20
//! attempts). The in-memory table stays the fast path: a blocked address is refused without a
//! database round trip, and one read is added per login attempt, next to the argon2 work the
//! attempt costs anyway.
//!
//! The table holds at most `capacity` addresses: when full, expired windows are dropped, and
//! if none has expired the oldest window goes — an attacker spraying from many addresses can
//! only make us forget old entries, never grow memory.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

use crate::store::{SourceLimit, Store};

/// The `source_limits` scope of HTTP login and PIN-reset attempts.
pub const SCOPE: &str = "http";

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
    /// Where every node's counts meet; `None`: this process only.
    shared: Option<Store>,
}

impl IpLimiter {
    /// A limiter allowing `max` failures per `window`, remembering at most `capacity` addresses.
    pub fn new(max: u32, window: Duration, capacity: usize) -> IpLimiter {
        IpLimiter {
            max: max.max(1),
            window,
            capacity: capacity.max(1),
            table: Mutex::new(HashMap::new()),
            shared: None,
        }
    }

    /// Counts in `store` too, so every node on it and the next start see the same counts.
    pub fn with_store(mut self, store: Store) -> IpLimiter {
        self.shared = Some(store);
        self
    }

    /// `Some(seconds to wait)` if `addr` has used up its attempts at `now`, here or (with a
    /// store) on any node. A store that does not answer leaves the local answer.
    pub async fn check(&self, addr: IpAddr, now: DateTime<Utc>) -> Option<u64> {
        if let Some(wait) = self.blocked(addr, now) {
            return Some(wait);
        }
        let store = self.shared.as_ref()?;
        match store
            .source_banned_until(SCOPE, &addr.to_string(), now)
            .await
        {
            Ok(Some(until)) => {
                self.block_until(addr, until);
                self.blocked(addr, now)
            }
            Ok(None) => None,
            Err(error) => {
                tracing::warn!(%error, "shared login limit not read; counting locally");
                None
            }
        }
    }

    /// Counts a failure of `addr` at `now`, here and (with a store) for every node.
    pub async fn fail(&self, addr: IpAddr, now: DateTime<Utc>) {
        self.record_failure(addr, now);
        let Some(store) = self.shared.as_ref() else {
            return;
        };
        let limit = SourceLimit {
            max: self.max,
            window: self.window,
            ban_for: self.window,
        };
        match store
            .source_failure(SCOPE, &addr.to_string(), now, limit)
            .await
        {
            Ok(count) => {
                if let Some(until) = count.banned_until {
                    self.block_until(addr, until);
                }
            }
            Err(error) => tracing::warn!(%error, "login failure not counted in the store"),
        }
    }

    /// Blocks `addr` locally until `until` (what the store says), unless it is blocked
    /// longer already.
    fn block_until(&self, addr: IpAddr, until: DateTime<Utc>) {
        let mut table = self.lock();
        let blocked = Window {
            started: until - self.window,
            failures: self.max,
        };
        let room = table.len() < self.capacity;
        match table.get_mut(&addr) {
            Some(w) if w.failures >= self.max && w.started >= blocked.started => {}
            Some(w) => *w = blocked,
            None if room => {
                table.insert(addr, blocked);
            }
            // A full table: the store keeps the block; the next check reads it again.
            None => {}
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

    #[tokio::test]
    async fn with_a_store_the_count_is_shared_and_outlives_the_limiter() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        // Two nodes (two limiters) on one store: 2 failures here and 1 there use up 3.
        let one = IpLimiter::new(3, Duration::minutes(10), 100).with_store(store.clone());
        let two = IpLimiter::new(3, Duration::minutes(10), 100).with_store(store.clone());
        one.fail(a, t(0)).await;
        one.fail(a, t(0)).await;
        assert_eq!(two.check(a, t(1)).await, None);
        two.fail(a, t(1)).await;
        assert_eq!(two.check(a, t(1)).await, Some(10 * 60));
        assert_eq!(
            one.check(a, t(2)).await,
            Some(9 * 60),
            "read from the store"
        );
        // A new limiter (a restart) still refuses, until the block ends.
        let three = IpLimiter::new(3, Duration::minutes(10), 100).with_store(store);
        assert_eq!(three.check(a, t(5)).await, Some(6 * 60));
        assert_eq!(three.check(a, t(11)).await, None);
        assert_eq!(three.check("192.0.2.2".parse().unwrap(), t(5)).await, None);
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
