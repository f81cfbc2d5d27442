//! One batch of this node's presence changes for the other nodes (issue #20): what
//! [`super::presence_share`] writes to `cluster_calls` and sends on its `NOTIFY` channel in a
//! single statement, instead of a statement per change and another per event.
//!
//! Why: every call makes three changes here (ringing, answered, over), each a row written or
//! deleted plus a `NOTIFY` every node hears. Two nodes on one small machine share its cores
//! with the store, so at a thousand calls a second those 5,000 statements a second were a
//! good part of what a node spent per call. Gathered over a short window
//! ([`super::presence_share::WINDOW`]) they become one statement per window, and a call that
//! starts and ends inside one window touches no row at all.
//!
//! Sans-I/O: the driver feeds changes in order and takes the batch out; nothing here waits.

use serde::{Deserialize, Serialize};

use crate::presence::{LocalChange, PresenceEvent};

/// Bytes a `NOTIFY` payload may carry here: PostgreSQL refuses 8,000 or more.
pub const PAYLOAD_LIMIT: usize = 7_800;

/// Changes in one batch at most: after a stall of the store the queue is drained in batches of
/// this size (the netting per call is a linear search), each still one statement.
pub const MAX_CHANGES: usize = 512;

/// One notification: who sent it and what changed, in order ([`PresenceEvent::Calls`]
/// counts the sender's calls of the user only). Older nodes sent one event per notification
/// ([`Incoming::One`]); both forms are read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireBatch {
    /// The sending node.
    pub node: String,
    /// The changes, oldest first.
    pub events: Vec<PresenceEvent>,
}

/// A notification as heard: a batch, or a single event from a node not yet upgraded.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Incoming {
    /// The current form.
    Batch(WireBatch),
    /// The form of one event per notification.
    One(super::presence_share::Wire),
}

impl Incoming {
    /// The sender and its events, oldest first.
    pub fn into_parts(self) -> (String, Vec<PresenceEvent>) {
        match self {
            Incoming::Batch(b) => (b.node, b.events),
            Incoming::One(w) => (w.node, vec![w.event]),
        }
    }
}

/// The changes gathered so far, netted per call.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Batch {
    /// `cluster_calls` rows to insert: (Call-ID, user).
    pub started: Vec<(String, i64)>,
    /// `cluster_calls` rows to delete: (Call-ID, user).
    pub ended: Vec<(String, i64)>,
    /// The events for the other nodes, in order.
    pub events: Vec<PresenceEvent>,
}

impl Batch {
    /// Nothing gathered.
    pub fn is_empty(&self) -> bool {
        self.started.is_empty() && self.ended.is_empty() && self.events.is_empty()
    }

    /// The rows only, the events dropped: what is tried again after the store refused the
    /// batch (the events are stale by then; the other nodes re-read the rows every beat).
    pub fn rows_only(self) -> Batch {
        Batch {
            events: Vec::new(),
            ..self
        }
    }

    /// Whether the batch should go out without waiting for more ([`MAX_CHANGES`]).
    pub fn is_full(&self) -> bool {
        self.events.len() >= MAX_CHANGES
    }

    /// Adds one change. A row inserted and deleted in the same batch is never written (one
    /// statement cannot delete a row its own insert adds: both see the same snapshot), and a
    /// row deleted then started again stays as stored.
    pub fn push(&mut self, change: LocalChange) {
        let event = match change {
            LocalChange::CallStarted {
                user_id,
                call_id,
                here,
            } => {
                let key = (call_id, user_id);
                if let Some(i) = self.ended.iter().position(|k| *k == key) {
                    self.ended.swap_remove(i);
                } else if !self.started.contains(&key) {
                    self.started.push(key);
                }
                PresenceEvent::Calls {
                    user_id,
                    active: here,
                }
            }
            LocalChange::CallEnded {
                user_id,
                call_id,
                here,
            } => {
                let key = (call_id, user_id);
                if let Some(i) = self.started.iter().position(|k| *k == key) {
                    self.started.swap_remove(i);
                } else if !self.ended.contains(&key) {
                    self.ended.push(key);
                }
                PresenceEvent::Calls {
                    user_id,
                    active: here,
                }
            }
            LocalChange::Event(event) => event,
        };
        self.events.push(event);
    }

    /// The notifications for this batch's events, as node `node`: each payload under
    /// [`PAYLOAD_LIMIT`] bytes, the events in order across them.
    pub fn payloads(&self, node: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut chunk: Vec<PresenceEvent> = Vec::new();
        let mut size = 0;
        // The envelope around the events, with room to spare for the node's name.
        let envelope = node.len() + 32;
        for event in &self.events {
            let one = serde_json::to_string(event).map_or(0, |s| s.len()) + 1;
            if !chunk.is_empty() && envelope + size + one > PAYLOAD_LIMIT {
                out.push(Self::payload(node, std::mem::take(&mut chunk)));
                size = 0;
            }
            chunk.push(event.clone());
            size += one;
        }
        if !chunk.is_empty() {
            out.push(Self::payload(node, chunk));
        }
        out
    }

    fn payload(node: &str, events: Vec<PresenceEvent>) -> String {
        serde_json::to_string(&WireBatch {
            node: node.to_owned(),
            events,
        })
        .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started(call: &str, user: i64, here: u32) -> LocalChange {
        LocalChange::CallStarted {
            user_id: user,
            call_id: call.into(),
            here,
        }
    }

    fn ended(call: &str, user: i64, here: u32) -> LocalChange {
        LocalChange::CallEnded {
            user_id: user,
            call_id: call.into(),
            here,
        }
    }

    #[test]
    fn a_call_over_within_the_batch_writes_no_row_but_keeps_its_events() {
        let mut batch = Batch::default();
        batch.push(LocalChange::Event(PresenceEvent::Ringing { user_id: 1 }));
        batch.push(started("a", 1, 1));
        batch.push(started("b", 2, 1));
        batch.push(ended("a", 1, 0));
        assert_eq!(batch.started, vec![("b".to_owned(), 2)]);
        assert!(batch.ended.is_empty());
        assert_eq!(batch.events.len(), 4);
        assert_eq!(
            batch.events[3],
            PresenceEvent::Calls {
                user_id: 1,
                active: 0
            }
        );
    }

    #[test]
    fn an_end_then_a_start_again_leaves_the_stored_row() {
        let mut batch = Batch::default();
        batch.push(ended("a", 1, 0));
        batch.push(ended("a", 1, 0));
        assert_eq!(batch.ended, vec![("a".to_owned(), 1)]);
        batch.push(started("a", 1, 1));
        assert!(batch.started.is_empty() && batch.ended.is_empty());
        assert!(!batch.is_empty());
    }

    #[test]
    fn a_refused_batch_keeps_its_rows_for_the_next_one() {
        let mut batch = Batch::default();
        batch.push(started("a", 1, 1));
        batch.push(ended("b", 2, 0));
        let mut next = batch.rows_only();
        assert!(next.events.is_empty());
        next.push(ended("a", 1, 0));
        assert!(next.started.is_empty());
        assert_eq!(next.ended, vec![("b".to_owned(), 2)]);
        assert_eq!(next.events.len(), 1);
    }

    #[test]
    fn payloads_stay_under_the_limit_and_keep_the_order() {
        let mut batch = Batch::default();
        for user in 0..1_000 {
            batch.push(started(&format!("call-{user}"), user, 1));
        }
        assert!(batch.is_full());
        let payloads = batch.payloads("node-a");
        assert!(payloads.len() > 1, "{}", payloads.len());
        let mut users = Vec::new();
        for p in &payloads {
            assert!(p.len() < PAYLOAD_LIMIT, "{}", p.len());
            let (node, events) = serde_json::from_str::<Incoming>(p).unwrap().into_parts();
            assert_eq!(node, "node-a");
            users.extend(events.into_iter().map(|e| match e {
                PresenceEvent::Calls { user_id, .. } => user_id,
                other => panic!("{other:?}"),
            }));
        }
        assert_eq!(users, (0..1_000).collect::<Vec<_>>());
    }

    #[test]
    fn a_single_event_of_an_older_node_is_read() {
        let text = r#"{"node":"node-b","event":{"type":"ringing","user_id":7}}"#;
        let (node, events) = serde_json::from_str::<Incoming>(text).unwrap().into_parts();
        assert_eq!(node, "node-b");
        assert_eq!(events, vec![PresenceEvent::Ringing { user_id: 7 }]);
    }
}
