//! `[cluster]`: what a node needs when several share one PostgreSQL store behind a SIP proxy
//! (issue #20). A single node needs none of it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `[cluster]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// This node's name in the store (its active calls, its leases); empty: a random one at
    /// each start, which is right unless an operator wants to read the tables by node.
    pub node_id: String,
    /// How often a node renews its heartbeat in the store, `heartbeat_secs` in the file.
    #[serde(rename = "heartbeat_secs", with = "super::duration::secs")]
    pub heartbeat: Duration,
    /// Heartbeats a node may miss before the others take it for dead: its calls stop counting
    /// as "on the phone" and its calendar lease can be taken over.
    pub missed_heartbeats: u32,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            node_id: String::new(),
            heartbeat: Duration::from_secs(5),
            missed_heartbeats: 3,
        }
    }
}

impl ClusterConfig {
    /// How old a heartbeat may be before its node is taken for dead.
    pub fn expiry(&self) -> Duration {
        self.heartbeat
            .saturating_mul(self.missed_heartbeats.max(1))
            .max(Duration::from_secs(1))
    }
}
