//! Who is on the phone right now, and a bus of presence changes.
//!
//! The B2BUA writes (a call to or from a user starts or ends); routing reads the count ("is on
//! the phone"), and the HTTP API streams the events to web clients so status updates live. It
//! is in memory on purpose: a call in progress does not survive a restart either.
//!
//! With several nodes on one PostgreSQL store, [`crate::cluster::presence_share`] carries this
//! node's changes to the others ([`Presence::share`]) and theirs back
//! ([`Presence::apply_remote`], [`Presence::set_remote_calls`]): the counts read here are then
//! this node's calls plus those of the other live nodes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc};

/// Events buffered per subscriber before a slow one starts missing some (it then re-reads
/// the full state, see [`broadcast::error::RecvError::Lagged`]).
const EVENT_BUFFER: usize = 1024;

/// A change someone may want to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PresenceEvent {
    /// The user's number of active calls changed.
    Calls {
        /// The user (store id).
        user_id: i64,
        /// Calls in progress now.
        active: u32,
    },
    /// A call to the user started ringing their devices. When it stops ringing unanswered a
    /// [`PresenceEvent::Calls`] with the unchanged count follows; when answered, one with the
    /// count raised.
    Ringing {
        /// The user (store id).
        user_id: i64,
    },
    /// The user's absences, schedules or calendar changed (re-read them).
    Availability {
        /// The user (store id).
        user_id: i64,
    },
    /// The user's voicemail counts changed (message left, heard, deleted).
    Voicemail {
        /// The user (store id).
        user_id: i64,
        /// New (unheard) messages.
        new: u32,
        /// Old (heard or saved) messages.
        old: u32,
        /// The change was made on this node, not heard from another (never on the wire: a
        /// remote event arrives with `false`). Only the node where the count changed sends
        /// unsolicited message-waiting NOTIFYs to every binding it can reach, so that a phone
        /// behind the proxy hears each change once, not once per node; the other nodes notify
        /// their own subscriptions and the phones whose connection they hold.
        #[serde(skip)]
        here: bool,
    },
}

/// Shared presence state. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Presence {
    calls: Arc<Mutex<HashMap<i64, Vec<String>>>>,
    /// Calls (by Call-ID) ringing each user's devices now.
    ringing: Arc<Mutex<HashMap<i64, Vec<String>>>>,
    events: broadcast::Sender<PresenceEvent>,
    /// Calls carried by the other live nodes: node → user → calls.
    remote: Arc<Mutex<HashMap<String, HashMap<i64, u32>>>>,
    /// Where this node's changes go for the other nodes (set once when the store is shared).
    outbound: Arc<OnceLock<mpsc::UnboundedSender<LocalChange>>>,
}

/// A change made on this node, for the other nodes (see [`Presence::share`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalChange {
    /// `user_id` is on call `call_id` here; `here` calls of theirs on this node now.
    CallStarted {
        /// The user.
        user_id: i64,
        /// The call.
        call_id: String,
        /// The user's calls on this node now.
        here: u32,
    },
    /// `user_id`'s call `call_id` here ended.
    CallEnded {
        /// The user.
        user_id: i64,
        /// The call.
        call_id: String,
        /// The user's calls on this node now.
        here: u32,
    },
    /// Any other event, as published here ([`PresenceEvent::Calls`] with this node's count).
    Event(PresenceEvent),
}

impl Default for Presence {
    fn default() -> Self {
        Self::new()
    }
}

impl Presence {
    /// Empty presence.
    pub fn new() -> Self {
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        Self {
            calls: Arc::default(),
            ringing: Arc::default(),
            events,
            remote: Arc::default(),
            outbound: Arc::default(),
        }
    }

    /// From now on, this node's changes are also sent to `outbound` (the cluster task). Once;
    /// later calls are ignored.
    pub fn share(&self, outbound: mpsc::UnboundedSender<LocalChange>) {
        let _ = self.outbound.set(outbound);
    }

    fn send_out(&self, change: LocalChange) {
        if let Some(outbound) = self.outbound.get() {
            let _ = outbound.send(change);
        }
    }

    /// Calls of `user_id` carried by the other live nodes.
    fn remote_calls(&self, user_id: i64) -> u32 {
        lock_remote(&self.remote)
            .values()
            .filter_map(|users| users.get(&user_id))
            .sum()
    }

    /// Calls `user_id` is on at this node only.
    pub fn local_calls(&self, user_id: i64) -> u32 {
        self.lock().get(&user_id).map_or(0, |l| l.len() as u32)
    }

    /// An event from another node (`node`): published to this node's subscribers, with a
    /// [`PresenceEvent::Calls`] count turned from that node's into the user's total.
    pub fn apply_remote(&self, node: &str, event: PresenceEvent) {
        let event = match event {
            PresenceEvent::Calls { user_id, active } => {
                {
                    let mut remote = lock_remote(&self.remote);
                    let users = remote.entry(node.to_owned()).or_default();
                    if active == 0 {
                        users.remove(&user_id);
                    } else {
                        users.insert(user_id, active);
                    }
                }
                PresenceEvent::Calls {
                    user_id,
                    active: self.active_calls(user_id),
                }
            }
            other => other,
        };
        let _ = self.events.send(event);
    }

    /// Replaces what is known of the other nodes' calls with the store's view (node, user,
    /// calls), and publishes the users whose total changed: a dead node's calls go away here.
    pub fn set_remote_calls(&self, rows: &[(String, i64, u32)]) {
        let mut fresh: HashMap<String, HashMap<i64, u32>> = HashMap::new();
        for (node, user, calls) in rows {
            if *calls > 0 {
                fresh.entry(node.clone()).or_default().insert(*user, *calls);
            }
        }
        let totals = |map: &HashMap<String, HashMap<i64, u32>>| {
            let mut out: HashMap<i64, u32> = HashMap::new();
            for users in map.values() {
                for (user, calls) in users {
                    *out.entry(*user).or_default() += calls;
                }
            }
            out
        };
        let changed: Vec<i64> = {
            let mut remote = lock_remote(&self.remote);
            let before = totals(&remote);
            let after = totals(&fresh);
            *remote = fresh;
            let mut users: Vec<i64> = before.keys().chain(after.keys()).copied().collect();
            users.sort_unstable();
            users.dedup();
            users
                .into_iter()
                .filter(|u| before.get(u) != after.get(u))
                .collect()
        };
        for user_id in changed {
            let active = self.active_calls(user_id);
            let _ = self.events.send(PresenceEvent::Calls { user_id, active });
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Vec<String>>> {
        // Each critical section is one map update; a panic inside cannot leave it half-done.
        self.calls.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A call (by Call-ID) of `user_id` started (it is no longer ringing). Idempotent per
    /// Call-ID.
    pub fn call_started(&self, user_id: i64, call_id: &str) {
        remove(&mut lock(&self.ringing), user_id, call_id);
        let active = {
            let mut calls = self.lock();
            let list = calls.entry(user_id).or_default();
            if list.iter().any(|c| c == call_id) {
                return;
            }
            list.push(call_id.to_owned());
            list.len() as u32
        };
        self.send_out(LocalChange::CallStarted {
            user_id,
            call_id: call_id.to_owned(),
            here: active,
        });
        let active = active + self.remote_calls(user_id);
        let _ = self.events.send(PresenceEvent::Calls { user_id, active });
    }

    /// A call of `user_id` ended. Idempotent.
    pub fn call_ended(&self, user_id: i64, call_id: &str) {
        let active = {
            let mut calls = self.lock();
            let Some(list) = calls.get_mut(&user_id) else {
                return;
            };
            let before = list.len();
            list.retain(|c| c != call_id);
            if list.len() == before {
                return;
            }
            let n = list.len() as u32;
            if n == 0 {
                calls.remove(&user_id);
            }
            n
        };
        self.send_out(LocalChange::CallEnded {
            user_id,
            call_id: call_id.to_owned(),
            here: active,
        });
        let active = active + self.remote_calls(user_id);
        let _ = self.events.send(PresenceEvent::Calls { user_id, active });
    }

    /// A call (by Call-ID) rings `user_id`'s devices. Idempotent per Call-ID.
    pub fn call_ringing(&self, user_id: i64, call_id: &str) {
        {
            let mut ringing = lock(&self.ringing);
            let list = ringing.entry(user_id).or_default();
            if list.iter().any(|c| c == call_id) {
                return;
            }
            list.push(call_id.to_owned());
        }
        self.send_out(LocalChange::Event(PresenceEvent::Ringing { user_id }));
        let _ = self.events.send(PresenceEvent::Ringing { user_id });
    }

    /// A call stopped ringing `user_id` without being answered. Publishes the (unchanged)
    /// call count so subscribers see the ringing is over. Idempotent.
    pub fn ringing_ended(&self, user_id: i64, call_id: &str) {
        if !remove(&mut lock(&self.ringing), user_id, call_id) {
            return;
        }
        self.send_out(LocalChange::Event(PresenceEvent::Calls {
            user_id,
            active: self.local_calls(user_id),
        }));
        let active = self.active_calls(user_id);
        let _ = self.events.send(PresenceEvent::Calls { user_id, active });
    }

    /// Calls ringing `user_id` now.
    pub fn ringing_calls(&self, user_id: i64) -> u32 {
        lock(&self.ringing)
            .get(&user_id)
            .map_or(0, |l| l.len() as u32)
    }

    /// Calls `user_id` is on now, on this node and the other live ones.
    pub fn active_calls(&self, user_id: i64) -> u32 {
        self.local_calls(user_id) + self.remote_calls(user_id)
    }

    /// Tells subscribers (here and on the other nodes) that something else changed.
    pub fn publish(&self, event: PresenceEvent) {
        self.send_out(LocalChange::Event(event.clone()));
        let _ = self.events.send(event);
    }

    /// A receiver of every event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<PresenceEvent> {
        self.events.subscribe()
    }
}

fn lock(
    map: &Mutex<HashMap<i64, Vec<String>>>,
) -> std::sync::MutexGuard<'_, HashMap<i64, Vec<String>>> {
    // Each critical section is one map update; a panic inside cannot leave it half-done.
    map.lock().unwrap_or_else(|e| e.into_inner())
}

fn lock_remote(
    map: &Mutex<HashMap<String, HashMap<i64, u32>>>,
) -> std::sync::MutexGuard<'_, HashMap<String, HashMap<i64, u32>>> {
    // Each critical section is one map update; a panic inside cannot leave it half-done.
    map.lock().unwrap_or_else(|e| e.into_inner())
}

/// Removes `call_id` from `user_id`'s list; whether it was there.
fn remove(map: &mut HashMap<i64, Vec<String>>, user_id: i64, call_id: &str) -> bool {
    let Some(list) = map.get_mut(&user_id) else {
        return false;
    };
    let before = list.len();
    list.retain(|c| c != call_id);
    let removed = list.len() != before;
    if list.is_empty() {
        map.remove(&user_id);
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_calls_per_user_and_publishes() {
        let presence = Presence::new();
        let mut events = presence.subscribe();
        presence.call_started(1, "a");
        presence.call_started(1, "a");
        presence.call_started(1, "b");
        assert_eq!(presence.active_calls(1), 2);
        presence.call_ended(1, "a");
        presence.call_ended(1, "zzz");
        assert_eq!(presence.active_calls(1), 1);
        assert_eq!(presence.active_calls(2), 0);
        let got: Vec<_> = std::iter::from_fn(|| events.try_recv().ok()).collect();
        assert_eq!(
            got,
            vec![
                PresenceEvent::Calls {
                    user_id: 1,
                    active: 1
                },
                PresenceEvent::Calls {
                    user_id: 1,
                    active: 2
                },
                PresenceEvent::Calls {
                    user_id: 1,
                    active: 1
                },
            ]
        );
    }

    #[test]
    fn ringing_then_answered_then_ended() {
        let presence = Presence::new();
        let mut events = presence.subscribe();
        presence.call_ringing(1, "a");
        presence.call_ringing(1, "a");
        assert_eq!(presence.ringing_calls(1), 1);
        presence.call_started(1, "a");
        assert_eq!(presence.ringing_calls(1), 0);
        presence.ringing_ended(1, "a");
        presence.call_ended(1, "a");
        presence.call_ringing(2, "b");
        presence.ringing_ended(2, "b");
        let got: Vec<_> = std::iter::from_fn(|| events.try_recv().ok()).collect();
        assert_eq!(
            got,
            vec![
                PresenceEvent::Ringing { user_id: 1 },
                PresenceEvent::Calls {
                    user_id: 1,
                    active: 1
                },
                PresenceEvent::Calls {
                    user_id: 1,
                    active: 0
                },
                PresenceEvent::Ringing { user_id: 2 },
                PresenceEvent::Calls {
                    user_id: 2,
                    active: 0
                },
            ]
        );
    }

    #[test]
    fn other_nodes_calls_count_and_local_changes_go_out() {
        let presence = Presence::new();
        let (tx, mut rx) = mpsc::unbounded_channel();
        presence.share(tx);
        let mut events = presence.subscribe();
        // Node B says user 1 is on one call there.
        presence.apply_remote(
            "b",
            PresenceEvent::Calls {
                user_id: 1,
                active: 1,
            },
        );
        assert_eq!(presence.active_calls(1), 1);
        assert_eq!(presence.local_calls(1), 0);
        // A call here too: the total is 2, and node B is told this node's count (1).
        presence.call_started(1, "here");
        assert_eq!(presence.active_calls(1), 2);
        assert_eq!(
            rx.try_recv().unwrap(),
            LocalChange::CallStarted {
                user_id: 1,
                call_id: "here".into(),
                here: 1
            }
        );
        // The store's view says node B is gone: its call no longer counts, and subscribers
        // hear the new total.
        presence.set_remote_calls(&[]);
        assert_eq!(presence.active_calls(1), 1);
        let got: Vec<_> = std::iter::from_fn(|| events.try_recv().ok()).collect();
        assert_eq!(
            got,
            vec![
                PresenceEvent::Calls {
                    user_id: 1,
                    active: 1
                },
                PresenceEvent::Calls {
                    user_id: 1,
                    active: 2
                },
                PresenceEvent::Calls {
                    user_id: 1,
                    active: 1
                },
            ]
        );
        // Remote events are not sent back out.
        assert!(rx.try_recv().is_err());
    }
}
