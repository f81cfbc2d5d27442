//! Blind transfer from a phone in a bridged call (REFER, RFC 3515), carried by the B2BUA.
//!
//! A REFER from either party of an answered call (the transferor) names a number in
//! `Refer-To`; the other party is the transferee.
//! We accept it (202), report progress to the transferor with `message/sipfrag` NOTIFYs
//! (RFC 3515 §2.4.4–2.4.5: `SIP/2.0 100 Trying` first, then the final status, the last with
//! `Subscription-State: terminated`), and place the new call ourselves exactly as "press 9"
//! does (`b2bua::transfer`, driver in `runtime::ivr_leg::transfer`): an INVITE shaped as if
//! the transferee had dialled the number in its dialog with us goes to
//! [`super::on_invite`] as an originated call, so routing, groups, forwards and the toll-fraud
//! guard are the normal ones. Once the target answers, the transferee is re-INVITEd onto the
//! new call's media, its dialog passes to the new call, the transferor gets `200 OK` in a
//! NOTIFY and a BYE, and the old call ends without touching the transferee. When the target
//! refuses or does not answer, the transferor gets the failure and the call goes on as before.
//!
//! Attended transfer (`Refer-To` with `Replaces`, RFC 3891) joins the transferee to the
//! replaced dialog's call instead: [`super::attended`].

use std::collections::HashMap;
use std::time::Instant;

use rsip::headers::UntypedHeader;
use rsip::{Header, Method};
use tracing::{debug, info, warn};

use super::transfer_requests::{notify, send};
use super::{Calls, Running};
use crate::b2bua::transfer::{self, Action, Event, Failure, Transfer};
use crate::b2bua::{CallerInfo, Event as CallEvent, Side};
use crate::runtime::sip::context::Context;
use crate::runtime::sip::owners::CallKey;
use crate::runtime::sip::reply::reply;
use crate::sip::dialog;
use crate::sip::message;
use crate::sip::transaction::TransactionId;

/// The originated-INVITE name prefix of a transfer (the rest is the old call's key).
const ID_PREFIX: &str = "refer-";

/// Transfers under way, by the call whose callee asked for them.
#[derive(Default)]
pub(super) struct Refers {
    running: HashMap<CallKey, Refer>,
    /// Our NOTIFYs and re-INVITEs (entered in the owner index as the old call's), by
    /// transaction: which transfer, and whether it is the re-INVITE.
    pub(super) transactions: HashMap<TransactionId, (CallKey, Method)>,
    /// Who gets the NOTIFYs of a transfer under way (blind or attended), by call.
    pub(super) transferors: HashMap<CallKey, Side>,
}

struct Refer {
    machine: Transfer,
    /// The transferee (re-INVITEd onto the new call).
    transferee: Side,
    /// The new call's inbound INVITE (an originated id).
    inbound: TransactionId,
    /// CSeq of our re-INVITE to the transferee, for its ACK.
    reinvite: Option<u32>,
    /// The transferee's dialog's Call-ID.
    call_id: String,
}

impl Refers {
    /// Whether call `key` has a transfer under way.
    pub(super) fn busy(&self, key: CallKey) -> bool {
        self.running.contains_key(&key) || self.transferors.contains_key(&key)
    }

    /// `side` of call `key` gets the NOTIFYs from now on.
    pub(super) fn hold_transferor(&mut self, key: CallKey, side: Side) {
        self.transferors.insert(key, side);
    }

    /// The transfer of call `key` is over.
    pub(super) fn release_transferor(&mut self, key: CallKey) {
        self.transferors.remove(&key);
    }

    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        self.running
            .values()
            .filter_map(|r| r.machine.poll_timeout())
            .min()
    }
}

/// The call whose transfer an originated INVITE's name belongs to.
pub(crate) fn call_of(originated: &str) -> Option<CallKey> {
    originated
        .strip_prefix(ID_PREFIX)
        .and_then(|n| n.parse().ok())
        .map(CallKey)
}

/// The number a `Refer-To` names, or why it names none we can call. `Err(true)`: attended
/// transfer (`Replaces`).
fn refer_to_number(request: &rsip::Request) -> Result<String, bool> {
    let value = dialog::header_value(&request.headers, "Refer-To")
        .or_else(|_| dialog::header_value(&request.headers, "r"))
        .map_err(|_| false)?;
    let uri = match (value.find('<'), value.find('>')) {
        (Some(o), Some(c)) if c > o => &value[o + 1..c],
        _ => value.split(';').next().unwrap_or(&value),
    };
    if uri.to_ascii_lowercase().contains("replaces=") {
        return Err(true);
    }
    let rest = uri
        .strip_prefix("sip:")
        .or_else(|| uri.strip_prefix("sips:"))
        .or_else(|| uri.strip_prefix("tel:"))
        .ok_or(false)?;
    let user = rest.split(['@', ';', '?']).next().unwrap_or_default();
    let number: String = user
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '+')
        .take(32)
        .collect();
    if number.trim_start_matches('+').is_empty() {
        return Err(false);
    }
    Ok(number)
}

/// A REFER from `side` of answered call `key`.
pub(super) fn on_refer(
    cx: &mut Context,
    calls: &mut Calls,
    key: CallKey,
    side: Side,
    transaction: TransactionId,
    request: rsip::Request,
) {
    let answer = |cx: &mut Context, code: u16, why: Option<&str>| {
        let mut response = reply(&request, code, why);
        if code == 501 {
            response.headers.push(message::allow_header());
        }
        cx.respond(transaction, response);
    };
    if calls.refers.busy(key) {
        answer(cx, 491, None);
        return;
    }
    let number = match refer_to_number(&request) {
        Ok(number) => number,
        Err(true) => {
            super::attended::on_refer(cx, calls, key, side, transaction, &request);
            return;
        }
        Err(false) => {
            answer(cx, 400, Some("Refer-To Names No Number"));
            return;
        }
    };
    let Some(running) = calls.calls.get(&key) else {
        return;
    };
    let Some(transferee) = running.call.other_side(side) else {
        answer(cx, 481, None);
        return;
    };
    let (Some(invite), Some((source, transport)), Some(call_id)) = (
        mirrored_invite(cx, running, transferee, &number),
        running.call.address_of(transferee),
        running
            .call
            .dialog_with(transferee)
            .map(|d| d.call_id.clone()),
    ) else {
        answer(cx, 500, Some("No Dialog To Transfer"));
        return;
    };
    answer(cx, 202, Some("Accepted"));
    info!(%number, ?side, "blind transfer asked (REFER)");
    let caller = caller_info(&invite);
    let inbound = cx.owners.originate(&format!("{ID_PREFIX}{}", key.0));
    let now = cx.instant();
    calls.refers.running.insert(
        key,
        Refer {
            machine: Transfer::new(now, cx.config.calls.transfer_timeout),
            transferee,
            inbound,
            reinvite: None,
            call_id,
        },
    );
    calls.refers.hold_transferor(key, side);
    notify(cx, calls, key, "100 Trying", false);
    super::on_invite(cx, calls, inbound, invite, source, transport);
    super::mark_originated(cx, calls, inbound, caller);
    run(cx, calls, key);
}

/// The INVITE for the new call: as if the transferee had dialled `number` in its dialog with
/// us (its tag, ours, its Call-ID, CSeq, Contact and route set, its SDP as the offer). The
/// same whether we are the UAS of that dialog (the caller) or its UAC (a device): the new
/// call's `Dialog::from_uas` of this INVITE is our dialog with the transferee either way.
fn mirrored_invite(
    cx: &Context,
    running: &Running,
    transferee: Side,
    number: &str,
) -> Option<rsip::Request> {
    let d = running.call.dialog_with(transferee)?;
    let offer = running.call.sdp_of(transferee).unwrap_or_default().to_vec();
    let (source, transport) = running.call.address_of(transferee)?;
    super::mirrored::invite(d, source, transport, &cx.config.sip.domain, number, offer)
}

fn caller_info(invite: &rsip::Request) -> CallerInfo {
    let from = dialog::header_value(&invite.headers, "From").unwrap_or_default();
    let (addr, _) = dialog::split_tag(&from);
    super::mirrored::caller_info(&addr)
}

/// A response on one of our NOTIFYs or re-INVITEs; false when the transaction is not ours.
pub(super) fn on_response(
    cx: &mut Context,
    calls: &mut Calls,
    transaction: TransactionId,
    response: &rsip::Response,
) -> bool {
    let Some(&(key, method)) = calls.refers.transactions.get(&transaction) else {
        return false;
    };
    let code = response.status_code.code();
    if code < 200 {
        return true;
    }
    calls.refers.transactions.remove(&transaction);
    cx.owners.release_transaction(transaction);
    if method == Method::Invite
        && !super::attended::on_answer(cx, calls, transaction, Some(response))
    {
        if let Some(r) = calls.refers.running.get_mut(&key) {
            r.machine.handle(Event::CallerAnswered(code < 300));
        }
        run(cx, calls, key);
    }
    true
}

/// Timer B/F or a transport error on one of ours; false when the transaction is not ours.
pub(super) fn on_failed(cx: &mut Context, calls: &mut Calls, transaction: TransactionId) -> bool {
    let Some((key, method)) = calls.refers.transactions.remove(&transaction) else {
        return false;
    };
    if method == Method::Invite && !super::attended::on_answer(cx, calls, transaction, None) {
        if let Some(r) = calls.refers.running.get_mut(&key) {
            r.machine.handle(Event::CallerAnswered(false));
        }
        run(cx, calls, key);
    }
    true
}

/// A response of the new call to our INVITE.
pub(crate) fn on_target_response(
    cx: &mut Context,
    calls: &mut Calls,
    key: CallKey,
    response: &rsip::Response,
) {
    let code = response.status_code.code();
    let sdp = (!response.body.is_empty()).then(|| String::from_utf8_lossy(&response.body).into());
    if let Some(r) = calls.refers.running.get_mut(&key) {
        r.machine.handle(Event::TargetResponse { code, sdp });
    }
    run(cx, calls, key);
}

/// Ring timeouts due at `now`.
pub(super) fn handle_timeout(cx: &mut Context, calls: &mut Calls, now: Instant) {
    let due: Vec<CallKey> = calls
        .refers
        .running
        .iter()
        .filter(|(_, r)| r.machine.poll_timeout().is_some_and(|at| at <= now))
        .map(|(k, _)| *k)
        .collect();
    for key in due {
        if let Some(r) = calls.refers.running.get_mut(&key) {
            r.machine.handle_timeout(now);
        }
        run(cx, calls, key);
    }
}

/// The old call ended (the transferee or the transferor hung up) while its transfer ran.
pub(super) fn call_gone(cx: &mut Context, calls: &mut Calls, key: CallKey) {
    if let Some(r) = calls.refers.running.get_mut(&key) {
        r.machine.handle(Event::CallerHungUp);
        run(cx, calls, key);
    }
}

fn run(cx: &mut Context, calls: &mut Calls, key: CallKey) {
    loop {
        let Some(r) = calls.refers.running.get_mut(&key) else {
            return;
        };
        let Some(action) = r.machine.poll_action() else {
            break;
        };
        let inbound = r.inbound;
        match action {
            Action::StartTarget => {}
            Action::AckTarget => {
                super::drive_inbound(cx, calls, inbound, CallEvent::Ack);
            }
            Action::CancelTarget => {
                super::drive_inbound(cx, calls, inbound, CallEvent::Cancelled);
            }
            Action::HangUpTarget => {
                super::drive_inbound(cx, calls, inbound, CallEvent::HangUp);
            }
            Action::ReinviteCaller { sdp } => reinvite(cx, calls, key, &sdp),
            Action::AckCaller => ack(cx, calls, key),
            Action::Bridged => bridged(cx, calls, key),
            Action::Failed(why) => {
                let status = match why {
                    Failure::Refused(code) => {
                        format!("{code} {}", message::canonical_reason(code))
                    }
                    Failure::NoAnswer => "408 Request Timeout".to_owned(),
                    Failure::MediaNotMoved => "488 Not Acceptable Here".to_owned(),
                    Failure::CallerGone => "487 Request Terminated".to_owned(),
                };
                info!(?why, "transfer failed; the call goes on");
                notify(cx, calls, key, &status, true);
            }
        }
    }
    if calls
        .refers
        .running
        .get(&key)
        .is_some_and(|r| r.machine.is_over())
    {
        if let Some(r) = calls.refers.running.remove(&key) {
            cx.owners.release_originated(r.inbound);
        }
        calls.refers.release_transferor(key);
    }
}

/// Moves the transferee onto the new call's media (§14, RFC 3264 §8).
fn reinvite(cx: &mut Context, calls: &mut Calls, key: CallKey, sdp: &str) {
    let sent_by = cx.sent_by();
    let Some(transferee) = calls.refers.running.get(&key).map(|r| r.transferee) else {
        return;
    };
    let Some(running) = calls.calls.get_mut(&key) else {
        return;
    };
    let Some((mut invite, destination, transport)) =
        running.call.request_to(transferee, Method::Invite)
    else {
        if let Some(r) = calls.refers.running.get_mut(&key) {
            r.machine.handle(Event::CallerAnswered(false));
        }
        return;
    };
    let offer = transfer::reoffer("", sdp);
    let cseq = dialog::cseq_number(&invite.headers).unwrap_or(1);
    let mut headers: Vec<Header> = invite
        .headers
        .iter()
        .filter(|h| !matches!(h, Header::ContentLength(_)))
        .cloned()
        .collect();
    headers.push(Header::Contact(rsip::headers::Contact::new(format!(
        "<sip:onestatus@{sent_by}>"
    ))));
    headers.push(message::allow_header());
    headers.push(Header::ContentType(rsip::headers::ContentType::new(
        "application/sdp",
    )));
    headers.push(Header::ContentLength(rsip::headers::ContentLength::new(
        offer.len().to_string(),
    )));
    invite.headers = headers.into();
    invite.body = offer.into_bytes();
    if let Some(r) = calls.refers.running.get_mut(&key) {
        r.reinvite = Some(cseq);
    }
    if send(cx, calls, key, invite, destination, transport).is_none() {
        if let Some(r) = calls.refers.running.get_mut(&key) {
            r.machine.handle(Event::CallerAnswered(false));
        }
    }
}

fn ack(cx: &mut Context, calls: &mut Calls, key: CallKey) {
    let Some((transferee, cseq)) = calls
        .refers
        .running
        .get(&key)
        .and_then(|r| Some((r.transferee, r.reinvite?)))
    else {
        return;
    };
    let Some(running) = calls.calls.get(&key) else {
        return;
    };
    let Some((destination, transport)) = running.call.address_of(transferee) else {
        return;
    };
    let via = cx.via(transport);
    match running
        .call
        .dialog_with(transferee)
        .map(|d| d.ack(cseq, &via))
    {
        Some(Ok(ack)) => {
            cx.layer
                .send_stateless(rsip::SipMessage::Request(ack), destination, transport);
        }
        _ => warn!("cannot build the ACK for the transferee's 2xx"),
    }
}

/// The transferee talks to the target: NOTIFY 200 to the transferor, the transferee's dialog
/// to the new call, and the old call ends on the transferor's side only.
fn bridged(cx: &mut Context, calls: &mut Calls, key: CallKey) {
    notify(cx, calls, key, "200 OK", true);
    let Some((transferee, inbound, call_id)) = calls
        .refers
        .running
        .get(&key)
        .map(|r| (r.transferee, r.inbound, r.call_id.clone()))
    else {
        return;
    };
    let cseq = calls
        .calls
        .get(&key)
        .and_then(|r| r.call.dialog_with(transferee))
        .and_then(|d| d.local_cseq)
        .unwrap_or(1);
    if let Some(running) = calls.calls.get_mut(&key) {
        running.call.detach(transferee);
    }
    info!("transfer answered: transferee bridged to the target");
    if !super::adopt_caller_dialog(cx, calls, inbound, &call_id, cseq) {
        debug!("the target's call ended before the bridge");
    }
    super::drive(cx, calls, key, CallEvent::HangUp);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refer(refer_to: &str) -> rsip::Request {
        let text = format!(
            "REFER sip:onestatus@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n\
             From: <sip:1000002@onestatus>;tag=a\r\nTo: <sip:4512345678@127.0.0.1>;tag=b\r\n\
             Call-ID: x\r\nCSeq: 2 REFER\r\nRefer-To: {refer_to}\r\nContent-Length: 0\r\n\r\n"
        );
        match rsip::SipMessage::try_from(text.as_str()).unwrap() {
            rsip::SipMessage::Request(r) => r,
            rsip::SipMessage::Response(_) => unreachable!(),
        }
    }

    #[test]
    fn refer_to_names_the_number_or_why_not() {
        assert_eq!(
            refer_to_number(&refer("<sip:1000003@onestatus>")),
            Ok("1000003".into())
        );
        assert_eq!(
            refer_to_number(&refer("sip:+4570100003@127.0.0.1;user=phone")),
            Ok("+4570100003".into())
        );
        assert_eq!(
            refer_to_number(&refer(
                "<sip:1000003@onestatus?Replaces=abc%3Bto-tag%3D1%3Bfrom-tag%3D2>"
            )),
            Err(true)
        );
        assert_eq!(refer_to_number(&refer("<sip:alice@onestatus>")), Err(false));
        assert_eq!(call_of("refer-12"), Some(CallKey(12)));
        assert_eq!(call_of("transfer-12"), None);
    }
}
