//! Presence across nodes: this node's calls recorded in the store with a heartbeat, the other
//! nodes' calls read back, and every presence event carried to every node's SSE clients by
//! PostgreSQL `LISTEN`/`NOTIFY` (issue #20).
//!
//! - A call that starts or ends here is written to `cluster_calls` (node, Call-ID, user) and
//!   announced on the [`CHANNEL`] with this node's count for the user; every other node adds
//!   it to its [`Presence`] as soon as it hears it, so routing there says "on the phone" and
//!   its SSE clients see the event. Changes are gathered for [`WINDOW`] after the first and
//!   go out as one statement ([`super::presence_batch`]): another node sees a call at most
//!   [`WINDOW`] plus one round trip later, so a second call to the same user arriving at the
//!   other node within those ~20 ms of the answer may still find them free (as it would have
//!   within the single round trip before).
//! - Every `cluster.heartbeat_secs` the node renews its heartbeat and re-reads the other
//!   nodes' calls from the store ([`Presence::set_remote_calls`]): a missed notification (a
//!   listener reconnecting) is repaired within one interval, and the calls of a node silent for
//!   `heartbeat_secs × missed_heartbeats` (killed with `kill -9`, cut off) stop counting and
//!   are swept.
//!
//! `NOTIFY` rather than another broker: the store is already PostgreSQL, the events are
//! small (well under the 8,000-byte payload limit) and rare next to the calls that cause
//! them, and delivery follows the commit of the row written before it. On SQLite (one node)
//! nothing here runs.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::presence_batch::{Batch, Incoming};
use crate::clock::Clock;
use crate::config::ClusterConfig;
use crate::presence::{LocalChange, Presence, PresenceEvent};
use crate::store::Store;

/// The `NOTIFY` channel every node listens on.
pub const CHANNEL: &str = "onestatus_presence";

/// How long changes are gathered after the first before they go out in one statement: short
/// next to a human's reaction to "on the phone", long enough that at hundreds of calls a
/// second a node writes tens of statements a second, not thousands.
pub const WINDOW: Duration = Duration::from_millis(20);

/// One notification: who sent it and what changed ([`PresenceEvent::Calls`] counts the
/// sender's calls of the user only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wire {
    /// The sending node.
    pub node: String,
    /// The change.
    pub event: PresenceEvent,
}

/// Starts sharing `presence` through `store` as node `node`, when the store is PostgreSQL;
/// the heartbeat also advertises `sip_address` ([`super::node_reach`]). Returns the task
/// (ends only when aborted), or `None` on SQLite.
pub fn start(
    store: Store,
    presence: Presence,
    node: String,
    sip_address: Option<String>,
    config: ClusterConfig,
    clock: Arc<dyn Clock>,
) -> Option<tokio::task::JoinHandle<()>> {
    let pool = store.pg_pool()?.clone();
    let (tx, rx) = mpsc::unbounded_channel();
    presence.share(tx);
    info!(%node, "sharing presence with the other nodes on this store");
    let listener = tokio::spawn(listen(pool, presence.clone(), node.clone()));
    Some(tokio::spawn(async move {
        run(store, presence, (node, sip_address), config, clock, rx).await;
        listener.abort();
    }))
}

/// Hears the other nodes' events, reconnecting after a lost connection.
async fn listen(pool: sqlx::PgPool, presence: Presence, me: String) {
    loop {
        match sqlx::postgres::PgListener::connect_with(&pool).await {
            Ok(mut listener) => {
                if let Err(error) = listener.listen(CHANNEL).await {
                    warn!(%error, "cannot LISTEN for other nodes' presence");
                } else {
                    loop {
                        match listener.recv().await {
                            Ok(notification) => {
                                match serde_json::from_str::<Incoming>(notification.payload()) {
                                    Ok(incoming) => {
                                        let (node, events) = incoming.into_parts();
                                        if node != me {
                                            for event in events {
                                                presence.apply_remote(&node, event);
                                            }
                                        }
                                    }
                                    Err(error) => {
                                        debug!(%error, "unreadable presence notification")
                                    }
                                }
                            }
                            Err(error) => {
                                warn!(%error, "presence listener lost its connection");
                                break;
                            }
                        }
                    }
                }
            }
            Err(error) => warn!(%error, "cannot connect the presence listener"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Writes this node's changes, renews the heartbeat and reads the other nodes' calls.
async fn run(
    store: Store,
    presence: Presence,
    (node, sip_address): (String, Option<String>),
    config: ClusterConfig,
    clock: Arc<dyn Clock>,
    mut changes: mpsc::UnboundedReceiver<LocalChange>,
) {
    if let Err(error) = store.cluster_forget_node(&node).await {
        warn!(%error, "cannot clear this node's old calls");
    }
    let mut beat = tokio::time::interval(config.heartbeat.max(Duration::from_secs(1)));
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let expiry = chrono::Duration::from_std(config.expiry()).unwrap_or(chrono::Duration::MAX);
    // The rows of a batch the store refused, written with the next batch or at the next beat
    // (a lost row would hide the call from the other nodes for as long as it lasts; a lost
    // event is repaired by their next re-read of the rows).
    let mut carry = Batch::default();
    loop {
        tokio::select! {
            change = changes.recv() => {
                let Some(change) = change else { return };
                let mut batch = std::mem::take(&mut carry);
                batch.push(change);
                let open = gather(&mut changes, &mut batch).await;
                if let Err(error) = record(&store, &node, clock.now(), &batch).await {
                    warn!(%error, "presence changes not shared: their rows are tried again");
                    carry = batch.rows_only();
                }
                if !open {
                    return;
                }
            }
            _ = beat.tick() => {
                if !carry.is_empty() {
                    let batch = std::mem::take(&mut carry);
                    if let Err(error) = record(&store, &node, clock.now(), &batch).await {
                        warn!(%error, "presence rows still not written");
                        carry = batch;
                    }
                }
                let now = clock.now();
                let me = (node.as_str(), sip_address.as_deref());
                if let Err(error) = heartbeat(&store, &presence, me, now, now - expiry).await {
                    warn!(%error, "cluster heartbeat failed");
                }
            }
        }
    }
}

/// Adds to `batch` what arrives within [`WINDOW`] (until it is full); false when the sender is
/// gone.
async fn gather(changes: &mut mpsc::UnboundedReceiver<LocalChange>, batch: &mut Batch) -> bool {
    let deadline = tokio::time::sleep(WINDOW);
    tokio::pin!(deadline);
    while !batch.is_full() {
        tokio::select! {
            change = changes.recv() => match change {
                Some(change) => batch.push(change),
                None => return false,
            },
            _ = &mut deadline => return true,
        }
    }
    true
}

/// Stores a batch of local changes and tells the other nodes, in one statement.
async fn record(
    store: &Store,
    node: &str,
    now: chrono::DateTime<chrono::Utc>,
    batch: &Batch,
) -> Result<(), crate::store::StoreError> {
    debug!(
        started = batch.started.len(),
        ended = batch.ended.len(),
        events = batch.events.len(),
        "presence changes to the other nodes"
    );
    store
        .cluster_calls_apply(
            node,
            now,
            (&batch.started, &batch.ended),
            CHANNEL,
            &batch.payloads(node),
        )
        .await
}

/// Renews the heartbeat, sweeps dead nodes and refreshes the other nodes' calls.
async fn heartbeat(
    store: &Store,
    presence: &Presence,
    (node, sip_address): (&str, Option<&str>),
    now: chrono::DateTime<chrono::Utc>,
    alive_since: chrono::DateTime<chrono::Utc>,
) -> Result<(), crate::store::StoreError> {
    store.cluster_heartbeat_at(node, now, sip_address).await?;
    let swept = store.cluster_sweep_dead(alive_since).await?;
    if swept > 0 {
        info!(calls = swept, "calls of a silent node expired");
    }
    let rows = store.cluster_remote_calls(node, alive_since).await?;
    let rows: Vec<(String, i64, u32)> = rows
        .into_iter()
        .map(|(n, u, c)| (n, u, u32::try_from(c).unwrap_or(u32::MAX)))
        .collect();
    presence.set_remote_calls(&rows);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_form_round_trips() {
        let wire = Wire {
            node: "node-a".into(),
            event: PresenceEvent::Calls {
                user_id: 7,
                active: 1,
            },
        };
        let text = serde_json::to_string(&wire).unwrap();
        assert_eq!(
            text,
            r#"{"node":"node-a","event":{"type":"calls","user_id":7,"active":1}}"#
        );
        assert_eq!(serde_json::from_str::<Wire>(&text).unwrap(), wire);
    }
}
