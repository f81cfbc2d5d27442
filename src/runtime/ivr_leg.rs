//! The SIP side of a call we answered ourselves for an IVR (deposit or retrieval): an owner
//! in the SIP task's router, which hands it the events of the caller's dialog. The seam to
//! the IVR drivers (what crosses, [`LegEvent`] and [`LegCommand`]) is [`super::leg`]; the
//! drivers run the sans-I/O state machines over the media session and know nothing of SIP.
//!
//! [`answer`] takes the caller's INVITE (from
//! the B2BUA's voicemail hand-off, or a call to the access number), opens the RTP session,
//! answers 200 with our SDP in the caller's dialog (§12.1.1), retransmits it until the ACK
//! (§13.3.1.4) and spawns the driver. In-dialog BYE and INFO become [`LegEvent`]s; the
//! driver's [`LegCommand`]s come back into the SIP loop as `Completion`s and become BYE, a
//! transfer the B2BUA carries (`ivr_leg::transfer`: a new call, then a re-INVITE bridging the caller),
//! REFER (RFC 3515) or message-waiting NOTIFYs (RFC 3842). A CANCEL can only reach a call
//! before the answer, while the B2BUA still owns it (487 there); we answer synchronously.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use rsip::headers::UntypedHeader;
use rsip::{Header, Method};
use tokio::sync::mpsc;
use tracing::{debug, info, warn, Instrument, Span};

pub use super::leg::{answer_offer, Answer, IvrDeps, IvrKind, IvrLeg, LegCommand, LegEvent};
use super::sip::completion::Completion;
use super::sip::context::Context;
pub use super::sip::owners::LegKey;
use super::sip::owners::Owner;
use super::sip::reply::{reply, SERVER};
use crate::config::TransferMode;
use crate::media::dtmf::{parse_info_body, InfoDtmfError};
use crate::media::engine::MediaEngine;
use crate::media::sdp::SessionDescription;
use crate::sip::answer_retransmit::{AnswerDue, AnswerRetransmit};
use crate::sip::dialog::{self, Dialog};
use crate::sip::message;
use crate::sip::transaction::fields::response_to;
use crate::sip::transaction::{TransactionId, TransportKind};

mod transfer;
pub use transfer::{
    leg_of as transfer_leg_of, on_target_response as on_transfer_response, run as run_transfer,
};

// ---- the SIP side: answering for an IVR and keeping the dialog ------------------------------

/// What the SIP task needs to answer calls itself: the media engine and the drivers' deps.
pub struct IvrRuntime {
    /// Opens an RTP session per answered call.
    pub media: MediaEngine,
    /// Handed to every driver.
    pub deps: IvrDeps,
}

impl IvrRuntime {
    /// The runtime over a started media engine.
    pub fn new(media: MediaEngine, deps: IvrDeps) -> Self {
        IvrRuntime { media, deps }
    }
}

/// One call we answered, as the SIP task keeps it.
struct AnsweredLeg {
    dialog: Dialog,
    transaction: TransactionId,
    answer: rsip::Response,
    /// §13.3.1.4: our 2xx until the ACK arrives (unreliable transports only).
    retransmit: Option<AnswerRetransmit>,
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
    /// The caller's last SDP offer (its INVITE's, or a re-INVITE's we accepted): the offer a
    /// transfer's call to the destination carries.
    remote_sdp: Vec<u8>,
    /// Counts the leg's media session in `/metrics` while the leg lives.
    _media_counted: Option<crate::metrics::RtpSessionGuard>,
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
    /// The legs' dialogs. The owner index has them too, except a click-to-call's desk dialog,
    /// which stays with the click-to-call; it finds the leg that answered its call here.
    by_call_id: HashMap<String, LegKey>,
    /// Our client transactions in the legs' dialogs (BYE, REFER), entered in the owner index
    /// too, and their methods.
    by_transaction: HashMap<TransactionId, (LegKey, Method)>,
    next: u64,
    /// Media engine and drivers for the calls we answer ourselves (voicemail); `None`: such
    /// calls get 480.
    runtime: Option<IvrRuntime>,
    /// Transfers out of the IVR carried by the B2BUA ("press 9").
    transfers: transfer::Transfers,
}

impl IvrLegs {
    /// The earliest 2xx retransmission or give-up.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.legs
            .values()
            .filter_map(|l| l.retransmit.map(|r| r.deadline()))
            .chain(self.transfers.poll_timeout())
            .min()
    }

    /// Whether a Call-ID belongs to an answered IVR leg.
    pub fn owns(&self, call_id: &str) -> bool {
        self.by_call_id.contains_key(call_id)
    }

    /// The leg answering the dialog with this Call-ID.
    pub fn leg_of(&self, call_id: &str) -> Option<LegKey> {
        self.by_call_id.get(call_id).copied()
    }

    /// Answers IVR calls with this media engine and these drivers.
    pub fn set_runtime(&mut self, runtime: IvrRuntime) {
        self.runtime = Some(runtime);
    }

    fn forget(&mut self, cx: &mut Context, key: LegKey) {
        let owner = Owner::IvrLeg(key);
        if let Some(leg) = self.legs.remove(&key) {
            self.by_call_id.remove(&leg.dialog.call_id);
            cx.owners.release_dialog(&leg.dialog.call_id, &owner);
        }
        self.by_transaction.retain(|tx, (k, _)| {
            if *k == key {
                if cx.owners.transaction(*tx) == Some(&owner) {
                    cx.owners.release_transaction(*tx);
                }
                false
            } else {
                true
            }
        });
    }
}

/// Answers the caller's INVITE ourselves and starts the IVR: an RTP session answering the
/// offer (RFC 3264), 200 OK with our SDP in the caller's dialog, the driver task.
///
/// An INVITE without an offer gets 488: offer-less INVITEs (the offer in our 2xx, the answer
/// in the ACK) are not supported here. An offer the engine cannot answer gets the status the
/// SDP error names (488), a full port range 503.
pub fn answer(cx: &mut Context, legs: &mut IvrLegs, call: Answer, kind: IvrKind) {
    let span = tracing::info_span!("ivr", call_id = %call.call_id);
    let _enter = span.enter();
    if cx.owners.originated(call.transaction).is_some_and(|id| {
        transfer::leg_of(id).is_some() || crate::runtime::calls::refer_call_of(id).is_some()
    }) {
        // A transfer's destination went to its own voicemail: a caller from our IVR goes back
        // to ours, a REFER's transferee stays with the transferor (`b2bua::transfer`), so this
        // is a no-answer.
        reject(cx, &call, 480, "transfer destination not answering");
        return;
    }
    let Some(ivr) = legs.runtime.as_ref() else {
        reject(cx, &call, 480, "voicemail not available");
        return;
    };
    if call.invite.body.is_empty() {
        reject(cx, &call, 488, "no SDP offer");
        return;
    }
    let offer = match SessionDescription::parse(&String::from_utf8_lossy(&call.invite.body)) {
        Ok(offer) => offer,
        Err(error) => {
            info!(%error, "SDP offer not usable");
            reject(cx, &call, error.sip_status(), "SDP offer not usable");
            return;
        }
    };
    let ip = cx.media_ip(&call.invite);
    let (media, sdp) = match ivr.media.open_session(&offer, ip) {
        Ok(opened) => opened,
        Err(error) => {
            warn!(%error, "no media session for the IVR");
            reject(cx, &call, error.sip_status(), "no media");
            return;
        }
    };
    let dialog = match Dialog::from_uas(&call.invite, &call.local_tag) {
        Ok(dialog) => dialog,
        Err(error) => {
            // §8.1.1.8: an INVITE MUST carry a Contact; without it there is no dialog to keep.
            info!(%error, "INVITE cannot start a dialog");
            reject(cx, &call, 400, "no dialog");
            return;
        }
    };
    let deps = ivr.deps.clone();
    let sent_by = cx.sent_by();
    let body = cx.advertised_sdp(sdp.to_string()).into_bytes();
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

    let key = LegKey(legs.next);
    legs.next += 1;
    let (events_tx, events_rx) = mpsc::channel(32);
    let (commands_tx, mut commands_rx) = mpsc::channel::<LegCommand>(32);
    let now = cx.instant();
    let t1 = cx.config.sip.t1;
    let retransmit = (!call.transport.is_reliable()).then(|| AnswerRetransmit::start(now, t1));
    legs.by_call_id.insert(call.call_id.clone(), key);
    cx.owners
        .bind_dialog(call.call_id.clone(), Owner::IvrLeg(key));
    legs.legs.insert(
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
            local_sdp: cx.advertised_sdp(sdp.to_string()),
            remote_version: Some(offer.origin.session_version),
            pending: None,
            next_offer: 0,
            remote_sdp: call.invite.body.clone(),
            _media_counted: cx.metrics.as_ref().map(|m| m.rtp_session_opened()),
        },
    );
    cx.respond(call.transaction, response);
    info!(rtp = %media.local_addr(), "answered for the IVR");

    // The leg's commands come back into the SIP loop tagged with the leg; when the driver
    // ends, `LegDone` makes sure the call ends too.
    let completions = cx.completions.clone();
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
    let mut origin = vec![crate::pin::sources::SourceKey::Address(
        crate::sip::client::client_ip(
            &cx.config.security.trusted(),
            call.source.ip(),
            &call.invite,
        ),
    )];
    origin.extend(
        crate::sip::client::caller_user(&call.invite)
            .and_then(|user| crate::pin::sources::SourceKey::caller_id(&user)),
    );
    let leg = IvrLeg {
        call_id: call.call_id.clone(),
        media,
        events: events_rx,
        commands: commands_tx,
        origin,
    };
    // The drain guard lives as long as the driver: a message being saved holds the shutdown.
    let guard = cx.shutdown.as_ref().map(|s| s.call_started());
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

fn reject(cx: &mut Context, call: &Answer, code: u16, why: &str) {
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
    cx.respond(call.transaction, response);
}

/// The caller's ACK for our 2xx: stop retransmitting.
pub fn on_ack(cx: &mut Context, legs: &mut IvrLegs, key: LegKey) {
    let Some(leg) = legs.legs.get_mut(&key) else {
        return;
    };
    leg.acked = true;
    leg.retransmit = None;
    if leg.bye_after_ack {
        send_bye(cx, legs, key);
    }
}

/// A caller's ACK for our 2xx by its Call-ID (a click-to-call's, whose desk dialog the
/// owner index keeps with the click-to-call); false when no leg answers that dialog.
pub fn on_ack_by_call_id(cx: &mut Context, legs: &mut IvrLegs, request: &rsip::Request) -> bool {
    let Ok(call_id) = dialog::header_value(&request.headers, "Call-ID") else {
        return false;
    };
    let Some(key) = legs.leg_of(&call_id) else {
        return false;
    };
    on_ack(cx, legs, key);
    true
}

/// A request inside an answered IVR leg's dialog.
pub fn on_in_dialog(
    cx: &mut Context,
    legs: &mut IvrLegs,
    key: LegKey,
    transaction: TransactionId,
    request: rsip::Request,
) {
    let call_id = dialog::header_value(&request.headers, "Call-ID").unwrap_or_default();
    let from_tag = tag_of(&request, "From");
    let to_tag = tag_of(&request, "To");
    let Some(leg) = legs.legs.get_mut(&key) else {
        respond(cx, transaction, &request, 481, None);
        return;
    };
    let span = leg.span.clone();
    let _enter = span.enter();
    if !leg.dialog.matches_request(&call_id, &from_tag, &to_tag) {
        // §12.2.2: no dialog matches.
        respond(cx, transaction, &request, 481, None);
        return;
    }
    if let Ok(cseq) = dialog::cseq_number(&request.headers) {
        if leg.dialog.accept_remote_cseq(cseq).is_err() {
            // §12.2.2: out of order.
            respond(cx, transaction, &request, 500, None);
            return;
        }
    }
    match request.method {
        Method::Bye => {
            respond(cx, transaction, &request, 200, None);
            info!("caller hung up (BYE)");
            transfer::caller_hung_up(cx, legs, key);
            if let Some(leg) = legs.legs.get(&key) {
                let _ = leg.events.try_send(LegEvent::Hangup);
            }
            legs.forget(cx, key);
        }
        Method::Info => on_info(cx, legs, key, transaction, &request),
        Method::Notify => {
            // Progress of our REFER (RFC 3515 §2.4.5); the call ends on the REFER's answer, so
            // the report is only acknowledged.
            respond(cx, transaction, &request, 200, None);
        }
        Method::Invite | Method::Update => on_offer(cx, legs, key, transaction, request),
        _ => respond(cx, transaction, &request, 501, None),
    }
}

/// A re-INVITE (RFC 3261 §14) or UPDATE (RFC 3311) in an answered leg: a session refresh
/// (RFC 4028) or a hold from the caller's phone. Without an offer, or with an offer whose `o=`
/// version is the one we answered (RFC 3264 §8: the same session), the answer is 200 with our
/// SDP as it was, same version (an UPDATE without an offer gets 200 without a body, RFC 3311
/// §5.2). A changed offer goes to the driver, whose media session follows it on the same
/// port ([`answer_offer`]); while it does, a second offer gets 491 (§14.2).
fn on_offer(
    cx: &mut Context,
    legs: &mut IvrLegs,
    key: LegKey,
    transaction: TransactionId,
    request: rsip::Request,
) {
    let Some(leg) = legs.legs.get_mut(&key) else {
        respond(cx, transaction, &request, 481, None);
        return;
    };
    if leg.pending.is_some() {
        respond(cx, transaction, &request, 491, None);
        return;
    }
    if request.body.is_empty() {
        let body = (request.method == Method::Invite).then(|| leg.local_sdp.clone());
        let response = refresh_answer(cx, &request, body);
        cx.respond(transaction, response);
        return;
    }
    let offer = match SessionDescription::parse(&String::from_utf8_lossy(&request.body)) {
        Ok(offer) => offer,
        Err(error) => {
            info!(%error, "new offer not usable; the session stays as it was");
            respond(cx, transaction, &request, error.sip_status(), None);
            return;
        }
    };
    let version = offer.origin.session_version;
    if leg.remote_version == Some(version) {
        debug!(method = %request.method, "same session: answered as before");
        let body = Some(leg.local_sdp.clone());
        let response = refresh_answer(cx, &request, body);
        cx.respond(transaction, response);
        return;
    }
    let id = leg.next_offer;
    leg.next_offer += 1;
    let sent = leg.events.try_send(LegEvent::Offer {
        id,
        offer: Box::new(offer),
    });
    if sent.is_err() {
        respond(cx, transaction, &request, 500, None);
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
fn offer_answered(cx: &mut Context, legs: &mut IvrLegs, key: LegKey, id: u64, sdp: Option<String>) {
    let Some(leg) = legs.legs.get_mut(&key) else {
        return;
    };
    let Some(pending) = leg.pending.take_if(|p| p.id == id) else {
        return;
    };
    match sdp.map(|sdp| cx.advertised_sdp(sdp)) {
        Some(sdp) => {
            leg.local_sdp = sdp.clone();
            leg.remote_version = Some(pending.version);
            leg.remote_sdp = pending.request.body.clone();
            let response = refresh_answer(cx, &pending.request, Some(sdp));
            cx.respond(pending.transaction, response);
        }
        None => respond(cx, pending.transaction, &pending.request, 488, None),
    }
}

/// 200 to a re-INVITE/UPDATE: Contact (the dialog's remote target, §12.2.2), our SDP when
/// given, and the session timer echoed (RFC 4028 §9: a UAS that supports timers copies
/// Session-Expires into the 2xx, the refresher being the caller unless it said otherwise, and
/// then requires "timer").
fn refresh_answer(cx: &Context, request: &rsip::Request, body: Option<String>) -> rsip::Response {
    let mut response = reply(request, 200, None);
    let mut headers: Vec<Header> = response
        .headers
        .iter()
        .filter(|h| !matches!(h, Header::ContentLength(_) | Header::ContentType(_)))
        .cloned()
        .collect();
    headers.push(Header::Contact(rsip::headers::Contact::new(format!(
        "<sip:onestatus@{}>",
        cx.sent_by()
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
    cx: &mut Context,
    legs: &mut IvrLegs,
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
        respond(cx, transaction, request, 200, None);
        return;
    }
    let body = String::from_utf8_lossy(&request.body);
    match parse_info_body(&content_type, &body) {
        Ok(info) => {
            respond(cx, transaction, request, 200, None);
            // Not which key: the SIP side cannot tell a menu choice from a PIN digit, and a
            // PIN never goes to the log (issue #19).
            debug!("key pressed (INFO)");
            if let Some(leg) = legs.legs.get(&key) {
                let _ = leg.events.try_send(LegEvent::Digit(info.digit));
            }
        }
        Err(InfoDtmfError::UnsupportedContentType) => {
            respond(
                cx,
                transaction,
                request,
                415,
                Some(("Accept", "application/dtmf-relay, application/dtmf")),
            );
        }
        Err(error) => {
            debug!(%error, "INFO names no key");
            respond(cx, transaction, request, 400, None);
        }
    }
}

fn respond(
    cx: &mut Context,
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
    cx.respond(transaction, response);
}

fn tag_of(request: &rsip::Request, header: &'static str) -> String {
    dialog::header_value(&request.headers, header)
        .ok()
        .and_then(|v| dialog::split_tag(&v).1)
        .unwrap_or_default()
}

/// A command from a leg's driver.
pub fn on_command(cx: &mut Context, legs: &mut IvrLegs, key: LegKey, command: LegCommand) {
    match command {
        LegCommand::HangUp => end_call(cx, legs, key),
        LegCommand::Transfer { number } => match cx.config.calls.transfer {
            TransferMode::Bridge => transfer::request(cx, legs, key, number),
            TransferMode::Refer => transfer(cx, legs, key, &number),
        },
        LegCommand::Answer { id, sdp } => offer_answered(cx, legs, key, id, sdp),
    }
}

/// The driver has ended: the call ends with it, whatever the driver said last.
pub fn on_done(cx: &mut Context, legs: &mut IvrLegs, key: LegKey) {
    if legs.transfers.has(key) {
        // A driver that ends once it asked for a transfer (retrieval): the transfer decides.
        return;
    }
    end_call(cx, legs, key);
}

/// BYE in the dialog, once the ACK allows it.
fn end_call(cx: &mut Context, legs: &mut IvrLegs, key: LegKey) {
    let Some(leg) = legs.legs.get_mut(&key) else {
        return;
    };
    if leg.ending {
        return;
    }
    if !leg.acked && leg.retransmit.is_some() {
        leg.bye_after_ack = true;
        return;
    }
    send_bye(cx, legs, key);
}

fn send_bye(cx: &mut Context, legs: &mut IvrLegs, key: LegKey) {
    let via = {
        let Some(leg) = legs.legs.get(&key) else {
            return;
        };
        cx.via(leg.transport)
    };
    let Some(leg) = legs.legs.get_mut(&key) else {
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
            legs.forget(cx, key);
            return;
        }
    };
    info!("ending the call (BYE)");
    send_in_dialog(cx, legs, key, bye, destination, transport);
}

/// Blind transfer by REFER (RFC 3515), with `calls.transfer = "refer"`: the caller's phone
/// calls `number` itself, with our address as the host so the new INVITE reaches us and is
/// routed like any call. On 202 we leave the dialog with BYE: the phone has taken over the
/// transfer. A refusal or no answer must not leave the caller in silence (many trunks refuse
/// REFER): we carry the transfer ourselves ([`transfer`], the default mode).
fn transfer(cx: &mut Context, legs: &mut IvrLegs, key: LegKey, number: &str) {
    let sent_by = cx.sent_by();
    let Some(leg) = legs.legs.get(&key) else {
        return;
    };
    let transport = leg.transport;
    let via = cx.via(transport);
    let Some(leg) = legs.legs.get_mut(&key) else {
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
        end_call(cx, legs, key);
        return;
    }
    let mut refer = match leg.dialog.request(Method::Refer, &via) {
        Ok(refer) => refer,
        Err(error) => {
            warn!(%error, "cannot build REFER; ending the call");
            end_call(cx, legs, key);
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
    transfer::refer_sent(legs, key, &number);
    send_in_dialog(cx, legs, key, refer, destination, transport);
}

fn send_in_dialog(
    cx: &mut Context,
    legs: &mut IvrLegs,
    key: LegKey,
    request: rsip::Request,
    destination: SocketAddr,
    transport: TransportKind,
) {
    let now = cx.instant();
    let method = request.method;
    match cx.layer.send_request(now, request, destination, transport) {
        Ok(tx) => {
            legs.by_transaction.insert(tx, (key, method));
            cx.owners.bind_transaction(tx, Owner::IvrLeg(key));
        }
        Err(error) => {
            warn!(%error, %method, "in-dialog request not sent");
            legs.forget(cx, key);
        }
    }
}

/// A response to one of our BYE/REFER in leg `key`'s dialog.
pub fn on_response(
    cx: &mut Context,
    legs: &mut IvrLegs,
    key: LegKey,
    transaction: TransactionId,
    response: &rsip::Response,
) {
    let Some(&(_, method)) = legs.by_transaction.get(&transaction) else {
        return;
    };
    let code = response.status_code.code();
    if code < 200 {
        return;
    }
    legs.by_transaction.remove(&transaction);
    cx.owners.release_transaction(transaction);
    match method {
        Method::Refer => {
            if let Some(leg) = legs.legs.get_mut(&key) {
                let span = leg.span.clone();
                let _enter = span.enter();
                leg.ending = false;
                leg.acked = true;
                if code >= 300 {
                    warn!(code, "transfer refused by the caller's phone");
                    if transfer::refer_refused(cx, legs, key) {
                        return;
                    }
                } else {
                    info!(code, "transfer accepted");
                    transfer::refer_accepted(legs, key);
                }
            }
            end_call(cx, legs, key);
        }
        // Our re-INVITE moving the caller's media to a transfer's destination.
        Method::Invite => transfer::caller_answered(cx, legs, key, code < 300),
        _ => legs.forget(cx, key),
    }
}

/// Timer F or a transport error on one of our BYE/REFER (the router has taken it out of the
/// owner index).
pub fn on_transaction_failed(
    cx: &mut Context,
    legs: &mut IvrLegs,
    key: LegKey,
    transaction: TransactionId,
) {
    let Some((_, method)) = legs.by_transaction.remove(&transaction) else {
        return;
    };
    if method == Method::Refer {
        if let Some(leg) = legs.legs.get_mut(&key) {
            leg.ending = false;
            leg.acked = true;
        }
        if !transfer::refer_refused(cx, legs, key) {
            end_call(cx, legs, key);
        }
    } else if method == Method::Invite {
        transfer::caller_answered(cx, legs, key, false);
    } else {
        legs.forget(cx, key);
    }
}

/// 2xx retransmissions and the give-up.
pub fn handle_timeout(cx: &mut Context, legs: &mut IvrLegs, now: Instant) {
    transfer::handle_timeout(cx, legs, now);
    let due: Vec<LegKey> = legs
        .legs
        .iter()
        .filter(|(_, l)| l.retransmit.is_some_and(|r| r.deadline() <= now))
        .map(|(k, _)| *k)
        .collect();
    let t2 = cx.config.sip.t2;
    for key in due {
        let Some(leg) = legs.legs.get_mut(&key) else {
            continue;
        };
        let Some(mut r) = leg.retransmit else {
            continue;
        };
        match r.poll(now, t2) {
            AnswerDue::GiveUp => {
                // §13.3.1.4: "If the server retransmits the 2xx response for 64*T1 seconds
                // without receiving an ACK, the dialog is confirmed, but the session SHOULD be
                // terminated. This is accomplished with a BYE."
                let span = leg.span.clone();
                let _enter = span.enter();
                info!("no ACK for our 2xx: ending the call");
                leg.retransmit = None;
                send_bye(cx, legs, key);
            }
            AnswerDue::Resend => {
                leg.retransmit = Some(r);
                let (transaction, answer) = (leg.transaction, leg.answer.clone());
                cx.respond(transaction, answer);
            }
            AnswerDue::Nothing => {}
        }
    }
}
