//! Banning source addresses after repeated authentication failures — the fail2ban every public
//! SIP server needs, kept in memory and sans-I/O.
//!
//! Password guessers send hundreds of REGISTERs a second. Per source we keep the times of the
//! last few failures (at most `threshold` of them); `threshold` failures within `window` start a
//! ban, during which the driver drops the source's requests without answering. IPv6 sources are
//! grouped by /64, since one host can use any address of its /64.
//!
//! Time is monotonic (`Instant`): the table must not stretch or shrink a ban when the wall
//! clock is stepped. It is each node's fast path; what other nodes and a restart must know
//! (failures, bans) goes to the store through `cluster::bans`, which brings the others' bans
//! back here with [`AuthFailures::ban_until`] (issue #20).

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

/// Thresholds of [`AuthFailures`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BanConfig {
    /// Failures within `window` that start a ban (default 10: a user mistyping a password a
    /// few times is never banned).
    pub threshold: u32,
    /// The sliding window the failures are counted in (default 60 s).
    pub window: Duration,
    /// How long a ban lasts (default 10 min; scanners move on long before).
    pub ban_for: Duration,
    /// Most sources tracked at once (default 65 536). When full, quiet sources are dropped
    /// first; banned ones are never dropped before their ban ends.
    pub max_sources: usize,
}

impl Default for BanConfig {
    fn default() -> Self {
        Self {
            threshold: 10,
            window: Duration::from_secs(60),
            ban_for: Duration::from_secs(600),
            max_sources: 65_536,
        }
    }
}

/// A ban that has just begun, for the driver's one log line per ban.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BanStarted {
    /// The banned source: an IPv4 address, or the first address of an IPv6 /64.
    pub source: IpAddr,
    /// When the ban ends.
    pub until: Instant,
    /// Failures counted in the window that triggered it.
    pub failures: u32,
}

/// Failure history of one source.
#[derive(Debug, Default)]
struct Source {
    /// Times of the most recent failures inside the window, oldest first; never longer than
    /// the threshold.
    failures: VecDeque<Instant>,
    /// End of the current ban, if any.
    banned_until: Option<Instant>,
}

impl Source {
    fn is_banned(&self, now: Instant) -> bool {
        self.banned_until.is_some_and(|until| now < until)
    }

    /// Nothing worth remembering: no ban in force and no failure inside the window.
    fn is_idle(&self, now: Instant, window: Duration) -> bool {
        !self.is_banned(now)
            && self
                .failures
                .back()
                .is_none_or(|last| now.saturating_duration_since(*last) >= window)
    }
}

/// Per-source failure counting and bans.
#[derive(Debug)]
pub struct AuthFailures {
    config: BanConfig,
    sources: HashMap<IpAddr, Source>,
}

impl AuthFailures {
    /// An empty tracker.
    pub fn new(config: BanConfig) -> Self {
        Self {
            config,
            sources: HashMap::new(),
        }
    }

    /// Whether requests from `ip` are to be dropped now.
    pub fn is_banned(&self, now: Instant, ip: IpAddr) -> bool {
        self.sources
            .get(&ban_key(ip))
            .is_some_and(|source| source.is_banned(now))
    }

    /// Records a failed authentication from `ip`; returns the ban it starts, if it starts one.
    pub fn record_failure(&mut self, now: Instant, ip: IpAddr) -> Option<BanStarted> {
        let key = ban_key(ip);
        if !self.sources.contains_key(&key) && !self.make_room(now) {
            // Every tracked source is banned: the newcomer goes uncounted until a ban ends.
            return None;
        }
        let config = &self.config;
        let source = self.sources.entry(key).or_default();
        if source.is_banned(now) {
            return None;
        }
        while source
            .failures
            .front()
            .is_some_and(|first| now.saturating_duration_since(*first) >= config.window)
        {
            source.failures.pop_front();
        }
        let threshold = config.threshold.max(1);
        if source.failures.len() >= threshold as usize {
            source.failures.pop_front();
        }
        source.failures.push_back(now);
        if source.failures.len() < threshold as usize {
            return None;
        }
        source.failures.clear();
        let until = now + config.ban_for;
        source.banned_until = Some(until);
        Some(BanStarted {
            source: key,
            until,
            failures: threshold,
        })
    }

    /// Number of sources tracked (for metrics and tests).
    pub fn tracked_len(&self) -> usize {
        self.sources.len()
    }

    /// Ensures there is room for one more source; false if every tracked source is banned.
    fn make_room(&mut self, now: Instant) -> bool {
        if self.sources.len() < self.config.max_sources.max(1) {
            return true;
        }
        let window = self.config.window;
        self.sources
            .retain(|_, source| !source.is_idle(now, window));
        if self.sources.len() < self.config.max_sources.max(1) {
            return true;
        }
        // Still full of recent offenders: forget the one whose last failure is oldest.
        let quietest = self
            .sources
            .iter()
            .filter(|(_, source)| !source.is_banned(now))
            .min_by_key(|(_, source)| source.failures.back().copied())
            .map(|(ip, _)| *ip);
        match quietest {
            Some(ip) => {
                self.sources.remove(&ip);
                true
            }
            None => false,
        }
    }
}

impl AuthFailures {
    /// Bans `ip` now for the configured time, whatever its failure count: for a source that
    /// kept flooding past the request limit (`sip::flood`). `None` when it is banned already or
    /// there is no room (every tracked source banned).
    pub fn ban(&mut self, now: Instant, ip: IpAddr) -> Option<BanStarted> {
        let key = ban_key(ip);
        if !self.sources.contains_key(&key) && !self.make_room(now) {
            return None;
        }
        let until = now + self.config.ban_for;
        let source = self.sources.entry(key).or_default();
        if source.is_banned(now) {
            return None;
        }
        source.failures.clear();
        source.banned_until = Some(until);
        Some(BanStarted {
            source: key,
            until,
            failures: 0,
        })
    }
}

impl AuthFailures {
    /// Bans `ip` until `until` because the store says so (`cluster::bans`: another node's
    /// ban, the count every node shares, or this node's own ban before a restart). A longer
    /// ban in force is kept. True when the source was not banned before, for the one log
    /// line per ban.
    pub fn ban_until(&mut self, now: Instant, ip: IpAddr, until: Instant) -> bool {
        if until <= now {
            return false;
        }
        let key = ban_key(ip);
        if !self.sources.contains_key(&key) && !self.make_room(now) {
            return false;
        }
        let source = self.sources.entry(key).or_default();
        let was_banned = source.is_banned(now);
        source.failures.clear();
        source.banned_until = Some(source.banned_until.map_or(until, |u| u.max(until)));
        !was_banned
    }
}

/// The key a source is counted under: IPv4 as is (IPv4-mapped IPv6 included), IPv6 by /64.
pub(crate) fn ban_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> BanConfig {
        BanConfig {
            threshold: 3,
            window: Duration::from_secs(60),
            ban_for: Duration::from_secs(600),
            max_sources: 4,
        }
    }

    /// Any instant will do as the start of virtual time; only differences matter.
    #[allow(clippy::disallowed_methods)]
    fn origin() -> Instant {
        Instant::now()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn ban_after_threshold_failures_in_the_window_and_expiry() {
        let mut failures = AuthFailures::new(config());
        let t0 = origin();
        let attacker = ip("192.0.2.7");
        assert_eq!(failures.record_failure(t0, attacker), None);
        assert_eq!(
            failures.record_failure(t0 + Duration::from_secs(10), attacker),
            None
        );
        assert!(!failures.is_banned(t0 + Duration::from_secs(10), attacker));
        let third = t0 + Duration::from_secs(20);
        let ban = failures
            .record_failure(third, attacker)
            .expect("third failure bans");
        assert_eq!(
            ban,
            BanStarted {
                source: attacker,
                until: third + Duration::from_secs(600),
                failures: 3
            }
        );
        assert!(failures.is_banned(third, attacker));
        assert!(
            !failures.is_banned(third, ip("192.0.2.8")),
            "only that source"
        );
        // Failures during the ban neither extend it nor announce it again.
        assert_eq!(
            failures.record_failure(third + Duration::from_secs(1), attacker),
            None
        );
        assert!(failures.is_banned(third + Duration::from_secs(599), attacker));
        assert!(!failures.is_banned(third + Duration::from_secs(600), attacker));
        // After the ban the count starts from zero.
        let after = third + Duration::from_secs(700);
        assert_eq!(failures.record_failure(after, attacker), None);
    }

    #[test]
    fn failures_spread_beyond_the_window_do_not_ban() {
        let mut failures = AuthFailures::new(config());
        let t0 = origin();
        let user = ip("198.51.100.1");
        for minute in 0..10 {
            let at = t0 + Duration::from_secs(35 * minute);
            assert_eq!(failures.record_failure(at, user), None, "minute {minute}");
        }
        assert!(!failures.is_banned(t0 + Duration::from_secs(350), user));
    }

    #[test]
    fn ipv6_sources_are_grouped_by_64() {
        let mut failures = AuthFailures::new(config());
        let t0 = origin();
        failures.record_failure(t0, ip("2001:db8:1:2::1"));
        failures.record_failure(t0, ip("2001:db8:1:2::2"));
        let ban = failures
            .record_failure(t0, ip("2001:db8:1:2:ffff::3"))
            .unwrap();
        assert_eq!(ban.source, ip("2001:db8:1:2::"));
        assert!(failures.is_banned(t0, ip("2001:db8:1:2::99")));
        assert!(!failures.is_banned(t0, ip("2001:db8:1:3::1")));
        assert_eq!(ban_key(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
    }

    #[test]
    fn memory_is_bounded_and_bans_survive_pressure() {
        let mut failures = AuthFailures::new(config());
        let t0 = origin();
        let banned = ip("192.0.2.1");
        for _ in 0..3 {
            failures.record_failure(t0, banned);
        }
        for i in 0..100u8 {
            let at = t0 + Duration::from_secs(u64::from(i));
            failures.record_failure(at, IpAddr::from([198, 51, 100, i]));
            assert!(failures.tracked_len() <= 4);
        }
        assert!(failures.is_banned(t0 + Duration::from_secs(100), banned));
    }

    #[test]
    fn a_ban_learned_from_the_store_is_kept_and_never_shortened() {
        let mut failures = AuthFailures::new(config());
        let t0 = origin();
        let other = ip("2001:db8:9::5");
        assert!(failures.ban_until(t0, other, t0 + Duration::from_secs(30)));
        assert!(failures.is_banned(t0, ip("2001:db8:9::77")), "by /64");
        assert!(!failures.ban_until(t0, other, t0 + Duration::from_secs(10)));
        assert!(failures.is_banned(t0 + Duration::from_secs(20), other));
        assert!(!failures.is_banned(t0 + Duration::from_secs(30), other));
        assert!(!failures.ban_until(t0, ip("192.0.2.9"), t0), "already over");
        assert!(!failures.is_banned(t0, ip("192.0.2.9")));
    }

    #[test]
    fn a_table_full_of_bans_refuses_newcomers_without_panicking() {
        let mut failures = AuthFailures::new(BanConfig {
            threshold: 1,
            max_sources: 2,
            ..config()
        });
        let t0 = origin();
        assert!(failures.record_failure(t0, ip("192.0.2.1")).is_some());
        assert!(failures.record_failure(t0, ip("192.0.2.2")).is_some());
        assert_eq!(failures.record_failure(t0, ip("192.0.2.3")), None);
        assert_eq!(failures.tracked_len(), 2);
        // Once a ban ends its slot is reused.
        let later = t0 + Duration::from_secs(601);
        assert!(failures.record_failure(later, ip("192.0.2.3")).is_some());
    }
}
