//! The seam between the SIP side and the voicemail IVR drivers: a call we answered ourselves
//! (deposit or retrieval), with its media session and the signals that cross between the two.
//!
//! The SIP task answers the INVITE (SDP answer from the media engine), keeps the dialog, and
//! turns in-dialog requests into [`LegEvent`]s; the IVR driver runs the sans-I/O state machine
//! over the [`MediaHandle`] and asks the SIP side for what only it can do via [`LegCommand`]s.

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::clock::Clock;
use crate::media::decode::PromptCache;
use crate::media::dtmf::Digit;
use crate::media::engine::MediaHandle;
use crate::notify::Notifier;
use crate::presence::Presence;
use crate::store::Store;

/// What the SIP side tells the IVR driver about the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegEvent {
    /// The caller hung up (BYE or CANCEL). The driver must still finish its work: a message
    /// being recorded is saved (DEVELOPERS.md rule 3).
    Hangup,
    /// A key pressed and sent as SIP INFO (`application/dtmf-relay` or `application/dtmf`)
    /// rather than RFC 4733 in the media.
    Digit(Digit),
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
    /// The user's message counts changed: send message-waiting NOTIFYs (RFC 3842) to the
    /// user's registered phones.
    MessageWaiting {
        /// The mailbox owner (store id).
        user_id: i64,
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
}
