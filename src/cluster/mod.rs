//! Several nodes on one PostgreSQL store behind a SIP proxy such as Kamailio (issue #20).
//!
//! - [`nonce_secret`]: the digest nonce secret every node shares, so a phone challenged by one
//!   node is accepted by the next.
//! - [`readiness`]: `GET /api/v1/ready` (store reachable, not draining), apart from liveness.
//! - [`presence_share`]: calls per node with a heartbeat, and presence events to every node by
//!   PostgreSQL `LISTEN`/`NOTIFY`, gathered into one statement per short window
//!   ([`presence_batch`]).
//! - [`lease`]: one poller per calendar source, by a lease in the store.
//! - [`bans`]: SIP source bans and failure counts in the store, known to every node.
//! - Nothing lost with a node: [`spool_share`] mirrors recordings in progress to the store,
//!   [`dialog_share`] records the dialogs of answered calls, and [`orphans`] lets a survivor
//!   store a dead node's messages, end its calls ([`orphan_bye`]) and write their history.
//! - [`node_reach`]: a phone registered directly over TCP to one node is rung from another
//!   through the node holding its connection.

pub mod bans;
pub mod dialog_share;
pub mod nonce_secret;
pub mod orphan_bye;
pub mod orphans;
pub mod presence_batch;
pub mod presence_share;
pub mod readiness;
pub mod spool_share;

/// This node's id: `cluster.node_id`, or a random one for this run.
pub fn node_id(config: &crate::config::ClusterConfig) -> String {
    let configured = config.node_id.trim();
    if configured.is_empty() {
        format!("node-{:016x}", rand::random::<u64>())
    } else {
        configured.to_owned()
    }
}
pub mod lease;
pub mod node_reach;
