//! [`UasLeg`]: the caller's side of a call we answered, as a sans-I/O machine. We are the UAS
//! of the caller's INVITE (RFC 3261 §13.3) and hold the confirmed dialog it created (§12.1.1);
//! this is everything that dialog asks of us, whoever answered the call.
//!
//! In the call flow: the IVR's SIP side (`runtime::ivr_leg`) answers voicemail calls itself and
//! drives one `UasLeg` per call, mapping its [`UasAction`]s to sends and to the IVR driver's
//! events. The B2BUA's [`Call`](super::Call) holds one for its caller side in relay mode
//! ([`UasLeg::relaying`]): it relays the caller's offers, INFO and REFER to the callee instead of
//! having them answered here ([`UasAction::Request`]), keeps one session timer across both legs,
//! and ends the whole session with an immediate BYE ([`UasEvent::HangUpNow`]) when it must.
//!
//! What it does (inputs through [`UasLeg::handle`] and [`UasLeg::handle_timeout`], outputs
//! through [`UasLeg::poll_action`] and [`UasLeg::poll_timeout`], time an argument):
//! - **2xx until the ACK** (§13.3.1.4): our 2xx is retransmitted over unreliable transports
//!   ([`AnswerRetransmit`]: T1 doubling to T2); with no ACK after 64·T1 the session is ended
//!   with BYE.
//! - **BYE after the ACK** (§15): "the callee's UA MUST NOT send a BYE on a confirmed dialog
//!   until it has received an ACK for its 2xx response or until the server transaction times
//!   out": a hang-up of ours before the ACK waits for it, 64·T1 at most.
//! - **In-dialog requests** (`requests`): §12.2.2 matching (481) and CSeq order (500); the far
//!   end's BYE; INFO key presses (RFC 6086, `application/dtmf-relay`); re-INVITE (§14) and
//!   UPDATE (RFC 3311) offers handed up as [`UasAction::Offer`] and answered with
//!   [`UasEvent::Answer`] (`offer`); REFER (RFC 3515) handed up as [`UasAction::Refer`].
//! - **Session timer** (RFC 4028): a refresh carrying Session-Expires is answered with it and
//!   arms the expiry; no refresh in time ends the session with BYE (§10), as the B2BUA does.
//! - **Our requests** (`ours`): BYE, a REFER transferring the caller, a re-INVITE moving its
//!   media, and their answers; the ACK for a 2xx to our re-INVITE (§13.2.2.4).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rsip::headers::{self, Header, UntypedHeader};
use rsip::{Method, Request, Response};
use tracing::debug;

use super::call::session_timer::{self, SessionTimer};
use crate::media::dtmf::Digit;
use crate::media::sdp::SessionDescription;
use crate::sip::answer_retransmit::{AnswerDue, AnswerRetransmit};
use crate::sip::dialog::{Dialog, DialogError};
use crate::sip::transaction::fields::response_to;
use crate::sip::transaction::{TransactionId, TransportKind};

mod answer;
mod offer;
mod ours;
mod requests;
#[cfg(test)]
mod tests;

pub use answer::ok_with_sdp;

/// Our addressing and the timers of the leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UasConfig {
    /// Our Via sent-by (`host:port`).
    pub via_sent_by: String,
    /// Our Contact URI (without angle brackets), the dialog's remote target for the caller.
    pub contact: String,
    /// The Server header value of our responses.
    pub server: String,
    /// RFC 3261 T1: the first 2xx retransmission interval (§13.3.1.4).
    pub t1: Duration,
    /// RFC 3261 T2: the cap of the 2xx retransmission interval.
    pub t2: Duration,
}

/// The caller's INVITE and the 2xx we answered it with: what a leg starts from.
#[derive(Debug, Clone)]
pub struct Answered {
    /// The caller's INVITE.
    pub invite: Request,
    /// Our To tag.
    pub local_tag: String,
    /// Where the INVITE came from: our in-dialog requests go there (symmetric signalling).
    pub source: SocketAddr,
    /// The transport it came on.
    pub transport: TransportKind,
    /// Our 2xx (with its SDP answer); the leg sends it as its first action.
    pub answer: Response,
}

/// Inputs of the leg.
#[derive(Debug, Clone, PartialEq)]
pub enum UasEvent {
    /// The caller's ACK in the dialog (for our 2xx, or a re-INVITE's).
    Ack,
    /// A new request in the dialog from the caller (BYE, re-INVITE, UPDATE, INFO, ...).
    Request {
        /// The server transaction to answer on.
        transaction: TransactionId,
        /// The request.
        request: Request,
    },
    /// A response to one of our requests in the dialog (BYE, REFER, re-INVITE), matched by
    /// its CSeq method.
    Response(Response),
    /// One of our requests got no final response (Timer F/B, transport error; §8.1.3.1).
    RequestFailed {
        /// Its method.
        method: Method,
    },
    /// End the call from our side: BYE, once the ACK allows (§15).
    HangUp,
    /// End the call from our side with BYE at once, ACK or not: the owner ends the whole
    /// session (the B2BUA's hang-up, media timeout, session expiry), as it always did.
    HangUpNow,
    /// Transfer the caller (RFC 3515): REFER naming `refer_to` (a SIP URI).
    Refer {
        /// The Refer-To URI.
        refer_to: String,
    },
    /// Move the caller's media: a re-INVITE (§14) offering `sdp`.
    Reinvite {
        /// Our new offer.
        sdp: String,
    },
    /// The answer to [`UasAction::Offer`] `id`: our SDP (200), or `None` (488, the session
    /// stays as it was, §14.2).
    Answer {
        /// The offer answered.
        id: u64,
        /// Our new SDP.
        sdp: Option<String>,
    },
    /// [`UasAction::Offer`] `id` could not be handed on: 500, the session stays as it was.
    OfferLost {
        /// The offer.
        id: u64,
    },
    /// Answer a request handed up ([`UasAction::Refer`]) with a bodiless `code`.
    Reply {
        /// Its server transaction.
        transaction: TransactionId,
        /// The request.
        request: Box<Request>,
        /// The status.
        code: u16,
    },
}

/// Outputs of the leg, drained with [`UasLeg::poll_action`].
#[derive(Debug, Clone, PartialEq)]
pub enum UasAction {
    /// Send our 2xx to the caller's INVITE, first or retransmitted (§13.3.1.4): in the INVITE's
    /// server transaction, or to whoever made the INVITE when it was our own (click-to-call's
    /// target call), which is why the leg does not name a transaction for it.
    SendAnswer(Response),
    /// Send `response` in server transaction `transaction`.
    Respond {
        /// The transaction.
        transaction: TransactionId,
        /// The response.
        response: Response,
    },
    /// Start a client transaction for `request` (BYE, REFER, re-INVITE); its answer comes back
    /// as [`UasEvent::Response`] or [`UasEvent::RequestFailed`].
    SendRequest {
        /// The request.
        request: Request,
        /// Where.
        destination: SocketAddr,
        /// Over which transport.
        transport: TransportKind,
    },
    /// Send an ACK for a 2xx outside any transaction (§13.2.2.4).
    SendAck {
        /// The ACK.
        request: Request,
        /// Where.
        destination: SocketAddr,
        /// Over which transport.
        transport: TransportKind,
    },
    /// A re-INVITE or UPDATE offers a changed session: answer with [`UasEvent::Answer`].
    Offer {
        /// Names the offer in the answer.
        id: u64,
        /// The caller's new offer.
        offer: Box<SessionDescription>,
    },
    /// A key pressed and sent as SIP INFO (already answered 200).
    Digit(Digit),
    /// The caller asks for a transfer (REFER, RFC 3515): answer it ([`UasEvent::Reply`]) or
    /// carry it.
    Refer {
        /// The REFER's server transaction.
        transaction: TransactionId,
        /// The REFER.
        request: Box<Request>,
    },
    /// The final answer to our REFER: accepted (2xx) or not (refused, no answer).
    ReferAnswered {
        /// A 2xx.
        accepted: bool,
    },
    /// The final answer to our re-INVITE (a 2xx is ACKed already).
    ReinviteAnswered {
        /// A 2xx.
        accepted: bool,
    },
    /// We are ending the call: our BYE is on its way.
    Ending,
    /// The caller hung up (its BYE, answered 200): the dialog is over.
    HungUp,
    /// Our BYE is answered or failed (or could not be built): nothing is left of the dialog.
    Closed,
    /// A request in the dialog other than BYE (re-INVITE, UPDATE, INFO, REFER, ...), matched
    /// and CSeq-checked, handed up unanswered: only in relay mode ([`UasLeg::relaying`]).
    Request {
        /// Its server transaction.
        transaction: TransactionId,
        /// The request.
        request: Box<Request>,
    },
}

/// Where our side of the dialog stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Confirmed; requests either way.
    Up,
    /// A hang-up of ours waits for the ACK, at most until this deadline (§15).
    ByeAfterAck(Instant),
    /// Our BYE is sent.
    Ending,
    /// The dialog is over.
    Closed,
}

/// A re-INVITE/UPDATE waiting for the answer to its offer.
#[derive(Debug, Clone)]
struct PendingOffer {
    id: u64,
    transaction: TransactionId,
    request: Request,
    version: u64,
}

/// The caller's side of a call we answered. See the module doc.
#[derive(Debug, Clone)]
pub struct UasLeg {
    config: UasConfig,
    dialog: Dialog,
    source: SocketAddr,
    transport: TransportKind,
    /// Our 2xx, kept for retransmission until the ACK (§13.3.1.4); none for an adopted dialog.
    answer: Option<Response>,
    retransmit: Option<AnswerRetransmit>,
    acked: bool,
    phase: Phase,
    /// A REFER of ours is under way (its answer decides what follows).
    referring: bool,
    /// CSeq of our re-INVITE under way, for its ACK.
    reinvite: Option<u32>,
    /// Our SDP as last answered or offered (RFC 4028 refreshes, unchanged offers).
    local_sdp: String,
    /// The `o=` version of the caller's last offer (RFC 3264 §8: unchanged means the same
    /// session).
    remote_version: Option<u64>,
    /// The caller's last SDP offer (its INVITE's, or a re-INVITE's we accepted).
    remote_sdp: Vec<u8>,
    pending: Option<PendingOffer>,
    next_offer: u64,
    /// RFC 4028: the session interval agreed at answer or last refresh, if any.
    session: Option<SessionTimer>,
    /// Relay mode ([`UasLeg::relaying`]): requests other than BYE are handed up raw.
    relay: bool,
    actions: VecDeque<UasAction>,
}

impl UasLeg {
    /// The leg of a call answered at `now` with `answered.answer`, which is the first action.
    /// Fails when the INVITE cannot start a dialog (no Contact, §8.1.1.8); nothing is sent then.
    pub fn new(now: Instant, config: UasConfig, answered: Answered) -> Result<UasLeg, DialogError> {
        let dialog = Dialog::from_uas(&answered.invite, &answered.local_tag)?;
        let retransmit =
            (!answered.transport.is_reliable()).then(|| AnswerRetransmit::start(now, config.t1));
        let remote_version =
            SessionDescription::parse(&String::from_utf8_lossy(&answered.invite.body))
                .ok()
                .map(|sdp| sdp.origin.session_version);
        let session = session_timer::session_expires(&answered.answer.headers)
            .map(|se| SessionTimer::start(now, se.delta.max(session_timer::MIN_SE), false));
        let mut actions = VecDeque::new();
        actions.push_back(UasAction::SendAnswer(answered.answer.clone()));
        Ok(UasLeg {
            local_sdp: String::from_utf8_lossy(&answered.answer.body).into_owned(),
            remote_sdp: answered.invite.body,
            config,
            dialog,
            source: answered.source,
            transport: answered.transport,
            answer: Some(answered.answer),
            retransmit,
            acked: false,
            phase: Phase::Up,
            referring: false,
            reinvite: None,
            remote_version,
            pending: None,
            next_offer: 0,
            session,
            relay: false,
            actions,
        })
    }

    /// A leg over a confirmed `dialog` answered elsewhere and already ACKed (a party taken over
    /// from another call): no 2xx to send or retransmit.
    pub fn adopted(
        config: UasConfig,
        dialog: Dialog,
        source: SocketAddr,
        transport: TransportKind,
    ) -> UasLeg {
        UasLeg {
            config,
            dialog,
            source,
            transport,
            answer: None,
            retransmit: None,
            acked: true,
            phase: Phase::Up,
            referring: false,
            reinvite: None,
            local_sdp: String::new(),
            remote_version: None,
            remote_sdp: Vec::new(),
            pending: None,
            next_offer: 0,
            session: None,
            relay: false,
            actions: VecDeque::new(),
        }
    }

    /// Relay mode, for a leg whose owner relays the caller's requests to another leg (the
    /// B2BUA's [`Call`](super::Call)): requests other than BYE come out as
    /// [`UasAction::Request`] instead of being answered here, the owner having matched them to
    /// this call already (§12.2.2 routing by dialog); and the owner keeps the session timer
    /// (RFC 4028) across both legs, so this leg arms none.
    pub fn relaying(mut self) -> UasLeg {
        self.relay = true;
        self.session = None;
        self
    }

    /// The caller's dialog, for requests the owner makes in it (§12.2.1.1).
    pub fn dialog_mut(&mut self) -> &mut Dialog {
        &mut self.dialog
    }

    /// Whether our BYE is sent and not yet answered.
    pub fn bye_pending(&self) -> bool {
        self.phase == Phase::Ending
    }

    /// The caller's dialog.
    pub fn dialog(&self) -> &Dialog {
        &self.dialog
    }

    /// Where the caller's requests come from and ours go.
    pub fn source(&self) -> SocketAddr {
        self.source
    }

    /// The transport of the caller's dialog.
    pub fn transport(&self) -> TransportKind {
        self.transport
    }

    /// Our SDP as last answered or offered.
    pub fn local_sdp(&self) -> &str {
        &self.local_sdp
    }

    /// The caller's last SDP offer.
    pub fn remote_sdp(&self) -> &[u8] {
        &self.remote_sdp
    }

    /// Whether the caller has ACKed our 2xx.
    pub fn is_acked(&self) -> bool {
        self.acked
    }

    /// Whether the dialog is over (nothing more will be sent or accepted).
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// The next action for the driver.
    pub fn poll_action(&mut self) -> Option<UasAction> {
        self.actions.pop_front()
    }

    /// When [`UasLeg::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let bye = match self.phase {
            Phase::ByeAfterAck(at) => Some(at),
            _ => None,
        };
        [
            self.retransmit.map(|r| r.deadline()),
            self.session.map(|s| s.deadline),
            bye,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Fires the timers due at `now`: 2xx retransmission and its give-up, the BYE that waited
    /// for the ACK, the session expiry.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(mut r) = self.retransmit {
            match r.poll(now, self.config.t2) {
                AnswerDue::GiveUp => {
                    // §13.3.1.4: "If the server retransmits the 2xx response for 64*T1 seconds
                    // without receiving an ACK, the dialog is confirmed, but the session SHOULD
                    // be terminated. This is accomplished with a BYE."
                    debug!(call_id = %self.dialog.call_id, "no ACK for our 2xx: ending the call");
                    self.retransmit = None;
                    self.send_bye();
                }
                AnswerDue::Resend => {
                    self.retransmit = Some(r);
                    if let Some(response) = self.answer.clone() {
                        self.actions.push_back(UasAction::SendAnswer(response));
                    }
                }
                AnswerDue::Nothing => {}
            }
        }
        if matches!(self.phase, Phase::ByeAfterAck(at) if at <= now) {
            // §15: "or until the server transaction times out": no ACK came, BYE anyway.
            self.send_bye();
        }
        if self.session.is_some_and(|s| s.deadline <= now) {
            // RFC 4028 §10: no refresh within the session interval: the session is dead.
            debug!(call_id = %self.dialog.call_id, "session expired without refresh");
            self.session = None;
            self.hang_up(now);
        }
    }

    /// Feeds one event at `now`.
    pub fn handle(&mut self, now: Instant, event: UasEvent) {
        match event {
            UasEvent::Ack => self.on_ack(),
            UasEvent::Request {
                transaction,
                request,
            } => self.on_request(now, transaction, request),
            UasEvent::Response(response) => self.on_response(&response),
            UasEvent::RequestFailed { method } => self.on_request_failed(method),
            UasEvent::HangUp => self.hang_up(now),
            UasEvent::HangUpNow => self.send_bye(),
            UasEvent::Refer { refer_to } => self.refer(&refer_to),
            UasEvent::Reinvite { sdp } => self.reinvite(sdp),
            UasEvent::Answer { id, sdp } => self.on_answer(now, id, sdp),
            UasEvent::OfferLost { id } => self.on_offer_lost(id),
            UasEvent::Reply {
                transaction,
                request,
                code,
            } => self.reply(transaction, &request, code),
        }
    }

    /// The caller's ACK: stop retransmitting; a BYE that waited for it (§15) goes now.
    fn on_ack(&mut self) {
        self.acked = true;
        self.retransmit = None;
        if matches!(self.phase, Phase::ByeAfterAck(_)) {
            self.send_bye();
        }
    }

    /// BYE in the dialog, once the ACK allows (§15).
    fn hang_up(&mut self, now: Instant) {
        if self.phase != Phase::Up {
            return;
        }
        if !self.acked {
            debug!(call_id = %self.dialog.call_id, "hang-up before the caller's ACK: BYE waits");
            self.phase = Phase::ByeAfterAck(now + self.config.t1 * 64);
            return;
        }
        self.send_bye();
    }

    /// A bodiless response to `request` (Server header, no new To tag: in-dialog requests
    /// carry ours).
    fn reply(&mut self, transaction: TransactionId, request: &Request, code: u16) {
        let response = self.response(request, code);
        self.actions.push_back(UasAction::Respond {
            transaction,
            response,
        });
    }

    fn response(&self, request: &Request, code: u16) -> Response {
        let mut response = response_to(request, code, Some(&self.dialog.local_tag));
        response.headers.push(Header::Server(headers::Server::new(
            self.config.server.clone(),
        )));
        response
    }

    fn via(&self) -> String {
        crate::sip::via::ours(&self.config.via_sent_by, self.transport)
    }

    fn contact(&self) -> Header {
        Header::Contact(headers::Contact::new(format!("<{}>", self.config.contact)))
    }
}
