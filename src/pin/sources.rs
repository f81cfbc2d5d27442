//! Wrong PINs counted per source: the phone mailbox's limit per source address and per caller
//! ID (`[security] mailbox_failures_max`, `mailbox_failures_window_secs`, `mailbox_ban_secs`).
//!
//! The per-mailbox lockout ([`super::check`]) stops guessing one mailbox; it does not stop one
//! caller walking through many mailboxes, each staying under its own lockout, over parallel
//! calls (issue #19 finding 5: 17 wrong PINs in 70 s over 4 calls, no ban). So each wrong
//! PIN is also counted against where it came from — the source address (behind a trusted SIP
//! proxy, the client's, see `config::security`) and the caller ID — and when either reaches
//! the limit within the window it is refused for the ban time, whatever mailbox it tries.
//!
//! A caller ID is counted only when it has digits: "anonymous" or an empty From is not an
//! identity, and banning it would lock every withheld caller out for one attacker. Caller IDs
//! can be forged, so this limit adds to the address limit and never replaces it.
//!
//! In memory and bounded (at most `capacity` keys; when full, idle keys go first, then the
//! oldest), like the web's per-address limiter; wall-clock `now` is a parameter. The PIN
//! check ([`super::check`]) also counts in the store (`source_limits`, scope
//! [`SCOPE`]), so every node and the next start see the same counts and bans (issue #20);
//! this table then caches the bans it learned.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

/// Where a PIN attempt came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SourceKey {
    /// The source address of the call's INVITE.
    Address(IpAddr),
    /// The caller ID (the From user part), digits only.
    CallerId(String),
}

/// The `source_limits` scope of wrong mailbox PINs.
pub const SCOPE: &str = "mailbox";

impl SourceKey {
    /// The key as stored: `addr:<ip>` or `cid:<digits>`.
    pub fn stored(&self) -> String {
        match self {
            SourceKey::Address(ip) => format!("addr:{ip}"),
            SourceKey::CallerId(digits) => format!("cid:{digits}"),
        }
    }

    /// The caller-ID key for a From user part, if it names a number (`+45 12…`, `sip:0045…`
    /// reduce to their digits); `None` for anonymous or digit-less IDs.
    pub fn caller_id(user: &str) -> Option<SourceKey> {
        let digits: String = user.chars().filter(char::is_ascii_digit).collect();
        (digits.len() >= 3).then_some(SourceKey::CallerId(digits))
    }
}

/// The thresholds of [`SourceLimits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourcePolicy {
    /// Wrong PINs within `window` that ban the key.
    pub max_failures: u32,
    /// The window the failures are counted in (fixed, from the first failure).
    pub window: Duration,
    /// How long a ban lasts.
    pub ban_for: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    started: DateTime<Utc>,
    failures: u32,
    banned_until: Option<DateTime<Utc>>,
}

/// Wrong-PIN counts and bans per [`SourceKey`].
#[derive(Debug)]
pub struct SourceLimits {
    policy: SourcePolicy,
    capacity: usize,
    table: Mutex<HashMap<SourceKey, Entry>>,
}

impl SourceLimits {
    /// Limits under `policy`, remembering at most `capacity` keys.
    pub fn new(policy: SourcePolicy, capacity: usize) -> Self {
        SourceLimits {
            policy,
            capacity: capacity.max(1),
            table: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SourceKey, Entry>> {
        // Each critical section is one map update; a panic cannot leave it half-done.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The thresholds.
    pub fn policy(&self) -> SourcePolicy {
        self.policy
    }

    /// Remembers a ban of `key` until `until` that the store holds (another node's, or one
    /// from before a restart); a longer one in force is kept.
    pub fn ban_until(&self, key: &SourceKey, until: DateTime<Utc>) {
        let mut table = self.lock();
        if !table.contains_key(key) && table.len() >= self.capacity {
            // Full: the store keeps the ban, and the next attempt reads it again.
            return;
        }
        let entry = table.entry(key.clone()).or_insert(Entry {
            started: until,
            failures: 0,
            banned_until: None,
        });
        entry.banned_until = Some(entry.banned_until.map_or(until, |u| u.max(until)));
    }

    /// The latest end of a ban in force at `now` on any of `keys`.
    pub fn banned_until(&self, keys: &[SourceKey], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let table = self.lock();
        keys.iter()
            .filter_map(|k| table.get(k)?.banned_until)
            .filter(|until| *until > now)
            .max()
    }

    /// Counts a wrong PIN against each of `keys` at `now`; returns the keys whose ban it
    /// started (for the one log line per ban).
    pub fn record_failure(&self, keys: &[SourceKey], now: DateTime<Utc>) -> Vec<SourceKey> {
        let mut table = self.lock();
        let policy = self.policy;
        let mut started = Vec::new();
        for key in keys {
            if !table.contains_key(key) && table.len() >= self.capacity {
                table.retain(|_, e| {
                    e.banned_until.is_some_and(|u| u > now) || e.started + policy.window > now
                });
                if table.len() >= self.capacity {
                    if let Some(oldest) = table
                        .iter()
                        .filter(|(_, e)| e.banned_until.is_none_or(|u| u <= now))
                        .min_by_key(|(_, e)| e.started)
                        .map(|(k, _)| k.clone())
                    {
                        table.remove(&oldest);
                    } else {
                        // Every key is banned: the newcomer goes uncounted until one ends.
                        continue;
                    }
                }
            }
            let entry = table.entry(key.clone()).or_insert(Entry {
                started: now,
                failures: 0,
                banned_until: None,
            });
            if entry.banned_until.is_some_and(|u| u > now) {
                continue;
            }
            if entry.started + policy.window <= now {
                *entry = Entry {
                    started: now,
                    failures: 0,
                    banned_until: None,
                };
            }
            entry.failures = entry.failures.saturating_add(1);
            if entry.failures >= policy.max_failures.max(1) {
                entry.banned_until = Some(now + policy.ban_for);
                entry.failures = 0;
                entry.started = now;
                started.push(key.clone());
            }
        }
        started
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap() + Duration::seconds(secs)
    }

    fn limits(capacity: usize) -> SourceLimits {
        SourceLimits::new(
            SourcePolicy {
                max_failures: 3,
                window: Duration::minutes(10),
                ban_for: Duration::minutes(30),
            },
            capacity,
        )
    }

    #[test]
    fn either_the_address_or_the_caller_id_bans() {
        let l = limits(100);
        let a = SourceKey::Address("192.0.2.7".parse().unwrap());
        let b = SourceKey::Address("192.0.2.8".parse().unwrap());
        let cid = SourceKey::caller_id("+45 70 12 34 56").unwrap();
        // Three failures of one caller ID from three addresses: the caller ID is banned, the
        // addresses not.
        assert!(l.record_failure(&[a.clone(), cid.clone()], t(0)).is_empty());
        assert!(l
            .record_failure(&[b.clone(), cid.clone()], t(10))
            .is_empty());
        let started = l.record_failure(&[a.clone(), cid.clone()], t(20));
        assert_eq!(started, std::slice::from_ref(&cid));
        assert_eq!(l.banned_until(std::slice::from_ref(&b), t(21)), None);
        assert_eq!(
            l.banned_until(&[b.clone(), cid.clone()], t(21)),
            Some(t(20) + Duration::minutes(30))
        );
        // The third failure from `a` bans it too; both end after the ban time.
        assert_eq!(
            l.record_failure(std::slice::from_ref(&a), t(30)),
            std::slice::from_ref(&a)
        );
        assert!(l.banned_until(std::slice::from_ref(&a), t(31)).is_some());
        assert_eq!(l.banned_until(&[a, cid], t(30 + 1800)), None);
    }

    #[test]
    fn the_window_restarts_and_anonymous_is_no_caller_id() {
        let l = limits(100);
        let a = SourceKey::Address("2001:db8::1".parse().unwrap());
        l.record_failure(std::slice::from_ref(&a), t(0));
        l.record_failure(std::slice::from_ref(&a), t(1));
        l.record_failure(std::slice::from_ref(&a), t(601));
        assert_eq!(l.banned_until(&[a], t(602)), None, "a new window started");
        assert_eq!(SourceKey::caller_id("anonymous"), None);
        assert_eq!(SourceKey::caller_id(""), None);
    }

    #[test]
    fn the_table_is_bounded_and_keeps_bans() {
        let l = limits(2);
        let banned = SourceKey::CallerId("4512345678".into());
        for s in 0..3 {
            l.record_failure(std::slice::from_ref(&banned), t(s));
        }
        for n in 0..50u8 {
            let k = SourceKey::Address(std::net::IpAddr::from([198, 51, 100, n]));
            l.record_failure(&[k], t(10));
        }
        assert!(l.lock().len() <= 2);
        assert!(l.banned_until(&[banned], t(11)).is_some());
    }
}
