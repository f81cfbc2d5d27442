//! The dialogs of this node's answered calls, recorded in the store so that a survivor can end
//! them if this node dies (issue #20): without this a `kill -9` leaves both phones of a
//! bridged call in a call nobody carries (no BYE ever comes: RFC 3261 §15 leaves ending a
//! dialog to its parties) and the call never reaches the history.
//!
//! What is kept per call (`cluster_dialogs.state`, JSON): each leg's dialog state of §12
//! (Call-ID, local and remote tag and URI, local CSeq, remote target, route set) and where its
//! requests go, enough to build the BYE of §15.1.1 with the next CSeq; and the history rows the
//! call's end would write. A bridged call is written when it is answered (both dialogs
//! confirmed) and deleted when it is over; a voicemail call keeps the caller's dialog for as
//! long as the deposit runs (its history row was written at the hand-off).
//!
//! In-dialog requests after the answer (a session refresh, a re-INVITE for hold) raise our
//! local CSeq: the row is written again when the state changes, so a survivor's BYE carries a
//! CSeq above every one the peer has seen (RFC 3261 §12.2.2 would let it refuse a lower one
//! with 500). That is a write per refresh, not per packet or per turn of the call.
//!
//! Writes go through one task in order, off the SIP loop, gathered over [`WINDOW`] after the
//! first into one statement ([`Pending`]): at hundreds of calls a second a node writes tens of
//! statements a second for its dialogs, not two per call. The price is that a node killed
//! within [`WINDOW`] of an answer leaves that call unrecorded (the write was already
//! asynchronous; the window adds 50 ms to that gap).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tracing::warn;

use crate::b2bua::{Call, Takeover, TakeoverLeg};
use crate::clock::Clock;
use crate::domain::model::{CallData, CallDirection, UserId};
use crate::sip::dialog::{Dialog, Role};
use crate::sip::transaction::TransportKind;
use crate::store::Store;

/// One leg as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedLeg {
    /// Whether we sent the INVITE of this dialog (the callee's leg).
    pub uac: bool,
    /// Call-ID.
    pub call_id: String,
    /// Our tag.
    pub local_tag: String,
    /// The peer's tag.
    pub remote_tag: String,
    /// Our URI (From of our requests), without tag.
    pub local_uri: String,
    /// The peer's URI (To of our requests), without tag.
    pub remote_uri: String,
    /// The CSeq of our last request in the dialog.
    pub local_cseq: Option<u32>,
    /// The highest CSeq the peer sent.
    pub remote_cseq: Option<u32>,
    /// The peer's Contact.
    pub remote_target: String,
    /// Route set, in the order our requests carry it.
    pub route_set: Vec<String>,
    /// Where our requests go.
    pub destination: SocketAddr,
    /// Over TCP (else UDP).
    pub tcp: bool,
}

impl SharedLeg {
    fn new(leg: &TakeoverLeg) -> Self {
        let d = &leg.dialog;
        SharedLeg {
            uac: d.role == Role::Uac,
            call_id: d.call_id.clone(),
            local_tag: d.local_tag.clone(),
            remote_tag: d.remote_tag.clone(),
            local_uri: d.local_uri.clone(),
            remote_uri: d.remote_uri.clone(),
            local_cseq: d.local_cseq,
            remote_cseq: d.remote_cseq,
            remote_target: d.remote_target.clone(),
            route_set: d.route_set.clone(),
            destination: leg.destination,
            tcp: leg.transport == TransportKind::Tcp,
        }
    }

    /// The dialog, to build the BYE from.
    pub fn dialog(&self) -> Dialog {
        Dialog {
            role: if self.uac { Role::Uac } else { Role::Uas },
            call_id: self.call_id.clone(),
            local_tag: self.local_tag.clone(),
            remote_tag: self.remote_tag.clone(),
            local_uri: self.local_uri.clone(),
            remote_uri: self.remote_uri.clone(),
            local_cseq: self.local_cseq,
            remote_cseq: self.remote_cseq,
            remote_target: self.remote_target.clone(),
            route_set: self.route_set.clone(),
        }
    }

    /// The transport of our requests.
    pub fn transport(&self) -> TransportKind {
        if self.tcp {
            TransportKind::Tcp
        } else {
            TransportKind::Udp
        }
    }
}

/// A history row as stored, `ended_at` left to the survivor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedRow {
    /// Whose history.
    pub user_id: i64,
    /// `in`, `out` or `missed`.
    pub direction: String,
    /// The other party's number.
    pub other_number: String,
    /// The other party's name.
    pub other_name: Option<String>,
    /// When the call started.
    pub started_at: DateTime<Utc>,
    /// When it was answered.
    pub answered_at: Option<DateTime<Utc>>,
    /// The outcome.
    pub route: Option<String>,
}

impl SharedRow {
    fn new(data: &CallData) -> Self {
        SharedRow {
            user_id: data.user_id.0,
            direction: data.direction.as_str().to_owned(),
            other_number: data.other_number.clone(),
            other_name: data.other_name.clone(),
            started_at: data.started_at,
            answered_at: data.answered_at,
            route: data.route.clone(),
        }
    }

    /// The row, ended at `ended_at`; `None` if the direction is unknown.
    pub fn call_data(&self, ended_at: DateTime<Utc>) -> Option<CallData> {
        Some(CallData {
            user_id: UserId(self.user_id),
            direction: self.direction.parse::<CallDirection>().ok()?,
            other_number: self.other_number.clone(),
            other_name: self.other_name.clone(),
            started_at: self.started_at,
            answered_at: self.answered_at,
            ended_at: Some(ended_at),
            route: self.route.clone(),
        })
    }
}

/// A call as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedCall {
    /// Its legs: the caller's first.
    pub legs: Vec<SharedLeg>,
    /// Its history rows.
    pub history: Vec<SharedRow>,
}

impl SharedCall {
    /// A bridged call, from the B2BUA's takeover state.
    pub fn bridged(takeover: &Takeover) -> Self {
        SharedCall {
            legs: takeover.legs.iter().map(SharedLeg::new).collect(),
            history: takeover.history.iter().map(SharedRow::new).collect(),
        }
    }

    /// A voicemail call: the caller's dialog as the IVR answers it (§12.1.1, our tag
    /// `local_tag`), no history (written at the hand-off). `None` when the INVITE makes no
    /// dialog.
    pub fn voicemail(
        invite: &rsip::Request,
        local_tag: &str,
        source: SocketAddr,
        transport: TransportKind,
    ) -> Option<Self> {
        let dialog = Dialog::from_uas(invite, local_tag).ok()?;
        Some(SharedCall {
            legs: vec![SharedLeg::new(&TakeoverLeg {
                dialog,
                destination: source,
                transport,
            })],
            history: Vec::new(),
        })
    }
}

/// What the writer does, in order.
#[derive(Debug)]
enum Change {
    Put(String, String),
    Remove(String),
}

/// This node's end of the writer. Cheap to clone.
#[derive(Debug, Clone)]
pub struct DialogShare {
    changes: mpsc::UnboundedSender<Change>,
}

impl DialogShare {
    /// Starts the writer for node `node`.
    pub fn start(store: Store, node: String, clock: Arc<dyn Clock>) -> Self {
        let (changes, rx) = mpsc::unbounded_channel();
        tokio::spawn(write(store, node, clock, rx));
        DialogShare { changes }
    }

    /// Call `call_id` is answered as `call`.
    pub fn put(&self, call_id: &str, call: &SharedCall) {
        match serde_json::to_string(call) {
            Ok(state) => {
                let _ = self.changes.send(Change::Put(call_id.to_owned(), state));
            }
            Err(error) => warn!(%error, "call state not shared"),
        }
    }

    /// Call `call_id` is over.
    pub fn remove(&self, call_id: &str) {
        let _ = self.changes.send(Change::Remove(call_id.to_owned()));
    }

    /// Shares a voicemail call for as long as the guard lives.
    pub fn voicemail(&self, call_id: &str, call: Option<SharedCall>) -> Option<SharedCallGuard> {
        let call = call?;
        self.put(call_id, &call);
        Some(SharedCallGuard {
            share: self.clone(),
            call_id: call_id.to_owned(),
        })
    }
}

/// Shares the caller's dialog of a voicemail call while the deposit runs, when `spool` mirrors
/// to the store (several nodes).
pub fn voicemail_call(
    spool: &crate::runtime::voicemail::SpoolDir,
    req: &crate::b2bua::VoicemailRequest,
) -> Option<SharedCallGuard> {
    let share = spool.share()?.dialogs()?;
    // Its own key: a caller transferred out of the IVR ("press 9") becomes a bridged call
    // under the same Call-ID, whose row must outlive the deposit's.
    share.voicemail(
        &format!("{VOICEMAIL_KEY}{}", req.call_id),
        SharedCall::voicemail(&req.invite, &req.local_tag, req.source, req.transport),
    )
}

/// Prefix of a voicemail call's key in `cluster_dialogs.call_id`.
pub const VOICEMAIL_KEY: &str = "voicemail:";

/// Removes its call's row when dropped (the deposit is over).
#[derive(Debug)]
pub struct SharedCallGuard {
    share: DialogShare,
    call_id: String,
}

impl Drop for SharedCallGuard {
    fn drop(&mut self) {
        self.share.remove(&self.call_id);
    }
}

/// How long the writer gathers changes after the first before writing them in one statement.
pub const WINDOW: std::time::Duration = std::time::Duration::from_millis(50);

/// Calls in one statement at most: after a stall of the store the queue is drained in batches
/// of this size (the netting per call is a linear search).
const MAX_CHANGES: usize = 512;

/// The changes gathered by the writer, netted per call: the last change of a call wins (a call
/// answered and over within the window writes nothing but its delete, harmless when no row
/// exists).
#[derive(Debug, Default)]
struct Pending {
    puts: Vec<(String, String)>,
    removes: Vec<String>,
}

impl Pending {
    fn push(&mut self, change: Change) {
        match change {
            Change::Put(call_id, state) => {
                self.removes.retain(|c| *c != call_id);
                match self.puts.iter_mut().find(|(c, _)| *c == call_id) {
                    Some(put) => put.1 = state,
                    None => self.puts.push((call_id, state)),
                }
            }
            Change::Remove(call_id) => {
                self.puts.retain(|(c, _)| *c != call_id);
                if !self.removes.contains(&call_id) {
                    self.removes.push(call_id);
                }
            }
        }
    }
}

async fn write(
    store: Store,
    node: String,
    clock: Arc<dyn Clock>,
    mut changes: mpsc::UnboundedReceiver<Change>,
) {
    while let Some(change) = changes.recv().await {
        let mut pending = Pending::default();
        pending.push(change);
        let deadline = tokio::time::sleep(WINDOW);
        tokio::pin!(deadline);
        let mut open = true;
        while open && pending.puts.len() + pending.removes.len() < MAX_CHANGES {
            tokio::select! {
                change = changes.recv() => match change {
                    Some(change) => pending.push(change),
                    None => open = false,
                },
                _ = &mut deadline => break,
            }
        }
        if let Err(error) = store
            .shared_dialogs_apply(&node, clock.now(), &pending.puts, &pending.removes)
            .await
        {
            warn!(
                %error,
                puts = pending.puts.len(),
                removes = pending.removes.len(),
                "call states not written to the store"
            );
        }
        if !open {
            return;
        }
    }
}

/// The B2BUA driver's view: writes each call once it is answered (and again when its dialogs
/// change: a CSeq raised by a refresh), deletes it once over.
#[derive(Debug)]
pub struct CallsShare {
    share: DialogShare,
    shared: HashMap<String, SharedCall>,
}

impl CallsShare {
    /// Over `share`.
    pub fn new(share: DialogShare) -> Self {
        CallsShare {
            share,
            shared: HashMap::new(),
        }
    }

    /// After each of the call's turns.
    pub fn observe(&mut self, call: &Call) {
        let call_id = call.call_id();
        if call.is_over() {
            self.forget(call_id);
            return;
        }
        let Some(takeover) = call.takeover() else {
            return;
        };
        let now = SharedCall::bridged(&takeover);
        if self.shared.get(call_id) != Some(&now) {
            self.share.put(call_id, &now);
            self.shared.insert(call_id.to_owned(), now);
        }
    }

    /// The call is gone from the driver.
    pub fn forget(&mut self, call_id: &str) {
        if self.shared.remove(call_id).is_some() {
            self.share.remove(call_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_voicemail_calls_dialog_round_trips_and_makes_the_bye() {
        let invite = match crate::sip::message::parse(
            b"INVITE sip:1@h SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK1\r\n\
              Record-Route: <sip:10.0.0.1;lr>\r\n\
              From: \"Caller\" <sip:4512345678@h>;tag=abc\r\nTo: <sip:1@h>\r\nCall-ID: c9\r\n\
              CSeq: 4 INVITE\r\nContact: <sip:4512345678@10.0.0.9:5060>\r\nContent-Length: 0\r\n\r\n",
        ) {
            Ok(rsip::SipMessage::Request(r)) => r,
            other => panic!("{other:?}"),
        };
        let call = SharedCall::voicemail(
            &invite,
            "ours",
            "10.0.0.9:5060".parse().unwrap(),
            TransportKind::Udp,
        )
        .unwrap();
        let text = serde_json::to_string(&call).unwrap();
        let back: SharedCall = serde_json::from_str(&text).unwrap();
        assert_eq!(back, call);
        let mut dialog = back.legs[0].dialog();
        let bye = dialog
            .request(
                rsip::Method::Bye,
                "SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKx",
            )
            .unwrap()
            .to_string();
        assert!(
            bye.starts_with("BYE sip:4512345678@10.0.0.9:5060 SIP/2.0"),
            "{bye}"
        );
        assert!(bye.contains("Route: <sip:10.0.0.1;lr>"), "{bye}");
        assert!(
            bye.contains("To: \"Caller\" <sip:4512345678@h>;tag=abc"),
            "{bye}"
        );
        assert!(bye.contains("From: <sip:1@h>;tag=ours"), "{bye}");
        assert!(bye.contains("CSeq: 1 BYE"), "{bye}");
    }

    #[test]
    fn the_writer_nets_its_changes_per_call() {
        let mut pending = Pending::default();
        pending.push(Change::Put("a".into(), "1".into()));
        pending.push(Change::Put("b".into(), "1".into()));
        pending.push(Change::Put("a".into(), "2".into()));
        pending.push(Change::Remove("b".into()));
        pending.push(Change::Remove("c".into()));
        pending.push(Change::Remove("c".into()));
        pending.push(Change::Remove("d".into()));
        pending.push(Change::Put("d".into(), "3".into()));
        assert_eq!(
            pending.puts,
            vec![
                ("a".to_owned(), "2".to_owned()),
                ("d".to_owned(), "3".to_owned())
            ]
        );
        assert_eq!(pending.removes, vec!["b".to_owned(), "c".to_owned()]);
    }

    #[test]
    fn a_history_row_round_trips_with_its_end() {
        let at = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let data = CallData {
            user_id: UserId(3),
            direction: CallDirection::In,
            other_number: "4512345678".into(),
            other_name: None,
            started_at: at,
            answered_at: Some(at),
            ended_at: None,
            route: Some("interrupted".into()),
        };
        let row = SharedRow::new(&data);
        let ended = at + chrono::Duration::seconds(30);
        assert_eq!(
            row.call_data(ended),
            Some(CallData {
                ended_at: Some(ended),
                ..data
            })
        );
    }
}
