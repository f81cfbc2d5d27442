//! The seam between the SIP side and the voicemail IVR drivers: a call we answered ourselves
//! (deposit or retrieval), with its media session and the signals that cross between the two.
//!
//! The SIP task answers the INVITE (SDP answer from the media engine), keeps the dialog, and
//! turns in-dialog requests into [`LegEvent`]s; the IVR driver runs the sans-I/O state machine
//! over the [`MediaHandle`] and asks the SIP side for what only it can do via [`LegCommand`]s.
//!
//! The second half of the file is that SIP side: [`answer`] takes the caller's INVITE (from
//! the B2BUA's voicemail hand-off, or a call to the access number), opens the RTP session,
//! answers 200 with our SDP in the caller's dialog (§12.1.1), retransmits it until the ACK
//! (§13.3.1.4) and spawns the driver. In-dialog BYE and INFO become [`LegEvent`]s; the
//! driver's [`LegCommand`]s come back into the SIP loop as `Completion`s and become BYE,
//! REFER (RFC 3515) or message-waiting NOTIFYs (RFC 3842). A CANCEL can only reach a call
//! before the answer, while the B2BUA still owns it (487 there); we answer synchronously.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rsip::headers::UntypedHeader;
use rsip::{Header, Method};
use tokio::sync::mpsc;
use tracing::{debug, info, warn, Instrument, Span};

use super::sip_service::{reply, Completion, SipService, SERVER};
use crate::b2bua::VoicemailRequest;
use crate::clock::Clock;
use crate::ivr::RetrieveSetup;
use crate::media::decode::PromptCache;
use crate::media::dtmf::{parse_info_body, Digit, InfoDtmfError};
use crate::media::engine::{MediaEngine, MediaHandle};
use crate::media::sdp::SessionDescription;
use crate::notify::{MwiConfig, MwiNotifier, MwiTarget, Notifier};
use crate::presence::Presence;
use crate::sip::dialog::{self, Dialog};
use crate::sip::message;
use crate::sip::transaction::fields::response_to;
use crate::sip::transaction::{TransactionId, TransportKind};
use crate::store::model::UserId;
use crate::store::Store;

/// What the SIP side tells the IVR driver about the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegEvent {
    /// The caller hung up (BYE or CANCEL). The driver must still finish its work: a message
    /// being recorded is saved (CONTRIBUTING.md rule 12).
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
    /// The user's message counts changed: send message-waiting NOTIFYs (RFC 3842) to the
    /// user's registered phones.
    MessageWaiting {
        /// The mailbox owner (store id).
        user_id: i64,
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
    pub voicemail: super::voicemail::VoicemailShared,
}

// ---- the SIP side: answering for an IVR and keeping the dialog ------------------------------

/// Key of an answered IVR leg in the SIP task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LegKey(u64);

/// Which IVR answers the call.
#[derive(Debug)]
pub enum IvrKind {
    /// The caller leaves a message (the B2BUA's hand-off).
    Deposit(Box<VoicemailRequest>),
    /// The caller listens to their messages.
    Retrieve(RetrieveSetup),
}

/// What the SIP task needs to answer calls itself: the media engine and the drivers' deps.
pub struct IvrRuntime {
    /// Opens an RTP session per answered call.
    pub media: MediaEngine,
    /// Handed to every driver.
    pub deps: IvrDeps,
    /// Numbers the message-waiting NOTIFYs (one CSeq space); built on first use.
    mwi: Option<MwiNotifier>,
}

impl IvrRuntime {
    /// The runtime over a started media engine.
    pub fn new(media: MediaEngine, deps: IvrDeps) -> Self {
        IvrRuntime {
            media,
            deps,
            mwi: None,
        }
    }
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

/// §13.3.1.4: our 2xx is retransmitted "starting with T1 seconds and doubling until it
/// reaches T2", for 64·T1, until the ACK arrives.
#[derive(Debug, Clone, Copy)]
struct Retransmit {
    next: Instant,
    interval: Duration,
    give_up: Instant,
}

/// One call we answered, as the SIP task keeps it.
struct AnsweredLeg {
    dialog: Dialog,
    transaction: TransactionId,
    answer: rsip::Response,
    retransmit: Option<Retransmit>,
    acked: bool,
    source: SocketAddr,
    transport: TransportKind,
    /// To the driver; dropped when the dialog ends, which the driver reads as a hang-up.
    events: mpsc::Sender<LegEvent>,
    span: Span,
    /// The IVR wants the call ended but our 2xx is not yet ACKed; §15: "the callee's UA MUST
    /// NOT send a BYE on a confirmed dialog until it has received an ACK for its 2xx response
    /// or until the server transaction times out".
    bye_after_ack: bool,
    /// A BYE or REFER of ours is under way; nothing more is sent in the dialog.
    ending: bool,
    /// Our SDP as last answered, for session refreshes (RFC 4028) and unchanged offers.
    local_sdp: String,
    /// The `o=` version of the caller's last offer (RFC 3264 §8: unchanged means the same
    /// session).
    remote_version: Option<u64>,
    /// A changed offer the driver is answering: its id, the server transaction, the request
    /// and its `o=` version.
    pending: Option<PendingOffer>,
    /// Ids for [`LegEvent::Offer`].
    next_offer: u64,
}

/// A re-INVITE/UPDATE waiting for the driver's answer.
struct PendingOffer {
    id: u64,
    transaction: TransactionId,
    request: rsip::Request,
    version: u64,
}

/// The answered IVR legs and the indexes that lead SIP events to them.
#[derive(Default)]
pub struct IvrLegs {
    legs: HashMap<LegKey, AnsweredLeg>,
    by_call_id: HashMap<String, LegKey>,
    /// Our client transactions in the legs' dialogs (BYE, REFER).
    by_transaction: HashMap<TransactionId, (LegKey, Method)>,
    next: u64,
}

impl IvrLegs {
    /// The earliest 2xx retransmission or give-up.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.legs
            .values()
            .filter_map(|l| l.retransmit.map(|r| r.next.min(r.give_up)))
            .min()
    }

    /// Whether a Call-ID belongs to an answered IVR leg.
    pub fn owns(&self, call_id: &str) -> bool {
        self.by_call_id.contains_key(call_id)
    }

    fn forget(&mut self, key: LegKey) {
        if let Some(leg) = self.legs.remove(&key) {
            self.by_call_id.remove(&leg.dialog.call_id);
        }
        self.by_transaction.retain(|_, (k, _)| *k != key);
    }
}

/// The store's answer for a message-waiting update.
#[derive(Debug)]
pub struct MwiLookup {
    /// The mailbox owner.
    pub user_id: i64,
    /// Unheard messages.
    pub new: u32,
    /// Heard or saved messages.
    pub old: u32,
    /// The owner's registered contacts.
    pub targets: Vec<MwiTarget>,
}

/// The address our answers and requests carry (Via sent-by, Contact).
fn sent_by(service: &SipService) -> String {
    service
        .local_address()
        .map_or_else(|| service.config.sip.domain.clone(), |a| a.to_string())
}

/// The IP written in our SDP's `c=`: the SIP socket's, or, when it listens on a wildcard
/// address, the one the caller addressed the INVITE to.
fn media_ip(service: &SipService, invite: &rsip::Request) -> IpAddr {
    if let Some(ip) = service
        .local_address()
        .map(|a| a.ip())
        .filter(|ip| !ip.is_unspecified())
    {
        return ip;
    }
    let host = invite.uri.host_with_port.host.to_string();
    host.trim_matches(['[', ']'])
        .parse()
        .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))
}

fn via(service: &SipService, transport: TransportKind) -> String {
    let transport = match transport {
        TransportKind::Udp => "UDP",
        TransportKind::Tcp => "TCP",
    };
    format!(
        "SIP/2.0/{transport} {};branch={};rport",
        sent_by(service),
        message::new_branch()
    )
}

/// Answers the caller's INVITE ourselves and starts the IVR: an RTP session answering the
/// offer (RFC 3264), 200 OK with our SDP in the caller's dialog, the driver task.
///
/// An INVITE without an offer gets 488: offer-less INVITEs (the offer in our 2xx, the answer
/// in the ACK) are not supported here. An offer the engine cannot answer gets the status the
/// SDP error names (488), a full port range 503.
pub fn answer(service: &mut SipService, call: Answer, kind: IvrKind) {
    let span = tracing::info_span!("ivr", call_id = %call.call_id);
    let _enter = span.enter();
    let Some(ivr) = service.ivr.as_ref() else {
        reject(service, &call, 480, "voicemail not available");
        return;
    };
    if call.invite.body.is_empty() {
        reject(service, &call, 488, "no SDP offer");
        return;
    }
    let offer = match SessionDescription::parse(&String::from_utf8_lossy(&call.invite.body)) {
        Ok(offer) => offer,
        Err(error) => {
            info!(%error, "SDP offer not usable");
            reject(service, &call, error.sip_status(), "SDP offer not usable");
            return;
        }
    };
    let ip = media_ip(service, &call.invite);
    let (media, sdp) = match ivr.media.open_session(&offer, ip) {
        Ok(opened) => opened,
        Err(error) => {
            warn!(%error, "no media session for the IVR");
            reject(service, &call, error.sip_status(), "no media");
            return;
        }
    };
    let dialog = match Dialog::from_uas(&call.invite, &call.local_tag) {
        Ok(dialog) => dialog,
        Err(error) => {
            // §8.1.1.8: an INVITE MUST carry a Contact; without it there is no dialog to keep.
            info!(%error, "INVITE cannot start a dialog");
            reject(service, &call, 400, "no dialog");
            return;
        }
    };
    let deps = ivr.deps.clone();
    let sent_by = sent_by(service);
    let body = sdp.to_string().into_bytes();
    let mut response = response_to(&call.invite, 200, Some(&call.local_tag));
    let mut headers: Vec<Header> = response
        .headers
        .iter()
        .filter(|h| !matches!(h, Header::ContentLength(_) | Header::ContentType(_)))
        .cloned()
        .collect();
    // §12.1.1: Record-Route copied, a Contact for the dialog's remote target.
    for h in call.invite.headers.iter() {
        if let Header::RecordRoute(_) = h {
            headers.push(h.clone());
        }
    }
    headers.push(Header::Contact(rsip::headers::Contact::new(format!(
        "<sip:onestatus@{sent_by}>"
    ))));
    headers.push(crate::sip::message::allow_header());
    headers.push(Header::Server(rsip::headers::Server::new(SERVER)));
    headers.push(Header::ContentType(rsip::headers::ContentType::new(
        "application/sdp",
    )));
    headers.push(Header::ContentLength(rsip::headers::ContentLength::new(
        body.len().to_string(),
    )));
    response.headers = headers.into();
    response.body = body;

    let key = LegKey(service.ivr_legs.next);
    service.ivr_legs.next += 1;
    let (events_tx, events_rx) = mpsc::channel(32);
    let (commands_tx, mut commands_rx) = mpsc::channel::<LegCommand>(32);
    let now = service.instant();
    let t1 = service.config.sip.t1;
    let retransmit = (!call.transport.is_reliable()).then(|| Retransmit {
        next: now + t1,
        interval: t1,
        give_up: now + t1 * 64,
    });
    service
        .ivr_legs
        .by_call_id
        .insert(call.call_id.clone(), key);
    service.ivr_legs.legs.insert(
        key,
        AnsweredLeg {
            dialog,
            transaction: call.transaction,
            answer: response.clone(),
            retransmit,
            acked: false,
            source: call.source,
            transport: call.transport,
            events: events_tx,
            span: span.clone(),
            bye_after_ack: false,
            ending: false,
            local_sdp: sdp.to_string(),
            remote_version: Some(offer.origin.session_version),
            pending: None,
            next_offer: 0,
        },
    );
    service.respond(call.transaction, response);
    info!(rtp = %media.local_addr(), "answered for the IVR");

    // The leg's commands come back into the SIP loop tagged with the leg; when the driver
    // ends, `LegDone` makes sure the call ends too.
    let completions = service.completions.clone();
    tokio::spawn(async move {
        while let Some(command) = commands_rx.recv().await {
            if completions
                .send(Completion::Leg(key, command))
                .await
                .is_err()
            {
                return;
            }
        }
        let _ = completions.send(Completion::LegDone(key)).await;
    });
    let leg = IvrLeg {
        call_id: call.call_id.clone(),
        media,
        events: events_rx,
        commands: commands_tx,
    };
    // The drain guard lives as long as the driver: a message being saved holds the shutdown.
    let guard = service.shutdown.as_ref().map(|s| s.call_started());
    tokio::spawn(
        async move {
            match kind {
                IvrKind::Deposit(request) => {
                    super::voicemail::run_deposit(leg, *request, deps).await;
                }
                IvrKind::Retrieve(setup) => super::mailbox::run_retrieve(leg, setup, deps).await,
            }
            drop(guard);
        }
        .instrument(span.clone()),
    );
}

fn reject(service: &mut SipService, call: &Answer, code: u16, why: &str) {
    info!(code, why, "IVR call refused");
    let mut response = response_to(&call.invite, code, Some(&call.local_tag));
    response.status_code = rsip::StatusCode::Other(code, message::canonical_reason(code).into());
    if code == 488 {
        // RFC 3261 §21.4.26: say what would be acceptable.
        response.headers.push(Header::Other(
            "Warning".into(),
            "304 onestatus \"Media type not available\"".into(),
        ));
    }
    response
        .headers
        .push(Header::Server(rsip::headers::Server::new(SERVER)));
    service.respond(call.transaction, response);
}

/// The caller's ACK for our 2xx: stop retransmitting. False when no IVR leg has the Call-ID.
pub fn on_ack(service: &mut SipService, request: &rsip::Request) -> bool {
    let Ok(call_id) = dialog::header_value(&request.headers, "Call-ID") else {
        return false;
    };
    let Some(&key) = service.ivr_legs.by_call_id.get(&call_id) else {
        return false;
    };
    let Some(leg) = service.ivr_legs.legs.get_mut(&key) else {
        return false;
    };
    leg.acked = true;
    leg.retransmit = None;
    if leg.bye_after_ack {
        send_bye(service, key);
    }
    true
}

/// A request inside an answered IVR leg's dialog (the Call-ID is one of ours).
pub fn on_in_dialog(service: &mut SipService, transaction: TransactionId, request: rsip::Request) {
    let call_id = dialog::header_value(&request.headers, "Call-ID").unwrap_or_default();
    let from_tag = tag_of(&request, "From");
    let to_tag = tag_of(&request, "To");
    let Some(&key) = service.ivr_legs.by_call_id.get(&call_id) else {
        respond(service, transaction, &request, 481, None);
        return;
    };
    let Some(leg) = service.ivr_legs.legs.get_mut(&key) else {
        respond(service, transaction, &request, 481, None);
        return;
    };
    let span = leg.span.clone();
    let _enter = span.enter();
    if !leg.dialog.matches_request(&call_id, &from_tag, &to_tag) {
        // §12.2.2: no dialog matches.
        respond(service, transaction, &request, 481, None);
        return;
    }
    if let Ok(cseq) = dialog::cseq_number(&request.headers) {
        if leg.dialog.accept_remote_cseq(cseq).is_err() {
            // §12.2.2: out of order.
            respond(service, transaction, &request, 500, None);
            return;
        }
    }
    match request.method {
        Method::Bye => {
            respond(service, transaction, &request, 200, None);
            info!("caller hung up (BYE)");
            if let Some(leg) = service.ivr_legs.legs.get(&key) {
                let _ = leg.events.try_send(LegEvent::Hangup);
            }
            service.ivr_legs.forget(key);
        }
        Method::Info => on_info(service, key, transaction, &request),
        Method::Notify => {
            // Progress of our REFER (RFC 3515 §2.4.5); the call ends on the REFER's answer, so
            // the report is only acknowledged.
            respond(service, transaction, &request, 200, None);
        }
        Method::Invite | Method::Update => on_offer(service, key, transaction, request),
        _ => respond(service, transaction, &request, 501, None),
    }
}

/// A re-INVITE (RFC 3261 §14) or UPDATE (RFC 3311) in an answered leg: a session refresh
/// (RFC 4028) or a hold from the caller's phone. Without an offer, or with an offer whose `o=`
/// version is the one we answered (RFC 3264 §8: the same session), the answer is 200 with our
/// SDP as it was, same version (an UPDATE without an offer gets 200 without a body, RFC 3311
/// §5.2). A changed offer goes to the driver, whose media session follows it on the same
/// port ([`answer_offer`]); while it does, a second offer gets 491 (§14.2).
fn on_offer(
    service: &mut SipService,
    key: LegKey,
    transaction: TransactionId,
    request: rsip::Request,
) {
    let Some(leg) = service.ivr_legs.legs.get_mut(&key) else {
        respond(service, transaction, &request, 481, None);
        return;
    };
    if leg.pending.is_some() {
        respond(service, transaction, &request, 491, None);
        return;
    }
    if request.body.is_empty() {
        let body = (request.method == Method::Invite).then(|| leg.local_sdp.clone());
        let response = refresh_answer(service, &request, body);
        service.respond(transaction, response);
        return;
    }
    let offer = match SessionDescription::parse(&String::from_utf8_lossy(&request.body)) {
        Ok(offer) => offer,
        Err(error) => {
            info!(%error, "new offer not usable; the session stays as it was");
            respond(service, transaction, &request, error.sip_status(), None);
            return;
        }
    };
    let version = offer.origin.session_version;
    if leg.remote_version == Some(version) {
        debug!(method = %request.method, "same session: answered as before");
        let body = Some(leg.local_sdp.clone());
        let response = refresh_answer(service, &request, body);
        service.respond(transaction, response);
        return;
    }
    let id = leg.next_offer;
    leg.next_offer += 1;
    let sent = leg.events.try_send(LegEvent::Offer {
        id,
        offer: Box::new(offer),
    });
    if sent.is_err() {
        respond(service, transaction, &request, 500, None);
        return;
    }
    info!(method = %request.method, "new offer: the media session follows it");
    leg.pending = Some(PendingOffer {
        id,
        transaction,
        request,
        version,
    });
}

/// The driver's answer to a changed offer: 200 with the new SDP, or 488.
fn offer_answered(service: &mut SipService, key: LegKey, id: u64, sdp: Option<String>) {
    let Some(leg) = service.ivr_legs.legs.get_mut(&key) else {
        return;
    };
    let Some(pending) = leg.pending.take_if(|p| p.id == id) else {
        return;
    };
    match sdp {
        Some(sdp) => {
            leg.local_sdp = sdp.clone();
            leg.remote_version = Some(pending.version);
            let response = refresh_answer(service, &pending.request, Some(sdp));
            service.respond(pending.transaction, response);
        }
        None => respond(service, pending.transaction, &pending.request, 488, None),
    }
}

/// 200 to a re-INVITE/UPDATE: Contact (the dialog's remote target, §12.2.2), our SDP when
/// given, and the session timer echoed (RFC 4028 §9: a UAS that supports timers copies
/// Session-Expires into the 2xx, the refresher being the caller unless it said otherwise, and
/// then requires "timer").
fn refresh_answer(
    service: &SipService,
    request: &rsip::Request,
    body: Option<String>,
) -> rsip::Response {
    let mut response = reply(request, 200, None);
    let mut headers: Vec<Header> = response
        .headers
        .iter()
        .filter(|h| !matches!(h, Header::ContentLength(_) | Header::ContentType(_)))
        .cloned()
        .collect();
    headers.push(Header::Contact(rsip::headers::Contact::new(format!(
        "<sip:onestatus@{}>",
        sent_by(service)
    ))));
    if let Ok(expires) = dialog::header_value(&request.headers, "Session-Expires") {
        let value = if expires.to_ascii_lowercase().contains("refresher=") {
            expires
        } else {
            format!("{expires};refresher=uac")
        };
        headers.push(Header::Other("Session-Expires".into(), value));
        headers.push(Header::Require(rsip::headers::Require::new("timer")));
    }
    let body = body.unwrap_or_default().into_bytes();
    if !body.is_empty() {
        headers.push(Header::ContentType(rsip::headers::ContentType::new(
            "application/sdp",
        )));
    }
    headers.push(Header::ContentLength(rsip::headers::ContentLength::new(
        body.len().to_string(),
    )));
    response.headers = headers.into();
    response.body = body;
    response
}

/// INFO with a key press (`application/dtmf-relay` or `application/dtmf`): 200 and a
/// [`LegEvent::Digit`]; another body type gets 415 with Accept (RFC 6086 §4.2.2), a body that
/// names no key 400.
fn on_info(
    service: &mut SipService,
    key: LegKey,
    transaction: TransactionId,
    request: &rsip::Request,
) {
    let content_type = request
        .headers
        .iter()
        .find_map(|h| match h {
            Header::ContentType(c) => Some(c.value().to_owned()),
            _ => None,
        })
        .unwrap_or_default();
    if request.body.is_empty() {
        // An empty INFO is a keep-alive probe some phones send.
        respond(service, transaction, request, 200, None);
        return;
    }
    let body = String::from_utf8_lossy(&request.body);
    match parse_info_body(&content_type, &body) {
        Ok(info) => {
            respond(service, transaction, request, 200, None);
            debug!(digit = %info.digit.as_char(), "key pressed (INFO)");
            if let Some(leg) = service.ivr_legs.legs.get(&key) {
                let _ = leg.events.try_send(LegEvent::Digit(info.digit));
            }
        }
        Err(InfoDtmfError::UnsupportedContentType) => {
            respond(
                service,
                transaction,
                request,
                415,
                Some(("Accept", "application/dtmf-relay, application/dtmf")),
            );
        }
        Err(error) => {
            debug!(%error, "INFO names no key");
            respond(service, transaction, request, 400, None);
        }
    }
}

fn respond(
    service: &mut SipService,
    transaction: TransactionId,
    request: &rsip::Request,
    code: u16,
    extra: Option<(&str, &str)>,
) {
    let mut response = reply(request, code, None);
    if let Some((name, value)) = extra {
        response
            .headers
            .push(Header::Other(name.to_owned(), value.to_owned()));
    }
    service.respond(transaction, response);
}

fn tag_of(request: &rsip::Request, header: &'static str) -> String {
    dialog::header_value(&request.headers, header)
        .ok()
        .and_then(|v| dialog::split_tag(&v).1)
        .unwrap_or_default()
}

/// A command from a leg's driver.
pub fn on_command(service: &mut SipService, key: LegKey, command: LegCommand) {
    match command {
        LegCommand::HangUp => end_call(service, key),
        LegCommand::Transfer { number } => transfer(service, key, &number),
        LegCommand::MessageWaiting { user_id } => message_waiting(service, user_id),
        LegCommand::Answer { id, sdp } => offer_answered(service, key, id, sdp),
    }
}

/// The driver has ended: the call ends with it, whatever the driver said last.
pub fn on_done(service: &mut SipService, key: LegKey) {
    end_call(service, key);
}

/// BYE in the dialog, once the ACK allows it.
fn end_call(service: &mut SipService, key: LegKey) {
    let Some(leg) = service.ivr_legs.legs.get_mut(&key) else {
        return;
    };
    if leg.ending {
        return;
    }
    if !leg.acked && leg.retransmit.is_some() {
        leg.bye_after_ack = true;
        return;
    }
    send_bye(service, key);
}

fn send_bye(service: &mut SipService, key: LegKey) {
    let via = {
        let Some(leg) = service.ivr_legs.legs.get(&key) else {
            return;
        };
        via(service, leg.transport)
    };
    let Some(leg) = service.ivr_legs.legs.get_mut(&key) else {
        return;
    };
    let span = leg.span.clone();
    let _enter = span.enter();
    leg.retransmit = None;
    leg.bye_after_ack = false;
    leg.ending = true;
    let _ = leg.events.try_send(LegEvent::Hangup);
    let (destination, transport) = (leg.source, leg.transport);
    let bye = match leg.dialog.request(Method::Bye, &via) {
        Ok(bye) => bye,
        Err(error) => {
            warn!(%error, "cannot build BYE towards the caller");
            service.ivr_legs.forget(key);
            return;
        }
    };
    info!("ending the call (BYE)");
    send_in_dialog(service, key, bye, destination, transport);
}

/// Blind transfer by REFER (RFC 3515): the caller's phone calls `number` itself, with our
/// address as the host so the new INVITE reaches us and is routed like any call. Once the
/// REFER is answered, whatever the answer, we leave the dialog with BYE: on 202 the phone has
/// taken over the transfer; on a refusal there is nothing else we can do for the caller. This
/// was chosen over bridging a new B2BUA leg to the caller's existing dialog, which would need
/// a re-INVITE towards the caller to move its media from our IVR to the new callee.
fn transfer(service: &mut SipService, key: LegKey, number: &str) {
    let sent_by = sent_by(service);
    let Some(leg) = service.ivr_legs.legs.get(&key) else {
        return;
    };
    let transport = leg.transport;
    let via = via(service, transport);
    let Some(leg) = service.ivr_legs.legs.get_mut(&key) else {
        return;
    };
    let span = leg.span.clone();
    let _enter = span.enter();
    if leg.ending {
        return;
    }
    let number: String = number
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '+')
        .take(32)
        .collect();
    if number.trim_start_matches('+').is_empty() {
        warn!("transfer to no number; ending the call");
        end_call(service, key);
        return;
    }
    let mut refer = match leg.dialog.request(Method::Refer, &via) {
        Ok(refer) => refer,
        Err(error) => {
            warn!(%error, "cannot build REFER; ending the call");
            end_call(service, key);
            return;
        }
    };
    refer.headers.push(Header::Other(
        "Refer-To".into(),
        format!("<sip:{number}@{sent_by}>"),
    ));
    refer.headers.push(Header::Other(
        "Referred-By".into(),
        leg.dialog.local_uri.clone(),
    ));
    refer
        .headers
        .push(Header::Contact(rsip::headers::Contact::new(format!(
            "<sip:onestatus@{sent_by}>"
        ))));
    leg.retransmit = None;
    leg.ending = true;
    let (destination, transport) = (leg.source, leg.transport);
    info!(%number, "transferring the caller (REFER)");
    send_in_dialog(service, key, refer, destination, transport);
}

fn send_in_dialog(
    service: &mut SipService,
    key: LegKey,
    request: rsip::Request,
    destination: SocketAddr,
    transport: TransportKind,
) {
    let now = service.instant();
    let method = request.method;
    match service
        .layer
        .send_request(now, request, destination, transport)
    {
        Ok(tx) => {
            service.ivr_legs.by_transaction.insert(tx, (key, method));
        }
        Err(error) => {
            warn!(%error, %method, "in-dialog request not sent");
            service.ivr_legs.forget(key);
        }
    }
}

/// A response to one of our BYE/REFER; false when the transaction is not an IVR leg's.
pub fn on_response(
    service: &mut SipService,
    transaction: TransactionId,
    response: &rsip::Response,
) -> bool {
    let Some(&(key, method)) = service.ivr_legs.by_transaction.get(&transaction) else {
        return false;
    };
    let code = response.status_code.code();
    if code < 200 {
        return true;
    }
    service.ivr_legs.by_transaction.remove(&transaction);
    match method {
        Method::Refer => {
            if let Some(leg) = service.ivr_legs.legs.get_mut(&key) {
                let span = leg.span.clone();
                let _enter = span.enter();
                if code < 300 {
                    info!(code, "transfer accepted");
                } else {
                    warn!(code, "transfer refused by the caller's phone");
                }
                leg.ending = false;
                leg.acked = true;
            }
            end_call(service, key);
        }
        _ => service.ivr_legs.forget(key),
    }
    true
}

/// Timer F or a transport error on one of our BYE/REFER; false when not an IVR leg's.
pub fn on_transaction_failed(service: &mut SipService, transaction: TransactionId) -> bool {
    let Some((key, method)) = service.ivr_legs.by_transaction.remove(&transaction) else {
        return false;
    };
    if method == Method::Refer {
        if let Some(leg) = service.ivr_legs.legs.get_mut(&key) {
            leg.ending = false;
            leg.acked = true;
        }
        end_call(service, key);
    } else {
        service.ivr_legs.forget(key);
    }
    true
}

/// 2xx retransmissions and the give-up.
pub fn handle_timeout(service: &mut SipService, now: Instant) {
    let due: Vec<LegKey> = service
        .ivr_legs
        .legs
        .iter()
        .filter(|(_, l)| l.retransmit.is_some_and(|r| r.next.min(r.give_up) <= now))
        .map(|(k, _)| *k)
        .collect();
    let t2 = service.config.sip.t2;
    for key in due {
        let Some(leg) = service.ivr_legs.legs.get_mut(&key) else {
            continue;
        };
        let Some(mut r) = leg.retransmit else {
            continue;
        };
        if r.give_up <= now {
            // §13.3.1.4: "If the server retransmits the 2xx response for 64*T1 seconds without
            // receiving an ACK, the dialog is confirmed, but the session SHOULD be terminated.
            // This is accomplished with a BYE."
            let span = leg.span.clone();
            let _enter = span.enter();
            info!("no ACK for our 2xx: ending the call");
            leg.retransmit = None;
            send_bye(service, key);
            continue;
        }
        r.interval = (r.interval * 2).min(t2);
        r.next = now + r.interval;
        leg.retransmit = Some(r);
        let (transaction, answer) = (leg.transaction, leg.answer.clone());
        service.respond(transaction, answer);
    }
}

/// Looks up the user's counts and registered contacts for the message-waiting NOTIFYs; the
/// answer comes back as [`Completion::Mwi`].
fn message_waiting(service: &mut SipService, user_id: i64) {
    let store = service.store.clone();
    let domain = service.config.sip.domain.clone();
    let completions = service.completions.clone();
    let now = service.clock.now();
    tokio::spawn(
        async move {
            let user = UserId(user_id);
            let lookup = async {
                let owner = store.user(user).await?;
                let (new, old) = store.voicemail_counts(user).await?;
                let aor = format!("sip:{}@{domain}", owner.local_number);
                let targets = store
                    .registrations_active(user, now)
                    .await?
                    .iter()
                    .filter_map(|r| MwiTarget::from_stored(&aor, &r.binding))
                    .collect();
                Ok::<_, crate::store::StoreError>(MwiLookup {
                    user_id,
                    new,
                    old,
                    targets,
                })
            };
            match lookup.await {
                Ok(lookup) => {
                    let _ = completions.send(Completion::Mwi(Box::new(lookup))).await;
                }
                Err(error) => warn!(%error, user_id, "message-waiting state not read"),
            }
        }
        .in_current_span(),
    );
}

/// Sends an unsolicited `message-summary` NOTIFY (RFC 3842 §3, as phones configured for MWI
/// without SUBSCRIBE expect) to each registered contact of the user.
pub fn on_mwi(service: &mut SipService, lookup: MwiLookup) {
    let Some(local) = service.local_address() else {
        return;
    };
    let domain = service.config.sip.domain.clone();
    let voicemail_number = service.config.sip.voicemail_number.clone();
    let now = service.instant();
    let Some(ivr) = service.ivr.as_mut() else {
        return;
    };
    let mwi = ivr.mwi.get_or_insert_with(|| {
        MwiNotifier::new(MwiConfig {
            local,
            domain,
            voicemail_number,
            expires_secs: 3600,
        })
    });
    let summary = mwi.summary(lookup.new, lookup.old);
    let mut rng = rand::thread_rng();
    let mut notifies = Vec::new();
    for target in &lookup.targets {
        match mwi.notify(&mut rng, target, &summary) {
            Ok(notify) => notifies.push(notify),
            Err(error) => debug!(%error, "no NOTIFY for this contact"),
        }
    }
    info!(
        user_id = lookup.user_id,
        new = lookup.new,
        old = lookup.old,
        contacts = notifies.len(),
        "message-waiting NOTIFY"
    );
    for notify in notifies {
        if let Err(error) =
            service
                .layer
                .send_request(now, notify.request, notify.destination, notify.transport)
        {
            debug!(%error, "NOTIFY not sent");
        }
    }
}
