//! The SIP side of a call we answered ourselves for an IVR (deposit or retrieval): an owner
//! in the SIP task's router, which hands it the events of the caller's dialog. The seam to
//! the IVR drivers (what crosses, [`LegEvent`] and [`LegCommand`]) is [`super::leg`]; the
//! drivers run the sans-I/O state machines over the media session and know nothing of SIP.
//!
//! [`answer`] takes the caller's INVITE (from the B2BUA's voicemail hand-off, or a call to
//! the access number), opens the RTP session, answers 200 with our SDP in the caller's dialog
//! (RFC 3261 §12.1.1) and spawns the driver. The dialog itself is a sans-I/O
//! [`UasLeg`](crate::b2bua::uas_leg): 2xx retransmission until the ACK (§13.3.1.4), BYE only
//! after it (§15), offers by re-INVITE/UPDATE, INFO key presses, session refreshes (RFC 4028).
//! This file only carries its actions out: sends, and [`LegEvent`]s to the driver; the
//! driver's [`LegCommand`]s come back into the SIP loop as `Completion`s and become leg events:
//! BYE, an answer to an offer, or a transfer (`ivr_leg::transfer`: a new call the B2BUA
//! carries, then a re-INVITE bridging the caller, or a REFER, RFC 3515). A CANCEL can only
//! reach a call before the answer, while the B2BUA still owns it (487 there).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use rsip::Method;
use tokio::sync::mpsc;
use tracing::{info, warn, Span};

pub use super::leg::{answer_offer, Answer, IvrDeps, IvrKind, IvrLeg, LegCommand, LegEvent};
use super::sip::context::Context;
pub use super::sip::owners::LegKey;
use super::sip::owners::Owner;
use super::sip::reply::reply;
use crate::b2bua::uas_leg::{UasAction, UasEvent, UasLeg};
use crate::config::TransferMode;
use crate::media::engine::MediaEngine;
use crate::sip::dialog;
use crate::sip::transaction::{TransactionId, TransportKind};

mod answer;
mod transfer;
pub use answer::answer;
pub use transfer::{
    leg_of as transfer_leg_of, on_target_response as on_transfer_response, run as run_transfer,
};

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

/// One call we answered, as the SIP task keeps it: the dialog machine and the way to its
/// driver.
struct AnsweredLeg {
    uas: UasLeg,
    /// The caller's INVITE server transaction: our 2xx goes out in it.
    invite: TransactionId,
    /// To the driver; dropped when the dialog ends, which the driver reads as a hang-up.
    events: mpsc::Sender<LegEvent>,
    span: Span,
    /// Counts the leg's media session in `/metrics` while the leg lives.
    _media_counted: Option<crate::metrics::RtpSessionGuard>,
}

/// The answered IVR legs and the indexes that lead SIP events to them.
#[derive(Default)]
pub struct IvrLegs {
    legs: HashMap<LegKey, AnsweredLeg>,
    /// The legs' dialogs. The owner index has them too, except a click-to-call's desk dialog,
    /// which stays with the click-to-call; it finds the leg that answered its call here.
    by_call_id: HashMap<String, LegKey>,
    /// Our client transactions in the legs' dialogs (BYE, REFER, re-INVITE), entered in the
    /// owner index too, and their methods.
    by_transaction: HashMap<TransactionId, (LegKey, Method)>,
    next: u64,
    /// Media engine and drivers for the calls we answer ourselves (voicemail); `None`: such
    /// calls get 480.
    runtime: Option<IvrRuntime>,
    /// Transfers out of the IVR carried by the B2BUA ("press 9").
    transfers: transfer::Transfers,
}

impl IvrLegs {
    /// The earliest timer of a leg (2xx retransmission, BYE after the ACK, session expiry) or
    /// of a transfer.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.legs
            .values()
            .filter_map(|l| l.uas.poll_timeout())
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
            let call_id = &leg.uas.dialog().call_id;
            self.by_call_id.remove(call_id);
            cx.owners.release_dialog(call_id, &owner);
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

/// Feeds leg `key` one event and carries out what follows.
fn feed(cx: &mut Context, legs: &mut IvrLegs, key: LegKey, event: UasEvent) {
    let now = cx.instant();
    if let Some(leg) = legs.legs.get_mut(&key) {
        leg.uas.handle(now, event);
    }
    drive(cx, legs, key);
}

/// Carries out leg `key`'s actions: sends, and [`LegEvent`]s to its IVR driver.
fn drive(cx: &mut Context, legs: &mut IvrLegs, key: LegKey) {
    loop {
        let Some(leg) = legs.legs.get_mut(&key) else {
            return;
        };
        let Some(action) = leg.uas.poll_action() else {
            return;
        };
        let span = leg.span.clone();
        let _enter = span.enter();
        let events = leg.events.clone();
        match action {
            UasAction::SendAnswer(response) => cx.respond(leg.invite, response),
            UasAction::Respond {
                transaction,
                response,
            } => cx.respond(transaction, response),
            UasAction::SendRequest {
                request,
                destination,
                transport,
            } => send_in_dialog(cx, legs, key, request, destination, transport),
            UasAction::SendAck {
                request,
                destination,
                transport,
            } => {
                cx.layer
                    .send_stateless(rsip::SipMessage::Request(request), destination, transport)
            }
            UasAction::Offer { id, offer } => {
                info!("new offer: the media session follows it");
                if events.try_send(LegEvent::Offer { id, offer }).is_err() {
                    feed(cx, legs, key, UasEvent::OfferLost { id });
                }
            }
            UasAction::Digit(digit) => {
                let _ = events.try_send(LegEvent::Digit(digit));
            }
            UasAction::Refer {
                transaction,
                request,
            } => {
                // The IVR takes no transfer orders from the caller.
                let code = 501;
                feed(
                    cx,
                    legs,
                    key,
                    UasEvent::Reply {
                        transaction,
                        request,
                        code,
                    },
                );
            }
            UasAction::ReferAnswered { accepted } => {
                transfer::refer_answered(cx, legs, key, accepted);
            }
            UasAction::ReinviteAnswered { accepted } => {
                transfer::caller_answered(cx, legs, key, accepted);
            }
            UasAction::Ending => {
                info!("ending the call (BYE)");
                let _ = events.try_send(LegEvent::Hangup);
            }
            UasAction::HungUp => {
                info!("caller hung up (BYE)");
                transfer::caller_hung_up(cx, legs, key);
                let _ = events.try_send(LegEvent::Hangup);
                legs.forget(cx, key);
            }
            UasAction::Closed => legs.forget(cx, key),
            // Only a relaying leg (the B2BUA's) hands requests up raw; the IVR's answers
            // them itself, so this does not come. Should it, the request is refused.
            UasAction::Request {
                transaction,
                request,
            } => feed(
                cx,
                legs,
                key,
                UasEvent::Reply {
                    transaction,
                    request,
                    code: 501,
                },
            ),
        }
    }
}

/// The caller's ACK for our 2xx.
pub fn on_ack(cx: &mut Context, legs: &mut IvrLegs, key: LegKey) {
    feed(cx, legs, key, UasEvent::Ack);
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
    if !legs.legs.contains_key(&key) {
        cx.respond(transaction, reply(&request, 481, None));
        return;
    }
    let event = UasEvent::Request {
        transaction,
        request,
    };
    feed(cx, legs, key, event);
}

/// A command from a leg's driver.
pub fn on_command(cx: &mut Context, legs: &mut IvrLegs, key: LegKey, command: LegCommand) {
    match command {
        LegCommand::HangUp => end_call(cx, legs, key),
        LegCommand::Transfer { number } => match cx.config.calls.transfer {
            TransferMode::Bridge => transfer::request(cx, legs, key, number),
            TransferMode::Refer => transfer::refer(cx, legs, key, &number),
        },
        LegCommand::Answer { id, sdp } => {
            let sdp = sdp.map(|sdp| cx.advertised_sdp(sdp));
            feed(cx, legs, key, UasEvent::Answer { id, sdp })
        }
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
    feed(cx, legs, key, UasEvent::HangUp);
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
            feed(cx, legs, key, UasEvent::RequestFailed { method });
        }
    }
}

/// A response to one of our requests (BYE, REFER, re-INVITE) in leg `key`'s dialog.
pub fn on_response(
    cx: &mut Context,
    legs: &mut IvrLegs,
    key: LegKey,
    transaction: TransactionId,
    response: &rsip::Response,
) {
    if !legs.by_transaction.contains_key(&transaction) || response.status_code.code() < 200 {
        return;
    }
    legs.by_transaction.remove(&transaction);
    cx.owners.release_transaction(transaction);
    feed(cx, legs, key, UasEvent::Response(response.clone()));
}

/// Timer F/B or a transport error on one of our requests (the router has taken it out of the
/// owner index).
pub fn on_transaction_failed(
    cx: &mut Context,
    legs: &mut IvrLegs,
    key: LegKey,
    transaction: TransactionId,
) {
    if let Some((_, method)) = legs.by_transaction.remove(&transaction) {
        feed(cx, legs, key, UasEvent::RequestFailed { method });
    }
}

/// The legs' timers (2xx retransmissions, BYE after the ACK, session expiry) and the
/// transfers' ring timeouts.
pub fn handle_timeout(cx: &mut Context, legs: &mut IvrLegs, now: Instant) {
    transfer::handle_timeout(cx, legs, now);
    let due: Vec<LegKey> = legs
        .legs
        .iter()
        .filter(|(_, l)| l.uas.poll_timeout().is_some_and(|at| at <= now))
        .map(|(k, _)| *k)
        .collect();
    for key in due {
        if let Some(leg) = legs.legs.get_mut(&key) {
            leg.uas.handle_timeout(now);
        }
        drive(cx, legs, key);
    }
}
