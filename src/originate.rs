//! Calls the HTTP API asks the SIP task to make (click-to-call, RFC 3725): the contract both
//! sides import, so neither imports the other.
//!
//! The API holds a [`Handle`]; the SIP task (`runtime::click_to_call`) holds the receiving
//! end of its command channel and writes the statuses the API reads.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use crate::b2bua::click_to_call::{EndReason, Originate, Status};
use crate::b2bua::trunk::Trunk;
use crate::b2bua::{OutboundTarget, TargetKind};

/// The trunk's address: a DNS look-up of its host (I/O, so here and not in the pure
/// [`Trunk`]); `None` when it does not resolve.
pub async fn resolve_trunk(trunk: &Trunk) -> Option<SocketAddr> {
    tokio::net::lookup_host(trunk.lookup_address())
        .await
        .ok()?
        .next()
}

/// Commands queued from the API at most (a full queue answers the API 503).
const COMMAND_QUEUE: usize = 256;
/// Click-to-calls remembered at most (ended ones are forgotten first).
const REGISTRY_SIZE: usize = 10_000;
/// Click-to-calls in progress per user at most.
pub const MAX_PER_USER: usize = 3;

/// What the API asks of the SIP task.
#[derive(Debug)]
pub enum Command {
    /// Set one up.
    Originate {
        /// Its id in the registry.
        id: String,
        /// What to call.
        request: Box<Originate>,
    },
    /// Hang it up.
    HangUp {
        /// Its id.
        id: String,
    },
}

/// One click-to-call as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    /// The user who asked for it (only they see it).
    pub owner: i64,
    /// The number called.
    pub to: String,
    /// Where it stands.
    pub status: Status,
    /// When it was asked for.
    pub created_at: DateTime<Utc>,
    /// When it was bridged.
    pub connected_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub ended_at: Option<DateTime<Utc>>,
}

/// The click-to-calls' statuses, shared by the SIP task (writes) and the API (reads).
#[derive(Debug, Clone, Default)]
pub struct Registry(Arc<Mutex<HashMap<String, View>>>);

impl Registry {
    /// The click-to-call `id` if `owner` asked for it (anyone else's is "not found").
    pub fn get(&self, id: &str, owner: i64) -> Option<View> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(id).filter(|v| v.owner == owner).cloned()
    }

    /// How many of `owner`'s click-to-calls are not over.
    pub fn active(&self, owner: i64) -> usize {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.values()
            .filter(|v| v.owner == owner && !matches!(v.status, Status::Ended(_)))
            .count()
    }

    fn insert(&self, id: String, view: View) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= REGISTRY_SIZE {
            // Forget the oldest ended ones (bounded memory whatever the API is asked).
            let mut ended: Vec<(DateTime<Utc>, String)> = map
                .iter()
                .filter(|(_, v)| matches!(v.status, Status::Ended(_)))
                .map(|(k, v)| (v.created_at, k.clone()))
                .collect();
            ended.sort();
            for (_, k) in ended.into_iter().take(REGISTRY_SIZE / 10 + 1) {
                map.remove(&k);
            }
        }
        map.insert(id, view);
    }

    /// Moves `id` to `status` at `now` (an ended one stays ended).
    pub fn update(&self, id: &str, status: Status, now: DateTime<Utc>) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = map.get_mut(id) {
            if matches!(v.status, Status::Ended(_)) {
                return;
            }
            v.status = status;
            match status {
                Status::Connected => v.connected_at = Some(now),
                Status::Ended(_) => v.ended_at = Some(now),
                _ => {}
            }
        }
    }
}

/// The API's side: where commands go and where statuses are read.
#[derive(Debug, Clone)]
pub struct Handle {
    commands: mpsc::Sender<Command>,
    /// `sip.trunk`, for external numbers.
    trunk: String,
    /// The statuses.
    pub registry: Registry,
}

/// Why a click-to-call could not be queued.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The SIP task is not taking commands (busy, or shutting down).
    #[error("the SIP service is not taking calls")]
    Unavailable,
}

impl Handle {
    /// Queues a click-to-call for `request` and records it as ringing the user; returns its id.
    pub fn originate(&self, request: Originate, now: DateTime<Utc>) -> Result<String, QueueError> {
        let id = format!("c2c-{}", crate::sip::message::new_tag());
        let view = View {
            owner: request.user_id,
            to: request.to.clone(),
            status: Status::RingingYou,
            created_at: now,
            connected_at: None,
            ended_at: None,
        };
        self.registry.insert(id.clone(), view);
        let command = Command::Originate {
            id: id.clone(),
            request: Box::new(request),
        };
        if self.commands.try_send(command).is_err() {
            self.registry
                .update(&id, Status::Ended(EndReason::Unreachable), now);
            return Err(QueueError::Unavailable);
        }
        Ok(id)
    }

    /// The trunk leg for an external `number`; `None` without a trunk (or if it does not
    /// resolve).
    pub async fn external_target(&self, number: &str) -> Option<OutboundTarget> {
        let trunk = Trunk::parse(&self.trunk)?;
        // Nothing to dial: no look-up.
        crate::b2bua::trunk::dialable(number)?;
        let address = resolve_trunk(&trunk).await?;
        trunk.target(address, number, TargetKind::External)
    }

    /// Asks the SIP task to hang `id` up.
    pub fn hang_up(&self, id: &str) -> Result<(), QueueError> {
        self.commands
            .try_send(Command::HangUp { id: id.to_owned() })
            .map_err(|_| QueueError::Unavailable)
    }
}

/// A new command channel over `registry`: the handle goes to the API, the receiver to the SIP
/// task.
pub fn channel(trunk: String, registry: Registry) -> (Handle, mpsc::Receiver<Command>) {
    let (commands, receiver) = mpsc::channel(COMMAND_QUEUE);
    let handle = Handle {
        commands,
        trunk,
        registry,
    };
    (handle, receiver)
}
