//! SIP requests per source, as a token bucket (issue #19: 2,000 OPTIONS in 0.22 s from one
//! address were all answered). Sans-I/O, monotonic time.
//!
//! Each source (IPv4 address, IPv6 /64 — one host can use its whole /64) has a bucket of
//! `burst` tokens refilled at `rate` per second; a request takes one. An empty bucket means
//! the request is refused with 503 and `Retry-After` (RFC 3261 §21.5.4: the server is
//! temporarily overloaded, try again after the given time) — the answer a well-behaved UA
//! backs off on, which does not look like a failure of the user's credentials. A source that
//! keeps sending into an empty bucket (`refusals_before_ban` refusals within `window`) is
//! banned with the REGISTER-guessing ban of `sip::auth::ban` and then dropped unanswered.
//!
//! The table is bounded: when full, sources whose bucket has refilled (they are as good as
//! new) go first, then the fullest bucket.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::auth::ban_key;

/// The limiter's settings (`[security] sip_requests_per_sec`, `sip_burst`,
/// `sip_refusals_before_ban`; `[sip] auth_failures_window_secs`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FloodConfig {
    /// Tokens per second; 0 turns the limiter off.
    pub rate: u32,
    /// The bucket's size.
    pub burst: u32,
    /// Refusals within `window` before [`Admission::Ban`].
    pub refusals_before_ban: u32,
    /// The window refusals are counted in.
    pub window: Duration,
    /// Most sources tracked.
    pub max_sources: usize,
}

/// What to do with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Handle it.
    Admit,
    /// Answer 503 with `Retry-After: retry_after_secs` (ACKs, which take no answer, are just
    /// dropped).
    Refuse {
        /// Whole seconds until a token is back (at least 1).
        retry_after_secs: u64,
    },
    /// The source refused too often: ban it and drop the request.
    Ban,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
    refusals: u32,
    refusals_since: Instant,
}

/// Token buckets per source.
#[derive(Debug)]
pub struct FloodLimiter {
    config: FloodConfig,
    buckets: HashMap<IpAddr, Bucket>,
}

impl FloodLimiter {
    /// An empty limiter.
    pub fn new(config: FloodConfig) -> Self {
        FloodLimiter {
            config,
            buckets: HashMap::new(),
        }
    }

    /// Takes a token for a request from `ip` at `now`.
    pub fn admit(&mut self, now: Instant, ip: IpAddr) -> Admission {
        let FloodConfig {
            rate,
            burst,
            refusals_before_ban,
            window,
            max_sources,
        } = self.config;
        if rate == 0 {
            return Admission::Admit;
        }
        let (rate, burst) = (f64::from(rate), f64::from(burst.max(1)));
        let key = ban_key(ip);
        if !self.buckets.contains_key(&key) && self.buckets.len() >= max_sources.max(1) {
            self.make_room(now, rate, burst);
        }
        let bucket = self.buckets.entry(key).or_insert(Bucket {
            tokens: burst,
            at: now,
            refusals: 0,
            refusals_since: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Admission::Admit;
        }
        if now.saturating_duration_since(bucket.refusals_since) >= window {
            bucket.refusals = 0;
            bucket.refusals_since = now;
        }
        bucket.refusals = bucket.refusals.saturating_add(1);
        if bucket.refusals >= refusals_before_ban.max(1) {
            // The ban takes over; a fresh bucket awaits the source when it ends.
            self.buckets.remove(&key);
            return Admission::Ban;
        }
        let wait = ((1.0 - bucket.tokens) / rate).ceil();
        // Whole seconds, at least one (RFC 3261 §20.33: delta-seconds).
        let retry_after_secs = if wait.is_finite() && wait >= 1.0 {
            wait as u64
        } else {
            1
        };
        Admission::Refuse { retry_after_secs }
    }

    /// Sources tracked now.
    pub fn tracked_len(&self) -> usize {
        self.buckets.len()
    }

    fn make_room(&mut self, now: Instant, rate: f64, burst: f64) {
        let full = |b: &Bucket| {
            b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rate >= burst
        };
        self.buckets.retain(|_, b| !full(b));
        if self.buckets.len() >= self.config.max_sources.max(1) {
            let fullest = self
                .buckets
                .iter()
                .max_by(|a, b| a.1.tokens.total_cmp(&b.1.tokens))
                .map(|(k, _)| *k);
            if let Some(k) = fullest {
                self.buckets.remove(&k);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Any instant will do as the start of virtual time; only differences matter.
    #[allow(clippy::disallowed_methods)]
    fn origin() -> Instant {
        Instant::now()
    }

    fn config() -> FloodConfig {
        FloodConfig {
            rate: 10,
            burst: 20,
            refusals_before_ban: 5,
            window: Duration::from_secs(60),
            max_sources: 3,
        }
    }

    #[test]
    fn a_burst_is_admitted_then_refused_with_retry_after_then_banned() {
        let mut l = FloodLimiter::new(config());
        let t0 = origin();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        for n in 0..20 {
            assert_eq!(l.admit(t0, a), Admission::Admit, "request {n}");
        }
        assert_eq!(
            l.admit(t0, a),
            Admission::Refuse {
                retry_after_secs: 1
            }
        );
        // Another source has its own bucket; the same /64 shares one.
        assert_eq!(l.admit(t0, "192.0.2.2".parse().unwrap()), Admission::Admit);
        // 0.5 s later five tokens are back.
        let later = t0 + Duration::from_millis(500);
        for _ in 0..5 {
            assert_eq!(l.admit(later, a), Admission::Admit);
        }
        for _ in 0..3 {
            assert!(matches!(l.admit(later, a), Admission::Refuse { .. }));
        }
        assert_eq!(l.admit(later, a), Admission::Ban, "the fifth refusal");
        assert_eq!(l.admit(later, a), Admission::Admit, "a fresh bucket after");
    }

    #[test]
    fn off_at_rate_zero_and_bounded() {
        let mut off = FloodLimiter::new(FloodConfig {
            rate: 0,
            ..config()
        });
        let t0 = origin();
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        for _ in 0..1000 {
            assert_eq!(off.admit(t0, a), Admission::Admit);
        }
        let mut l = FloodLimiter::new(config());
        for n in 0..50u8 {
            l.admit(t0, IpAddr::from([198, 51, 100, n]));
        }
        assert!(l.tracked_len() <= 3);
        let v6a: IpAddr = "2001:db8::1".parse().unwrap();
        let v6b: IpAddr = "2001:db8::2".parse().unwrap();
        for _ in 0..10 {
            l.admit(t0, v6a);
        }
        for _ in 0..10 {
            l.admit(t0, v6b);
        }
        assert!(
            matches!(l.admit(t0, v6b), Admission::Refuse { .. }),
            "one /64, one bucket"
        );
    }
}
