//! The click-to-call driver in the SIP task: the HTTP handler sends a [`Command`] over a
//! channel, the SIP task runs one [`ClickToCall`] per request (the desk leg, RFC 3725 Flow I)
//! and hands the target side to the B2BUA as an ordinary call (`calls::on_invite` with an
//! INVITE we made; see the module doc of [`crate::b2bua::click_to_call`]).
//!
//! The target call's inbound INVITE has no server transaction: it gets a synthetic
//! [`TransactionId`] from the top of the id space (the layer counts up from 0), and
//! `SipService::respond` gives the responses on it to [`on_respond`] instead of the layer. The
//! status the API shows lives in a shared [`Registry`] the SIP task writes and the API reads.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{DateTime, Utc};
use rsip::Method;
use tokio::sync::mpsc;
use tracing::{debug, info, Span};

use super::calls;
use super::sip_service::SipService;
use crate::b2bua::click_to_call::{
    Action, ClickToCall, EndReason, Event as C2cEvent, Originate, Status,
};
use crate::b2bua::trunk::Trunk;
use crate::b2bua::{Event as CallEvent, OutboundTarget, Plan, TargetKind};
use crate::clock::Clock;
use crate::shutdown::CallGuard;
use crate::sip::dialog;
use crate::sip::transaction::TransactionId;

/// Commands queued from the API at most (a full queue answers the API 503).
const COMMAND_QUEUE: usize = 256;
/// Click-to-calls remembered at most (ended ones are forgotten first).
const REGISTRY_SIZE: usize = 10_000;
/// Click-to-calls in progress per user at most.
pub const MAX_PER_USER: usize = 3;

/// What the API asks of the SIP task.
#[derive(Debug)]
pub enum Command {
    /// Set one up.
    Originate {
        /// Its id in the registry.
        id: String,
        /// What to call.
        request: Box<Originate>,
    },
    /// Hang it up.
    HangUp {
        /// Its id.
        id: String,
    },
}

/// One click-to-call as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    /// The user who asked for it (only they see it).
    pub owner: i64,
    /// The number called.
    pub to: String,
    /// Where it stands.
    pub status: Status,
    /// When it was asked for.
    pub created_at: DateTime<Utc>,
    /// When it was bridged.
    pub connected_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub ended_at: Option<DateTime<Utc>>,
}

/// The click-to-calls' statuses, shared by the SIP task (writes) and the API (reads).
#[derive(Debug, Clone, Default)]
pub struct Registry(Arc<Mutex<HashMap<String, View>>>);

impl Registry {
    /// The click-to-call `id` if `owner` asked for it (anyone else's is "not found").
    pub fn get(&self, id: &str, owner: i64) -> Option<View> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(id).filter(|v| v.owner == owner).cloned()
    }

    /// How many of `owner`'s click-to-calls are not over.
    pub fn active(&self, owner: i64) -> usize {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.values()
            .filter(|v| v.owner == owner && !matches!(v.status, Status::Ended(_)))
            .count()
    }

    fn insert(&self, id: String, view: View) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= REGISTRY_SIZE {
            // Forget the oldest ended ones (bounded memory whatever the API is asked).
            let mut ended: Vec<(DateTime<Utc>, String)> = map
                .iter()
                .filter(|(_, v)| matches!(v.status, Status::Ended(_)))
                .map(|(k, v)| (v.created_at, k.clone()))
                .collect();
            ended.sort();
            for (_, k) in ended.into_iter().take(REGISTRY_SIZE / 10 + 1) {
                map.remove(&k);
            }
        }
        map.insert(id, view);
    }

    fn update(&self, id: &str, status: Status, now: DateTime<Utc>) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = map.get_mut(id) {
            if matches!(v.status, Status::Ended(_)) {
                return;
            }
            v.status = status;
            match status {
                Status::Connected => v.connected_at = Some(now),
                Status::Ended(_) => v.ended_at = Some(now),
                _ => {}
            }
        }
    }
}

/// The API's side: where commands go and where statuses are read.
#[derive(Debug, Clone)]
pub struct Handle {
    commands: mpsc::Sender<Command>,
    /// `sip.trunk`, for external numbers.
    trunk: String,
    /// The statuses.
    pub registry: Registry,
}

/// Why a click-to-call could not be queued.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The SIP task is not taking commands (busy, or shutting down).
    #[error("the SIP service is not taking calls")]
    Unavailable,
}

impl Handle {
    /// Queues a click-to-call for `request` and records it as ringing the user; returns its id.
    pub fn originate(&self, request: Originate, now: DateTime<Utc>) -> Result<String, QueueError> {
        let id = format!("c2c-{}", crate::sip::message::new_tag());
        let view = View {
            owner: request.user_id,
            to: request.to.clone(),
            status: Status::RingingYou,
            created_at: now,
            connected_at: None,
            ended_at: None,
        };
        self.registry.insert(id.clone(), view);
        let command = Command::Originate {
            id: id.clone(),
            request: Box::new(request),
        };
        if self.commands.try_send(command).is_err() {
            self.registry
                .update(&id, Status::Ended(EndReason::Unreachable), now);
            return Err(QueueError::Unavailable);
        }
        Ok(id)
    }

    /// The trunk leg for an external `number`; `None` without a trunk (or if it does not
    /// resolve).
    pub async fn external_target(&self, number: &str) -> Option<OutboundTarget> {
        let trunk = Trunk::parse(&self.trunk)?;
        // Nothing to dial: no look-up.
        crate::b2bua::trunk::dialable(number)?;
        let address = crate::originate::resolve_trunk(&trunk).await?;
        trunk.target(address, number, TargetKind::External)
    }

    /// Asks the SIP task to hang `id` up.
    pub fn hang_up(&self, id: &str) -> Result<(), QueueError> {
        self.commands
            .try_send(Command::HangUp { id: id.to_owned() })
            .map_err(|_| QueueError::Unavailable)
    }
}

/// The SIP task's side.
#[derive(Default)]
pub struct ClickToCalls {
    commands: Option<mpsc::Receiver<Command>>,
    registry: Registry,
    running: HashMap<String, Running>,
    /// Client transactions towards desks.
    by_transaction: HashMap<TransactionId, String>,
    /// The target calls' synthetic inbound transactions.
    by_inbound: HashMap<TransactionId, String>,
    /// Desk dialogs' Call-IDs.
    by_call_id: HashMap<String, String>,
    next_inbound: u64,
}

struct Running {
    machine: ClickToCall,
    span: Span,
    call_id: String,
    invite: Option<TransactionId>,
    inbound: Option<TransactionId>,
    _guard: Option<CallGuard>,
}

impl ClickToCalls {
    /// A new command channel; the handle goes to the API.
    pub fn handle(&mut self, trunk: String) -> Handle {
        let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
        self.commands = Some(rx);
        Handle {
            commands: tx,
            trunk,
            registry: self.registry.clone(),
        }
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
pub fn on_command(service: &mut SipService, command: Command) {
    match command {
        Command::Originate { id, request } => originate(service, id, *request),
        Command::HangUp { id } => feed(service, &id, C2cEvent::HangUp),
    }
}

fn originate(service: &mut SipService, id: String, request: Originate) {
    let now = service.instant();
    let wall = service.clock.now();
    let machine = ClickToCall::new(now, wall, calls::call_config(service), request);
    let call_id = machine.call_id();
    let span = tracing::info_span!("click_to_call", call_id = %call_id, id = %id);
    span.in_scope(|| {
        info!(to = %machine.request().to, desk = %machine.request().desk.uri, "click-to-call: ringing the desk");
    });
    service
        .click_to_call
        .by_call_id
        .insert(call_id.clone(), id.clone());
    service.click_to_call.running.insert(
        id.clone(),
        Running {
            machine,
            span,
            call_id,
            invite: None,
            inbound: None,
            _guard: service.shutdown.as_ref().map(|s| s.call_started()),
        },
    );
    run_actions(service, &id);
}

fn feed(service: &mut SipService, id: &str, event: C2cEvent) {
    let now = service.instant();
    let Some(running) = service.click_to_call.running.get_mut(id) else {
        return;
    };
    running.machine.handle(now, event);
    run_actions(service, id);
}

/// Fires due ring timeouts.
pub fn handle_timeout(service: &mut SipService, now: Instant) {
    let due: Vec<String> = service
        .click_to_call
        .running
        .iter()
        .filter(|(_, r)| r.machine.poll_timeout().is_some_and(|t| t <= now))
        .map(|(id, _)| id.clone())
        .collect();
    for id in due {
        if let Some(r) = service.click_to_call.running.get_mut(&id) {
            r.machine.handle_timeout(now);
        }
        run_actions(service, &id);
    }
}

/// Whether `inbound` is the synthetic INVITE transaction of a click-to-call's target call.
pub fn is_originated(service: &SipService, inbound: TransactionId) -> bool {
    service.click_to_call.by_inbound.contains_key(&inbound)
}

/// A response the B2BUA (or voicemail) gives our target INVITE; false when `transaction` is
/// no such INVITE (the layer sends it then).
pub fn on_respond(
    service: &mut SipService,
    transaction: TransactionId,
    response: &rsip::Response,
) -> bool {
    let Some(id) = service.click_to_call.by_inbound.get(&transaction).cloned() else {
        return false;
    };
    feed(service, &id, C2cEvent::TargetResponse(response.clone()));
    true
}

/// A response on a desk transaction; false when it is none of ours.
pub fn on_response(
    service: &mut SipService,
    transaction: TransactionId,
    response: &rsip::Response,
) -> bool {
    let Some(id) = service
        .click_to_call
        .by_transaction
        .get(&transaction)
        .cloned()
    else {
        return false;
    };
    feed(service, &id, C2cEvent::DeskResponse(response.clone()));
    true
}

/// A desk's 2xx retransmission outside any transaction; false when it is none of ours.
pub fn on_stray_response(service: &mut SipService, response: &rsip::Response) -> bool {
    let Ok(call_id) = dialog::header_value(&response.headers, "Call-ID") else {
        return false;
    };
    // Only our INVITE to the desk has CSeq 0; re-INVITEs the B2BUA relays are its own.
    if dialog::cseq_number(&response.headers).ok() != Some(0) {
        return false;
    }
    let Some(id) = service.click_to_call.by_call_id.get(&call_id).cloned() else {
        return false;
    };
    feed(service, &id, C2cEvent::DeskResponse(response.clone()));
    true
}

/// Timer B/F or a transport error on a desk transaction; false when it is none of ours.
pub fn on_transaction_failed(service: &mut SipService, transaction: TransactionId) -> bool {
    let Some(id) = service.click_to_call.by_transaction.remove(&transaction) else {
        return false;
    };
    let method = match service.click_to_call.running.get(&id) {
        Some(r) if r.invite == Some(transaction) => Method::Invite,
        _ => Method::Bye,
    };
    feed(service, &id, C2cEvent::DeskRequestFailed(method));
    true
}

/// A transaction ended.
pub fn on_terminated(service: &mut SipService, transaction: TransactionId) {
    service.click_to_call.by_transaction.remove(&transaction);
}

/// A request in a desk dialog before the bridge (after it, the B2BUA's call owns the dialog);
/// false when it is not ours to answer.
pub fn on_in_dialog(
    service: &mut SipService,
    transaction: TransactionId,
    request: &rsip::Request,
) -> bool {
    let Ok(call_id) = dialog::header_value(&request.headers, "Call-ID") else {
        return false;
    };
    let Some(id) = service.click_to_call.by_call_id.get(&call_id).cloned() else {
        return false;
    };
    let ours = service
        .click_to_call
        .running
        .get(&id)
        .is_some_and(|r| !matches!(r.machine.status(), Status::Connected));
    if !ours {
        return false;
    }
    feed(
        service,
        &id,
        C2cEvent::DeskRequest {
            transaction,
            request: request.clone(),
        },
    );
    true
}

/// Notices bridged calls the B2BUA (or voicemail) has finished, and forgets click-to-calls
/// that are over on both sides.
pub fn sweep(service: &mut SipService) {
    let over: Vec<(String, bool)> = service
        .click_to_call
        .running
        .iter()
        .filter(|(_, r)| !target_running(service, r))
        .map(|(id, r)| (id.clone(), r.machine.is_finished()))
        .collect();
    for (id, finished) in over {
        if finished {
            forget(service, &id);
        } else if service
            .click_to_call
            .running
            .get(&id)
            .is_some_and(|r| r.machine.status() == Status::Connected)
        {
            feed(service, &id, C2cEvent::BridgeEnded);
        }
    }
}

/// Whether the B2BUA's call (or the voicemail leg that took it over) still runs.
fn target_running(service: &SipService, running: &Running) -> bool {
    running.inbound.is_some_and(|tx| {
        calls::has_inbound(service, tx) || service.ivr_legs.owns(&running.call_id)
    })
}

fn run_actions(service: &mut SipService, id: &str) {
    let Some(running) = service.click_to_call.running.get(id) else {
        return;
    };
    let span = running.span.clone();
    let _enter = span.enter();
    loop {
        let now = service.instant();
        let Some(running) = service.click_to_call.running.get_mut(id) else {
            return;
        };
        let Some(action) = running.machine.poll_action() else {
            break;
        };
        let inbound = running.inbound;
        match action {
            Action::SendRequest {
                request,
                destination,
                transport,
            } => {
                let method = request.method;
                match service
                    .layer
                    .send_request(now, request, destination, transport)
                {
                    Ok(tx) => {
                        service
                            .click_to_call
                            .by_transaction
                            .insert(tx, id.to_owned());
                        if method == Method::Invite {
                            if let Some(r) = service.click_to_call.running.get_mut(id) {
                                r.invite = Some(tx);
                            }
                        }
                    }
                    Err(error) => {
                        debug!(%error, "request to the desk not sent");
                        if let Some(r) = service.click_to_call.running.get_mut(id) {
                            r.machine.handle(now, C2cEvent::DeskRequestFailed(method));
                        }
                    }
                }
            }
            Action::CancelDesk => {
                if let Some(tx) = running.invite {
                    if let Err(error) = service.layer.cancel(now, tx) {
                        debug!(%error, "CANCEL to the desk not sent");
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
            Action::StartTarget(invite) => start_target(service, id, *invite),
            Action::TargetAcked(ack) => {
                if !super::ivr_leg::on_ack(service, &ack) {
                    if let Some(tx) = inbound {
                        calls::drive_inbound(service, tx, CallEvent::Ack);
                    }
                }
            }
            Action::CancelTarget => {
                if let Some(tx) = inbound {
                    calls::drive_inbound(service, tx, CallEvent::Cancelled);
                }
            }
            Action::HangUpBridge => {
                if let Some(tx) = inbound {
                    calls::drive_inbound(service, tx, CallEvent::HangUp);
                }
            }
            Action::Status(status) => {
                let wall = service.clock.now();
                match status {
                    Status::Ended(reason) => info!(reason = reason.code(), "click-to-call ended"),
                    other => info!(status = ?other, "click-to-call"),
                }
                service.click_to_call.registry.update(id, status, wall);
            }
            Action::Record(data) => service.history.record(data),
        }
    }
    // Kept while the target call runs: its late answer must still reach the machine (which
    // hangs it up) rather than the void.
    let finished = service
        .click_to_call
        .running
        .get(id)
        .is_some_and(|r| r.machine.is_finished() && !target_running(service, r));
    if finished {
        forget(service, id);
    }
}

/// The desk answered: its offer goes to the B2BUA as a call from the desk.
fn start_target(service: &mut SipService, id: &str, invite: rsip::Request) {
    let c2c = &mut service.click_to_call;
    c2c.next_inbound += 1;
    let inbound = TransactionId(u64::MAX - c2c.next_inbound);
    c2c.by_inbound.insert(inbound, id.to_owned());
    let Some(running) = c2c.running.get_mut(id) else {
        return;
    };
    running.inbound = Some(inbound);
    let desk = running.machine.request().desk.clone();
    let external = running.machine.request().external.clone();
    let caller = running.machine.request().caller.clone();
    info!(to = %running.machine.request().to, "click-to-call: desk answered, calling the target");
    calls::on_invite(service, inbound, invite, desk.destination, desk.transport);
    // The routing look-up says the same later; a target that fails at once must not write
    // history without the caller.
    calls::set_caller_of(service, inbound, caller);
    if let Some(trunk) = external {
        // Not one of our users: straight to the trunk (the API checked the organisation's
        // external-call rule); the routing look-up's 404 that follows finds the call routed.
        let plan = Plan::Dial {
            targets: vec![trunk],
            timeout: crate::routing::MAX_RING_TIMEOUT,
        };
        calls::drive_inbound(service, inbound, CallEvent::Routed(plan));
    }
}

fn forget(service: &mut SipService, id: &str) {
    let c2c = &mut service.click_to_call;
    if let Some(running) = c2c.running.remove(id) {
        c2c.by_call_id.remove(&running.call_id);
        if let Some(tx) = running.inbound {
            c2c.by_inbound.remove(&tx);
        }
        c2c.by_transaction.retain(|_, v| v != id);
    }
}
