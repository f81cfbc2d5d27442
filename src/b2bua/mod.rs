//! The back-to-back user agent: carries out the routing decision for one incoming call.
//!
//! In the call flow: the SIP task receives an INVITE to a OneNumber (or a local number), the
//! driver (`runtime::calls`) loads the user's state and asks [`crate::routing::decide`], turns
//! the route into a [`Plan`] (contacts resolved to addresses, forwards to local users followed)
//! and feeds it to a [`Call`]. The `Call` is a sans-I/O state machine over the inbound leg (we
//! are the UAS, RFC 3261 §13.3) and the outbound legs (we are the UAC, §13.2): events in
//! ([`Event`]), actions out ([`Action`]), time as an argument, in quinn's manner
//! (`handle`, `handle_timeout`, `poll_action`, `poll_timeout`).
//!
//! What it does:
//! - **Ring**: one outbound leg per target, all at once (parallel search as §16.7 describes for
//!   proxies, done here as one B leg per target). The first 2xx wins; the other legs get CANCEL
//!   (§9.1), and a second 2xx that crosses the CANCEL is ACKed and ended with BYE (§13.2.2.4).
//!   The first 180, and the first 183 carrying SDP, are passed back to the caller; more are not
//!   needed (one ringback is enough). No answer within the ring timeout, or a busy answer from
//!   every leg, asks [`crate::routing::after_ring`] and hands the call to voicemail.
//! - **Forward**: a leg like any other, carrying `Diversion` (RFC 5806) and `History-Info`
//!   (RFC 7044) so the receiving side knows who the call was for and why it moved.
//! - **Voicemail**: a [`VoicemailRequest`] carrying the caller's INVITE and offer, the reason
//!   and `back_at`; the voicemail IVR answers the caller from there.
//! - **Mid-call**: the ACK for our 2xx (we retransmit the 2xx until it arrives, §13.3.1.4),
//!   CANCEL from the caller before the answer (487, all B legs cancelled), BYE from either side
//!   (BYE the other side, 200 to the sender; a callee BYE before the caller's ACK waits for it,
//!   §15), 481 for requests of dialogs that are gone. Re-INVITE (hold/resume), UPDATE and INFO
//!   are relayed to the other leg in its own dialog and the answer relayed back; the far 2xx
//!   of a re-INVITE is ACKed when the near side ACKs; glare gets 491 (§14).
//! - **Session timers** (RFC 4028): Session-Expires/Min-SE pass to the B legs, 422 below
//!   [`MIN_SESSION_INTERVAL`]; a call not refreshed within its interval is ended with BYE on
//!   both legs.
//! - **Presence**: the callee's devices ringing, then talking (both parties if local), then
//!   ended; **history**: rows for the callee, a local caller, and a user who forwarded.
//! - **Click-to-call** ([`click_to_call`]): RFC 3725 third-party call control; the target side
//!   is a `Call` like this one whose inbound INVITE we made ourselves from the desk's answer.
//! - **Transfers** ([`transfer`]): "press 9" out of the IVR and a REFER from a phone (blind, or
//!   attended with `Replaces`) place the new call the same way, as a `Call` whose inbound
//!   INVITE is mirrored from our dialog with the transferee, then re-INVITE the transferee onto
//!   it; a REFER reaches the driver as [`Action::Refer`].
//! - **Answering leg** ([`uas_leg`]): the caller's side of a call we answered, sans-I/O: 2xx
//!   until the ACK, BYE after it, offers, INFO keys, REFER, session refreshes. The IVR answers
//!   with its own SDP and lets the leg answer everything; the `Call`'s caller side is the same
//!   leg in relay mode, handing re-INVITE, UPDATE, INFO and REFER up to be relayed.
//!
//! **Media**: SDP crosses at these places: the caller's offer to the B legs, a 183's early
//! media and the winning 2xx's answer back to the caller, and mid-call offers and answers
//! (re-INVITE, UPDATE, a re-INVITE's ACK) either way. With `calls.media = "anchor"` (the
//! default) the driver opens a media relay for a call it rings ([`crate::media::anchor`]: two
//! RTP ports, one task) and hands the call a [`MediaAnchor`]; every crossing body is then
//! rewritten to name our endpoint facing its receiver ([`crate::media::anchor_sdp`]: `c=`,
//! `o=` and the audio port; codecs, telephone-event and direction attributes untouched) and
//! [`Action::MediaPeer`] tells the relay where its sender receives, so hold/resume and a phone
//! that moves its media are followed. The RTP itself is relayed unchanged with symmetric-RTP
//! latching ([`crate::media::relay`]). This is what recording needs, and it hides the parties'
//! addresses from each other. The relay goes as soon as the caller's side is over (BYE,
//! CANCEL, failure, or the voicemail hand-off, where the IVR answers with its own media from
//! the caller's original offer). A full port range refuses the call with 503. Calls without an
//! offer in the INVITE, and `calls.media = "passthrough"`, carry the SDP unchanged.

mod call;
pub mod click_to_call;
pub mod hunt;
mod invite;
mod plan;
pub mod transfer;
pub mod trunk;
pub mod uas_leg;
mod voicemail;

#[cfg(test)]
mod tests;

pub use call::{
    Action, Call, CallConfig, CallerSide, Event, Inbound, LegId, MediaAnchor, PresenceChange, Side,
    MIN_SESSION_INTERVAL,
};
pub use call::{Takeover, TakeoverLeg, INTERRUPTED};
pub use invite::{history_info_cause, outbound_invite};
pub use plan::{CalleeInfo, CallerInfo, Diversion, OutboundTarget, Plan, TargetKind};
pub use voicemail::VoicemailRequest;
