//! RFC 3261 §17 timer values (Appendix A, "Table of Timer Values") and the RFC 6026 additions.
//!
//! The transaction machines never read a clock: each input carries `now`, each state stores the
//! `Instant` at which its timers fire, and [`TimerConfig`] turns the base values T1, T2 and T4
//! into the durations of the lettered timers. Timers D, I, J and K are zero on a reliable
//! transport (§17.1.1.2, §17.1.2.2, §17.2.1, §17.2.2), which the machines implement by moving
//! straight to Terminated instead of arming a zero-length timer.

use std::time::Duration;

use super::TransportKind;

/// The three base values of RFC 3261 Appendix A; every lettered timer is derived from them.
///
/// Kept configurable because §17.1.1.1 allows T1 to be raised on high-latency access networks
/// ("T1 MAY be chosen larger") and because tests shrink nothing: they advance virtual time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerConfig {
    /// T1, the RTT estimate (default 500 ms); A, B, E, F, G, H, J, L and M derive from it.
    pub t1: Duration,
    /// T2, the maximum retransmit interval for non-INVITE requests and INVITE responses
    /// (default 4 s); caps Timer E and Timer G.
    pub t2: Duration,
    /// T4, the maximum duration a message will remain in the network (default 5 s); the value
    /// of Timers I and K on unreliable transports.
    pub t4: Duration,
}

impl Default for TimerConfig {
    /// The RFC 3261 Appendix A defaults: T1 = 500 ms, T2 = 4 s, T4 = 5 s.
    fn default() -> Self {
        Self {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

impl TimerConfig {
    /// 64·T1: the value shared by Timers B, F, H, J (unreliable), L and M.
    pub fn sixty_four_t1(&self) -> Duration {
        self.t1.saturating_mul(64)
    }

    /// The initial duration of `timer` on `transport`, or `None` when §17 says the timer is not
    /// started at all on that transport (A, E and G exist for unreliable transports only).
    ///
    /// A zero duration means "fire at once": the machines treat it as an immediate transition.
    pub fn initial(&self, timer: Timer, transport: TransportKind) -> Option<Duration> {
        let reliable = transport.is_reliable();
        match timer {
            Timer::A | Timer::E | Timer::G if reliable => None,
            Timer::A | Timer::E | Timer::G => Some(self.t1),
            Timer::B | Timer::F | Timer::H | Timer::L | Timer::M => Some(self.sixty_four_t1()),
            // Appendix A: "Timer D ... >32s for UDP, 0s for TCP/SCTP". We use exactly 32 s, or
            // 64·T1 if T1 has been raised above its default so D always outlives the peer's
            // Timer G retransmissions (§17.1.1.2 "at least 32 seconds").
            Timer::D if reliable => Some(Duration::ZERO),
            Timer::D => Some(Duration::from_secs(32).max(self.sixty_four_t1())),
            Timer::I | Timer::K if reliable => Some(Duration::ZERO),
            Timer::I | Timer::K => Some(self.t4),
            Timer::J if reliable => Some(Duration::ZERO),
            Timer::J => Some(self.sixty_four_t1()),
        }
    }

    /// The next interval of a doubling retransmission timer after `current` has fired.
    ///
    /// Timer A doubles without bound (§17.1.1.2 "reset the timer with a value of 2*T1"; it is
    /// stopped by Timer B at 64·T1 anyway), while Timers E and G double up to T2 (§17.1.2.2,
    /// §17.2.1 "min(2*T1, T2)").
    pub fn backoff(&self, timer: Timer, current: Duration) -> Duration {
        let doubled = current.saturating_mul(2);
        match timer {
            Timer::E | Timer::G => doubled.min(self.t2),
            _ => doubled,
        }
    }
}

/// The lettered timers of RFC 3261 Appendix A and RFC 6026 §8.11, in RFC order.
///
/// Each row gives the default value and what the timer means, as in the RFC table. C is absent:
/// it is a proxy timer (§16.6), not a transaction timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    /// A — initially T1, §17.1.1.2: INVITE request retransmit interval, for UDP only.
    A,
    /// B — 64·T1, §17.1.1.2: INVITE transaction timeout timer.
    B,
    /// D — > 32 s for UDP, 0 s for TCP/SCTP, §17.1.1.2: wait time for response retransmits.
    D,
    /// E — initially T1, §17.1.2.2: non-INVITE request retransmit interval, UDP only.
    E,
    /// F — 64·T1, §17.1.2.2: non-INVITE transaction timeout timer.
    F,
    /// G — initially T1, §17.2.1: INVITE response retransmit interval.
    G,
    /// H — 64·T1, §17.2.1: wait time for ACK receipt.
    H,
    /// I — T4 for UDP, 0 s for TCP/SCTP, §17.2.1: wait time for ACK retransmits.
    I,
    /// J — 64·T1 for UDP, 0 s for TCP/SCTP, §17.2.2: wait time for non-INVITE request
    /// retransmits.
    J,
    /// K — T4 for UDP, 0 s for TCP/SCTP, §17.1.2.2: wait time for response retransmits.
    K,
    /// L — 64·T1, RFC 6026 §8.7: wait time for accepted INVITE request retransmits.
    L,
    /// M — 64·T1, RFC 6026 §8.4: wait time for retransmission of 2xx to INVITE or additional
    /// 2xx from other branches of a forked INVITE.
    M,
}

/// A retransmission timer in flight: when it fires next and the interval that got it there,
/// so the next interval can be doubled (§17.1.1.2, §17.1.2.2, §17.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retransmit {
    /// When the message is sent again.
    pub at: std::time::Instant,
    /// The interval that ended at `at`; the next one is [`TimerConfig::backoff`] of it.
    pub interval: Duration,
}

impl Retransmit {
    /// Arms a retransmission timer `interval` after `now`.
    pub fn start(now: std::time::Instant, interval: Duration) -> Self {
        Self {
            at: now + interval,
            interval,
        }
    }

    /// Re-arms after firing at `now` with the backed-off interval of `timer`.
    pub fn next(self, now: std::time::Instant, timer: Timer, config: &TimerConfig) -> Self {
        Self::start(now, config.backoff(timer, self.interval))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_appendix_a() {
        let c = TimerConfig::default();
        assert_eq!(c.t1, Duration::from_millis(500));
        assert_eq!(c.t2, Duration::from_secs(4));
        assert_eq!(c.t4, Duration::from_secs(5));
        assert_eq!(c.sixty_four_t1(), Duration::from_secs(32));
    }

    #[test]
    fn reliable_transports_zero_d_i_j_k_and_skip_a_e_g() {
        let c = TimerConfig::default();
        let tcp = TransportKind::Tcp;
        for t in [Timer::D, Timer::I, Timer::J, Timer::K] {
            assert_eq!(c.initial(t, tcp), Some(Duration::ZERO), "{t:?}");
        }
        for t in [Timer::A, Timer::E, Timer::G] {
            assert_eq!(c.initial(t, tcp), None, "{t:?}");
        }
        let udp = TransportKind::Udp;
        assert_eq!(c.initial(Timer::D, udp), Some(Duration::from_secs(32)));
        assert_eq!(c.initial(Timer::I, udp), Some(Duration::from_secs(5)));
        assert_eq!(c.initial(Timer::J, udp), Some(Duration::from_secs(32)));
        assert_eq!(c.initial(Timer::K, udp), Some(Duration::from_secs(5)));
    }

    #[test]
    fn e_and_g_cap_at_t2_but_a_does_not() {
        let c = TimerConfig::default();
        assert_eq!(c.backoff(Timer::E, Duration::from_secs(2)), c.t2);
        assert_eq!(c.backoff(Timer::G, Duration::from_secs(4)), c.t2);
        assert_eq!(
            c.backoff(Timer::A, Duration::from_secs(4)),
            Duration::from_secs(8)
        );
    }
}
