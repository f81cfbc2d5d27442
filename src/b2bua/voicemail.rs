//! The hand-off to OneVoicemail: everything the deposit IVR needs to answer the caller's
//! INVITE itself and greet truthfully.
//!
//! The B2BUA has not sent a final response when it hands off, so the IVR owns the inbound
//! server transaction from here: it answers 200 with its own SDP (it anchors the media) using
//! the same To tag as any 180 the caller already saw (`local_tag`, §12.1.1: one dialog).

use std::net::SocketAddr;

use crate::domain::Lang;
use crate::routing::VoicemailInfo;
use crate::sip::transaction::TransportKind;

use super::call::CallerSide;
use super::plan::CallerInfo;

/// A call handed to the voicemail deposit IVR.
#[derive(Debug, Clone, PartialEq)]
pub struct VoicemailRequest {
    /// The caller's Call-ID: the key of the call in logs and presence.
    pub call_id: String,
    /// Whose mailbox.
    pub user_id: i64,
    /// The mailbox owner's language (the greeting's first language).
    pub lang: Lang,
    /// What the greeting says (reason, back_at) and whether a message may be left.
    pub info: VoicemailInfo,
    /// Who is calling.
    pub caller: CallerInfo,
    /// What the final response to the caller's INVITE goes to: the inbound INVITE server
    /// transaction, still waiting for it, or whoever made the INVITE (click-to-call).
    pub side: CallerSide,
    /// The caller's INVITE (Via, From, To, Call-ID, CSeq, Contact, Record-Route: the inbound
    /// dialog's data).
    pub invite: rsip::Request,
    /// The To tag to answer with (already used in any provisional response sent).
    pub local_tag: String,
    /// Where the caller's INVITE came from (responses and in-dialog requests go back there).
    pub source: SocketAddr,
    /// The transport it came on.
    pub transport: TransportKind,
    /// The caller's SDP offer, if the INVITE carried one (RFC 3264).
    pub offer: Option<Vec<u8>>,
}
