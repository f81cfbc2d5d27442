//! When to try a written message's delivery again: the pure schedule the delivery worker
//! (`runtime::delivery`) follows after each attempt.
//!
//! The mailer and the SMS gateway client already retry a few times within one attempt (seconds
//! apart, for a relay that blinks). This schedule is for longer outages: a relay down for an
//! hour must not lose a message, and a message that cannot go at all must say so instead of
//! being retried forever. A permanent refusal (SMTP 5xx, gateway 4xx, no address) fails at once;
//! a transient one is tried again after `first_delay`, then `factor` times longer each time up
//! to `max_delay`, until `max_attempts` attempts were made.

use chrono::{DateTime, Duration, Utc};

/// The schedule's parameters (`[delivery]` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySchedule {
    /// Wait after the first failed attempt.
    pub first_delay: Duration,
    /// Each later wait is this many times the one before.
    pub factor: u32,
    /// No wait is longer.
    pub max_delay: Duration,
    /// Attempts in all, the first included; then the delivery has failed.
    pub max_attempts: u32,
}

impl Default for RetrySchedule {
    /// 1 min, 4 min, 16 min, 1 h, 1 h: six attempts over about two and a half hours.
    fn default() -> Self {
        RetrySchedule {
            first_delay: Duration::minutes(1),
            factor: 4,
            max_delay: Duration::hours(1),
            max_attempts: 6,
        }
    }
}

/// How one attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// The relay or gateway took it.
    Sent,
    /// It may work later (connection refused, timeout, SMTP 4xx, gateway 5xx).
    Transient(String),
    /// It never will (SMTP 5xx, gateway 4xx, bad address).
    Permanent(String),
}

/// What follows an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextStep {
    /// Delivered.
    Sent,
    /// Still queued: try again at this time.
    RetryAt(DateTime<Utc>),
    /// Given up, with the reason shown to the sender.
    Failed(String),
}

impl RetrySchedule {
    /// The step after attempt number `attempt` (1 for the first) ended with `outcome` at `now`.
    pub fn next(&self, now: DateTime<Utc>, attempt: u32, outcome: AttemptOutcome) -> NextStep {
        match outcome {
            AttemptOutcome::Sent => NextStep::Sent,
            AttemptOutcome::Permanent(reason) => NextStep::Failed(reason),
            AttemptOutcome::Transient(reason) if attempt >= self.max_attempts => {
                NextStep::Failed(format!("gave up after {attempt} attempts: {reason}"))
            }
            AttemptOutcome::Transient(_) => NextStep::RetryAt(now + self.delay(attempt)),
        }
    }

    /// The wait after failed attempt `attempt`: `first_delay × factor^(attempt-1)`, capped.
    pub fn delay(&self, attempt: u32) -> Duration {
        let mut delay = self.first_delay;
        for _ in 1..attempt.max(1) {
            delay = match delay.checked_mul(i32::try_from(self.factor).unwrap_or(i32::MAX)) {
                Some(d) if d < self.max_delay => d,
                _ => return self.max_delay,
            };
        }
        delay.min(self.max_delay)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()
    }

    #[test]
    fn waits_grow_by_the_factor_up_to_the_cap() {
        let s = RetrySchedule::default();
        let waits: Vec<i64> = (1..=6).map(|a| s.delay(a).num_minutes()).collect();
        assert_eq!(waits, [1, 4, 16, 60, 60, 60]);
    }

    #[test]
    fn transient_failures_are_retried_then_given_up() {
        let s = RetrySchedule::default();
        let t = now();
        assert_eq!(
            s.next(t, 1, AttemptOutcome::Transient("refused".into())),
            NextStep::RetryAt(t + Duration::minutes(1))
        );
        assert_eq!(
            s.next(t, 3, AttemptOutcome::Transient("refused".into())),
            NextStep::RetryAt(t + Duration::minutes(16))
        );
        match s.next(t, 6, AttemptOutcome::Transient("timeout".into())) {
            NextStep::Failed(reason) => {
                assert!(
                    reason.contains("6 attempts") && reason.contains("timeout"),
                    "{reason}"
                );
            }
            other => panic!("expected failure, got {other:?}"),
        }
    }

    #[test]
    fn permanent_failures_and_success_end_at_once() {
        let s = RetrySchedule::default();
        assert_eq!(s.next(now(), 1, AttemptOutcome::Sent), NextStep::Sent);
        assert_eq!(
            s.next(
                now(),
                1,
                AttemptOutcome::Permanent("550 no such user".into())
            ),
            NextStep::Failed("550 no such user".into())
        );
    }

    #[test]
    fn a_seconds_schedule_for_tests_and_small_sites() {
        let s = RetrySchedule {
            first_delay: Duration::seconds(1),
            factor: 2,
            max_delay: Duration::seconds(3),
            max_attempts: 3,
        };
        let t = now();
        assert_eq!(
            s.next(t, 2, AttemptOutcome::Transient("x".into())),
            NextStep::RetryAt(t + Duration::seconds(2))
        );
        assert_eq!(s.delay(5), Duration::seconds(3));
        assert!(matches!(
            s.next(t, 3, AttemptOutcome::Transient("x".into())),
            NextStep::Failed(_)
        ));
    }
}
