//! `[delivery]`: how the delivery worker (`runtime::delivery`) retries written messages sent by
//! e-mail or SMS ([`crate::notify::retry::RetrySchedule`]) and how often it looks for due ones.

use serde::{Deserialize, Serialize};

use crate::notify::retry::RetrySchedule;

/// `[delivery]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeliveryConfig {
    /// Wait after the first failed attempt, in seconds.
    pub retry_first_secs: u32,
    /// Each later wait is this many times the one before.
    pub retry_factor: u32,
    /// Longest wait between attempts, in seconds.
    pub retry_max_secs: u32,
    /// Attempts in all; then the delivery has failed.
    pub max_attempts: u32,
    /// How often the worker looks for due deliveries, in milliseconds.
    pub poll_ms: u32,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        let s = RetrySchedule::default();
        DeliveryConfig {
            retry_first_secs: u32::try_from(s.first_delay.num_seconds()).unwrap_or(60),
            retry_factor: s.factor,
            retry_max_secs: u32::try_from(s.max_delay.num_seconds()).unwrap_or(3600),
            max_attempts: s.max_attempts,
            poll_ms: 1000,
        }
    }
}

impl DeliveryConfig {
    /// The schedule these settings describe.
    pub fn schedule(&self) -> RetrySchedule {
        RetrySchedule {
            first_delay: chrono::Duration::seconds(i64::from(self.retry_first_secs.max(1))),
            factor: self.retry_factor.max(1),
            max_delay: chrono::Duration::seconds(i64::from(self.retry_max_secs.max(1))),
            max_attempts: self.max_attempts.max(1),
        }
    }
}
