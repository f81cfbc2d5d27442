//! The call driver in the SIP task: an INVITE to a OneNumber or local number becomes a
//! [`crate::b2bua::Call`]; the store look-up and [`crate::routing::decide`] run in a spawned task whose
//! [`RouteLookup`] comes back to the loop; the call's actions are carried out on the
//! transaction layer, presence and the store.
//!
//! The routing task and the route → plan policy live in [`route`] and [`policy`].
//!
//! One tracing span per call, keyed by the caller's Call-ID. Calls hold a shutdown guard, so
//! `serve` drains them on SIGTERM while new INVITEs get 503 (in `sip_service`).

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::Instant;

use rsip::headers::UntypedHeader;
use rsip::{Header, Method};
use tokio::sync::mpsc;
use tracing::{debug, info, warn, Span};

mod policy;
mod route;

use super::ivr_leg::{Answer, IvrKind};
use super::sip_service::{reply, Completion, SipService, SERVER};
use crate::b2bua::CallerInfo;
use crate::b2bua::{
    Action, Call, CallConfig, Event, Inbound, LegId, MediaAnchor, Plan, PresenceChange, Side,
    VoicemailRequest,
};
use crate::clock::Clock;
use crate::config::MediaMode;
use crate::ivr::RetrieveSetup;
use crate::media::anchor::{MediaRelay, OnTimeout, RelayHandle};
use crate::media::anchor_sdp;
use crate::media::relay::Party;
use crate::routing::GreetingStatus;
use crate::shutdown::CallGuard;
use crate::sip::auth::DigestResponse;
use crate::sip::dialog;
use crate::sip::transaction::{TransactionId, TransportKind};
use crate::store::model::Device;

/// Key of a call in the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallKey(u64);

pub use route::RouteLookup;
use route::{caller_from, Numbers, Routed};

/// The running calls and the indexes that lead events to them.
#[derive(Default)]
pub struct Calls {
    calls: HashMap<CallKey, Running>,
    /// Client transactions (B-leg INVITEs, BYEs either way) and the inbound INVITE.
    by_transaction: HashMap<TransactionId, (CallKey, Side, Method)>,
    /// Call-IDs of every leg, for in-dialog requests and stray 2xx retransmissions.
    by_call_id: HashMap<String, (CallKey, Side)>,
    /// Every call's next timer, earliest first: the loop's sleep and the due calls come from
    /// here instead of a scan of every call per event (at 1,000 calls/s a thousand or more calls
    /// are up at once, and the loop wakes for every datagram).
    timers: BTreeSet<(Instant, CallKey)>,
    next: u64,
    /// Where voicemail hand-offs go; `None` until the voicemail service is wired in.
    voicemail: Option<mpsc::Sender<VoicemailRequest>>,
    /// Opens media relays for anchored calls (`calls.media = "anchor"`); made on first use.
    relays: Option<MediaRelay>,
}

struct Running {
    call: Call,
    span: Span,
    call_ids: Vec<String>,
    /// Every transaction entered in `by_transaction` for this call, so that forgetting the
    /// call removes exactly those (not a scan of every call's).
    transactions: Vec<TransactionId>,
    /// The call's entry in `Calls::timers`.
    deadline: Option<Instant>,
    invites: HashMap<LegId, TransactionId>,
    /// The transport of the caller's INVITE, for a call answered by the retrieval IVR.
    transport: TransportKind,
    /// The call's media relay while its media is anchored; dropped (ports freed) as soon as
    /// the caller's side is over.
    relay: Option<RelayHandle>,
    _guard: Option<CallGuard>,
}

impl Calls {
    /// Sets the channel to the voicemail service.
    pub fn set_voicemail(&mut self, sender: mpsc::Sender<VoicemailRequest>) {
        self.voicemail = Some(sender);
    }

    /// The earliest timer of any call.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|&(at, _)| at)
    }

    /// Brings `key`'s entry in the timer index up to date with its call; after anything that
    /// may have moved its timers (every event and timeout ends here, through `run_actions`).
    fn reindex(&mut self, key: CallKey) {
        let Some(running) = self.calls.get_mut(&key) else {
            return;
        };
        let deadline = running.call.poll_timeout();
        if deadline == running.deadline {
            return;
        }
        if let Some(old) = std::mem::replace(&mut running.deadline, deadline) {
            self.timers.remove(&(old, key));
        }
        if let Some(new) = deadline {
            self.timers.insert((new, key));
        }
    }
}

/// A new out-of-dialog INVITE: create the call and start the routing look-up.
pub fn on_invite(
    service: &mut SipService,
    transaction: TransactionId,
    request: rsip::Request,
    source: SocketAddr,
    transport: TransportKind,
) {
    let now = service.instant();
    let wall = service.clock.now();
    let call_id = dialog::header_value(&request.headers, "Call-ID").unwrap_or_default();
    let span = tracing::info_span!("call", call_id = %call_id);
    let config = call_config(service);
    let key = CallKey(service.calls.next);
    service.calls.next += 1;
    let caller = caller_from(&request);
    let call = Call::new(
        now,
        wall,
        config,
        Inbound {
            transaction,
            invite: request.clone(),
            source,
            transport,
        },
        caller,
    );
    span.in_scope(|| info!(from = %source, uri = %request.uri, "incoming call"));
    service.calls.calls.insert(
        key,
        Running {
            call,
            span: span.clone(),
            call_ids: vec![call_id.clone()],
            transactions: vec![transaction],
            deadline: None,
            invites: HashMap::new(),
            transport,
            relay: None,
            _guard: service.shutdown.as_ref().map(|s| s.call_started()),
        },
    );
    service
        .calls
        .by_transaction
        .insert(transaction, (key, Side::Caller, Method::Invite));
    service
        .calls
        .by_call_id
        .insert(call_id, (key, Side::Caller));
    service.calls.reindex(key);
    let store = service.store.clone();
    let presence = service.presence.clone();
    let completions = service.completions.clone();
    let numbers = Numbers {
        trunk: service.config.sip.trunk.clone(),
        voicemail: service.config.sip.voicemail_number.clone(),
        default_lang: service.config.default_language,
    };
    tokio::spawn(tracing::Instrument::instrument(
        async move {
            let lookup = route::route(&store, &presence, &numbers, key, &request, wall).await;
            let _ = completions.send(Completion::Routed(Box::new(lookup))).await;
        },
        span,
    ));
}

/// The routing task answered: authenticate a caller that is one of our devices, then run.
pub fn on_routed(service: &mut SipService, lookup: RouteLookup) {
    let RouteLookup {
        key,
        outcome,
        caller,
        caller_device,
    } = lookup;
    let Some(running) = service.calls.calls.get(&key) else {
        return;
    };
    let span = running.span.clone();
    let _enter = span.enter();
    if let Some(device) = caller_device {
        // A click-to-call's target leg is an INVITE we made ourselves: nothing to check.
        let originated = super::click_to_call::is_originated(service, running.call.inbound().0);
        if !originated && !authenticated(service, key, &device) {
            return;
        }
        debug!(caller = %caller.number, "caller authenticated");
    }
    let plan = match outcome {
        Routed::Plan(plan) => plan,
        Routed::Mailbox(setup) => {
            retrieve_mailbox(service, key, setup);
            return;
        }
    };
    if let Some(running) = service.calls.calls.get_mut(&key) {
        running.call.set_caller(caller);
    }
    let plan = anchor_media(service, key, plan);
    drive(service, key, Event::Routed(plan));
}

/// Opens a media relay for a call about to ring when its media is anchored (the default) and
/// the caller's INVITE carries an SDP offer we can rewrite. Without an offer (the offer would
/// come in a 2xx and the answer in the ACK) or with `calls.media = "passthrough"` the SDP
/// crosses unchanged. A full port range refuses the call with 503 (RFC 3261 §21.5.4), as the
/// IVR does: ringing a phone whose media cannot flow helps nobody.
fn anchor_media(service: &mut SipService, key: CallKey, plan: Plan) -> Plan {
    if service.config.calls.media != MediaMode::Anchor || !matches!(plan, Plan::Ring { .. }) {
        return plan;
    }
    let Some(running) = service.calls.calls.get(&key) else {
        return plan;
    };
    let invite = running.call.inbound().1;
    if invite.body.is_empty() {
        debug!("offerless INVITE: media not anchored");
        return plan;
    }
    if let Err(error) = anchor_sdp::remote_of(&invite.body) {
        debug!(%error, "offer not rewritable: media not anchored");
        return plan;
    }
    let ip = media_ip(service, invite);
    // The relay's RTP timeout comes back to this loop as a completion for the call.
    let completions = service.completions.clone();
    let on_timeout: OnTimeout = Box::new(move || {
        tokio::spawn(async move {
            let _ = completions.send(Completion::MediaTimeout(key)).await;
        });
    });
    let relays = service
        .calls
        .relays
        .get_or_insert_with(|| MediaRelay::new(&service.config.rtp));
    match relays.open(ip, on_timeout) {
        Ok(relay) => {
            let anchor = MediaAnchor {
                caller_facing: relay.facing(Party::Caller),
                callee_facing: relay.facing(Party::Callee),
            };
            debug!(caller_facing = %anchor.caller_facing, callee_facing = %anchor.callee_facing, "media anchored");
            if let Some(running) = service.calls.calls.get_mut(&key) {
                running.call.anchor_media(anchor);
                running.relay = Some(relay);
            }
            plan
        }
        Err(error) => {
            warn!(%error, "no media relay for the call");
            Plan::Reject {
                status: error.sip_status(),
                reason: Some("No Media Ports Available".into()),
            }
        }
    }
}

/// The IP our SDP names: the SIP socket's, or, when it listens on a wildcard address, the one
/// the caller addressed the INVITE to (so a phone reaches the relay where it reached us).
fn media_ip(service: &SipService, invite: &rsip::Request) -> std::net::IpAddr {
    if let Some(ip) = service
        .local_address()
        .map(|a| a.ip())
        .filter(|ip| !ip.is_unspecified())
    {
        return ip;
    }
    invite
        .uri
        .host_with_port
        .host
        .to_string()
        .trim_matches(['[', ']'])
        .parse()
        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))
}

/// A call for the mailbox: the B2BUA steps aside (nothing was answered yet but the layer's 100)
/// and the retrieval IVR answers with the same To tag.
fn retrieve_mailbox(service: &mut SipService, key: CallKey, setup: RetrieveSetup) {
    let Some(running) = service.calls.calls.get(&key) else {
        return;
    };
    let (transaction, invite) = running.call.inbound();
    let answer = Answer {
        call_id: running.call.call_id().to_owned(),
        transaction,
        invite: invite.clone(),
        local_tag: running.call.local_tag().to_owned(),
        source: running.call.inbound_source(),
        transport: running.transport,
    };
    info!(entry = ?setup.entry, "call for the mailbox");
    forget(service, key);
    super::ivr_leg::answer(service, answer, IvrKind::Retrieve(setup));
}

/// §22.3: an INVITE from one of our users' devices must carry valid Proxy-Authorization;
/// without it (or stale, or wrong) it gets 407 and the call ends here.
fn authenticated(service: &mut SipService, key: CallKey, device: &Device) -> bool {
    let Some(running) = service.calls.calls.get(&key) else {
        return false;
    };
    let (transaction, request) = running.call.inbound();
    let request = request.clone();
    let credentials = request.headers.iter().find_map(|h| match h {
        Header::ProxyAuthorization(a) => Some(a.value().to_owned()),
        _ => None,
    });
    let now = service.clock.now();
    let mut stale = false;
    if let Some(credentials) = credentials {
        match DigestResponse::parse(&credentials) {
            Ok(digest) if digest.username == device.sip_username => {
                let ha1 = match digest.algorithm {
                    crate::sip::auth::DigestAlgorithm::Md5 => &device.ha1_md5,
                    crate::sip::auth::DigestAlgorithm::Sha256 => &device.ha1_sha256,
                };
                // The phone hashed the URI as it wrote it (IPv6 in brackets).
                let uri = crate::sip::message::decode_text(&request.uri.to_string()).into_owned();
                let context = crate::sip::auth::RequestContext {
                    realm: &service.config.sip.domain,
                    method: "INVITE",
                    request_uri: &uri,
                };
                match service.nonces.verify(now, &context, &digest, ha1) {
                    Ok(()) => return true,
                    Err(error) => {
                        stale = error.is_stale();
                        if error.counts_as_failure() {
                            let at = service.instant();
                            if let Some(ban) =
                                service.bans.record_failure(at, running_source(running))
                            {
                                warn!(source = %ban.source, "banning source after failed authentications");
                            }
                        }
                        debug!(%error, "INVITE authentication failed");
                    }
                }
            }
            Ok(_) => debug!("Proxy-Authorization for another username"),
            Err(error) => debug!(%error, "malformed Proxy-Authorization"),
        }
    }
    let realm = service.config.sip.domain.clone();
    let mut response = reply(&request, 407, None);
    for value in service.nonces.challenge(now, &realm, stale) {
        response.headers.push(Header::ProxyAuthenticate(
            rsip::headers::ProxyAuthenticate::new(value),
        ));
    }
    service.respond(transaction, response);
    forget(service, key);
    false
}

fn running_source(running: &Running) -> std::net::IpAddr {
    running.call.inbound_source().ip()
}

/// Feeds an event to a call and carries out what it asks.
pub fn drive(service: &mut SipService, key: CallKey, event: Event) {
    let now = service.instant();
    let Some(running) = service.calls.calls.get_mut(&key) else {
        return;
    };
    running.call.handle(now, event);
    run_actions(service, key);
}

/// The call's relay carried no RTP either way for `rtp.timeout_secs`: the call ends if it is
/// answered (see [`Event::MediaTimeout`]). A call already gone is nothing to do.
pub fn on_media_timeout(service: &mut SipService, key: CallKey) {
    let span = service
        .calls
        .calls
        .get(&key)
        .map(|running| running.span.clone());
    let _entered = span.as_ref().map(Span::enter);
    drive(service, key, Event::MediaTimeout);
}

/// Feeds `event` to the call whose inbound INVITE is `inbound` (a click-to-call's target leg,
/// which we originated); false when no call has it.
pub(crate) fn drive_inbound(
    service: &mut SipService,
    inbound: TransactionId,
    event: Event,
) -> bool {
    let Some(&(key, Side::Caller, _)) = service.calls.by_transaction.get(&inbound) else {
        return false;
    };
    drive(service, key, event);
    true
}

/// Tells the call whose inbound INVITE is `inbound` who its caller is before routing does (a
/// click-to-call's user, known from the start).
pub(crate) fn set_caller_of(service: &mut SipService, inbound: TransactionId, caller: CallerInfo) {
    if let Some(&(key, Side::Caller, _)) = service.calls.by_transaction.get(&inbound) {
        if let Some(running) = service.calls.calls.get_mut(&key) {
            running.call.set_caller(caller);
        }
    }
}

/// Whether a call still has `inbound` as its inbound INVITE (it is not over).
pub(crate) fn has_inbound(service: &SipService, inbound: TransactionId) -> bool {
    matches!(
        service.calls.by_transaction.get(&inbound),
        Some((_, Side::Caller, _))
    )
}

/// Fires due call timers.
pub fn handle_timeout(service: &mut SipService, now: Instant) {
    let due: Vec<CallKey> = service
        .calls
        .timers
        .iter()
        .take_while(|&&(at, _)| at <= now)
        .map(|&(_, key)| key)
        .collect();
    for key in due {
        if let Some(running) = service.calls.calls.get_mut(&key) {
            running.call.handle_timeout(now);
        }
        run_actions(service, key);
    }
}

fn run_actions(service: &mut SipService, key: CallKey) {
    let Some(running) = service.calls.calls.get(&key) else {
        return;
    };
    let span = running.span.clone();
    let _enter = span.enter();
    loop {
        let now = service.instant();
        let Some(running) = service.calls.calls.get_mut(&key) else {
            return;
        };
        let Some(action) = running.call.poll_action() else {
            break;
        };
        let call_id = running.call.call_id().to_owned();
        match action {
            Action::SendRequest {
                side,
                request,
                destination,
                transport,
            } => {
                let method = request.method;
                let leg_call_id = dialog::header_value(&request.headers, "Call-ID").ok();
                match service
                    .layer
                    .send_request(now, request, destination, transport)
                {
                    Ok(tx) => {
                        service.calls.by_transaction.insert(tx, (key, side, method));
                        if let Some(running) = service.calls.calls.get_mut(&key) {
                            running.transactions.push(tx);
                        }
                        if let (Side::Callee(leg), Method::Invite) = (side, &method) {
                            if let Some(running) = service
                                .calls
                                .calls
                                .get_mut(&key)
                                // A re-INVITE relayed on an existing leg is not a new leg.
                                .filter(|r| !r.invites.contains_key(&leg))
                            {
                                info!(leg = leg.0, %destination, "ringing leg");
                                running.invites.insert(leg, tx);
                                if let Some(id) = leg_call_id {
                                    running.call_ids.push(id.clone());
                                    service.calls.by_call_id.insert(id, (key, side));
                                }
                            }
                        }
                    }
                    Err(error) => {
                        debug!(%error, "request not sent");
                        if let Some(running) = service.calls.calls.get_mut(&key) {
                            running
                                .call
                                .handle(now, Event::RequestFailed { side, method });
                        }
                    }
                }
            }
            Action::Cancel(leg) => {
                if let Some(tx) = running.invites.get(&leg).copied() {
                    if let Err(error) = service.layer.cancel(now, tx) {
                        debug!(%error, leg = leg.0, "CANCEL not sent");
                    }
                }
            }
            Action::SendAck {
                request,
                destination,
                transport,
            } => service.layer.send_stateless(
                rsip::SipMessage::Request(request),
                destination,
                transport,
            ),
            Action::Respond {
                transaction,
                response,
            } => service.respond(transaction, response),
            Action::Voicemail(request) => hand_off(service, *request),
            Action::Presence { user_id, change } => match change {
                PresenceChange::Ringing => service.presence.call_ringing(user_id, &call_id),
                PresenceChange::RingingEnded => service.presence.ringing_ended(user_id, &call_id),
                PresenceChange::Started => service.presence.call_started(user_id, &call_id),
                PresenceChange::Ended => service.presence.call_ended(user_id, &call_id),
            },
            Action::Record(data) => service.history.record(data),
            Action::MediaPeer { party, remote } => {
                if let Some(relay) = &running.relay {
                    relay.set_remote(party, remote);
                }
            }
        }
    }
    if let Some(running) = service.calls.calls.get_mut(&key) {
        if running.call.is_over() && running.relay.take().is_some() {
            // Hung up, handed to voicemail (the IVR answers with its own media), rejected or
            // cancelled: the relay's ports go back now, not when the last B leg has wound down.
            debug!("media relay released");
        }
    }
    service.calls.reindex(key);
    let finished = service
        .calls
        .calls
        .get(&key)
        .is_some_and(|r| r.call.is_finished());
    if finished {
        info!("call over");
        forget(service, key);
    }
}

fn forget(service: &mut SipService, key: CallKey) {
    if let Some(running) = service.calls.calls.remove(&key) {
        for id in running.call_ids {
            service.calls.by_call_id.remove(&id);
        }
        for tx in running.transactions {
            service.calls.by_transaction.remove(&tx);
        }
        if let Some(at) = running.deadline {
            service.calls.timers.remove(&(at, key));
        }
    }
}

/// Sends the call to voicemail: answered here by the deposit IVR when the media engine is
/// running (`ivr_leg::answer`), else to an external voicemail service when one is wired in;
/// without either the caller is told 480 with a Reason saying why, so nobody rings into a void
/// without a word.
fn hand_off(service: &mut SipService, request: VoicemailRequest) {
    let (reason, back_at) = match &request.info.status {
        GreetingStatus::OnThePhone => ("on the phone".to_owned(), None),
        GreetingStatus::Absent {
            reason, back_at, ..
        } => (reason.to_string(), *back_at),
        GreetingStatus::NotAvailable => ("not available".to_owned(), None),
    };
    let back_at_text = back_at.map(|t| t.to_rfc3339()).unwrap_or_default();
    info!(
        user_id = request.user_id,
        reason = %reason,
        back_at = %back_at_text,
        allow_messages = request.info.allow_messages,
        "voicemail hand-off"
    );
    if service.ivr.is_some() {
        let answer = Answer {
            call_id: request.call_id.clone(),
            transaction: request.transaction,
            invite: request.invite.clone(),
            local_tag: request.local_tag.clone(),
            source: request.source,
            transport: request.transport,
        };
        super::ivr_leg::answer(service, answer, IvrKind::Deposit(Box::new(request)));
        return;
    }
    if let Some(sender) = &service.calls.voicemail {
        match sender.try_send(request) {
            Ok(()) => return,
            Err(error) => {
                warn!("voicemail service not taking calls; answering 480");
                let request = match error {
                    mpsc::error::TrySendError::Full(r) | mpsc::error::TrySendError::Closed(r) => r,
                };
                answer_unavailable(service, &request, &reason, &back_at_text);
                return;
            }
        }
    }
    answer_unavailable(service, &request, &reason, &back_at_text);
}

fn answer_unavailable(
    service: &mut SipService,
    request: &VoicemailRequest,
    reason: &str,
    back_at: &str,
) {
    let mut response = crate::sip::transaction::fields::response_to(
        &request.invite,
        480,
        Some(&request.local_tag),
    );
    // RFC 3326 Reason with our text; Warning 399 (§20.43, miscellaneous) for tools that show it.
    let text = if back_at.is_empty() {
        reason.to_owned()
    } else {
        format!("{reason}, back at {back_at}")
    };
    response.headers.push(Header::Other(
        "Reason".into(),
        format!("SIP;cause=480;text=\"voicemail: {text}\""),
    ));
    response.headers.push(Header::Other(
        "Warning".into(),
        format!("399 onestatus \"voicemail not available: {text}\""),
    ));
    response
        .headers
        .push(Header::Server(rsip::headers::Server::new(SERVER)));
    service.respond(request.transaction, response);
}

/// Leads a transaction-layer event to its call; false when it belongs to none.
pub fn on_response(
    service: &mut SipService,
    transaction: TransactionId,
    response: rsip::Response,
) -> bool {
    let Some(&(key, side, _)) = service.calls.by_transaction.get(&transaction) else {
        return false;
    };
    drive(service, key, Event::Response { side, response });
    true
}

/// A response no transaction matched: a 2xx retransmission for a leg (RFC 6026 §8.9).
pub fn on_stray_response(service: &mut SipService, response: rsip::Response) {
    if !(200..300).contains(&response.status_code.code()) {
        return;
    }
    let Ok(call_id) = dialog::header_value(&response.headers, "Call-ID") else {
        return;
    };
    if let Some(&(key, side)) = service.calls.by_call_id.get(&call_id) {
        if matches!(side, Side::Callee(_)) {
            drive(service, key, Event::Response { side, response });
        }
    }
}

/// Timer B/F or a transport error for one of our client transactions.
pub fn on_transaction_failed(service: &mut SipService, transaction: TransactionId) {
    if let Some((key, side, method)) = service.calls.by_transaction.remove(&transaction) {
        // The caller's own INVITE (Timer H) is no request of ours; a re-INVITE we relayed
        // towards the caller is.
        let inbound = service
            .calls
            .calls
            .get(&key)
            .is_some_and(|r| r.call.inbound().0 == transaction);
        if !inbound {
            drive(service, key, Event::RequestFailed { side, method });
        }
    }
}

/// A terminated transaction no longer routes events.
pub fn on_terminated(service: &mut SipService, transaction: TransactionId) {
    service.calls.by_transaction.remove(&transaction);
}

/// The caller cancelled; false when no call has this INVITE.
pub fn on_cancelled(service: &mut SipService, invite: TransactionId) -> bool {
    let Some(&(key, Side::Caller, _)) = service.calls.by_transaction.get(&invite) else {
        return false;
    };
    drive(service, key, Event::Cancelled);
    true
}

/// An ACK outside a transaction: the caller's ACK for our 2xx, or either side's ACK for a
/// relayed re-INVITE's 2xx.
pub fn on_ack(service: &mut SipService, request: &rsip::Request) {
    let Ok(call_id) = dialog::header_value(&request.headers, "Call-ID") else {
        return;
    };
    if let Some(&(key, side)) = service.calls.by_call_id.get(&call_id) {
        let request = request.clone();
        drive(service, key, Event::DialogAck { side, request });
    }
}

/// An in-dialog request (BYE, re-INVITE, ...): to its call, or 481.
pub fn on_in_dialog(service: &mut SipService, transaction: TransactionId, request: rsip::Request) {
    let call_id = dialog::header_value(&request.headers, "Call-ID").unwrap_or_default();
    match service.calls.by_call_id.get(&call_id).copied() {
        Some((key, side)) => drive(
            service,
            key,
            Event::Request {
                side,
                transaction,
                request,
            },
        ),
        None if service.ivr_legs.owns(&call_id) => {
            super::ivr_leg::on_in_dialog(service, transaction, request);
        }
        None => {
            let response = reply(&request, 481, Some("Call/Transaction Does Not Exist"));
            service.respond(transaction, response);
        }
    }
}

pub(crate) fn call_config(service: &SipService) -> CallConfig {
    let local = service.local_address();
    let sent_by = local.map_or_else(|| service.config.sip.domain.clone(), |a| a.to_string());
    CallConfig {
        via_sent_by: sent_by.clone(),
        contact: format!("sip:onestatus@{sent_by}"),
        domain: service.config.sip.domain.clone(),
        server: SERVER.to_owned(),
        t1: std::time::Duration::from_millis(service.config.sip.t1_ms),
        t2: std::time::Duration::from_millis(service.config.sip.t2_ms),
    }
}
