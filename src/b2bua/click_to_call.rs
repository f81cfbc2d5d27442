//! [`ClickToCall`]: third-party call control (RFC 3725) for "call this number from my desk
//! phone", as a sans-I/O state machine over the leg towards the user's own phone (the desk).
//!
//! # Which flow, and why
//! RFC 3725 §4 **Flow I** ("recommended for its simplicity"): INVITE the desk *without* SDP;
//! its 2xx carries the offer; INVITE the target with that offer; the target's 2xx carries the
//! answer, which goes in our ACK to the desk; the target's 2xx is ACKed. No re-INVITE and no
//! made-up SDP is ever needed when things work, which is what §4 praises it for. Flow IV would
//! answer the desk at once with a "black hole" and re-INVITE it later; that keeps the desk's
//! 2xx from waiting (§4 notes the desk gives up on a missing ACK after 64·T1, 32 s), but costs a
//! re-INVITE per call and a hold SDP that some phones render as "on hold". Our target legs ring
//! for the user's own no-answer time (at most `routing::MAX_RING_TIMEOUT`); a desk that stops
//! waiting hangs up with BYE, which ends the target side exactly like the desk leaving early,
//! and [`TARGET_WAIT`] stops us waiting longer than the desk would.
//!
//! # The desk
//! Only one device is called: the user's registered contact of kind desk, else the preferred one
//! (highest q, newest; the driver picks it). Forking the offerless INVITE would make every
//! device that answers produce an offer of its own; with one chosen phone the user knows which
//! one will ring.
//!
//! # The target side is a normal call
//! When the desk answers, this machine emits [`Action::StartTarget`] with an INVITE *as if the
//! desk had sent it* (From: the desk's device, To: the number; Call-ID, tags, Contact and route
//! set those of our dialog with the desk, mirrored). The driver hands it to the B2BUA as an
//! ordinary incoming call ([`super::Call`]), so routing, forwards, the toll-fraud guard, ringing
//! several devices, voicemail, history and presence are the normal ones, and after the answer
//! the B2BUA's mid-call machinery (BYE either way, re-INVITE/UPDATE/INFO relayed, session
//! timers) runs on our dialog with the desk unchanged: its `Dialog::from_uas` of the mirrored
//! INVITE *is* our dialog with the desk seen from the other end. (A number that is not one of
//! our users goes to the trunk instead of routing, as [`super::Plan::Dial`], and only where the
//! organisation allows external calls: the API checks that, like the forwarding toll-fraud
//! guard.) Our own INVITE to the desk
//! uses CSeq 0 for that reason: the B2BUA's first request on the mirrored dialog is CSeq 1
//! (§12.2.1.1 only asks for an increase; §8.1.1.5 allows 0).
//!
//! What the B2BUA answers that INVITE with comes back as [`Event::TargetResponse`]: a 2xx is the
//! target's answer (or voicemail's) and goes in our ACK to the desk; a failure ends the desk's
//! call. Nothing is played to the desk on a failure (no announcement): it gets an ACK whose
//! answer rejects every stream (RFC 3264 §6, port 0), then BYE; the reason is in the status.
//!
//! This controller moves the SDP as RFC 3725 Flow I describes and rewrites none of it itself. The
//! target side is an ordinary [`super::Call`], so with `[calls] media = "anchor"` (the default)
//! that call anchors the media like any bridged call: the target sees our relay in the desk's
//! offer, and the answer we put in the desk's ACK names our relay too. With `"passthrough"` the
//! desk and the target exchange their own addresses.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rsip::headers::{self, Header, UntypedHeader};
use rsip::{Method, Request, Response};
use tracing::debug;

use super::call::{via, CallConfig};
use crate::domain::model::{CallData, CallDirection, UserId};
use crate::sip::dialog::{self, Dialog};
use crate::sip::message;
use crate::sip::transaction::fields::response_to;
use crate::sip::transaction::{TransactionId, TransportKind};

/// How long we wait for the target with the desk's 2xx unacknowledged: the desk retransmits it
/// for 64·T1 (§13.3.1.4) and then hangs up; waiting longer is pointless.
pub const TARGET_WAIT: Duration = Duration::from_secs(32);

/// The user's phone that rings first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeskTarget {
    /// Its registered Contact URI (the Request-URI).
    pub uri: String,
    /// Where its REGISTER came from (we send there, as for any call to it).
    pub destination: SocketAddr,
    /// Over which transport.
    pub transport: TransportKind,
    /// The device's SIP username: the caller of the target leg, as if the desk dialled.
    pub sip_username: String,
    /// Its Path (RFC 3327) as a preloaded Route set (§8.1.2); `destination` is then the first
    /// Route's address.
    pub route: Vec<String>,
}

/// A click-to-call to set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Originate {
    /// The user whose desk rings.
    pub user_id: i64,
    /// The same user as the caller of the target call (history, presence).
    pub caller: super::CallerInfo,
    /// The number to call (a local number, a OneNumber or an external number).
    pub to: String,
    /// The desk.
    pub desk: DeskTarget,
    /// How long the desk may ring.
    pub ring_timeout: Duration,
    /// For a number outside our users: the trunk leg to dial (the organisation allows
    /// external calls). `None`: `to` is routed like any call to a colleague.
    pub external: Option<super::OutboundTarget>,
}

/// Where a click-to-call stands, as the API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The user's desk phone is ringing.
    RingingYou,
    /// The desk answered; the number is being called.
    RingingThem,
    /// Both answered; the call is bridged.
    Connected,
    /// Over, and why.
    Ended(EndReason),
}

/// Why a click-to-call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The desk did not answer within the ring timeout.
    NoAnswer,
    /// The desk refused (busy, declined) with this status.
    Declined(u16),
    /// The desk could not be reached (no response at all, transport error).
    Unreachable,
    /// The desk answered without an SDP offer (RFC 3725 Flow I needs one).
    NoOffer,
    /// The target side failed with this status (busy, not found, unavailable).
    TargetFailed(u16),
    /// The user hung up the desk before the target answered.
    YouHungUp,
    /// Hung up through the API.
    HungUp,
    /// The bridged call ended (BYE from either side).
    Completed,
}

impl EndReason {
    /// A stable code for the API.
    pub fn code(self) -> &'static str {
        match self {
            EndReason::NoAnswer => "no_answer",
            EndReason::Declined(486 | 600) => "you_busy",
            EndReason::Declined(_) => "you_declined",
            EndReason::Unreachable => "unreachable",
            EndReason::NoOffer => "no_offer",
            EndReason::TargetFailed(486 | 600) => "busy",
            EndReason::TargetFailed(404 | 484 | 604) => "not_found",
            EndReason::TargetFailed(403) => "forbidden",
            EndReason::TargetFailed(_) => "unavailable",
            EndReason::YouHungUp => "you_hung_up",
            EndReason::HungUp => "hung_up",
            EndReason::Completed => "completed",
        }
    }
}

/// Inputs.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A response to our INVITE, CANCEL-ended INVITE or BYE on the desk leg.
    DeskResponse(Response),
    /// A client transaction towards the desk ended without a final response (§8.1.3.1).
    DeskRequestFailed(Method),
    /// A request from the desk in our dialog before the bridge (its BYE when it gives up).
    DeskRequest {
        /// The server transaction.
        transaction: TransactionId,
        /// The request.
        request: Request,
    },
    /// What the B2BUA (the target's phones, or voicemail) answered the target INVITE with.
    TargetResponse(Response),
    /// The user asks to hang up (API).
    HangUp,
    /// The bridged call is over (the B2BUA finished it).
    BridgeEnded,
}

/// Outputs, drained with [`ClickToCall::poll_action`].
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Start a client transaction towards the desk (INVITE, BYE).
    SendRequest {
        /// The request.
        request: Request,
        /// Where.
        destination: SocketAddr,
        /// Over which transport.
        transport: TransportKind,
    },
    /// CANCEL our INVITE to the desk (§9.1).
    CancelDesk,
    /// Send an ACK for the desk's 2xx (§13.2.2.4).
    SendAck {
        /// The ACK.
        request: Request,
        /// Where.
        destination: SocketAddr,
        /// Over which transport.
        transport: TransportKind,
    },
    /// Answer a request from the desk.
    Respond {
        /// The server transaction.
        transaction: TransactionId,
        /// The response.
        response: Response,
    },
    /// Give this INVITE to the B2BUA as a call from the desk (see the module doc).
    StartTarget(Box<Request>),
    /// The desk got the target's answer in our ACK: tell the B2BUA its 2xx was acknowledged.
    TargetAcked(Box<Request>),
    /// The desk left before the target answered: cancel the target call.
    CancelTarget,
    /// Hang up the bridged call (BYE on both legs, by the B2BUA).
    HangUpBridge,
    /// The status changed.
    Status(Status),
    /// Write a history row (a click-to-call that never reached the target; the B2BUA writes
    /// the rows of one that did).
    Record(CallData),
}

#[derive(Debug, Clone, PartialEq)]
enum State {
    /// INVITE sent to the desk.
    RingingDesk { deadline: Instant },
    /// CANCEL sent; waiting for the INVITE's final response (a crossing 2xx gets ACK + BYE).
    CancellingDesk(EndReason),
    /// The desk answered with an offer; its ACK waits for the target's answer.
    RingingTarget { deadline: Instant },
    /// Bridged: the B2BUA's call owns the dialog with the desk now.
    Connected,
    /// BYE sent to the desk.
    Ending(EndReason),
    /// Over.
    Ended(EndReason),
}

/// One click-to-call. See the module doc.
#[derive(Debug)]
pub struct ClickToCall {
    config: CallConfig,
    request: Originate,
    started: Instant,
    started_wall: DateTime<Utc>,
    /// The latest `now` seen, for the history row's end time.
    last: Instant,
    invite: Request,
    dialog: Option<Dialog>,
    offer: Option<(String, Vec<u8>)>,
    /// Our ACK to the desk, for its 2xx retransmissions.
    ack: Option<Request>,
    state: State,
    /// The target INVITE went to the B2BUA (whose call then writes the history).
    target_started: bool,
    recorded: bool,
    actions: std::collections::VecDeque<Action>,
}

impl ClickToCall {
    /// Starts ringing the desk: an INVITE without SDP (RFC 3725 §4 Flow I, message 1).
    pub fn new(now: Instant, wall: DateTime<Utc>, config: CallConfig, request: Originate) -> Self {
        let desk = &request.desk;
        let mut headers: Vec<Header> = vec![
            Header::Via(headers::Via::new(via(&config, desk.transport))),
            Header::MaxForwards(headers::MaxForwards::new("70")),
        ];
        headers.extend(
            desk.route
                .iter()
                .map(|value| Header::Route(headers::Route::new(value.clone()))),
        );
        headers.extend([
            // The desk shows whom it is about to call.
            Header::From(headers::From::new(format!(
                "<sip:{}@{}>;tag={}",
                request.to,
                config.domain,
                message::new_tag()
            ))),
            Header::To(headers::To::new(format!(
                "<sip:{}@{}>",
                desk.sip_username, config.domain
            ))),
            Header::CallId(headers::CallId::new(message::new_call_id(None))),
            Header::CSeq(headers::CSeq::new("0 INVITE")),
            Header::Contact(headers::Contact::new(format!("<{}>", config.contact))),
            message::allow_header(),
            Header::Other("Subject".into(), format!("Call {}", request.to)),
            Header::ContentLength(headers::ContentLength::new("0")),
        ]);
        let uri = rsip::Uri::try_from(desk.uri.as_str())
            .unwrap_or_else(|_| rsip::Uri::try_from("sip:invalid").unwrap_or_default());
        let invite = Request {
            method: Method::Invite,
            uri,
            version: rsip::Version::V2,
            headers: headers.into(),
            body: Vec::new(),
        };
        let mut c2c = ClickToCall {
            config,
            started: now,
            started_wall: wall,
            last: now,
            invite: invite.clone(),
            dialog: None,
            offer: None,
            ack: None,
            state: State::RingingDesk {
                deadline: now + request.ring_timeout,
            },
            target_started: false,
            recorded: false,
            actions: Default::default(),
            request,
        };
        c2c.actions.push_back(Action::SendRequest {
            request: invite,
            destination: c2c.request.desk.destination,
            transport: c2c.request.desk.transport,
        });
        c2c.actions.push_back(Action::Status(Status::RingingYou));
        c2c
    }

    /// The Call-ID of the dialog with the desk (and of the B2BUA call that bridges it).
    pub fn call_id(&self) -> String {
        dialog::header_value(&self.invite.headers, "Call-ID").unwrap_or_default()
    }

    /// What was asked for.
    pub fn request(&self) -> &Originate {
        &self.request
    }

    /// The current status.
    pub fn status(&self) -> Status {
        match &self.state {
            State::RingingDesk { .. } | State::CancellingDesk(_) => Status::RingingYou,
            State::RingingTarget { .. } => Status::RingingThem,
            State::Connected => Status::Connected,
            State::Ending(r) | State::Ended(r) => Status::Ended(*r),
        }
    }

    /// Whether nothing is left to do.
    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Ended(_))
    }

    /// The next action.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When [`ClickToCall::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::RingingDesk { deadline } | State::RingingTarget { deadline } => Some(deadline),
            _ => None,
        }
    }

    /// Fires the ring timeouts.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last = now;
        match self.state {
            State::RingingDesk { deadline } if deadline <= now => {
                debug!("desk did not answer: CANCEL");
                self.actions.push_back(Action::CancelDesk);
                self.state = State::CancellingDesk(EndReason::NoAnswer);
            }
            State::RingingTarget { deadline } if deadline <= now => {
                debug!("target did not answer while the desk could wait");
                self.actions.push_back(Action::CancelTarget);
                self.reject_and_bye(EndReason::TargetFailed(408));
            }
            _ => {}
        }
    }

    /// Feeds one event.
    pub fn handle(&mut self, now: Instant, event: Event) {
        self.last = now;
        match event {
            Event::DeskResponse(response) => self.on_desk_response(now, response),
            Event::DeskRequestFailed(method) => self.on_desk_failed(method),
            Event::DeskRequest {
                transaction,
                request,
            } => self.on_desk_request(transaction, &request),
            Event::TargetResponse(response) => self.on_target_response(response),
            Event::HangUp => self.hang_up(),
            Event::BridgeEnded => {
                if self.state == State::Connected {
                    self.end(EndReason::Completed);
                }
            }
        }
    }

    // ---- the desk leg -------------------------------------------------------------------

    fn on_desk_response(&mut self, now: Instant, response: Response) {
        let code = response.status_code.code();
        let is_invite = dialog::header_value(&response.headers, "CSeq")
            .is_ok_and(|c| c.to_ascii_uppercase().ends_with("INVITE"));
        if !is_invite {
            // Our BYE's response.
            if code >= 200 {
                if let State::Ending(reason) = self.state {
                    self.state = State::Ended(reason);
                }
            }
            return;
        }
        match (code, self.state.clone()) {
            (100..=199, _) => {}
            (200..=299, State::RingingDesk { .. }) => self.on_desk_answer(now, &response),
            (200..=299, State::CancellingDesk(reason)) => {
                // The 2xx crossed our CANCEL: the dialog exists and must be ended (§15).
                if self.confirm_desk(&response) {
                    self.reject_and_bye(reason);
                } else {
                    self.end(reason);
                }
            }
            (200..=299, _) => {
                // A retransmitted 2xx: our ACK got lost (§13.2.2.4: ACK every 2xx).
                if let Some(ack) = self.ack.clone() {
                    self.send_ack(ack);
                }
            }
            (_, State::RingingDesk { .. }) => self.end(EndReason::Declined(code)),
            (_, State::CancellingDesk(reason)) => self.end(reason),
            _ => {}
        }
    }

    /// The desk answered: its 2xx must carry the offer (Flow I, message 2).
    fn on_desk_answer(&mut self, now: Instant, response: &Response) {
        if !self.confirm_desk(response) {
            self.end(EndReason::Unreachable);
            return;
        }
        self.offer = body_of(&response.headers, &response.body);
        let (Some(offer), Some(dialog)) = (self.offer.clone(), self.dialog.clone()) else {
            debug!("desk answered without an SDP offer");
            self.ack_desk(None);
            self.bye_desk(EndReason::NoOffer);
            return;
        };
        let invite = self.target_invite(&dialog, &offer);
        self.state = State::RingingTarget {
            deadline: now + TARGET_WAIT,
        };
        self.target_started = true;
        self.actions
            .push_back(Action::StartTarget(Box::new(invite)));
        self.actions.push_back(Action::Status(Status::RingingThem));
    }

    /// Builds our dialog with the desk from its 2xx; false if the 2xx is unusable.
    fn confirm_desk(&mut self, response: &Response) -> bool {
        match Dialog::from_uac(&self.invite, response) {
            Ok(d) => {
                self.dialog = Some(d);
                true
            }
            Err(error) => {
                debug!(%error, "unusable 2xx from the desk");
                false
            }
        }
    }

    fn on_desk_failed(&mut self, method: Method) {
        match (method, self.state.clone()) {
            (Method::Invite, State::RingingDesk { .. }) => self.end(EndReason::Unreachable),
            (Method::Invite, State::CancellingDesk(reason)) => self.end(reason),
            (Method::Bye, State::Ending(reason)) => self.state = State::Ended(reason),
            _ => {}
        }
    }

    /// A request from the desk while the target rings (after the bridge the B2BUA's call gets
    /// them).
    fn on_desk_request(&mut self, transaction: TransactionId, request: &Request) {
        let code = match request.method {
            Method::Bye if matches!(self.state, State::RingingTarget { .. }) => {
                // The desk gave up (or never got our ACK): the target call is cancelled.
                self.actions.push_back(Action::CancelTarget);
                self.end(EndReason::YouHungUp);
                200
            }
            Method::Bye => 200,
            // §14.1: our answer to its offer is still to come.
            Method::Invite | Method::Update => 491,
            _ => 481,
        };
        let mut response = response_to(request, code, None);
        response.headers.push(Header::Server(headers::Server::new(
            self.config.server.clone(),
        )));
        self.actions.push_back(Action::Respond {
            transaction,
            response,
        });
    }

    // ---- the target side ----------------------------------------------------------------

    fn on_target_response(&mut self, response: Response) {
        let code = response.status_code.code();
        match (code, self.state.clone()) {
            (100..=199, _) => {}
            (200..=299, State::RingingTarget { .. }) => {
                // Flow I, messages 4–6: the target's answer goes to the desk in our ACK.
                let answer = body_of(&response.headers, &response.body);
                self.ack_desk(answer);
                self.state = State::Connected;
                self.actions.push_back(Action::Status(Status::Connected));
            }
            (200..=299, State::Connected) => {
                // The B2BUA retransmits its 2xx until it hears of our ACK.
                if let Some(ack) = self.ack.clone() {
                    self.actions.push_back(Action::TargetAcked(Box::new(ack)));
                }
            }
            (200..=299, _) => {
                // Answered after the desk left: the bridged call must end at once.
                self.actions.push_back(Action::HangUpBridge);
            }
            (_, State::RingingTarget { .. }) => self.reject_and_bye(EndReason::TargetFailed(code)),
            _ => {}
        }
    }

    fn hang_up(&mut self) {
        match self.state {
            State::RingingDesk { .. } => {
                self.actions.push_back(Action::CancelDesk);
                self.state = State::CancellingDesk(EndReason::HungUp);
            }
            State::RingingTarget { .. } => {
                self.actions.push_back(Action::CancelTarget);
                self.reject_and_bye(EndReason::HungUp);
            }
            State::Connected => {
                self.actions.push_back(Action::HangUpBridge);
                self.end(EndReason::HungUp);
            }
            _ => {}
        }
    }

    // ---- helpers ------------------------------------------------------------------------

    /// The target INVITE: the desk's offer, in a request shaped as if the desk had sent it.
    fn target_invite(&self, dialog: &Dialog, offer: &(String, Vec<u8>)) -> Request {
        let domain = &self.config.domain;
        let desk = &self.request.desk;
        let transport = match desk.transport {
            TransportKind::Udp => "UDP",
            TransportKind::Tcp => "TCP",
        };
        let mut headers: Vec<Header> = vec![
            Header::Via(headers::Via::new(format!(
                "SIP/2.0/{transport} {};branch={}",
                desk.destination,
                message::new_branch()
            ))),
            Header::MaxForwards(headers::MaxForwards::new("70")),
            Header::From(headers::From::new(format!(
                "<sip:{}@{domain}>;tag={}",
                desk.sip_username, dialog.remote_tag
            ))),
            // Our tag is already on To: the B2BUA answers with it (the dialog is ours).
            Header::To(headers::To::new(format!(
                "<sip:{}@{domain}>;tag={}",
                self.request.to, dialog.local_tag
            ))),
            Header::CallId(headers::CallId::new(dialog.call_id.clone())),
            Header::CSeq(headers::CSeq::new("0 INVITE")),
            Header::Contact(headers::Contact::new(format!("<{}>", dialog.remote_target))),
        ];
        // A UAS's route set is Record-Route in order, a UAC's reversed (§12.1.1, §12.1.2).
        for route in dialog.route_set.iter().rev() {
            headers.push(Header::RecordRoute(headers::RecordRoute::new(
                route.clone(),
            )));
        }
        headers.push(Header::ContentType(headers::ContentType::new(
            offer.0.clone(),
        )));
        headers.push(Header::ContentLength(headers::ContentLength::new(
            offer.1.len().to_string(),
        )));
        let uri = rsip::Uri::try_from(format!("sip:{}@{domain}", self.request.to).as_str())
            .unwrap_or_default();
        Request {
            method: Method::Invite,
            uri,
            version: rsip::Version::V2,
            headers: headers.into(),
            body: offer.1.clone(),
        }
    }

    /// ACKs the desk's 2xx with `answer` in it (§13.2.2.4; the offer was in the 2xx, so the
    /// answer must be in the ACK, RFC 3264 §4 / RFC 3261 §13.2.1).
    fn ack_desk(&mut self, answer: Option<(String, Vec<u8>)>) {
        let Some(dialog) = &self.dialog else { return };
        let Ok(mut ack) = dialog.ack(0, &via(&self.config, self.request.desk.transport)) else {
            return;
        };
        if let Some((content_type, body)) = answer {
            let mut headers: Vec<Header> = ack
                .headers
                .iter()
                .filter(|h| !matches!(h, Header::ContentLength(_) | Header::ContentType(_)))
                .cloned()
                .collect();
            headers.push(Header::ContentType(headers::ContentType::new(content_type)));
            headers.push(Header::ContentLength(headers::ContentLength::new(
                body.len().to_string(),
            )));
            ack.headers = headers.into();
            ack.body = body;
        }
        self.ack = Some(ack.clone());
        self.send_ack(ack.clone());
        self.actions.push_back(Action::TargetAcked(Box::new(ack)));
    }

    fn send_ack(&mut self, ack: Request) {
        self.actions.push_back(Action::SendAck {
            request: ack,
            destination: self.request.desk.destination,
            transport: self.request.desk.transport,
        });
    }

    /// The desk's 2xx is acknowledged with an answer refusing its streams (nothing is played),
    /// then the desk is hung up.
    fn reject_and_bye(&mut self, reason: EndReason) {
        if self.ack.is_none() {
            let answer = self
                .offer
                .as_ref()
                .map(|(t, offer)| (t.clone(), reject_all(offer)));
            self.ack_desk(answer);
        }
        self.bye_desk(reason);
    }

    fn bye_desk(&mut self, reason: EndReason) {
        let via = via(&self.config, self.request.desk.transport);
        let bye = self
            .dialog
            .as_mut()
            .and_then(|d| d.request(Method::Bye, &via).ok());
        let Some(bye) = bye else {
            self.end(reason);
            return;
        };
        self.actions.push_back(Action::SendRequest {
            request: bye,
            destination: self.request.desk.destination,
            transport: self.request.desk.transport,
        });
        self.record_failure(reason);
        self.state = State::Ending(reason);
        self.actions
            .push_back(Action::Status(Status::Ended(reason)));
    }

    fn end(&mut self, reason: EndReason) {
        if !matches!(self.state, State::Ending(_)) {
            self.record_failure(reason);
            self.actions
                .push_back(Action::Status(Status::Ended(reason)));
        }
        self.state = State::Ended(reason);
    }

    /// The user's history shows a click-to-call that never got to the target (once the target
    /// is called, the B2BUA's call writes the rows, like for any call).
    fn record_failure(&mut self, reason: EndReason) {
        if self.target_started || self.recorded {
            return;
        }
        self.recorded = true;
        let ended_at = self.started_wall
            + chrono::Duration::from_std(self.last.saturating_duration_since(self.started))
                .unwrap_or_default();
        self.actions.push_back(Action::Record(CallData {
            user_id: UserId(self.request.user_id),
            direction: CallDirection::Out,
            other_number: self.request.to.clone(),
            other_name: None,
            started_at: self.started_wall,
            answered_at: None,
            ended_at: Some(ended_at),
            route: Some(format!("click-to-call:{}", reason.code())),
        }));
    }
}

/// A message's body with its Content-Type, if it has one.
fn body_of(headers: &rsip::Headers, body: &[u8]) -> Option<(String, Vec<u8>)> {
    if body.is_empty() {
        return None;
    }
    headers.iter().find_map(|h| match h {
        Header::ContentType(c) => Some((c.value().to_owned(), body.to_vec())),
        _ => None,
    })
}

/// An SDP answer refusing every stream of `offer`: same m-lines, port 0 (RFC 3264 §6: "an
/// offered stream MAY be rejected in the answer ... by setting the port to zero").
pub fn reject_all(offer: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(offer);
    let mut out = String::from(
        "v=0\r\no=onestatus 0 0 IN IP4 0.0.0.0\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n",
    );
    for line in text.lines().filter(|l| l.starts_with("m=")) {
        let mut parts = line[2..].split_whitespace();
        let (Some(media), Some(_port), Some(proto), Some(format)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        out.push_str(&format!("m={media} 0 {proto} {format}\r\n"));
    }
    out.into_bytes()
}

#[cfg(test)]
#[path = "click_to_call_tests.rs"]
mod tests;
