//! The seam between the SIP side and the voicemail IVR drivers: what the SIP task hands an
//! IVR driver for a call it answered ([`IvrLeg`]: the media session and two channels), the
//! signals that cross ([`LegEvent`] in, [`LegCommand`] out), and what a call needs to be
//! answered for an IVR ([`Answer`], [`IvrKind`]).
//!
//! Both sides import this module and neither imports the other: the drivers
//! (`runtime::voicemail`, `runtime::mailbox`) know nothing of SIP, and the SIP side
//! (`runtime::ivr_leg`) nothing of what the IVRs do.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::mpsc;
use tracing::info;

use crate::b2bua::VoicemailRequest;
use crate::clock::Clock;
use crate::ivr::RetrieveSetup;
use crate::media::decode::PromptCache;
use crate::media::dtmf::Digit;
use crate::media::engine::MediaHandle;
use crate::media::sdp::SessionDescription;
use crate::notify::Notifier;
use crate::presence::Presence;
use crate::sip::transaction::{TransactionId, TransportKind};
use crate::store::Store;

/// What the SIP side tells the IVR driver about the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegEvent {
    /// The caller hung up (BYE or CANCEL). The driver must still finish its work: a message
    /// being recorded is saved (the house rule: a recorded message is durable before the
    /// call is torn down).
    Hangup,
    /// A key pressed and sent as SIP INFO (`application/dtmf-relay` or `application/dtmf`)
    /// rather than RFC 4733 in the media.
    Digit(Digit),
    /// A re-INVITE or UPDATE changed the session (the caller moved, or put us on hold): the
    /// driver answers it with its media session ([`answer_offer`]) as `LegCommand::Answer`.
    Offer {
        /// Names the offer in the answer.
        id: u64,
        /// The caller's new offer.
        offer: Box<SessionDescription>,
    },
    /// The `Transfer` asked for did not reach the destination (refused, no answer in time, or
    /// a REFER the caller's side refused): the caller is still with the IVR.
    TransferFailed,
}

/// The driver's answer to [`LegEvent::Offer`]: the media session renegotiated on the same
/// port (RFC 3264 §8, our `o=` version one higher), or `None` when there is no session or the
/// offer cannot be answered (the SIP side then says 488 and the session stays as it was, RFC
/// 3261 §14.2).
pub fn answer_offer(
    media: Option<&mut MediaHandle>,
    id: u64,
    offer: &SessionDescription,
) -> LegCommand {
    let sdp = media.and_then(|media| match media.renegotiate(offer) {
        Ok(sdp) => Some(sdp.to_string()),
        Err(error) => {
            info!(%error, "new offer not answerable; the session stays as it was");
            None
        }
    });
    LegCommand::Answer { id, sdp }
}

/// What the IVR driver asks the SIP side to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegCommand {
    /// End the call: send BYE.
    HangUp,
    /// Transfer the caller (e.g. "press 9 for the receptionist") to this number.
    Transfer {
        /// The number to reach.
        number: String,
    },
    /// The answer to [`LegEvent::Offer`] `id`: our SDP, or `None` for 488.
    Answer {
        /// The offer answered.
        id: u64,
        /// Our new SDP.
        sdp: Option<String>,
    },
}

/// A call answered for an IVR.
#[derive(Debug)]
pub struct IvrLeg {
    /// Call-ID of the caller's dialog, for logs.
    pub call_id: String,
    /// The RTP session: play, record, DTMF events.
    pub media: MediaHandle,
    /// Signals from the SIP side.
    pub events: mpsc::Receiver<LegEvent>,
    /// Requests to the SIP side.
    pub commands: mpsc::Sender<LegCommand>,
    /// Where the call came from (client address, caller ID), for the mailbox's per-source
    /// PIN limit ([`crate::pin::sources`]).
    pub origin: Vec<crate::pin::sources::SourceKey>,
}

/// What the IVR drivers need besides the call itself. Cheap to clone.
#[derive(Clone)]
pub struct IvrDeps {
    /// Messages, settings, PINs.
    pub store: Store,
    /// Decoded prompt fragments, stitched into what is played.
    pub prompts: Arc<PromptCache>,
    /// E-mail/SMS after a new message.
    pub notifier: Arc<Notifier>,
    /// Voicemail count events for the live web client.
    pub presence: Presence,
    /// Wall clock and monotonic time (the state machines take `now`).
    pub clock: Arc<dyn Clock>,
    /// The server's message limits (`[calls] max_message_secs`, `min_message_ms`).
    pub limits: crate::ivr::RecordingLimits,
    /// The one PIN check with its lockout, shared with the web login.
    pub pin_check: crate::pin::PinCheck,
    /// The spool, the save limit and the counts publisher, shared by every voicemail call.
    pub voicemail: super::voicemail::shared::VoicemailShared,
    /// `[toll_fraud] deny_prefixes`: "press 9" never transfers to a number it names.
    pub deny_list: crate::toll_fraud::DenyList,
}

/// Which IVR answers the call.
#[derive(Debug)]
pub enum IvrKind {
    /// The caller leaves a message (the B2BUA's hand-off).
    Deposit(Box<VoicemailRequest>),
    /// The caller listens to their messages.
    Retrieve(RetrieveSetup),
}

/// The caller's INVITE, still waiting for its final response, and the To tag to answer with.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The caller's Call-ID.
    pub call_id: String,
    /// The INVITE server transaction.
    pub transaction: TransactionId,
    /// The INVITE.
    pub invite: rsip::Request,
    /// Our To tag (already in any provisional response the caller saw: one dialog, §12.1.1).
    pub local_tag: String,
    /// Where the INVITE came from: responses and our in-dialog requests go there (symmetric
    /// signalling, which also reaches a caller behind NAT).
    pub source: SocketAddr,
    /// The transport it came on.
    pub transport: TransportKind,
}
