//! RFC 3261 §13.3.1.4: the UAS core, not the transaction layer, retransmits its 2xx to an
//! INVITE until the ACK arrives — "starting with T1 seconds and doubling until it reaches T2",
//! and gives up after 64·T1. The B2BUA's caller leg ([`crate::b2bua::Call`]) and the
//! answering leg of the IVR's calls ([`crate::b2bua::uas_leg::UasLeg`]) both keep one
//! [`AnswerRetransmit`] while waiting for the ACK; the schedule itself is the transaction layer's [`Retransmit`] with Timer G's
//! doubling (capped at T2).
//!
//! Only over unreliable transports: over TCP the transport carries the 2xx reliably.

use std::time::{Duration, Instant};

use super::transaction::timer::Retransmit;

/// A 2xx waiting for its ACK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnswerRetransmit {
    /// The next retransmission and the interval that led to it.
    timer: Retransmit,
    /// 64·T1 after the first 2xx.
    give_up: Instant,
}

/// What [`AnswerRetransmit::poll`] says is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerDue {
    /// Nothing yet.
    Nothing,
    /// Send the 2xx again (the next retransmission is armed).
    Resend,
    /// §13.3.1.4: "If the server retransmits the 2xx response for 64*T1 seconds without
    /// receiving an ACK, the dialog is confirmed, but the session SHOULD be terminated. This is
    /// accomplished with a BYE." The caller stops retransmitting.
    GiveUp,
}

impl AnswerRetransmit {
    /// The 2xx was sent at `now`.
    pub fn start(now: Instant, t1: Duration) -> Self {
        AnswerRetransmit {
            timer: Retransmit::start(now, t1),
            give_up: now + t1 * 64,
        }
    }

    /// When [`AnswerRetransmit::poll`] has something to do next.
    pub fn deadline(&self) -> Instant {
        self.timer.at.min(self.give_up)
    }

    /// What is due at `now`. A resend re-arms the timer with the interval doubled, capped at
    /// `t2`.
    pub fn poll(&mut self, now: Instant, t2: Duration) -> AnswerDue {
        if self.give_up <= now {
            return AnswerDue::GiveUp;
        }
        if self.timer.at <= now {
            let interval = self.timer.interval.saturating_mul(2).min(t2);
            self.timer = Retransmit::start(now, interval);
            return AnswerDue::Resend;
        }
        AnswerDue::Nothing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An arbitrary origin for virtual time; only differences from it matter.
    fn t0() -> Instant {
        #[allow(clippy::disallowed_methods)]
        // The one real instant the test starts from; everything after is t0 + duration.
        Instant::now()
    }

    /// The schedule of §13.3.1.4 with T1 = 500 ms and T2 = 4 s, in virtual time: resends at
    /// 0.5, 1.5, 3.5, 7.5, 11.5, ... s (intervals 0.5, 1, 2, 4, 4, ...), give-up at 32 s.
    #[test]
    fn doubles_from_t1_to_t2_and_gives_up_after_64_t1() {
        let t0 = t0();
        let t1 = Duration::from_millis(500);
        let t2 = Duration::from_secs(4);
        let mut r = AnswerRetransmit::start(t0, t1);
        let mut resends = Vec::new();
        let mut now = t0;
        for _ in 0..100 {
            now = r.deadline();
            match r.poll(now, t2) {
                AnswerDue::Resend => resends.push(now - t0),
                AnswerDue::GiveUp => break,
                AnswerDue::Nothing => panic!("woken for nothing at {:?}", now - t0),
            }
        }
        assert_eq!(now - t0, Duration::from_secs(32));
        let ms: Vec<u128> = resends.iter().map(Duration::as_millis).collect();
        assert_eq!(&ms[..6], &[500, 1500, 3500, 7500, 11500, 15500]);
        assert_eq!(*ms.last().unwrap(), 31500);
    }

    #[test]
    fn nothing_is_due_before_the_deadline() {
        let t0 = t0();
        let mut r = AnswerRetransmit::start(t0, Duration::from_millis(500));
        assert_eq!(
            r.poll(t0 + Duration::from_millis(499), Duration::from_secs(4)),
            AnswerDue::Nothing
        );
        assert_eq!(r.deadline(), t0 + Duration::from_millis(500));
    }
}
