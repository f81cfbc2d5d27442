//! The click-to-call owner in the SIP task: the HTTP handler sends an
//! [`originate::Command`] over a channel, the SIP task runs one [`ClickToCall`] per request
//! (the desk leg, RFC 3725 Flow I) and hands the target side to the B2BUA as an ordinary call
//! (`calls::on_invite` with an INVITE we made; see the module doc of
//! [`crate::b2bua::click_to_call`]).
//!
//! The target call's inbound INVITE has no server transaction: the call is fed it as
//! [`crate::b2bua::CallerSide::Originated`] (`calls::on_originated`), the click-to-call keeps
//! the call's key, and the responses the call gives the INVITE come back here as
//! [`on_target_response`] instead of going to the layer. The desk's dialog stays this owner's for the click-to-call's life; once bridged, what arrives
//! in it is its target's ([`target_of`]). The status the API shows lives in the shared
//! [`originate::Registry`] the SIP task writes and the API reads.

use std::collections::HashMap;
use std::time::Instant;

use rsip::Method;
use tokio::sync::mpsc;
use tracing::{debug, info, Span};

use super::calls::{self, CallKey, Calls};
use super::ivr_leg::{self, IvrLegs};
use super::sip::context::Context;
use super::sip::owners::Owner;
use crate::b2bua::click_to_call::{Action, ClickToCall, Event as C2cEvent, Originate, Status};
use crate::b2bua::{Event as CallEvent, Plan};
use crate::originate::{self, Command, Handle, Registry};
use crate::shutdown::CallGuard;
use crate::sip::transaction::TransactionId;

/// The SIP task's side.
#[derive(Default)]
pub struct ClickToCalls {
    commands: Option<mpsc::Receiver<Command>>,
    registry: Registry,
    running: HashMap<String, Running>,
    /// Client transactions towards desks (also in the owner index), and which is whose.
    by_transaction: HashMap<TransactionId, String>,
}

struct Running {
    machine: ClickToCall,
    span: Span,
    call_id: String,
    invite: Option<TransactionId>,
    /// The target call, once the desk answered.
    target: Option<CallKey>,
    _guard: Option<CallGuard>,
}

impl ClickToCalls {
    /// A new command channel; the handle goes to the API.
    pub fn handle(&mut self, trunk: String) -> Handle {
        let (handle, commands) = originate::channel(trunk, self.registry.clone());
        self.commands = Some(commands);
        handle
    }

    /// Takes the command receiver for the SIP task's loop.
    pub fn take_commands(&mut self) -> Option<mpsc::Receiver<Command>> {
        self.commands.take()
    }

    /// The earliest ring timeout.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.running
            .values()
            .filter_map(|r| r.machine.poll_timeout())
            .min()
    }
}

/// A command from the API.
pub fn on_command(
    cx: &mut Context,
    c2c: &mut ClickToCalls,
    calls: &mut Calls,
    legs: &mut IvrLegs,
    command: Command,
) {
    match command {
        Command::Originate { id, request } => originate(cx, c2c, calls, legs, id, *request),
        Command::HangUp { id } => feed(cx, c2c, calls, legs, &id, C2cEvent::HangUp),
    }
}

fn originate(
    cx: &mut Context,
    c2c: &mut ClickToCalls,
    calls: &mut Calls,
    legs: &mut IvrLegs,
    id: String,
    request: Originate,
) {
    let now = cx.instant();
    let wall = cx.now();
    let machine = ClickToCall::new(now, wall, calls::call_config(cx), request);
    let call_id = machine.call_id();
    let span = tracing::info_span!("click_to_call", call_id = %call_id, id = %id);
    span.in_scope(|| {
        info!(to = %machine.request().to, desk = %machine.request().desk.uri, "click-to-call: ringing the desk");
    });
    cx.owners
        .bind_dialog(call_id.clone(), Owner::ClickToCall(id.clone()));
    c2c.running.insert(
        id.clone(),
        Running {
            machine,
            span,
            call_id,
            invite: None,
            target: None,
            _guard: cx.call_guard(),
        },
    );
    run_actions(cx, c2c, calls, legs, &id);
}

fn feed(
    cx: &mut Context,
    c2c: &mut ClickToCalls,
    calls: &mut Calls,
    legs: &mut IvrLegs,
    id: &str,
    event: C2cEvent,
) {
    let now = cx.instant();
    let Some(running) = c2c.running.get_mut(id) else {
        return;
    };
    running.machine.handle(now, event);
    run_actions(cx, c2c, calls, legs, id);
}

/// Fires due ring timeouts.
pub fn handle_timeout(
    cx: &mut Context,
    c2c: &mut ClickToCalls,
    calls: &mut Calls,
    legs: &mut IvrLegs,
    now: Instant,
) {
    let due: Vec<String> = c2c
        .running
        .iter()
        .filter(|(_, r)| r.machine.poll_timeout().is_some_and(|t| t <= now))
        .map(|(id, _)| id.clone())
        .collect();
    for id in due {
        if let Some(r) = c2c.running.get_mut(&id) {
            r.machine.handle_timeout(now);
        }
        run_actions(cx, c2c, calls, legs, &id);
    }
}

/// A response the B2BUA (or voicemail) gives click-to-call `id`'s target INVITE.
pub fn on_target_response(
    cx: &mut Context,
    c2c: &mut ClickToCalls,
    calls: &mut Calls,
    legs: &mut IvrLegs,
    id: &str,
    response: rsip::Response,
) {
    feed(cx, c2c, calls, legs, id, C2cEvent::TargetResponse(response));
}

/// A response on one of `id`'s desk transactions.
pub fn on_response(
    cx: &mut Context,
    c2c: &mut ClickToCalls,
    calls: &mut Calls,
    legs: &mut IvrLegs,
    id: &str,
    response: rsip::Response,
) {
    feed(cx, c2c, calls, legs, id, C2cEvent::DeskResponse(response));
}

/// The desk's 2xx retransmission outside any transaction (our INVITE's, CSeq 0).
pub fn on_desk_response(
    cx: &mut Context,
    c2c: &mut ClickToCalls,
    calls: &mut Calls,
    legs: &mut IvrLegs,
    id: &str,
    response: rsip::Response,
) {
    feed(cx, c2c, calls, legs, id, C2cEvent::DeskResponse(response));
}

/// Timer B/F or a transport error on a desk transaction (the router has taken it out of the
/// owner index).
pub fn on_transaction_failed(
    cx: &mut Context,
    c2c: &mut ClickToCalls,
    calls: &mut Calls,
    legs: &mut IvrLegs,
    id: &str,
    transaction: TransactionId,
) {
    c2c.by_transaction.remove(&transaction);
    let method = match c2c.running.get(id) {
        Some(r) if r.invite == Some(transaction) => Method::Invite,
        _ => Method::Bye,
    };
    feed(
        cx,
        c2c,
        calls,
        legs,
        id,
        C2cEvent::DeskRequestFailed(method),
    );
}

/// A desk transaction ended (the router has taken it out of the owner index).
pub fn on_terminated(c2c: &mut ClickToCalls, _id: &str, transaction: TransactionId) {
    c2c.by_transaction.remove(&transaction);
}

/// A request in `id`'s desk dialog before the bridge; false when it is not ours to answer
/// (once bridged, the target call owns the dialog: [`target_of`]).
pub fn on_in_dialog(
    cx: &mut Context,
    c2c: &mut ClickToCalls,
    calls: &mut Calls,
    legs: &mut IvrLegs,
    id: &str,
    transaction: TransactionId,
    request: &rsip::Request,
) -> bool {
    let ours = c2c
        .running
        .get(id)
        .is_some_and(|r| !matches!(r.machine.status(), Status::Connected));
    if !ours {
        return false;
    }
    feed(
        cx,
        c2c,
        calls,
        legs,
        id,
        C2cEvent::DeskRequest {
            transaction,
            request: request.clone(),
        },
    );
    true
}

/// Who takes what arrives in `id`'s desk dialog and is not the click-to-call's own: the
/// target call while it runs, else the IVR leg that answered it.
pub fn target_of(c2c: &ClickToCalls, calls: &Calls, legs: &IvrLegs, id: &str) -> Option<Owner> {
    let running = c2c.running.get(id)?;
    if let Some(key) = running.target.filter(|&key| calls::is_running(calls, key)) {
        return Some(Owner::Call(key));
    }
    legs.leg_of(&running.call_id).map(Owner::IvrLeg)
}

/// Notices bridged calls the B2BUA (or voicemail) has finished, and forgets click-to-calls
/// that are over on both sides.
pub fn sweep(cx: &mut Context, c2c: &mut ClickToCalls, calls: &mut Calls, legs: &mut IvrLegs) {
    let over: Vec<(String, bool)> = c2c
        .running
        .iter()
        .filter(|(_, r)| !target_running(calls, legs, r))
        .map(|(id, r)| (id.clone(), r.machine.is_finished()))
        .collect();
    for (id, finished) in over {
        if finished {
            forget(cx, c2c, &id);
        } else if c2c
            .running
            .get(&id)
            .is_some_and(|r| r.machine.status() == Status::Connected)
        {
            feed(cx, c2c, calls, legs, &id, C2cEvent::BridgeEnded);
        }
    }
}

/// Whether the B2BUA's call (or the voicemail leg that took it over) still runs.
fn target_running(calls: &Calls, legs: &IvrLegs, running: &Running) -> bool {
    running
        .target
        .is_some_and(|key| calls::is_running(calls, key) || legs.owns(&running.call_id))
}

fn run_actions(
    cx: &mut Context,
    c2c: &mut ClickToCalls,
    calls: &mut Calls,
    legs: &mut IvrLegs,
    id: &str,
) {
    let Some(running) = c2c.running.get(id) else {
        return;
    };
    let span = running.span.clone();
    let _enter = span.enter();
    loop {
        let now = cx.instant();
        let Some(running) = c2c.running.get_mut(id) else {
            return;
        };
        let Some(action) = running.machine.poll_action() else {
            break;
        };
        let target = running.target;
        match action {
            Action::SendRequest {
                request,
                destination,
                transport,
            } => {
                let method = request.method;
                match cx.layer.send_request(now, request, destination, transport) {
                    Ok(tx) => {
                        c2c.by_transaction.insert(tx, id.to_owned());
                        cx.owners
                            .bind_transaction(tx, Owner::ClickToCall(id.to_owned()));
                        if method == Method::Invite {
                            if let Some(r) = c2c.running.get_mut(id) {
                                r.invite = Some(tx);
                            }
                        }
                    }
                    Err(error) => {
                        debug!(%error, "request to the desk not sent");
                        if let Some(r) = c2c.running.get_mut(id) {
                            r.machine.handle(now, C2cEvent::DeskRequestFailed(method));
                        }
                    }
                }
            }
            Action::CancelDesk => {
                if let Some(tx) = running.invite {
                    if let Err(error) = cx.layer.cancel(now, tx) {
                        debug!(%error, "CANCEL to the desk not sent");
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
            Action::StartTarget(invite) => start_target(cx, c2c, calls, id, *invite),
            Action::TargetAcked(ack) => {
                if !ivr_leg::on_ack_by_call_id(cx, legs, &ack) {
                    if let Some(key) = target {
                        calls::drive(cx, calls, key, CallEvent::Ack);
                    }
                }
            }
            Action::CancelTarget => {
                if let Some(key) = target {
                    calls::drive(cx, calls, key, CallEvent::Cancelled);
                }
            }
            Action::HangUpBridge => {
                if let Some(key) = target {
                    calls::drive(cx, calls, key, CallEvent::HangUp);
                }
            }
            Action::Status(status) => {
                let wall = cx.now();
                match status {
                    Status::Ended(reason) => info!(reason = reason.code(), "click-to-call ended"),
                    other => info!(status = ?other, "click-to-call"),
                }
                c2c.registry.update(id, status, wall);
            }
            Action::Record(data) => cx.history.record(data),
        }
    }
    // Kept while the target call runs: its late answer must still reach the machine (which
    // hangs it up) rather than the void.
    let finished = c2c
        .running
        .get(id)
        .is_some_and(|r| r.machine.is_finished() && !target_running(calls, legs, r));
    if finished {
        forget(cx, c2c, id);
    }
}

/// The desk answered: its offer goes to the B2BUA as a call from the desk.
fn start_target(
    cx: &mut Context,
    c2c: &mut ClickToCalls,
    calls: &mut Calls,
    id: &str,
    invite: rsip::Request,
) {
    let Some(running) = c2c.running.get_mut(id) else {
        return;
    };
    let desk = running.machine.request().desk.clone();
    let external = running.machine.request().external.clone();
    let caller = running.machine.request().caller.clone();
    info!(to = %running.machine.request().to, "click-to-call: desk answered, calling the target");
    // The caller is known before the routing look-up says the same: a target that fails at
    // once must not write history without it. Our own INVITE needs no authentication either.
    let target = calls::on_originated(
        cx,
        calls,
        id,
        invite,
        desk.destination,
        desk.transport,
        caller,
    );
    running_target(c2c, id, target);
    if let Some(trunk) = external {
        // Not one of our users: straight to the trunk (the API checked the organisation's
        // external-call rule); the routing look-up's 404 that follows finds the call routed.
        let plan = Plan::Dial {
            targets: vec![trunk],
            timeout: crate::routing::MAX_RING_TIMEOUT,
        };
        calls::drive(cx, calls, target, CallEvent::Routed(plan));
    }
}

fn running_target(c2c: &mut ClickToCalls, id: &str, target: CallKey) {
    if let Some(running) = c2c.running.get_mut(id) {
        running.target = Some(target);
    }
}

fn forget(cx: &mut Context, c2c: &mut ClickToCalls, id: &str) {
    if let Some(running) = c2c.running.remove(id) {
        let owner = Owner::ClickToCall(id.to_owned());
        cx.owners.release_dialog(&running.call_id, &owner);
        // An IVR leg that answered the target call did so under an id naming us.
        cx.owners.release_originated_of(id);
        c2c.by_transaction.retain(|tx, v| {
            if v == id {
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
