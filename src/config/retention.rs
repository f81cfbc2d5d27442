//! `[retention]`: how long voice messages are kept (issue #18: an expired message turns the
//! lamp off like a deleted one) and how often the sweeper (`runtime::retention`) looks.

use serde::{Deserialize, Serialize};

/// `[retention]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Days a new or heard (not saved) voice message is kept; 0 keeps them for ever.
    pub voicemail_days: u32,
    /// Seconds between sweeps.
    pub sweep_secs: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            voicemail_days: 0,
            sweep_secs: 3600,
        }
    }
}
