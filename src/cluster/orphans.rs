//! A survivor carries out what a dead node left (issue #20): its recordings in progress become
//! messages and its answered calls are ended and written to the history.
//!
//! Every `cluster.heartbeat_secs` each node looks for the rows of nodes whose heartbeat is
//! older than `heartbeat_secs × missed_heartbeats` (the same test that expires their calls in
//! [`super::presence_share`]), and for its own rows from before it started (a node restarted
//! under a configured id). Each row is claimed by one atomic `UPDATE` (for [`CLAIM`]; a
//! claimant that dies too is replaced once the claim expires), so one node carries it out:
//!
//! - a recording ([`super::spool_share`]): its chunks replayed into the take, judged as the
//!   local spool's recovery judges one (speech, at least a second, cut to the speech and its
//!   margins), stored with the deletion of its rows in one transaction, then announced as a
//!   deposit announces its message: the mailbox counts published (message-waiting NOTIFYs, the
//!   web client's event on every node) and the e-mail/SMS notification sent;
//! - an answered call ([`super::dialog_share`]): BYE on each leg with the next CSeq
//!   ([`super::orphan_bye`]), its history rows written with the outcome `"interrupted"` and
//!   ended now (when the survivor learnt of the death; the node died at most one expiry
//!   earlier), then the row deleted.
//!
//! On SQLite (one node) nothing here runs: the node that died is the only one, and its local
//! spool is recovered when it starts again.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use super::dialog_share::SharedCall;
use crate::clock::Clock;
use crate::config::ClusterConfig;
use crate::notify::{Notifier, VoicemailChanged};
use crate::store::model::{NewVoicemail, UserId};
use crate::store::{OrphanScope, Store, StoreError};

/// How long a claim holds before another node may take the row over.
pub const CLAIM: Duration = Duration::from_secs(120);

/// The longest take assembled: an hour of audio, far past any `max_message_secs`, and a bound
/// on what a row can make a survivor allocate.
const MAX_SAMPLES: usize = 3600 * 8000;

/// What the survivor needs.
#[derive(Clone)]
pub struct Survivor {
    /// The shared store.
    pub store: Store,
    /// This node.
    pub node: String,
    /// When this node started.
    pub started: DateTime<Utc>,
    /// Heartbeat and expiry.
    pub config: ClusterConfig,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// E-mail/SMS after a new message.
    pub notifier: Arc<Notifier>,
    /// Publishes the mailbox counts.
    pub changed: VoicemailChanged,
}

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Messages stored from orphaned recordings.
    pub messages: usize,
    /// Orphaned recordings with no message in them (no speech, too short).
    pub empty: usize,
    /// Orphaned calls ended.
    pub calls: usize,
}

/// Starts the sweeps when the store is PostgreSQL (several nodes); `None` on SQLite.
pub fn start(survivor: Survivor) -> Option<tokio::task::JoinHandle<()>> {
    survivor.store.pg_pool()?;
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(survivor.config.heartbeat.max(Duration::from_secs(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match survivor.sweep().await {
                Ok(swept) if swept != Swept::default() => {
                    info!(?swept, "what a dead node left is carried out");
                }
                Ok(_) => {}
                Err(error) => warn!(%error, "orphan sweep failed"),
            }
        }
    }))
}

impl Survivor {
    /// One sweep: every orphaned recording and call this node can claim now.
    pub async fn sweep(&self) -> Result<Swept, StoreError> {
        let now = self.clock.now();
        let expiry =
            chrono::Duration::from_std(self.config.expiry()).unwrap_or(chrono::Duration::MAX);
        let scope = OrphanScope {
            me: &self.node,
            started: self.started,
            alive_since: now - expiry,
            now,
        };
        let until = now + chrono::Duration::from_std(CLAIM).unwrap_or(chrono::Duration::MAX);
        let mut swept = Swept::default();
        for id in self.store.shared_recordings_orphaned(scope).await? {
            if !self.store.shared_recording_claim(&id, scope, until).await? {
                continue;
            }
            match self.recording(&id).await {
                Ok(true) => swept.messages += 1,
                Ok(false) => swept.empty += 1,
                Err(error) => {
                    warn!(%error, recording = %id, "orphaned recording not stored; retried after the claim")
                }
            }
        }
        let mut ending = Vec::new();
        for (node, call_id) in self.store.shared_dialogs_orphaned(scope).await? {
            let Some(state) = self
                .store
                .shared_dialog_claim(&node, &call_id, scope, until)
                .await?
            else {
                continue;
            };
            ending.push(self.end_call(node, call_id, state));
        }
        swept.calls = ending.len();
        futures_util::future::join_all(ending).await;
        Ok(swept)
    }

    /// Stores orphaned recording `id` as a message: true if there was one.
    async fn recording(&self, id: &str) -> Result<bool, StoreError> {
        let (recording, chunks) = self.store.shared_recording_load(id).await?;
        let samples = super::spool_share::assemble(&chunks, MAX_SAMPLES);
        let left = crate::media::decode::wav_bytes(&samples)
            .ok()
            .and_then(crate::runtime::voicemail::message_left_behind);
        let Some((audio, duration_ms)) = left else {
            info!(recording = %id, samples = samples.len(), "orphaned recording without a message; dropped");
            self.store.shared_recording_remove(id).await?;
            return Ok(false);
        };
        let message = NewVoicemail {
            user_id: UserId(recording.user_id),
            caller_number: recording.caller_number,
            caller_name: recording.caller_name,
            received_at: recording.received_at,
            duration_ms,
            audio,
        };
        let row = self.store.voicemail_insert_recovered(&message, id).await?;
        info!(
            voicemail_id = %row.id,
            duration_ms = row.duration_ms,
            node = %recording.node_id,
            call_id = %recording.call_id,
            "message of a dead node's call stored"
        );
        self.announce(&row, message.audio).await;
        Ok(true)
    }

    /// What a deposit does once its message is stored: the counts (lamps, web clients) and
    /// the e-mail/SMS.
    async fn announce(&self, message: &crate::store::model::VoicemailMessage, wav: Vec<u8>) {
        let user_id = message.user_id;
        if let Err(error) = self.changed.publish(user_id).await {
            warn!(%error, "voicemail counts not published");
        }
        let user = match self.store.user(user_id).await {
            Ok(user) => user,
            Err(error) => {
                warn!(%error, "mailbox owner not loaded; no notification");
                return;
            }
        };
        let timezone = match self.store.org(user.org_id).await {
            Ok(org) => org.timezone,
            Err(_) => chrono_tz::UTC,
        };
        let settings = self
            .store
            .voicemail_settings(user_id)
            .await
            .unwrap_or_default();
        let delivery = self
            .notifier
            .notify_new_voicemail(
                self.clock.now(),
                &user,
                timezone,
                &settings,
                message,
                Some(&wav),
            )
            .await;
        tracing::debug!(?delivery, "recovered message's notification done");
    }

    /// Ends a dead node's call: BYE both ways, the history, the row. The BYEs run on their
    /// own: a phone that answers to the dead node's address rather than our Via (RFC 3261
    /// §18.2.2 says the Via), or is gone, keeps one waiting for Timer F, and the history
    /// need not wait for that.
    async fn end_call(&self, node: String, call_id: String, state: String) {
        let call: SharedCall = match serde_json::from_str(&state) {
            Ok(call) => call,
            Err(error) => {
                warn!(%error, %call_id, "unreadable call state; dropped");
                let _ = self.store.shared_dialog_remove(&node, &call_id).await;
                return;
            }
        };
        let ended = self.clock.now();
        for leg in call.legs {
            let clock = self.clock.clone();
            tokio::spawn(async move {
                match super::orphan_bye::send_bye(&leg, clock).await {
                    Ok(()) => {
                        info!(call_id = %leg.call_id, to = %leg.destination, "dead node's call ended")
                    }
                    Err(error) => info!(
                        call_id = %leg.call_id,
                        to = %leg.destination,
                        %error,
                        "BYE of a dead node's call not answered"
                    ),
                }
            });
        }
        info!(%call_id, %node, "BYE sent on the legs of a dead node's call");
        let rows: Vec<_> = call
            .history
            .iter()
            .filter_map(|row| row.call_data(ended))
            .collect();
        if !rows.is_empty() {
            if let Err(error) = self.store.call_records_insert(&rows).await {
                warn!(%error, %call_id, "history of a dead node's call not written; retried after the claim");
                return;
            }
        }
        if let Err(error) = self.store.shared_dialog_remove(&node, &call_id).await {
            warn!(%error, %call_id, "dead node's call not forgotten");
        }
    }
}
