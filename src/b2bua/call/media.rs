//! Media anchoring in the call: every SDP body that crosses from one leg to the other is
//! rewritten to name our relay endpoint facing the receiving party, and what it said about its
//! sender goes out as [`Action::MediaPeer`] so the relay knows where that party receives.
//!
//! The places are exactly those where a body crosses (see the module doc of
//! [`b2bua`](crate::b2bua)): the caller's offer in the B legs' INVITEs, a 183's early-media
//! SDP and the winning 2xx's answer towards the caller, and every body of a relayed mid-call
//! request, its responses and a re-INVITE's ACK. One rule covers them all (RFC 7092 §3.2.2): a
//! body from the caller is rewritten to our callee-facing endpoint, one from a callee to our
//! caller-facing endpoint. The rewrite itself is [`crate::media::anchor_sdp::rewrite`], a pure
//! function of the body, so retransmitted bodies come out identical.

use std::net::SocketAddr;

use tracing::debug;

use super::{Action, Call, Side};
use crate::media::anchor_sdp;
use crate::media::relay::Party;

/// The relay endpoints of an anchored call, as the driver opened them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaAnchor {
    /// Our RTP address the caller sends to (written in the SDP the caller gets).
    pub caller_facing: SocketAddr,
    /// Our RTP address the callees send to (written in the SDP the B legs get).
    pub callee_facing: SocketAddr,
}

impl Call {
    /// Anchors this call's media at `anchor`: from now on every SDP that crosses is rewritten.
    /// Called by the driver before [`super::Event::Routed`] for a call it rings.
    pub fn anchor_media(&mut self, anchor: MediaAnchor) {
        self.anchor = Some(anchor);
    }

    /// What the relay was last told of `party` (see [`Action::MediaPeer`]).
    pub(super) fn media_told(&self, party: Party) -> Option<SocketAddr> {
        match party {
            Party::Caller => self.media_told.0,
            Party::Callee => self.media_told.1,
        }
    }

    /// Tells the relay again where `party` receives: an offer it made was rejected, and RFC
    /// 3264 §8 says the session goes on as before it.
    pub(super) fn restore_media(&mut self, party: Party, remote: Option<SocketAddr>) {
        self.set_told(party, remote);
        self.actions.push_back(Action::MediaPeer { party, remote });
    }

    fn set_told(&mut self, party: Party, remote: Option<SocketAddr>) {
        match party {
            Party::Caller => self.media_told.0 = remote,
            Party::Callee => self.media_told.1 = remote,
        }
    }

    /// Whether the call's media is anchored.
    pub fn media_anchored(&self) -> bool {
        self.anchor.is_some()
    }

    /// The body to send on for a body that came from `from`: rewritten when anchored and it is
    /// SDP, else as it came. Emits [`Action::MediaPeer`] for the sender's address.
    pub(super) fn media_body(&mut self, from: Side, body: &[u8]) -> Vec<u8> {
        let Some(anchor) = self.anchor else {
            return body.to_vec();
        };
        // SDP starts with its version line (RFC 8866 §5); INFO digits and the like pass as is.
        if !body.trim_ascii_start().starts_with(b"v=") {
            return body.to_vec();
        }
        let party = party(from);
        let local = match party {
            Party::Caller => anchor.callee_facing,
            Party::Callee => anchor.caller_facing,
        };
        match anchor_sdp::rewrite(body, local) {
            Ok(rewritten) => {
                self.set_told(party, rewritten.remote);
                self.actions.push_back(Action::MediaPeer {
                    party,
                    remote: rewritten.remote,
                });
                rewritten.body.into_bytes()
            }
            Err(error) => {
                // The receiving party will refuse it as we would; passing it lets it say why.
                debug!(%error, ?from, "SDP not rewritable; passed as it came");
                body.to_vec()
            }
        }
    }
}

/// The relay's name for the party on `side`.
pub(super) fn party(side: Side) -> Party {
    match side {
        Side::Caller => Party::Caller,
        Side::Callee(_) => Party::Callee,
    }
}

/// Replaces a message's body, keeping its Content-Type and fixing Content-Length.
pub(super) fn replace_body(headers: &mut rsip::Headers, body: &mut Vec<u8>, new: Vec<u8>) {
    use rsip::headers::{ContentLength, Header, UntypedHeader};
    let mut out: Vec<Header> = headers
        .iter()
        .filter(|h| !matches!(h, Header::ContentLength(_)))
        .cloned()
        .collect();
    out.push(Header::ContentLength(ContentLength::new(
        new.len().to_string(),
    )));
    *headers = out.into();
    *body = new;
}
