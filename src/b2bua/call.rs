//! [`Call`]: the state machine of one call through the B2BUA, over the inbound leg (A, where
//! we are the UAS) and the outbound legs (B, where we are the UAC). See the module doc of
//! [`b2bua`](super) for what it does; this file is how.
//!
//! The transaction layer (§17) sits below: it absorbs retransmissions, ACKs non-2xx final
//! responses and answers CANCEL with 200. The call sees transaction-user events only, and its
//! outputs are transaction-user commands (send a request, respond, cancel, send an ACK for a
//! 2xx). The caller's side of the answered call is a [`UasLeg`] in relay mode (`uas_leg`: the
//! 2xx retransmission until the ACK, §13.3.1.4, and our BYE only after it, §15); its timers,
//! the ring timeout and the session timer are exposed through [`Call::poll_timeout`].

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rsip::headers::{self, Header, UntypedHeader};
use rsip::{Method, Request, Response};
use tracing::debug;

use crate::domain::model::{CallData, CallDirection, UserId};
use crate::routing::{after_ring, GreetingStatus, RingOutcome, Route, VoicemailInfo};
use crate::sip::dialog::{self, Dialog};
use crate::sip::message;
use crate::sip::transaction::fields::response_to;
use crate::sip::transaction::{TransactionId, TransportKind};

use super::invite::outbound_invite;
use super::plan::{CalleeInfo, CallerInfo, Diversion, OutboundTarget, Plan};
use super::uas_leg::{Answered, UasAction, UasConfig, UasEvent, UasLeg};
use super::voicemail::VoicemailRequest;

mod hunt;
mod media;
mod relay;
pub(super) mod session_timer;
mod takeover;
mod transferee;

pub use media::MediaAnchor;
pub use takeover::{Takeover, TakeoverLeg, INTERRUPTED};

pub use session_timer::MIN_SE as MIN_SESSION_INTERVAL;
use session_timer::{SessionTimer, TooSmall};

/// Our side's addressing and the timers the call uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallConfig {
    /// Our Via sent-by (`host:port`).
    pub via_sent_by: String,
    /// Our Contact URI, where in-dialog requests reach us.
    pub contact: String,
    /// Our SIP domain, for Diversion/History-Info URIs.
    pub domain: String,
    /// The Server header value of our responses.
    pub server: String,
    /// RFC 3261 T1: the first 2xx retransmission interval (§13.3.1.4).
    pub t1: Duration,
    /// RFC 3261 T2: the cap of the 2xx retransmission interval.
    pub t2: Duration,
}

/// Whose INVITE the caller's side of a call answers: what the call's responses to it go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallerSide {
    /// A caller's INVITE in our INVITE server transaction (RFC 3261 §17.2.1): responses are
    /// sent in it ([`Action::Respond`]).
    Transaction(TransactionId),
    /// An INVITE we made ourselves as if the caller had sent it (click-to-call's target call,
    /// RFC 3725 Flow I: the mirror of our dialog with the desk). No transaction carries it;
    /// the responses go to whoever made it ([`Action::ToOriginator`]).
    Originated,
}

/// The caller's INVITE as the transaction layer delivered it, or as we made it.
#[derive(Debug, Clone, PartialEq)]
pub struct Inbound {
    /// What answers to the INVITE go to.
    pub side: CallerSide,
    /// The INVITE.
    pub invite: Request,
    /// Where it came from.
    pub source: SocketAddr,
    /// Over which transport.
    pub transport: TransportKind,
}

/// An outbound leg's index in the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LegId(pub u32);

/// Which leg an event or action concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The inbound leg, towards the caller.
    Caller,
    /// An outbound leg, towards a device, mobile or forward target.
    Callee(LegId),
}

/// Inputs of the call.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Routing decided (the driver resolved the route into a plan).
    Routed(Plan),
    /// A response in a client transaction the call started (INVITE or BYE on `side`).
    Response {
        /// The leg.
        side: Side,
        /// The response.
        response: Response,
    },
    /// A client transaction of the call ended without a final response (Timer B/F, or a
    /// transport error; §8.1.3.1 treats both as 408/503).
    RequestFailed {
        /// The leg.
        side: Side,
        /// The method of the request that failed.
        method: Method,
    },
    /// The caller's CANCEL matched the inbound INVITE (the layer already answered it 200).
    Cancelled,
    /// A new in-dialog request on `side` (BYE, re-INVITE, INFO, ...).
    Request {
        /// The leg.
        side: Side,
        /// The server transaction to answer on.
        transaction: TransactionId,
        /// The request.
        request: Request,
    },
    /// The caller's ACK for our 2xx (§13.3.1.4).
    Ack,
    /// An ACK outside any transaction on `side`: for our 2xx to the caller's INVITE, or for
    /// the 2xx of a relayed re-INVITE (the call tells them apart by CSeq, §13.2.2.4).
    DialogAck {
        /// The leg it came on.
        side: Side,
        /// The ACK (its body is the answer of an offerless re-INVITE).
        request: Request,
    },
    /// End the call from our side (click-to-call hang-up): CANCEL while ringing, BYE on both
    /// legs once answered.
    HangUp,
    /// The anchored media saw no RTP from either party for the configured time
    /// (`rtp.timeout_secs`): both phones are gone without a BYE (a crash, a lost network, a
    /// BYE lost on UDP). An answered call is ended with BYE on both legs, as rtpengine's and
    /// Asterisk's RTP timeouts do; before the answer nothing flows yet and it means nothing.
    MediaTimeout,
}

/// Outputs of the call, drained with [`Call::poll_action`].
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Start a client transaction for `request` on `side` (INVITE or BYE).
    SendRequest {
        /// The leg; responses come back as [`Event::Response`] with it.
        side: Side,
        /// The request.
        request: Request,
        /// Where to send it.
        destination: SocketAddr,
        /// Over which transport.
        transport: TransportKind,
    },
    /// Cancel the INVITE client transaction of this B leg (§9.1).
    Cancel(LegId),
    /// Send an ACK for a 2xx outside any transaction (§13.2.2.4).
    SendAck {
        /// The ACK.
        request: Request,
        /// Where.
        destination: SocketAddr,
        /// Over which transport.
        transport: TransportKind,
    },
    /// Send `response` in server transaction `transaction`.
    Respond {
        /// The transaction (the inbound INVITE, or an in-dialog request).
        transaction: TransactionId,
        /// The response.
        response: Response,
    },
    /// Send `response` to the INVITE we made ourselves ([`CallerSide::Originated`]): the
    /// driver hands it to whoever made it, as a phone would have received it.
    ToOriginator(Response),
    /// Hand the caller to voicemail; the inbound INVITE transaction is the IVR's now.
    Voicemail(Box<VoicemailRequest>),
    /// A user's presence changes.
    Presence {
        /// The user.
        user_id: i64,
        /// Started or ended.
        change: PresenceChange,
    },
    /// Write a call history row.
    Record(CallData),
    /// An anchored call's SDP from `party` says it receives at `remote` (`None`: on hold or
    /// no stream): the media relay sends that party's packets there (see `media`).
    MediaPeer {
        /// Whose SDP it was.
        party: crate::media::relay::Party,
        /// Its audio address.
        remote: Option<SocketAddr>,
    },
    /// `side` asks for a transfer (REFER, RFC 3515) of the other party: the driver answers the
    /// REFER on `transaction` and carries the transfer (`runtime::calls::refer`).
    Refer {
        /// The transferor.
        side: Side,
        /// The REFER's server transaction.
        transaction: TransactionId,
        /// The REFER.
        request: Box<Request>,
    },
}

/// A presence change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresenceChange {
    /// The user's devices ring for this call.
    Ringing,
    /// The call stopped ringing without being answered (voicemail, cancelled, rejected).
    RingingEnded,
    /// The user is now on this call (it was answered; ringing is over too).
    Started,
    /// The user's call ended.
    Ended,
}

/// Where the call as a whole is.
#[derive(Debug, Clone, PartialEq)]
enum State {
    /// Waiting for [`Event::Routed`].
    Routing,
    /// B legs are ringing.
    Ringing {
        /// Ring timeout.
        deadline: Instant,
        /// What voicemail says on no answer.
        fallback: VoicemailInfo,
    },
    /// A leg answered; the caller has our 2xx.
    Answered {
        /// The winning leg.
        winner: LegId,
    },
    /// The caller's side is finished (final response sent, handed off, or BYE exchanged);
    /// remaining B legs may still be winding down.
    Over,
}

/// How an outbound leg stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LegState {
    /// INVITE sent, nothing or only 1xx back.
    Trying,
    /// CANCEL sent, waiting for the INVITE's final response.
    Cancelling,
    /// 2xx received and ACKed; in a dialog.
    Confirmed,
    /// BYE sent, waiting for its response.
    Ending,
    /// Failed with this final status, or ended.
    Done(u16),
}

/// One outbound leg.
#[derive(Debug, Clone)]
struct Leg {
    target: OutboundTarget,
    invite: Request,
    state: LegState,
    dialog: Option<Dialog>,
    ack: Option<Request>,
    /// The body of the device's 2xx (its SDP as it sent it): what a call placed for this
    /// device as a transfer's transferee offers (`transferee`).
    answer: Vec<u8>,
}

/// The caller's leg.
#[derive(Debug, Clone)]
struct CallerLeg {
    inbound: Inbound,
    call_id: String,
    /// Our To tag, fixed at once so every response is in one dialog (§12.1.1).
    local_tag: String,
    /// The caller's offer.
    offer: Option<(String, Vec<u8>)>,
    ringing_sent: bool,
    early_media_sent: bool,
    /// The answered dialog with the caller, in relay mode (`uas_leg`): our 2xx and its
    /// retransmission, the ACK, the caller's BYE and ours (§15: after the ACK).
    leg: Option<UasLeg>,
}

/// One call through the B2BUA. See the module doc.
#[derive(Debug)]
pub struct Call {
    config: CallConfig,
    started: Instant,
    started_wall: DateTime<Utc>,
    caller: CallerInfo,
    a: CallerLeg,
    legs: Vec<Leg>,
    state: State,
    callee: Option<CalleeInfo>,
    answered_at: Option<Instant>,
    /// What the call ended as, for the history row (`"voicemail"`, `"cancelled"`, ...).
    outcome: Option<&'static str>,
    /// Mid-call requests relayed across and not yet finished (see `relay`).
    relays: Vec<relay::Relay>,
    /// RFC 4028: the session interval agreed at answer or last refresh, if any.
    session: Option<SessionTimer>,
    /// The user who forwarded the call here, for their own history row.
    forwarded_from: Option<CalleeInfo>,
    /// Ringing one binding for another node ([`Plan::Binding`]): its leg's failure status is
    /// the caller's answer.
    binding_only: bool,
    /// Our relay endpoints when the media is anchored (see `media`).
    anchor: Option<MediaAnchor>,
    /// The caller's offer as the B legs get it (rewritten once when anchored).
    leg_offer: Option<Vec<u8>>,
    /// What the relay was last told of the caller and of the callee (`MediaPeer`).
    media_told: (Option<SocketAddr>, Option<SocketAddr>),
    actions: VecDeque<Action>,
    /// Set while the call rings a group (see `hunt`).
    hunt: Option<hunt::Hunt>,
}

impl Call {
    /// A new call for the caller's INVITE, at `now` (monotonic) = `wall` (calendar time, for the
    /// history rows).
    pub fn new(
        now: Instant,
        wall: DateTime<Utc>,
        config: CallConfig,
        inbound: Inbound,
        caller: CallerInfo,
    ) -> Call {
        let call_id = dialog::header_value(&inbound.invite.headers, "Call-ID").unwrap_or_default();
        // An INVITE we made ourselves (click-to-call, RFC 3725) names our tag already.
        let local_tag = dialog::header_value(&inbound.invite.headers, "To")
            .ok()
            .and_then(|to| dialog::split_tag(&to).1)
            .unwrap_or_else(message::new_tag);
        let offer = (!inbound.invite.body.is_empty())
            .then(|| {
                inbound.invite.headers.iter().find_map(|h| match h {
                    Header::ContentType(c) => {
                        Some((c.value().to_owned(), inbound.invite.body.clone()))
                    }
                    _ => None,
                })
            })
            .flatten();
        Call {
            config,
            started: now,
            started_wall: wall,
            caller,
            a: CallerLeg {
                inbound,
                call_id,
                local_tag,
                offer,
                ringing_sent: false,
                early_media_sent: false,
                leg: None,
            },
            legs: Vec::new(),
            state: State::Routing,
            callee: None,
            answered_at: None,
            outcome: None,
            relays: Vec::new(),
            session: None,
            forwarded_from: None,
            binding_only: false,
            anchor: None,
            leg_offer: None,
            media_told: (None, None),
            actions: VecDeque::new(),
            hunt: None,
        }
    }

    /// The caller's Call-ID (the call's key in logs and presence).
    pub fn call_id(&self) -> &str {
        &self.a.call_id
    }

    /// The To tag we answer the caller with.
    pub fn local_tag(&self) -> &str {
        &self.a.local_tag
    }

    /// The caller's dialog goes on from one we held before this call (a transfer out of the
    /// IVR, `b2bua::transfer`): our requests in it continue after CSeq `cseq`, as §12.2.1.1
    /// asks of every request in a dialog.
    pub fn continue_caller_cseq(&mut self, cseq: u32) {
        if let Some(dialog) = self.a.leg.as_mut().map(UasLeg::dialog_mut) {
            dialog.local_cseq = Some(dialog.local_cseq.map_or(cseq, |c| c.max(cseq)));
        }
    }

    /// Replaces what we know of the caller (the routing look-up found them among our users).
    pub fn set_caller(&mut self, caller: CallerInfo) {
        self.caller = caller;
    }

    /// What answers to the caller's INVITE go to, and the INVITE.
    pub fn inbound(&self) -> (CallerSide, &Request) {
        (self.a.inbound.side, &self.a.inbound.invite)
    }

    /// Where the caller's INVITE came from.
    pub fn inbound_source(&self) -> SocketAddr {
        self.a.inbound.source
    }

    /// Whether the caller's side is over (answered and hung up, handed to voicemail,
    /// rejected or cancelled): the call's media, if anchored, is no longer needed.
    pub fn is_over(&self) -> bool {
        self.state == State::Over
    }

    /// Whether nothing is left to do: the caller's side is over and every B leg has ended.
    pub fn is_finished(&self) -> bool {
        self.state == State::Over
            && !self.a.leg.as_ref().is_some_and(UasLeg::bye_pending)
            && self
                .legs
                .iter()
                .all(|l| matches!(l.state, LegState::Done(_)))
    }

    /// The next action for the driver.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When [`Call::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let ring = match &self.state {
            State::Ringing { deadline, .. } => Some(*deadline),
            _ => None,
        };
        let leg = self.a.leg.as_ref().and_then(UasLeg::poll_timeout);
        let session = self.session.map(|s| s.deadline);
        [ring, leg, session].into_iter().flatten().min()
    }

    /// Fires the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let State::Ringing { deadline, fallback } = &self.state {
            if *deadline <= now {
                let fallback = fallback.clone();
                debug!(call_id = %self.a.call_id, "no answer within the ring timeout");
                self.cancel_ringing_legs();
                // A group rings its next step before anyone's voicemail.
                if !self.next_hunt_step(now) {
                    self.after_ring(now, RingOutcome::NoAnswer, &fallback);
                }
            }
        }
        // The caller's leg: our 2xx's retransmission and, with no ACK after 64·T1, the BYE
        // ending both legs (§13.3.1.4); a BYE that waited for the ACK (§15).
        if self
            .a
            .leg
            .as_ref()
            .and_then(UasLeg::poll_timeout)
            .is_some_and(|t| t <= now)
        {
            if let Some(leg) = self.a.leg.as_mut() {
                leg.handle_timeout(now);
            }
            self.drain_caller(now);
        }
        if self.session.is_some_and(|s| s.deadline <= now) {
            // RFC 4028 §10: no refresh within the session interval: the session is dead.
            debug!(call_id = %self.a.call_id, "session expired without refresh: ending the call");
            self.session = None;
            self.hang_up_both(now);
        }
    }

    /// Feeds one event at `now`.
    pub fn handle(&mut self, now: Instant, event: Event) {
        match event {
            Event::Routed(plan) => self.on_routed(now, plan),
            Event::Response { side, response } => self.on_response(now, side, response),
            Event::RequestFailed { side, method } => self.on_request_failed(now, side, method),
            Event::Cancelled => self.on_cancelled(now),
            Event::Request {
                side,
                transaction,
                request,
            } => self.on_request(now, side, transaction, request),
            Event::Ack => self.on_initial_ack(now),
            Event::DialogAck { side, request } => self.on_dialog_ack(now, side, &request),
            Event::HangUp => {
                self.on_cancelled(now);
                self.hang_up_both(now);
            }
            Event::MediaTimeout => {
                if matches!(self.state, State::Answered { .. }) {
                    debug!(call_id = %self.a.call_id, "no RTP from either party: ending the call");
                    self.hang_up_both(now);
                }
            }
        }
    }

    // ---- routing ------------------------------------------------------------------------

    fn on_routed(&mut self, now: Instant, plan: Plan) {
        if self.state != State::Routing {
            // Cancelled while the store was being asked: the caller has its 487 already.
            return;
        }
        if !matches!(plan, Plan::Reject { .. })
            && session_timer::check_interval(&self.a.inbound.invite) == TooSmall::Reject
        {
            // RFC 4028 §8.1/§9: a Session-Expires below our minimum from a UAC that supports
            // timers is refused with 422 and our Min-SE; it retries with a larger value.
            let mut response = self.caller_response(422, None);
            response.headers.push(session_timer::min_se_header());
            self.respond_caller(response);
            self.state = State::Over;
            return;
        }
        match plan {
            Plan::Reject { status, reason } => {
                let response = self.caller_response(status, reason.as_deref());
                self.respond_caller(response);
                self.state = State::Over;
            }
            Plan::Voicemail { callee, info } => {
                self.callee = Some(callee);
                self.hand_off(now, info);
            }
            Plan::Hunt(plan) => self.start_hunt(now, *plan),
            Plan::Binding { target, timeout } => {
                // As a dialled number with one leg, whose own failure is answered back.
                self.binding_only = true;
                self.on_routed(
                    now,
                    Plan::Dial {
                        targets: vec![target],
                        timeout,
                    },
                );
            }
            Plan::Dial { targets, timeout } => {
                // No callee of ours: `hand_off` turns "voicemail" into a final answer.
                let fallback = VoicemailInfo {
                    status: GreetingStatus::NotAvailable,
                    allow_messages: false,
                };
                self.state = State::Ringing {
                    deadline: now + timeout,
                    fallback: fallback.clone(),
                };
                for target in targets {
                    self.start_leg(target, None);
                }
                if self.legs.is_empty() {
                    self.after_ring(now, RingOutcome::NoAnswer, &fallback);
                }
            }
            Plan::Ring {
                callee,
                targets,
                timeout,
                fallback,
                diversion,
            } => {
                self.forwarded_from = diversion.as_ref().and_then(|d| {
                    let user_id = d.user_id.filter(|id| *id != callee.user_id)?;
                    Some(CalleeInfo {
                        user_id,
                        number: d.from.clone(),
                        lang: callee.lang,
                    })
                });
                self.callee = Some(callee);
                self.state = State::Ringing {
                    deadline: now + timeout,
                    fallback: fallback.clone(),
                };
                if !self.a.inbound.invite.body.is_empty() {
                    let body = self.a.inbound.invite.body.clone();
                    self.leg_offer = Some(self.media_body(Side::Caller, &body));
                }
                for target in targets {
                    self.start_leg(target, diversion.as_ref());
                }
                if self.legs.is_empty() {
                    self.after_ring(now, RingOutcome::NoAnswer, &fallback);
                } else if let Some(user_id) = self.callee.as_ref().map(|c| c.user_id) {
                    // Only the callee rings; the caller (if ours) is not "ringing".
                    self.actions.push_back(Action::Presence {
                        user_id,
                        change: PresenceChange::Ringing,
                    });
                }
            }
        }
    }

    fn start_leg(&mut self, target: OutboundTarget, diversion: Option<&Diversion>) {
        let to = match diversion {
            // A forwarded leg is addressed to the forward target (its Request-URI).
            Some(_) => format!("<{}>", target.uri),
            // A ringing leg is for the number the caller dialled.
            None => {
                dialog::split_tag(
                    &dialog::header_value(&self.a.inbound.invite.headers, "To").unwrap_or_default(),
                )
                .0
            }
        };
        let Some(mut invite) = outbound_invite(
            &self.a.inbound.invite,
            &target,
            &to,
            &self.config.via_sent_by,
            &self.config.contact,
            &self.config.domain,
            diversion,
        ) else {
            debug!(uri = %target.uri, "cannot build an INVITE for this target; skipped");
            return;
        };
        session_timer::apply_to_outbound(&self.a.inbound.invite, &mut invite);
        if let (Some(offer), false) = (&self.leg_offer, invite.body.is_empty()) {
            media::replace_body(&mut invite.headers, &mut invite.body, offer.clone());
        }
        let id = LegId(u32::try_from(self.legs.len()).unwrap_or(u32::MAX));
        self.actions.push_back(Action::SendRequest {
            side: Side::Callee(id),
            request: invite.clone(),
            destination: target.destination,
            transport: target.transport,
        });
        self.legs.push(Leg {
            target,
            invite,
            state: LegState::Trying,
            dialog: None,
            ack: None,
            answer: Vec::new(),
        });
    }

    // ---- responses from B legs ----------------------------------------------------------

    fn on_response(&mut self, now: Instant, side: Side, response: Response) {
        let code = response.status_code.code();
        let method = dialog::header_value(&response.headers, "CSeq")
            .ok()
            .and_then(|c| c.split_whitespace().nth(1).map(str::to_ascii_uppercase));
        let is_invite = method.as_deref() == Some("INVITE");
        if self.on_relay_response(now, side, &response) {
            return;
        }
        match side {
            // Our BYE's answer closes the caller's leg; others it ignores.
            Side::Caller => self.caller_event(now, UasEvent::Response(response)),
            Side::Callee(id) if !is_invite => {
                if code >= 200 {
                    if let Some(leg) = self.leg_mut(id) {
                        leg.state = LegState::Done(code);
                    }
                }
            }
            Side::Callee(id) => match code {
                100 => {}
                101..=199 => self.on_provisional(id, &response),
                200..=299 => self.on_success(now, id, response),
                _ => self.on_failure(now, id, code),
            },
        }
    }

    fn on_provisional(&mut self, id: LegId, response: &Response) {
        if !matches!(self.state, State::Ringing { .. }) {
            return;
        }
        if !matches!(self.leg(id).map(|l| l.state), Some(LegState::Trying)) {
            return;
        }
        let code = response.status_code.code();
        let has_sdp = !response.body.is_empty();
        if code == 183 && has_sdp && !self.a.early_media_sent {
            // Early media (RFC 3960): the first leg with SDP gets to play to the caller.
            self.a.early_media_sent = true;
            self.a.ringing_sent = true;
            let mut out = self.caller_response(183, None);
            copy_body(response, &mut out);
            let body = self.media_body(Side::Callee(id), &out.body);
            media::replace_body(&mut out.headers, &mut out.body, body);
            self.respond_caller(out);
        } else if !self.a.ringing_sent {
            // One 180 is enough for the caller's ringback, whichever leg rang first.
            self.a.ringing_sent = true;
            let out = self.caller_response(180, None);
            self.respond_caller(out);
        }
    }

    fn on_success(&mut self, now: Instant, id: LegId, response: Response) {
        let Some(leg) = self.legs.get_mut(id.0 as usize) else {
            return;
        };
        // Every 2xx is ACKed, retransmissions included (§13.2.2.4).
        if let Some(ack) = leg.ack.clone() {
            let (destination, transport) = (leg.target.destination, leg.target.transport);
            self.actions.push_back(Action::SendAck {
                request: ack,
                destination,
                transport,
            });
            return;
        }
        let dialog = match Dialog::from_uac(&leg.invite, &response) {
            Ok(d) => d,
            Err(error) => {
                // A 2xx we cannot build a dialog from cannot be ACKed properly either; the
                // device's transaction will time out. Treat the leg as failed.
                debug!(%error, "unusable 2xx on an outbound leg");
                leg.state = LegState::Done(500);
                self.check_all_failed(now);
                return;
            }
        };
        let invite_cseq = dialog::cseq_number(&leg.invite.headers).unwrap_or(1);
        let ack = dialog.ack(invite_cseq, &via(&self.config, leg.target.transport));
        leg.dialog = Some(dialog);
        leg.answer = response.body.clone();
        if let Ok(ack) = ack {
            leg.ack = Some(ack.clone());
            let (destination, transport) = (leg.target.destination, leg.target.transport);
            self.actions.push_back(Action::SendAck {
                request: ack,
                destination,
                transport,
            });
        }
        leg.state = LegState::Confirmed;
        let was_ringing = matches!(self.state, State::Ringing { .. });
        if !was_ringing {
            // A second 2xx that crossed our CANCEL, or one after the caller left: the dialog
            // exists now and must be ended (§15: BYE on a confirmed dialog).
            debug!(leg = id.0, "late 2xx: ACK and BYE");
            self.bye_leg(id);
            return;
        }
        // This leg wins (§16.7 step 5 for forking proxies: first 2xx; the others are cancelled).
        self.answered_at = Some(now);
        self.state = State::Answered { winner: id };
        self.hunt_answered(id);
        for (i, other) in self.legs.iter_mut().enumerate() {
            if i != id.0 as usize && other.state == LegState::Trying {
                other.state = LegState::Cancelling;
                self.actions
                    .push_back(Action::Cancel(LegId(u32::try_from(i).unwrap_or(u32::MAX))));
            }
        }
        let mut answer = self.caller_response(200, None);
        copy_body(&response, &mut answer);
        if !answer.body.is_empty() {
            let body = self.media_body(Side::Callee(id), &answer.body);
            media::replace_body(&mut answer.headers, &mut answer.body, body);
        }
        self.negotiate_session(now, &response, &mut answer);
        self.answer_caller(now, answer);
        self.presence(PresenceChange::Started);
    }

    fn on_failure(&mut self, now: Instant, id: LegId, code: u16) {
        let Some(leg) = self.leg_mut(id) else { return };
        leg.state = LegState::Done(code);
        // A group member's 603 declines for that member only; the others ring on.
        if (600..700).contains(&code)
            && matches!(self.state, State::Ringing { .. })
            && !self.is_hunt()
        {
            // §16.7 step 5 (6xx): a global failure ends the search; the other legs are
            // cancelled. 600 Busy Everywhere is busy; 603 Decline is the user rejecting.
            let fallback = self.ring_fallback();
            self.cancel_ringing_legs();
            let outcome = if code == 600 {
                RingOutcome::AllBusy
            } else {
                RingOutcome::NoAnswer
            };
            if let Some(fallback) = fallback {
                self.after_ring(now, outcome, &fallback);
            }
            return;
        }
        self.check_all_failed(now);
    }

    /// Every leg ended without a 2xx while ringing: busy everywhere or not answering.
    fn check_all_failed(&mut self, now: Instant) {
        if !matches!(self.state, State::Ringing { .. }) {
            return;
        }
        let mut all_busy = true;
        for leg in &self.legs {
            match leg.state {
                LegState::Done(486 | 600) => {}
                LegState::Done(_) => all_busy = false,
                _ => return,
            }
        }
        let outcome = if all_busy && !self.legs.is_empty() {
            RingOutcome::AllBusy
        } else {
            RingOutcome::NoAnswer
        };
        // A group's step whose every leg failed: the next step rings.
        if self.next_hunt_step(now) {
            return;
        }
        if let Some(fallback) = self.ring_fallback() {
            self.after_ring(now, outcome, &fallback);
        }
    }

    fn on_request_failed(&mut self, now: Instant, side: Side, method: Method) {
        if self.on_relay_failed(now, side, method) {
            return;
        }
        match side {
            Side::Caller => self.caller_event(now, UasEvent::RequestFailed { method }),
            Side::Callee(id) if method == Method::Invite => {
                let cancelling = self.leg(id).map(|l| l.state) == Some(LegState::Cancelling);
                // §8.1.3.1: a timeout is as good as a 408.
                self.on_failure(now, id, if cancelling { 487 } else { 408 });
            }
            Side::Callee(id) => {
                if let Some(leg) = self.leg_mut(id) {
                    leg.state = LegState::Done(408);
                }
                if let State::Answered { winner } = self.state {
                    if winner == id {
                        self.state = State::Over;
                    }
                }
            }
        }
    }

    // ---- requests from either side ------------------------------------------------------

    fn on_cancelled(&mut self, now: Instant) {
        if !matches!(self.state, State::Routing | State::Ringing { .. }) {
            return;
        }
        // §9.2: "the UAS MUST ... respond to the INVITE with a 487 (Request Terminated)".
        let response = self.caller_response(487, None);
        self.respond_caller(response);
        self.ringing_ended();
        self.cancel_ringing_legs();
        self.outcome = Some("cancelled");
        self.state = State::Over;
        self.record(now, false);
    }

    fn on_request(
        &mut self,
        now: Instant,
        side: Side,
        transaction: TransactionId,
        request: Request,
    ) {
        let in_dialog = match side {
            Side::Caller => self.a.leg.is_some(),
            Side::Callee(id) => self.leg(id).and_then(|l| l.dialog.as_ref()).is_some(),
        };
        let alive = match (side, &self.state) {
            (Side::Caller, State::Answered { .. }) => true,
            (Side::Callee(id), _) => {
                matches!(
                    self.leg(id).map(|l| l.state),
                    Some(LegState::Confirmed | LegState::Ending)
                )
            }
            _ => false,
        };
        if !in_dialog || !alive {
            // §12.2.2: "If the UAS receives a request that does not match any dialog ... it
            // SHOULD return a 481 (Call/Transaction Does Not Exist)".
            self.reply(transaction, &request, 481);
            return;
        }
        let Side::Callee(id) = side else {
            // The caller's leg checks CSeq order (§12.2.2) and answers a BYE (the caller hung
            // up: `drain_caller` ends the callee's dialog too); the rest comes back to
            // `on_mid_call`, relayed.
            self.caller_event(
                now,
                UasEvent::Request {
                    transaction,
                    request,
                },
            );
            return;
        };
        if let Ok(cseq) = dialog::cseq_number(&request.headers) {
            let dialog = self
                .legs
                .get_mut(id.0 as usize)
                .and_then(|l| l.dialog.as_mut());
            if let Some(dialog) = dialog {
                if dialog.accept_remote_cseq(cseq).is_err() {
                    self.reply(transaction, &request, 500);
                    return;
                }
            }
        }
        if request.method != Method::Bye {
            self.on_mid_call(side, transaction, request);
            return;
        }
        self.reply(transaction, &request, 200);
        if let Some(leg) = self.leg_mut(id) {
            leg.state = LegState::Done(200);
        }
        if self.state != (State::Answered { winner: id }) {
            return;
        }
        if !self.a.leg.as_ref().is_none_or(UasLeg::is_acked) {
            // §15: "the callee's UA MUST NOT send a BYE on a confirmed dialog until it has
            // received an ACK for its 2xx response or until the server transaction times out."
            // We are the callee towards the caller: the leg's BYE waits for the ACK (or 64·T1,
            // Timer H's span), and the call ends when it goes (`drain_caller`).
            debug!("callee hung up before the caller's ACK: BYE waits for it");
            self.end_relays();
        }
        self.caller_event(now, UasEvent::HangUp);
        if self.a.leg.is_none() {
            // No dialog with the caller (detached): nothing to send it.
            self.finish_answered(now);
        }
    }

    /// The caller's ACK for our 2xx to its INVITE: stop retransmitting; a BYE that waited for
    /// it (§15) goes now.
    fn on_initial_ack(&mut self, now: Instant) {
        self.caller_event(now, UasEvent::Ack);
    }

    /// Feeds the caller's leg one event and carries out what it asks.
    fn caller_event(&mut self, now: Instant, event: UasEvent) {
        if let Some(leg) = self.a.leg.as_mut() {
            leg.handle(now, event);
        }
        self.drain_caller(now);
    }

    /// The caller's leg's actions become the call's, on [`Side::Caller`]. Our BYE (`Ending`)
    /// or the caller's (`HungUp`) ends the callee's dialog first and the call after the
    /// caller's BYE is out: callee BYE, caller BYE, then presence and history.
    fn drain_caller(&mut self, now: Instant) {
        let mut ended = false;
        while let Some(action) = self.a.leg.as_mut().and_then(UasLeg::poll_action) {
            match action {
                UasAction::SendAnswer(response) => self.respond_caller(response),
                UasAction::Respond {
                    transaction,
                    response,
                } => self.actions.push_back(Action::Respond {
                    transaction,
                    response,
                }),
                UasAction::SendRequest {
                    request,
                    destination,
                    transport,
                } => self.actions.push_back(Action::SendRequest {
                    side: Side::Caller,
                    request,
                    destination,
                    transport,
                }),
                UasAction::SendAck {
                    request,
                    destination,
                    transport,
                } => self.actions.push_back(Action::SendAck {
                    request,
                    destination,
                    transport,
                }),
                UasAction::Request {
                    transaction,
                    request,
                } => self.on_mid_call(Side::Caller, transaction, *request),
                UasAction::Ending | UasAction::HungUp => {
                    if let State::Answered { winner } = self.state {
                        self.bye_leg(winner);
                    }
                    ended = true;
                }
                UasAction::Closed => {}
                // A relaying leg answers no offer, key or REFER itself, and we send it no
                // REFER or re-INVITE: these do not come.
                UasAction::Offer { .. }
                | UasAction::Digit(_)
                | UasAction::Refer { .. }
                | UasAction::ReferAnswered { .. }
                | UasAction::ReinviteAnswered { .. } => {}
            }
        }
        if ended {
            self.finish_answered(now);
        }
    }

    /// RFC 4028 at answer time: pass the callee's Session-Expires (and `Require: timer`, if the
    /// caller supports it) to the caller, or insert one ourselves when the callee ignored the
    /// caller's request (§9), and start the expiry.
    fn negotiate_session(&mut self, now: Instant, response: &Response, answer: &mut Response) {
        let invite = &self.a.inbound.invite;
        if let Some(se) = session_timer::session_expires(&response.headers) {
            let caller_supports = session_timer::lists_timer(&invite.headers, "Supported");
            answer
                .headers
                .push(Header::Other("Session-Expires".into(), se.value()));
            if caller_supports && session_timer::lists_timer(&response.headers, "Require") {
                answer
                    .headers
                    .push(Header::Require(headers::Require::new("timer")));
            }
            self.session = Some(SessionTimer::start(now, se.delta, false));
        } else if let Some(delta) = session_timer::insert_into_2xx(invite, answer) {
            self.session = Some(SessionTimer::start(now, delta, true));
        }
    }

    // ---- helpers ------------------------------------------------------------------------

    fn hand_off(&mut self, now: Instant, info: VoicemailInfo) {
        let Some(callee) = self.callee.clone() else {
            // A dialled number (Plan::Dial) has no mailbox here: busy everywhere is 486,
            // anything else 480 (§21.4.18, §21.4.24).
            let busy = !self.legs.is_empty()
                && self
                    .legs
                    .iter()
                    .all(|l| matches!(l.state, LegState::Done(486 | 600)));
            // One binding rung for another node: the phone's own failure (603 stays a
            // decline there, §16.7 step 5); no answer in time is 480 as above.
            let own = self
                .legs
                .iter()
                .find_map(|l| match l.state {
                    LegState::Done(code) if code >= 300 => Some(code),
                    _ => None,
                })
                .filter(|_| self.binding_only);
            let code = own.unwrap_or(if busy { 486 } else { 480 });
            let response = self.caller_response(code, None);
            self.respond_caller(response);
            self.outcome = Some(if busy { "busy" } else { "no_answer" });
            self.state = State::Over;
            self.record(now, false);
            return;
        };
        self.ringing_ended();
        self.actions
            .push_back(Action::Voicemail(Box::new(VoicemailRequest {
                call_id: self.a.call_id.clone(),
                user_id: callee.user_id,
                lang: callee.lang,
                info,
                caller: self.caller.clone(),
                side: self.a.inbound.side,
                invite: self.a.inbound.invite.clone(),
                local_tag: self.a.local_tag.clone(),
                source: self.a.inbound.source,
                transport: self.a.inbound.transport,
                offer: self.a.offer.as_ref().map(|(_, body)| body.clone()),
            })));
        self.outcome = Some("voicemail");
        self.state = State::Over;
        self.record(now, false);
    }

    fn after_ring(&mut self, now: Instant, outcome: RingOutcome, fallback: &VoicemailInfo) {
        match after_ring(outcome, fallback) {
            Route::Voicemail(info) => self.hand_off(now, info),
            // after_ring always ends in voicemail; anything else would be a routing change the
            // B2BUA does not know how to carry out, so the caller still gets voicemail.
            Route::Ring { .. } | Route::Forward { .. } => self.hand_off(
                now,
                VoicemailInfo {
                    status: GreetingStatus::NotAvailable,
                    allow_messages: fallback.allow_messages,
                },
            ),
        }
    }

    fn ring_fallback(&self) -> Option<VoicemailInfo> {
        match &self.state {
            State::Ringing { fallback, .. } => Some(fallback.clone()),
            _ => None,
        }
    }

    fn cancel_ringing_legs(&mut self) {
        for (i, leg) in self.legs.iter_mut().enumerate() {
            if leg.state == LegState::Trying {
                leg.state = LegState::Cancelling;
                self.actions
                    .push_back(Action::Cancel(LegId(u32::try_from(i).unwrap_or(u32::MAX))));
            }
        }
    }

    fn bye_leg(&mut self, id: LegId) {
        let Some(leg) = self.legs.get_mut(id.0 as usize) else {
            return;
        };
        if leg.state != LegState::Confirmed {
            // Already ended (its BYE came first, or ours is under way).
            return;
        }
        let via = via(&self.config, leg.target.transport);
        let Some(dialog) = leg.dialog.as_mut() else {
            return;
        };
        match dialog.request(Method::Bye, &via) {
            Ok(bye) => {
                leg.state = LegState::Ending;
                let (destination, transport) = (leg.target.destination, leg.target.transport);
                self.actions.push_back(Action::SendRequest {
                    side: Side::Callee(id),
                    request: bye,
                    destination,
                    transport,
                });
            }
            Err(error) => {
                debug!(%error, "cannot build BYE for an outbound leg");
                leg.state = LegState::Done(500);
            }
        }
    }

    /// Ends an answered call from our side: BYE on both legs at once (the caller's even
    /// before its ACK: the whole session is dead), callee's first.
    fn hang_up_both(&mut self, now: Instant) {
        if let State::Answered { winner } = self.state {
            // The leg's `Ending` sends the callee's BYE before the caller's and finishes.
            self.caller_event(now, UasEvent::HangUpNow);
            // No caller's dialog (detached) or its BYE is out already.
            self.bye_leg(winner);
            self.finish_answered(now);
        }
    }

    /// The caller's leg over our 2xx `answer` to its INVITE, which it sends first.
    fn answer_caller(&mut self, now: Instant, answer: Response) {
        let config = self.uas_config();
        let answered = Answered {
            invite: self.a.inbound.invite.clone(),
            local_tag: self.a.local_tag.clone(),
            source: self.a.inbound.source,
            transport: self.a.inbound.transport,
            answer: answer.clone(),
        };
        match UasLeg::new(now, config, answered) {
            Ok(leg) => {
                self.a.leg = Some(leg.relaying());
                self.drain_caller(now);
            }
            Err(error) => {
                // No dialog with the caller (§8.1.1.8: its INVITE has no Contact): the 2xx
                // goes once, and nothing is ever sent in a dialog we do not have.
                debug!(%error, "no dialog with the caller");
                self.respond_caller(answer);
            }
        }
    }

    /// The caller's leg's addressing and timers, from ours.
    fn uas_config(&self) -> UasConfig {
        UasConfig {
            via_sent_by: self.config.via_sent_by.clone(),
            contact: self.config.contact.clone(),
            server: self.config.server.clone(),
            t1: self.config.t1,
            t2: self.config.t2,
        }
    }

    /// An answered call ended: presence back and history rows.
    fn finish_answered(&mut self, now: Instant) {
        if matches!(self.state, State::Answered { .. }) {
            self.state = State::Over;
            self.session = None;
            self.end_relays();
            self.outcome = Some("answered");
            self.presence(PresenceChange::Ended);
            self.record(now, true);
        }
    }

    /// The callee's devices stop ringing without an answer.
    fn ringing_ended(&mut self) {
        if self.hunt_ringing_ended() {
            return;
        }
        if let (State::Ringing { .. }, Some(callee)) = (&self.state, &self.callee) {
            self.actions.push_back(Action::Presence {
                user_id: callee.user_id,
                change: PresenceChange::RingingEnded,
            });
        }
    }

    fn presence(&mut self, change: PresenceChange) {
        let users = [self.callee.as_ref().map(|c| c.user_id), self.caller.user_id];
        for user_id in users.into_iter().flatten() {
            self.actions.push_back(Action::Presence { user_id, change });
        }
    }

    /// History rows: the callee's (in, or missed) and the caller's (out) if a local user.
    fn record(&mut self, now: Instant, answered: bool) {
        let wall = |t: Instant| {
            self.started_wall
                + chrono::Duration::from_std(t.saturating_duration_since(self.started))
                    .unwrap_or_default()
        };
        let started_at = self.started_wall;
        let answered_at = self.answered_at.map(wall);
        let ended_at = Some(wall(now));
        let route = self.outcome.map(str::to_owned);
        if self.record_hunt(started_at, answered_at, ended_at) {
            return;
        }
        if let Some(callee) = &self.callee {
            self.actions.push_back(Action::Record(CallData {
                user_id: UserId(callee.user_id),
                direction: if answered {
                    CallDirection::In
                } else {
                    CallDirection::Missed
                },
                other_number: self.caller.number.clone(),
                other_name: self.caller.name.clone(),
                started_at,
                answered_at,
                ended_at,
                route: route.clone(),
            }));
        }
        if let (Some(by), Some(callee)) = (&self.forwarded_from, &self.callee) {
            // The user who forwarded the call sees it too: missed by them, and where it went.
            self.actions.push_back(Action::Record(CallData {
                user_id: UserId(by.user_id),
                direction: CallDirection::Missed,
                other_number: self.caller.number.clone(),
                other_name: self.caller.name.clone(),
                started_at,
                answered_at,
                ended_at,
                route: Some(format!("forward:{}", callee.number)),
            }));
        }
        if let Some(user_id) = self.caller.user_id {
            self.actions.push_back(Action::Record(CallData {
                user_id: UserId(user_id),
                direction: CallDirection::Out,
                other_number: self
                    .callee
                    .as_ref()
                    .map(|c| c.number.clone())
                    .unwrap_or_else(|| self.a.inbound.invite.uri.user().unwrap_or("").to_owned()),
                other_name: None,
                started_at,
                answered_at,
                ended_at,
                route,
            }));
        }
    }

    /// A response to the caller's INVITE with our To tag, Contact (for 1xx/2xx, §12.1.1) and
    /// Server header.
    fn caller_response(&self, code: u16, reason: Option<&str>) -> Response {
        let mut response = response_to(&self.a.inbound.invite, code, Some(&self.a.local_tag));
        if let Some(reason) = reason {
            response.status_code = rsip::StatusCode::Other(code, reason.to_owned());
        }
        if (101..300).contains(&code) {
            // §12.1.1: the UAS MUST add a Contact to responses that create a dialog, and copy
            // Record-Route (we are not a proxy, but a peer behind one needs it back).
            for h in self.a.inbound.invite.headers.iter() {
                if let Header::RecordRoute(_) = h {
                    response.headers.push(h.clone());
                }
            }
            response
                .headers
                .push(Header::Contact(headers::Contact::new(format!(
                    "<{}>",
                    self.config.contact
                ))));
        }
        response.headers.push(Header::Server(headers::Server::new(
            self.config.server.clone(),
        )));
        response
    }

    fn respond_caller(&mut self, response: Response) {
        self.actions.push_back(match self.a.inbound.side {
            CallerSide::Transaction(transaction) => Action::Respond {
                transaction,
                response,
            },
            CallerSide::Originated => Action::ToOriginator(response),
        });
    }

    fn reply(&mut self, transaction: TransactionId, request: &Request, code: u16) {
        let mut response = response_to(request, code, None);
        response.headers.push(Header::Server(headers::Server::new(
            self.config.server.clone(),
        )));
        self.actions.push_back(Action::Respond {
            transaction,
            response,
        });
    }

    fn leg(&self, id: LegId) -> Option<&Leg> {
        self.legs.get(id.0 as usize)
    }

    fn leg_mut(&mut self, id: LegId) -> Option<&mut Leg> {
        self.legs.get_mut(id.0 as usize)
    }
}

/// Our Via value with a fresh branch (§8.1.1.7).
pub(crate) fn via(config: &CallConfig, transport: TransportKind) -> String {
    crate::sip::via::ours(&config.via_sent_by, transport)
}

/// Copies a response's body and Content-Type onto `to` (SDP pass-through).
fn copy_body(from: &Response, to: &mut Response) {
    if from.body.is_empty() {
        return;
    }
    let content_type = from.headers.iter().find_map(|h| match h {
        Header::ContentType(c) => Some(c.clone()),
        _ => None,
    });
    let Some(content_type) = content_type else {
        return;
    };
    let mut headers: Vec<Header> = to
        .headers
        .iter()
        .filter(|h| !matches!(h, Header::ContentLength(_) | Header::ContentType(_)))
        .cloned()
        .collect();
    headers.push(Header::ContentType(content_type));
    headers.push(Header::ContentLength(headers::ContentLength::new(
        from.body.len().to_string(),
    )));
    to.headers = headers.into();
    to.body = from.body.clone();
}
