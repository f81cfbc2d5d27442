//! Who is on the phone right now, and a bus of presence changes.
//!
//! The B2BUA writes (a call to or from a user starts or ends); routing reads the count ("is on
//! the phone"), and the HTTP API streams the events to web clients so status updates live. It
//! is in memory on purpose: a call in progress does not survive a restart either. With several
//! nodes each knows its own calls; sharing them is future work.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::broadcast;

/// Events buffered per subscriber before a slow one starts missing some (it then re-reads
/// the full state, see [`broadcast::error::RecvError::Lagged`]).
const EVENT_BUFFER: usize = 1024;

/// A change someone may want to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
    },
}

/// Shared presence state. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Presence {
    calls: Arc<Mutex<HashMap<i64, Vec<String>>>>,
    /// Calls (by Call-ID) ringing each user's devices now.
    ringing: Arc<Mutex<HashMap<i64, Vec<String>>>>,
    events: broadcast::Sender<PresenceEvent>,
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
        let _ = self.events.send(PresenceEvent::Ringing { user_id });
    }

    /// A call stopped ringing `user_id` without being answered. Publishes the (unchanged)
    /// call count so subscribers see the ringing is over. Idempotent.
    pub fn ringing_ended(&self, user_id: i64, call_id: &str) {
        if !remove(&mut lock(&self.ringing), user_id, call_id) {
            return;
        }
        let active = self.active_calls(user_id);
        let _ = self.events.send(PresenceEvent::Calls { user_id, active });
    }

    /// Calls ringing `user_id` now.
    pub fn ringing_calls(&self, user_id: i64) -> u32 {
        lock(&self.ringing)
            .get(&user_id)
            .map_or(0, |l| l.len() as u32)
    }

    /// Calls `user_id` is on now.
    pub fn active_calls(&self, user_id: i64) -> u32 {
        self.lock().get(&user_id).map_or(0, |l| l.len() as u32)
    }

    /// Tells subscribers that something else changed.
    pub fn publish(&self, event: PresenceEvent) {
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
}
