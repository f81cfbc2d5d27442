//! The driver of [`crate::b2bua::transfer::Transfer`]: "press 9" carried by the B2BUA for a
//! call an IVR leg answered.
//!
//! The destination is called through the same path as any incoming call: an INVITE shaped as
//! if the caller had dialled the number in its dialog with us (our To tag, its From tag, its
//! Call-ID, CSeq, Contact and route set, its last SDP offer) goes to `calls::on_invite` as a
//! call we originated, as click-to-call does (`b2bua::click_to_call`), so routing, groups,
//! forwards, the toll-fraud guard, media anchoring, history and presence are the normal ones.
//! The call's responses come back here (the owner index's originated ids, named
//! `transfer-<leg>`) instead of to the wire; the caller meanwhile hears ringback from the IVR.
//!
//! On the answer we re-INVITE the caller (§14) with the call's anchored answer as the offer
//! and, once it accepts, hand the caller's dialog to the call (`calls::adopt_caller_dialog`)
//! and drop the IVR leg without a BYE: from there the B2BUA's mid-call machinery (BYE either
//! way, re-INVITEs, session timers) runs on the caller's dialog as on any bridged call. On a
//! refusal, no answer in time, or a caller that refuses the re-INVITE, the IVR leg gets
//! [`LegEvent::TransferFailed`] and the caller is back in voicemail.

use std::collections::HashMap;
use std::time::Instant;

use tracing::{debug, info, warn};

use super::{end_call, feed, IvrLegs, LegEvent, LegKey};
use crate::b2bua::transfer::{self, Action, Event, Failure, Transfer};
use crate::b2bua::uas_leg::UasEvent;
use crate::b2bua::Event as CallEvent;
use crate::runtime::calls::{self, Calls};
use crate::runtime::sip::context::{Context, Deferred};
use crate::sip::transaction::TransactionId;

/// The originated-INVITE name prefix of a transfer (the rest is the leg's key).
const ID_PREFIX: &str = "transfer-";

/// The transfers under way, by the IVR leg whose caller they move.
#[derive(Default)]
pub(in crate::runtime) struct Transfers {
    running: HashMap<LegKey, Running>,
    /// Transfers asked for whose call is still to be placed (that needs the calls).
    starting: HashMap<LegKey, String>,
    /// REFERs under way (`calls.transfer = "refer"`), by the number they name: a refusal
    /// falls back to the bridge.
    referred: HashMap<LegKey, String>,
}

struct Running {
    machine: Transfer,
    /// The destination call's inbound INVITE (an originated id).
    inbound: TransactionId,
}

impl Transfers {
    /// The earliest ring timeout.
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        self.running
            .values()
            .filter_map(|r| r.machine.poll_timeout())
            .min()
    }

    /// Whether a transfer moves this leg's caller.
    pub(super) fn has(&self, key: LegKey) -> bool {
        self.running.contains_key(&key) || self.starting.contains_key(&key)
    }

    fn feed(&mut self, cx: &mut Context, key: LegKey, event: Event) {
        if let Some(running) = self.running.get_mut(&key) {
            running.machine.handle(event);
            cx.defer(Deferred::Transfer(key));
        }
    }
}

/// The leg whose transfer an originated INVITE's name belongs to.
pub fn leg_of(originated: &str) -> Option<LegKey> {
    originated
        .strip_prefix(ID_PREFIX)
        .and_then(|n| n.parse().ok())
        .map(LegKey)
}

/// Asks for a transfer of leg `key`'s caller to `number`; placed by [`run`].
pub(super) fn request(cx: &mut Context, legs: &mut IvrLegs, key: LegKey, number: String) {
    if legs.transfers.has(key) {
        return;
    }
    legs.transfers.starting.insert(key, number);
    cx.defer(Deferred::Transfer(key));
}

/// A REFER naming `number` went to leg `key`'s caller.
fn refer_sent(legs: &mut IvrLegs, key: LegKey, number: &str) {
    legs.transfers.referred.insert(key, number.to_owned());
}

/// The REFER was refused or got no answer: the caller must not be left in silence, so we
/// carry the transfer ourselves. False when no REFER was under way.
fn refer_refused(cx: &mut Context, legs: &mut IvrLegs, key: LegKey) -> bool {
    let Some(number) = legs.transfers.referred.remove(&key) else {
        return false;
    };
    info!(%number, "REFER not accepted: carrying the transfer ourselves");
    request(cx, legs, key, number);
    true
}

/// The REFER was accepted: the caller's side has the transfer.
fn refer_accepted(legs: &mut IvrLegs, key: LegKey) {
    legs.transfers.referred.remove(&key);
}

/// Blind transfer by REFER (RFC 3515), with `calls.transfer = "refer"`: the caller's phone
/// calls `number` itself, with our address as the host so the new INVITE reaches us and is
/// routed like any call. On 202 we leave the dialog with BYE: the phone has taken over the
/// transfer. A refusal or no answer must not leave the caller in silence (many trunks refuse
/// REFER): we carry the transfer ourselves ([`request`], the default mode).
pub(super) fn refer(cx: &mut Context, legs: &mut IvrLegs, key: LegKey, number: &str) {
    let Some(leg) = legs.legs.get(&key) else {
        return;
    };
    let span = leg.span.clone();
    let _enter = span.enter();
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
    info!(%number, "transferring the caller (REFER)");
    let refer_to = format!("sip:{number}@{}", cx.sent_by());
    refer_sent(legs, key, &number);
    feed(cx, legs, key, UasEvent::Refer { refer_to });
}

/// The caller's phone answered our REFER (or did not, in time): accepted, we leave the
/// dialog; refused, we carry the transfer ourselves.
pub(super) fn refer_answered(cx: &mut Context, legs: &mut IvrLegs, key: LegKey, accepted: bool) {
    if accepted {
        info!("transfer accepted");
        refer_accepted(legs, key);
    } else {
        warn!("transfer refused by the caller's phone");
        if refer_refused(cx, legs, key) {
            return;
        }
    }
    end_call(cx, legs, key);
}

/// The caller hung up (BYE) while its transfer was under way.
pub(super) fn caller_hung_up(cx: &mut Context, legs: &mut IvrLegs, key: LegKey) {
    legs.transfers.starting.remove(&key);
    legs.transfers.feed(cx, key, Event::CallerHungUp);
}

/// The caller's final answer to our re-INVITE (or none: Timer B, transport error).
pub(super) fn caller_answered(cx: &mut Context, legs: &mut IvrLegs, key: LegKey, ok: bool) {
    legs.transfers.feed(cx, key, Event::CallerAnswered(ok));
}

/// Ring timeouts due at `now`.
pub(super) fn handle_timeout(cx: &mut Context, legs: &mut IvrLegs, now: Instant) {
    for (key, running) in &mut legs.transfers.running {
        if running.machine.poll_timeout().is_some_and(|at| at <= now) {
            running.machine.handle_timeout(now);
            cx.defer(Deferred::Transfer(*key));
        }
    }
}

/// A response of the destination's call to our INVITE.
pub fn on_target_response(
    cx: &mut Context,
    legs: &mut IvrLegs,
    calls: &mut Calls,
    key: LegKey,
    response: &rsip::Response,
) {
    let code = response.status_code.code();
    let sdp = (!response.body.is_empty()).then(|| String::from_utf8_lossy(&response.body).into());
    if let Some(running) = legs.transfers.running.get_mut(&key) {
        running.machine.handle(Event::TargetResponse { code, sdp });
    }
    run(cx, legs, calls, key);
}

/// Places a requested transfer's call and carries out what the machine asks.
pub fn run(cx: &mut Context, legs: &mut IvrLegs, calls: &mut Calls, key: LegKey) {
    if let Some(number) = legs.transfers.starting.remove(&key) {
        start(cx, legs, calls, key, &number);
    }
    loop {
        let Some(running) = legs.transfers.running.get_mut(&key) else {
            return;
        };
        let Some(action) = running.machine.poll_action() else {
            break;
        };
        let inbound = running.inbound;
        let span = legs.legs.get(&key).map(|l| l.span.clone());
        let _enter = span.as_ref().map(|s| s.enter());
        match action {
            Action::StartTarget => {}
            Action::AckTarget => {
                calls::drive_inbound(cx, calls, inbound, CallEvent::Ack);
            }
            Action::CancelTarget => {
                calls::drive_inbound(cx, calls, inbound, CallEvent::Cancelled);
            }
            Action::HangUpTarget => {
                calls::drive_inbound(cx, calls, inbound, CallEvent::HangUp);
            }
            Action::ReinviteCaller { sdp } => reinvite_caller(cx, legs, key, &sdp),
            // The leg ACKed the caller's 2xx as it came (§13.2.2.4).
            Action::AckCaller => {}
            Action::Bridged => bridged(cx, legs, calls, key, inbound),
            Action::Failed(why) => failed(cx, legs, key, inbound, why),
        }
    }
    if legs
        .transfers
        .running
        .get(&key)
        .is_some_and(|r| r.machine.is_over())
    {
        if let Some(running) = legs.transfers.running.remove(&key) {
            cx.owners.release_originated(running.inbound);
        }
    }
}

/// The INVITE to the destination, as if the caller had dialled `number` in its dialog with
/// us, handed to the B2BUA.
fn start(cx: &mut Context, legs: &mut IvrLegs, calls: &mut Calls, key: LegKey, number: &str) {
    let Some(leg) = legs.legs.get(&key) else {
        return;
    };
    let span = leg.span.clone();
    let _enter = span.enter();
    let d = leg.uas.dialog();
    let Some(invite) = calls::mirrored::invite(
        d,
        leg.uas.source(),
        leg.uas.transport(),
        &cx.config.sip.domain,
        number,
        leg.uas.remote_sdp().to_vec(),
    ) else {
        warn!(%number, "transfer to a number that makes no URI");
        let _ = leg.events.try_send(LegEvent::TransferFailed);
        return;
    };
    let caller = calls::mirrored::caller_info(&d.remote_uri);
    let (source, leg_transport) = (leg.uas.source(), leg.uas.transport());
    let inbound = cx.owners.originate(&format!("{ID_PREFIX}{}", key.0));
    let now = cx.instant();
    legs.transfers.running.insert(
        key,
        Running {
            machine: Transfer::new(now, cx.config.calls.transfer_timeout),
            inbound,
        },
    );
    info!(%number, "transferring the caller (bridge)");
    calls::on_invite(cx, calls, inbound, invite, source, leg_transport);
    // Our own INVITE: no authentication of the caller's device; the routing look-up fills in
    // who the caller is.
    calls::mark_originated(cx, calls, inbound, caller);
}

/// Moves the caller's media to the destination: re-INVITE in its dialog with the call's
/// anchored answer as our new offer (RFC 3264 §8, our origin one version up). Its answer comes
/// back through the leg as [`caller_answered`].
fn reinvite_caller(cx: &mut Context, legs: &mut IvrLegs, key: LegKey, sdp: &str) {
    let Some(leg) = legs.legs.get(&key) else {
        caller_answered(cx, legs, key, false);
        return;
    };
    let offer = transfer::reoffer(leg.uas.local_sdp(), sdp);
    debug!("destination answered: moving the caller's media (re-INVITE)");
    feed(cx, legs, key, UasEvent::Reinvite { sdp: offer });
}

/// The caller talks to the destination: its dialog passes to the call, and the IVR leg goes
/// without a BYE (its driver sees its events end and stops, closing the IVR's media).
fn bridged(
    cx: &mut Context,
    legs: &mut IvrLegs,
    calls: &mut Calls,
    key: LegKey,
    inbound: TransactionId,
) {
    let Some(leg) = legs.legs.get(&key) else {
        return;
    };
    let call_id = leg.uas.dialog().call_id.clone();
    let cseq = leg.uas.dialog().local_cseq.unwrap_or(1);
    info!("transfer answered: caller bridged to the destination");
    legs.forget(cx, key);
    if !calls::adopt_caller_dialog(cx, calls, inbound, &call_id, cseq) {
        debug!("the destination's call ended before the bridge");
    }
}

/// Back to voicemail, or, when the IVR is gone meanwhile, the end of the call.
fn failed(cx: &mut Context, legs: &mut IvrLegs, key: LegKey, inbound: TransactionId, why: Failure) {
    cx.owners.release_originated(inbound);
    if why == Failure::CallerGone {
        return;
    }
    let Some(leg) = legs.legs.get(&key) else {
        return;
    };
    info!(?why, "transfer failed: the caller goes back to voicemail");
    if leg.events.is_closed() || leg.events.try_send(LegEvent::TransferFailed).is_err() {
        end_call(cx, legs, key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn originated_names_lead_back_to_the_leg() {
        assert_eq!(leg_of("transfer-17"), Some(LegKey(17)));
        assert_eq!(leg_of("c2c-17"), None);
        assert_eq!(leg_of("transfer-x"), None);
    }
}
