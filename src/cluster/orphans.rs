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
use crate::domain::model::{NewVoicemail, UserId};
use crate::notify::{Notifier, VoicemailChanged};
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
    async fn announce(&self, message: &crate::domain::model::VoicemailMessage, wav: Vec<u8>) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::dialog_share::{SharedLeg, SharedRow};
    use crate::domain::model::CallDirection;
    use crate::store::{RecordingChunk, SharedRecording};

    /// Speech (the English prompts, spoken by espeak-ng), about 4 s.
    fn speech() -> Vec<i16> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts/en");
        let mut out = Vec::new();
        for name in [
            "you_have_called.wav",
            "is_in_a_meeting.wav",
            "and_will_be_back.wav",
        ] {
            let limits = crate::media::decode::DecodeLimits::default();
            out.extend(crate::media::decode::decode_file(&dir.join(name), &limits).unwrap());
            out.extend(std::iter::repeat_n(0, 1200));
        }
        out
    }

    #[tokio::test]
    async fn a_dead_nodes_recording_becomes_a_message_and_its_call_a_history_row_once() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        crate::store::demo::seed(&store).await.unwrap();
        let hans = store.user_by_local_number("1000001").await.unwrap().id;
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        store.cluster_heartbeat("a", t0).await.unwrap();
        // Node a recorded the caller a chunk a second, then died.
        let recording = SharedRecording {
            id: "a-1".into(),
            node_id: "a".into(),
            call_id: "c1".into(),
            user_id: hans.0,
            caller_number: Some("4512345678".into()),
            caller_name: None,
            received_at: t0,
            format: SharedRecording::PCM.into(),
        };
        store.shared_recording_begin(&recording, t0).await.unwrap();
        let speech = speech();
        for (seq, part) in speech.chunks(8000).enumerate() {
            let chunk = RecordingChunk {
                seq: seq as i64,
                offset_samples: seq as i64 * 8000,
                audio: part.iter().flat_map(|s| s.to_le_bytes()).collect(),
            };
            store.shared_recording_chunk("a-1", &chunk).await.unwrap();
        }
        // And it bridged a call to Hans (its BYE goes to the discard port: nobody answers).
        let leg = SharedLeg {
            uac: true,
            call_id: "c2".into(),
            local_tag: "t".into(),
            remote_tag: "r".into(),
            local_uri: "<sip:4512345678@onestatus>".into(),
            remote_uri: "<sip:1000001@127.0.0.1>".into(),
            local_cseq: Some(1),
            remote_cseq: None,
            remote_target: "sip:1000001@127.0.0.1:9".into(),
            route_set: Vec::new(),
            destination: "127.0.0.1:9".parse().unwrap(),
            tcp: false,
        };
        let call = SharedCall {
            legs: vec![leg],
            history: vec![SharedRow {
                user_id: hans.0,
                direction: "in".into(),
                other_number: "4512345678".into(),
                other_name: None,
                started_at: t0,
                answered_at: Some(t0),
                route: Some(crate::b2bua::INTERRUPTED.into()),
            }],
        };
        let state = serde_json::to_string(&call).unwrap();
        store
            .shared_dialog_put("a", "c2", &state, t0)
            .await
            .unwrap();

        let clock = Arc::new(crate::clock::ManualClock::new(
            t0 + chrono::Duration::seconds(60),
        ));
        let config = crate::config::Config::default();
        let presence = crate::presence::Presence::new();
        let survivor = Survivor {
            store: store.clone(),
            node: "b".into(),
            started: t0,
            config: ClusterConfig::default(),
            clock: clock.clone(),
            notifier: Arc::new(Notifier::from_config(&config).unwrap()),
            changed: VoicemailChanged::new(store.clone(), presence),
        };
        let swept = survivor.sweep().await.unwrap();
        assert_eq!(
            swept,
            Swept {
                messages: 1,
                empty: 0,
                calls: 1
            }
        );
        let messages = store.voicemails(hans).await.unwrap();
        assert_eq!(messages.len(), 1);
        let spoken = speech.len() as u64 / 8;
        assert!(
            messages[0].duration_ms + 700 >= spoken && messages[0].duration_ms <= spoken,
            "{} ms stored of {spoken} ms",
            messages[0].duration_ms
        );
        assert_eq!(messages[0].received_at, t0);
        let history = store.call_history(hans, None, 10).await.unwrap();
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].data.direction, CallDirection::In);
        assert_eq!(history[0].data.route.as_deref(), Some("interrupted"));
        assert_eq!(history[0].data.ended_at, Some(clock.now()));
        // Nothing is left to carry out: a second sweep, here or elsewhere, does nothing.
        assert_eq!(survivor.sweep().await.unwrap(), Swept::default());
        assert!(store.shared_recording_load("a-1").await.is_err());
    }
}
