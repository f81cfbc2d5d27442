//! The call driver in the SIP task: an INVITE to a OneNumber or local number becomes a
//! [`crate::b2bua::Call`]; the store look-up and [`crate::routing::decide`] run in a spawned task whose
//! [`RouteLookup`] comes back to the loop; the call's actions are carried out on the
//! transaction layer, presence and the store.
//!
//! The routing task and the route → plan policy live in [`route`] and [`policy`].
//!
//! One tracing span per call, keyed by the caller's Call-ID. Calls hold a shutdown guard, so
//! `serve` drains them on SIGTERM while new INVITEs get 503 (in `sip::service`).
//!
//! Calls are an owner of the SIP task's router: each call enters its transactions and Call-IDs
//! in the owner index ([`crate::runtime::sip::owners`]) and keeps what it needs of them (which
//! side, which method) in its own [`Running`]. A call handed to voicemail or to a mailbox leaves
//! the IVR's answer to the router ([`Deferred::AnswerIvr`]); this module imports no other owner.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::Instant;

use rsip::headers::UntypedHeader;
use rsip::{Header, Method};
use tokio::sync::mpsc;
use tracing::{debug, info, warn, Span};

mod attended;
mod group;
mod held;
pub(crate) mod mirrored;
mod policy;
mod refer;
mod route;
mod targets;
mod transfer_requests;

pub(super) use refer::{call_of as refer_call_of, on_target_response as on_refer_response};

use super::leg::{Answer, IvrKind};
use super::sip::completion::{Completion, RouteLookup, Routed};
use super::sip::context::{Context, Deferred};
use super::sip::owners::Owner;
use super::sip::reply::{reply, SERVER};
use crate::b2bua::CallerInfo;
use crate::b2bua::{
    Action, Call, CallConfig, CallerSide, Event, Inbound, LegId, MediaAnchor, Plan, PresenceChange,
    Side, VoicemailRequest,
};
use crate::clock::Clock;
use crate::config::MediaMode;
use crate::domain::model::Device;
use crate::ivr::RetrieveSetup;
use crate::media::anchor::{MediaRelay, OnTimeout, RelayHandle};
use crate::media::anchor_sdp;
use crate::media::relay::Party;
use crate::routing::GreetingStatus;
use crate::shutdown::CallGuard;
use crate::sip::auth::DigestResponse;
use crate::sip::dialog;
use crate::sip::transaction::{TransactionId, TransportKind};

pub(super) use super::sip::owners::CallKey;
use route::{caller_from, Numbers};

/// The running calls and the indexes that lead events to them.
#[derive(Default)]
pub struct Calls {
    calls: HashMap<CallKey, Running>,
    /// Every call's next timer, earliest first: the loop's sleep and the due calls come from
    /// here instead of a scan of every call per event (at 1,000 calls/s a thousand or more calls
    /// are up at once, and the loop wakes for every datagram).
    timers: BTreeSet<(Instant, CallKey)>,
    next: u64,
    /// Where voicemail hand-offs go; `None` until the voicemail service is wired in.
    voicemail: Option<mpsc::Sender<VoicemailRequest>>,
    /// Opens media relays for anchored calls (`calls.media = "anchor"`); made on first use.
    relays: Option<MediaRelay>,
    /// Whether the SIP task answers voicemail hand-offs itself (the IVR runs here).
    ivr_available: bool,
    /// Blind transfers asked by REFER in bridged calls (`refer`).
    refers: refer::Refers,
    /// Attended transfers (REFER with Replaces) waiting for the transferee (`attended`).
    attended: attended::Attended,
    /// Several nodes: answered calls' dialogs in the store, for a survivor (issue #20).
    dialogs: Option<crate::cluster::dialog_share::CallsShare>,
}

struct Running {
    call: Call,
    span: Span,
    /// The Call-IDs of the caller's dialog and every B leg's, entered in the owner index, and
    /// which side each is.
    call_ids: HashMap<String, Side>,
    /// Every transaction entered in the owner index for this call (B-leg INVITEs, BYEs either
    /// way, the inbound INVITE), with its side and method; forgetting the call releases
    /// exactly those.
    transactions: HashMap<TransactionId, (Side, Method)>,
    /// The inbound INVITE is one we made ourselves (a click-to-call's target call): its
    /// caller is our user's desk, which needs no authentication.
    originated: bool,
    /// The click-to-call whose INVITE this is ([`CallerSide::Originated`]): the call's
    /// responses to it go there.
    originator: Option<String>,
    /// The call's entry in `Calls::timers`.
    deadline: Option<Instant>,
    invites: HashMap<LegId, TransactionId>,
    /// The transport of the caller's INVITE, for a call answered by the retrieval IVR.
    transport: TransportKind,
    /// The call's media relay while its media is anchored; dropped (ports freed) as soon as
    /// the caller's side is over.
    relay: Option<RelayHandle>,
    /// Counts the relay in `/metrics` while it is open (dropped with it).
    relay_counted: Option<crate::metrics::RtpSessionGuard>,
    _guard: Option<CallGuard>,
}

impl Calls {
    /// Sets the channel to the voicemail cx.
    pub fn set_voicemail(&mut self, sender: mpsc::Sender<VoicemailRequest>) {
        self.voicemail = Some(sender);
    }

    /// Records each answered call's dialogs through `share` until it is over.
    pub fn set_dialog_share(&mut self, share: crate::cluster::dialog_share::DialogShare) {
        self.dialogs = Some(crate::cluster::dialog_share::CallsShare::new(share));
    }

    /// The IVR answers voicemail hand-offs and mailbox calls in this task.
    pub fn set_ivr_available(&mut self) {
        self.ivr_available = true;
    }

    /// The earliest timer of any call.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers
            .first()
            .map(|&(at, _)| at)
            .into_iter()
            .chain(self.refers.poll_timeout())
            .min()
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
pub(super) fn on_invite(
    cx: &mut Context,
    calls: &mut Calls,
    transaction: TransactionId,
    request: rsip::Request,
    source: SocketAddr,
    transport: TransportKind,
) {
    start(
        cx,
        calls,
        CallerSide::Transaction(transaction),
        request,
        source,
        transport,
    );
}

/// A click-to-call's target call (RFC 3725 Flow I): `request` is the INVITE click-to-call
/// `originator` made as if its desk had sent it ([`CallerSide::Originated`]), so no transaction
/// carries it and the call's responses go back to `originator`. Its caller is our user's desk,
/// which needs no authentication, and is `caller` before routing says so.
pub(super) fn on_originated(
    cx: &mut Context,
    calls: &mut Calls,
    originator: &str,
    request: rsip::Request,
    source: SocketAddr,
    transport: TransportKind,
    caller: CallerInfo,
) -> CallKey {
    let key = start(
        cx,
        calls,
        CallerSide::Originated,
        request,
        source,
        transport,
    );
    if let Some(running) = calls.calls.get_mut(&key) {
        running.originated = true;
        running.originator = Some(originator.to_owned());
        running.call.set_caller(caller);
    }
    key
}

/// Whether the call `key` still runs (it has its caller's INVITE until it is forgotten).
pub(super) fn is_running(calls: &Calls, key: CallKey) -> bool {
    calls.calls.contains_key(&key)
}

/// Creates the call for the caller's INVITE and starts the routing look-up.
fn start(
    cx: &mut Context,
    calls: &mut Calls,
    side: CallerSide,
    request: rsip::Request,
    source: SocketAddr,
    transport: TransportKind,
) -> CallKey {
    let now = cx.instant();
    let wall = cx.clock.now();
    let call_id = dialog::header_value(&request.headers, "Call-ID").unwrap_or_default();
    let span = tracing::info_span!("call", call_id = %call_id);
    let config = call_config(cx);
    let key = CallKey(calls.next);
    calls.next += 1;
    let caller = caller_from(&request);
    let call = Call::new(
        now,
        wall,
        config,
        Inbound {
            side,
            invite: request.clone(),
            source,
            transport,
        },
        caller,
    );
    span.in_scope(|| info!(from = %source, uri = %request.uri, "incoming call"));
    calls.calls.insert(
        key,
        Running {
            call,
            span: span.clone(),
            call_ids: HashMap::from([(call_id.clone(), Side::Caller)]),
            transactions: match side {
                CallerSide::Transaction(tx) => {
                    HashMap::from([(tx, (Side::Caller, Method::Invite))])
                }
                CallerSide::Originated => HashMap::new(),
            },
            originated: false,
            originator: None,
            deadline: None,
            invites: HashMap::new(),
            transport,
            relay: None,
            relay_counted: None,
            _guard: cx.call_guard(),
        },
    );
    if let CallerSide::Transaction(transaction) = side {
        cx.owners.bind_transaction(transaction, Owner::Call(key));
    }
    cx.owners.bind_dialog(call_id, Owner::Call(key));
    calls.reindex(key);
    let store = cx.store.clone();
    let presence = cx.presence.clone();
    let completions = cx.completions.clone();
    let numbers = Numbers {
        trunk: cx.config.sip.trunk.clone(),
        voicemail: cx.config.sip.voicemail_number.clone(),
        default_lang: cx.config.default_language,
        deny: cx.config.toll_fraud.deny_prefixes.clone(),
        node: cx.node_id.clone(),
        node_expiry: chrono::Duration::from_std(cx.config.cluster.expiry())
            .unwrap_or(chrono::Duration::MAX),
    };
    let metrics = cx.metrics.clone();
    tokio::spawn(tracing::Instrument::instrument(
        async move {
            let lookup = crate::metrics::timed(
                metrics.as_deref(),
                crate::metrics::StoreOp::Route,
                route::route(&store, &presence, &numbers, key, (&request, source), wall),
            )
            .await;
            let _ = completions.send(Completion::Routed(Box::new(lookup))).await;
        },
        span,
    ));
    key
}

/// The routing task answered: authenticate a caller that is one of our devices, then run.
pub(super) fn on_routed(cx: &mut Context, calls: &mut Calls, lookup: RouteLookup) {
    let RouteLookup {
        key,
        outcome,
        caller,
        caller_device,
    } = lookup;
    let Some(running) = calls.calls.get(&key) else {
        return;
    };
    let span = running.span.clone();
    let _enter = span.enter();
    if let Some(device) = caller_device {
        // A click-to-call's target leg is an INVITE we made ourselves: nothing to check.
        if !running.originated && !authenticated(cx, calls, key, &device) {
            return;
        }
        debug!(caller = %caller.number, "caller authenticated");
    }
    let plan = match outcome {
        Routed::Plan(plan) => plan,
        Routed::Mailbox(setup) => {
            retrieve_mailbox(cx, calls, key, setup);
            return;
        }
    };
    if let Some(running) = calls.calls.get_mut(&key) {
        running.call.set_caller(caller);
    }
    let plan = anchor_media(cx, calls, key, plan);
    drive(cx, calls, key, Event::Routed(plan));
}

/// Opens a media relay for a call about to ring when its media is anchored (the default) and
/// the caller's INVITE carries an SDP offer we can rewrite. Without an offer (the offer would
/// come in a 2xx and the answer in the ACK) or with `calls.media = "passthrough"` the SDP
/// crosses unchanged. A full port range refuses the call with 503 (RFC 3261 §21.5.4), as the
/// IVR does: ringing a phone whose media cannot flow helps nobody.
fn anchor_media(cx: &mut Context, calls: &mut Calls, key: CallKey, plan: Plan) -> Plan {
    if cx.config.calls.media != MediaMode::Anchor
        || !matches!(plan, Plan::Ring { .. } | Plan::Hunt(_))
    {
        return plan;
    }
    let Some(running) = calls.calls.get(&key) else {
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
    let ip = cx.media_ip(invite);
    // The relay's RTP timeout comes back to this loop as a completion for the call.
    let completions = cx.completions.clone();
    let on_timeout: OnTimeout = Box::new(move || {
        tokio::spawn(async move {
            let _ = completions.send(Completion::MediaTimeout(key)).await;
        });
    });
    let relays = calls
        .relays
        .get_or_insert_with(|| MediaRelay::new(&cx.config.rtp));
    match relays.open(ip, on_timeout) {
        Ok(relay) => {
            let anchor = MediaAnchor {
                // Named in the SDP each party gets: `[rtp] public_ip` behind NAT.
                caller_facing: cx.advertised_media(relay.facing(Party::Caller)),
                callee_facing: cx.advertised_media(relay.facing(Party::Callee)),
            };
            debug!(caller_facing = %anchor.caller_facing, callee_facing = %anchor.callee_facing, "media anchored");
            if let Some(running) = calls.calls.get_mut(&key) {
                running.call.anchor_media(anchor);
                running.relay = Some(relay);
                running.relay_counted = cx.metrics.as_ref().map(|m| m.rtp_session_opened());
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

/// A call for the mailbox: the B2BUA steps aside (nothing was answered yet but the layer's 100)
/// and the retrieval IVR answers with the same To tag.
fn retrieve_mailbox(cx: &mut Context, calls: &mut Calls, key: CallKey, setup: RetrieveSetup) {
    let Some(running) = calls.calls.get(&key) else {
        return;
    };
    let (side, invite) = running.call.inbound();
    let invite = invite.clone();
    let originator = running.originator.clone();
    let transaction = ivr_transaction(cx, side, originator.as_deref());
    let Some(running) = calls.calls.get(&key) else {
        return;
    };
    let answer = Answer {
        call_id: running.call.call_id().to_owned(),
        transaction,
        invite,
        local_tag: running.call.local_tag().to_owned(),
        source: running.call.inbound_source(),
        transport: running.transport,
    };
    info!(entry = ?setup.entry, "call for the mailbox");
    forget(cx, calls, key);
    cx.defer(Deferred::AnswerIvr(
        Box::new(answer),
        IvrKind::Retrieve(setup),
    ));
}

/// §22.3: an INVITE from one of our users' devices must carry valid Proxy-Authorization;
/// without it (or stale, or wrong) it gets 407 and the call ends here.
fn authenticated(cx: &mut Context, calls: &mut Calls, key: CallKey, device: &Device) -> bool {
    let Some(running) = calls.calls.get(&key) else {
        return false;
    };
    let (side, request) = running.call.inbound();
    let CallerSide::Transaction(transaction) = side else {
        // An INVITE we made ourselves is not challenged.
        return true;
    };
    let request = request.clone();
    let credentials = request.headers.iter().find_map(|h| match h {
        Header::ProxyAuthorization(a) => Some(a.value().to_owned()),
        _ => None,
    });
    let now = cx.clock.now();
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
                    realm: &cx.config.sip.domain,
                    method: "INVITE",
                    request_uri: &uri,
                };
                let binding = super::register::binding(running.call.inbound_source());
                match cx.nonces.verify_bound(now, &context, &digest, ha1, binding) {
                    Ok(()) => return true,
                    Err(error) => {
                        stale = error.is_stale();
                        if error.counts_as_failure() {
                            let at = cx.instant();
                            let client = crate::sip::client::client_ip(
                                &cx.config.security.trusted(),
                                running_source(running),
                                &request,
                            );
                            if let Some(ban) = cx.auth_failed(at, client) {
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
    let realm = cx.config.sip.domain.clone();
    let binding = super::register::binding(running.call.inbound_source());
    let mut response = reply(&request, 407, None);
    for value in super::register::challenge_values(cx, &request, now, &realm, stale, binding) {
        response.headers.push(Header::ProxyAuthenticate(
            rsip::headers::ProxyAuthenticate::new(value),
        ));
    }
    cx.respond(transaction, response);
    forget(cx, calls, key);
    false
}

fn running_source(running: &Running) -> std::net::IpAddr {
    running.call.inbound_source().ip()
}

/// Feeds an event to a call and carries out what it asks.
pub(super) fn drive(cx: &mut Context, calls: &mut Calls, key: CallKey, event: Event) {
    let now = cx.instant();
    let Some(running) = calls.calls.get_mut(&key) else {
        return;
    };
    running.call.handle(now, event);
    run_actions(cx, calls, key);
}

/// The call's relay carried no RTP either way for `rtp.timeout_secs`: the call ends if it is
/// answered (see [`Event::MediaTimeout`]). A call already gone is nothing to do.
pub(super) fn on_media_timeout(cx: &mut Context, calls: &mut Calls, key: CallKey) {
    let span = calls.calls.get(&key).map(|running| running.span.clone());
    let _entered = span.as_ref().map(Span::enter);
    drive(cx, calls, key, Event::MediaTimeout);
}

/// The call whose inbound INVITE is `inbound`, while it has it.
fn inbound_call(cx: &Context, calls: &Calls, inbound: TransactionId) -> Option<CallKey> {
    match cx.owners.transaction(inbound) {
        Some(&Owner::Call(key))
            if calls.calls.get(&key).is_some_and(|r| {
                r.transactions
                    .get(&inbound)
                    .is_some_and(|(side, _)| *side == Side::Caller)
            }) =>
        {
            Some(key)
        }
        _ => None,
    }
}

/// Feeds `event` to the call whose inbound INVITE is `inbound` (a click-to-call's target leg,
/// which we originated); false when no call has it.
pub(crate) fn drive_inbound(
    cx: &mut Context,
    calls: &mut Calls,
    inbound: TransactionId,
    event: Event,
) -> bool {
    let Some(key) = inbound_call(cx, calls, inbound) else {
        return false;
    };
    drive(cx, calls, key, event);
    true
}

/// Marks the call whose inbound INVITE is `inbound` as one we originated (a click-to-call's
/// target call: its caller, our user's desk, needs no authentication) and tells it who its
/// caller is before routing does.
pub(crate) fn mark_originated(
    cx: &Context,
    calls: &mut Calls,
    inbound: TransactionId,
    caller: CallerInfo,
) {
    if let Some(key) = inbound_call(cx, calls, inbound) {
        if let Some(running) = calls.calls.get_mut(&key) {
            running.originated = true;
            running.call.set_caller(caller);
        }
    }
}

/// A transfer out of the IVR bridged its caller to the call whose inbound INVITE is `inbound`
/// (`runtime::ivr_leg::transfer`): the caller's dialog, which the IVR leg held until now, is
/// this call's from here on, and our CSeq in it goes on after `cseq`. False when the call is
/// over.
pub(crate) fn adopt_caller_dialog(
    cx: &mut Context,
    calls: &mut Calls,
    inbound: TransactionId,
    call_id: &str,
    cseq: u32,
) -> bool {
    let Some(key) = inbound_call(cx, calls, inbound) else {
        return false;
    };
    let Some(running) = calls.calls.get_mut(&key) else {
        return false;
    };
    running.call.continue_caller_cseq(cseq);
    cx.owners.bind_dialog(call_id.to_owned(), Owner::Call(key));
    true
}

/// Fires due call timers.
pub(super) fn handle_timeout(cx: &mut Context, calls: &mut Calls, now: Instant) {
    let due: Vec<CallKey> = calls
        .timers
        .iter()
        .take_while(|&&(at, _)| at <= now)
        .map(|&(_, key)| key)
        .collect();
    for key in due {
        if let Some(running) = calls.calls.get_mut(&key) {
            running.call.handle_timeout(now);
        }
        run_actions(cx, calls, key);
    }
    refer::handle_timeout(cx, calls, now);
}

fn run_actions(cx: &mut Context, calls: &mut Calls, key: CallKey) {
    let Some(running) = calls.calls.get(&key) else {
        return;
    };
    let span = running.span.clone();
    let _enter = span.enter();
    loop {
        let now = cx.instant();
        let Some(running) = calls.calls.get_mut(&key) else {
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
                match cx.layer.send_request(now, request, destination, transport) {
                    Ok(tx) => {
                        cx.owners.bind_transaction(tx, Owner::Call(key));
                        if let Some(running) = calls.calls.get_mut(&key) {
                            running.transactions.insert(tx, (side, method));
                        }
                        if let (Side::Callee(leg), Method::Invite) = (side, &method) {
                            if let Some(running) = calls
                                .calls
                                .get_mut(&key)
                                // A re-INVITE relayed on an existing leg is not a new leg.
                                .filter(|r| !r.invites.contains_key(&leg))
                            {
                                info!(leg = leg.0, %destination, "ringing leg");
                                running.invites.insert(leg, tx);
                                if let Some(id) = leg_call_id {
                                    running.call_ids.insert(id.clone(), side);
                                    cx.owners.bind_dialog(id, Owner::Call(key));
                                }
                            }
                        }
                    }
                    Err(error) => {
                        debug!(%error, "request not sent");
                        if let Some(running) = calls.calls.get_mut(&key) {
                            running
                                .call
                                .handle(now, Event::RequestFailed { side, method });
                        }
                    }
                }
            }
            Action::Cancel(leg) => {
                if let Some(tx) = running.invites.get(&leg).copied() {
                    if let Err(error) = cx.layer.cancel(now, tx) {
                        debug!(%error, leg = leg.0, "CANCEL not sent");
                    }
                }
            }
            Action::SendAck {
                request,
                destination,
                transport,
            } => {
                cx.layer
                    .send_stateless(rsip::SipMessage::Request(request), destination, transport)
            }
            Action::Respond {
                transaction,
                response,
            } => cx.respond(transaction, response),
            Action::ToOriginator(response) => {
                respond_caller(
                    cx,
                    CallerSide::Originated,
                    running.originator.as_deref(),
                    response,
                );
            }
            Action::Voicemail(request) => {
                let originator = running.originator.clone();
                hand_off(cx, calls, *request, originator.as_deref());
            }
            Action::Presence { user_id, change } => match change {
                PresenceChange::Ringing => cx.presence.call_ringing(user_id, &call_id),
                PresenceChange::RingingEnded => cx.presence.ringing_ended(user_id, &call_id),
                PresenceChange::Started => cx.presence.call_started(user_id, &call_id),
                PresenceChange::Ended => cx.presence.call_ended(user_id, &call_id),
            },
            Action::Record(data) => cx.history.record(data),
            Action::MediaPeer { party, remote } => {
                if let Some(relay) = &running.relay {
                    relay.set_remote(party, remote);
                }
            }
            Action::Refer {
                side,
                transaction,
                request,
            } => refer::on_refer(cx, calls, key, side, transaction, *request),
        }
    }
    if let Some(running) = calls.calls.get_mut(&key) {
        if running.call.is_over() && running.relay.take().is_some() {
            running.relay_counted = None;
            // Hung up, handed to voicemail (the IVR answers with its own media), rejected or
            // cancelled: the relay's ports go back now, not when the last B leg has wound down.
            debug!("media relay released");
        }
    }
    if let (Some(share), Some(running)) = (calls.dialogs.as_mut(), calls.calls.get(&key)) {
        share.observe(&running.call);
    }
    calls.reindex(key);
    let finished = calls.calls.get(&key).is_some_and(|r| r.call.is_finished());
    if finished {
        info!("call over");
        forget(cx, calls, key);
    }
}

fn forget(cx: &mut Context, calls: &mut Calls, key: CallKey) {
    refer::call_gone(cx, calls, key);
    if let Some(running) = calls.calls.remove(&key) {
        if let Some(share) = calls.dialogs.as_mut() {
            share.forget(running.call.call_id());
        }
        let owner = Owner::Call(key);
        for id in running.call_ids.keys() {
            cx.owners.release_dialog(id, &owner);
        }
        for tx in running.transactions.keys() {
            if cx.owners.transaction(*tx) == Some(&owner) {
                cx.owners.release_transaction(*tx);
            }
        }
        if let Some(at) = running.deadline {
            calls.timers.remove(&(at, key));
        }
    }
}

/// Sends the call to voicemail: answered here by the deposit IVR when the media engine is
/// running (`ivr_leg::answer`), else to an external voicemail service when one is wired in;
/// without either the caller is told 480 with a Reason saying why, so nobody rings into a void
/// without a word.
fn hand_off(
    cx: &mut Context,
    calls: &mut Calls,
    request: VoicemailRequest,
    originator: Option<&str>,
) {
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
    if calls.ivr_available {
        let answer = Answer {
            call_id: request.call_id.clone(),
            transaction: ivr_transaction(cx, request.side, originator),
            invite: request.invite.clone(),
            local_tag: request.local_tag.clone(),
            source: request.source,
            transport: request.transport,
        };
        cx.defer(Deferred::AnswerIvr(
            Box::new(answer),
            IvrKind::Deposit(Box::new(request)),
        ));
        return;
    }
    if let Some(sender) = &calls.voicemail {
        match sender.try_send(request) {
            Ok(()) => return,
            Err(error) => {
                warn!("voicemail service not taking calls; answering 480");
                let request = match error {
                    mpsc::error::TrySendError::Full(r) | mpsc::error::TrySendError::Closed(r) => r,
                };
                answer_unavailable(cx, &request, originator, &reason, &back_at_text);
                return;
            }
        }
    }
    answer_unavailable(cx, &request, originator, &reason, &back_at_text);
}

fn answer_unavailable(
    cx: &mut Context,
    request: &VoicemailRequest,
    originator: Option<&str>,
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
    respond_caller(cx, request.side, originator, response);
}

/// Sends a response to the caller's INVITE: in its server transaction, or to the
/// click-to-call that made it.
fn respond_caller(
    cx: &mut Context,
    side: CallerSide,
    originator: Option<&str>,
    response: rsip::Response,
) {
    match (side, originator) {
        (CallerSide::Transaction(transaction), _) => cx.respond(transaction, response),
        (CallerSide::Originated, Some(click_to_call)) => cx.defer(Deferred::TargetResponse {
            click_to_call: click_to_call.to_owned(),
            response: Box::new(response),
        }),
        (CallerSide::Originated, None) => {
            debug!("response to an INVITE of ours with no maker; dropped");
        }
    }
}

/// The transaction id an IVR leg answers the caller's INVITE in (`ivr_leg::answer` speaks
/// transaction ids): the caller's own, or for an INVITE a click-to-call made, an id of the
/// owner index's own that leads the IVR's answers back to it (`Owners::originate`; the
/// click-to-call releases it when it is forgotten).
fn ivr_transaction(cx: &mut Context, side: CallerSide, originator: Option<&str>) -> TransactionId {
    match side {
        CallerSide::Transaction(transaction) => transaction,
        CallerSide::Originated => cx.owners.originate(originator.unwrap_or_default()),
    }
}

/// A response in one of the call's client transactions.
pub(super) fn on_response(
    cx: &mut Context,
    calls: &mut Calls,
    key: CallKey,
    transaction: TransactionId,
    response: rsip::Response,
) {
    if refer::on_response(cx, calls, transaction, &response) {
        return;
    }
    let Some(side) = side_of_transaction(calls, key, transaction) else {
        return;
    };
    drive(cx, calls, key, Event::Response { side, response });
}

/// A response no transaction matched, in one of the call's dialogs: a 2xx retransmission for
/// a B leg (RFC 6026 §8.9).
pub(super) fn on_stray_response(
    cx: &mut Context,
    calls: &mut Calls,
    key: CallKey,
    response: rsip::Response,
) {
    if !(200..300).contains(&response.status_code.code()) {
        return;
    }
    let Ok(call_id) = dialog::header_value(&response.headers, "Call-ID") else {
        return;
    };
    if let Some(side @ Side::Callee(_)) = side_of_dialog(calls, key, &call_id) {
        drive(cx, calls, key, Event::Response { side, response });
    }
}

/// Timer B/F/H or a transport error in one of the call's transactions (the router has taken
/// it out of the owner index).
pub(super) fn on_transaction_failed(
    cx: &mut Context,
    calls: &mut Calls,
    key: CallKey,
    transaction: TransactionId,
) {
    if refer::on_failed(cx, calls, transaction) {
        return;
    }
    let Some((side, method)) = calls
        .calls
        .get_mut(&key)
        .and_then(|r| r.transactions.remove(&transaction))
    else {
        return;
    };
    // The caller's own INVITE (Timer H) is no request of ours; a re-INVITE we relayed
    // towards the caller is.
    let inbound = calls
        .calls
        .get(&key)
        .is_some_and(|r| r.call.inbound().0 == CallerSide::Transaction(transaction));
    if !inbound {
        drive(cx, calls, key, Event::RequestFailed { side, method });
    }
}

/// A terminated transaction no longer routes events (the router has taken it out of the
/// owner index).
pub(super) fn on_terminated(calls: &mut Calls, key: CallKey, transaction: TransactionId) {
    if let Some(running) = calls.calls.get_mut(&key) {
        running.transactions.remove(&transaction);
    }
}

/// The caller cancelled the call's INVITE; false when `invite` is not its inbound INVITE.
pub(super) fn on_cancelled(
    cx: &mut Context,
    calls: &mut Calls,
    key: CallKey,
    invite: TransactionId,
) -> bool {
    if side_of_transaction(calls, key, invite) != Some(Side::Caller) {
        return false;
    }
    drive(cx, calls, key, Event::Cancelled);
    true
}

/// An ACK outside a transaction in one of the call's dialogs: the caller's ACK for our 2xx,
/// or either side's ACK for a relayed re-INVITE's 2xx.
pub(super) fn on_ack(cx: &mut Context, calls: &mut Calls, key: CallKey, request: &rsip::Request) {
    let Ok(call_id) = dialog::header_value(&request.headers, "Call-ID") else {
        return;
    };
    if let Some(side) = side_of_dialog(calls, key, &call_id) {
        let request = request.clone();
        drive(cx, calls, key, Event::DialogAck { side, request });
    }
}

/// An in-dialog request (BYE, re-INVITE, ...) in one of the call's dialogs.
pub(super) fn on_in_dialog(
    cx: &mut Context,
    calls: &mut Calls,
    key: CallKey,
    transaction: TransactionId,
    request: rsip::Request,
) {
    let call_id = dialog::header_value(&request.headers, "Call-ID").unwrap_or_default();
    match side_of_dialog(calls, key, &call_id) {
        Some(side) => drive(
            cx,
            calls,
            key,
            Event::Request {
                side,
                transaction,
                request,
            },
        ),
        None => {
            let response = reply(&request, 481, Some("Call/Transaction Does Not Exist"));
            cx.respond(transaction, response);
        }
    }
}

/// Which side of call `key` a transaction is on.
fn side_of_transaction(calls: &Calls, key: CallKey, transaction: TransactionId) -> Option<Side> {
    let running = calls.calls.get(&key)?;
    running
        .transactions
        .get(&transaction)
        .map(|&(side, _)| side)
}

/// Which side of call `key` a Call-ID is.
fn side_of_dialog(calls: &Calls, key: CallKey, call_id: &str) -> Option<Side> {
    calls.calls.get(&key)?.call_ids.get(call_id).copied()
}

pub(crate) fn call_config(cx: &Context) -> CallConfig {
    let sent_by = cx.sent_by();
    CallConfig {
        via_sent_by: sent_by.clone(),
        contact: format!("sip:onestatus@{sent_by}"),
        domain: cx.config.sip.domain.clone(),
        server: SERVER.to_owned(),
        t1: cx.config.sip.t1,
        t2: cx.config.sip.t2,
    }
}
