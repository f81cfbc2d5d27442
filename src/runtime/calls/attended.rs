//! Attended transfer from a phone (REFER with `Refer-To: <…?Replaces=…>`, RFC 3515 and RFC
//! 3891), carried by the B2BUA.
//!
//! The transferor S talks to the transferee T in one call (the REFER's) and, in a second call
//! of ours, to the target C; the `Replaces` names S's dialog in that second call. No new call
//! is placed: T takes S's place in the second call. T is re-INVITEd (§14) onto the second
//! call's relay endpoint that faced S (T's own SDP as the template, so its codecs stay; RFC
//! 3264 §8), the relay is told where T receives, S gets BYE in the second call and our dialog
//! with T becomes that call's dialog on S's side ([`crate::b2bua::Call::replace_party`]).
//! S then gets the sipfrag `200 OK` NOTIFY and BYE in the first call, which ends without
//! touching T. A refused re-INVITE leaves everything as it was, with the failure in the
//! NOTIFY. Both calls must be anchored (the default): without a relay there is no endpoint to
//! hand T, and the REFER is refused (the NOTIFY says 488).

use std::collections::HashMap;

use rsip::headers::UntypedHeader;
use rsip::Method;
use tracing::{debug, info};

use super::transfer_requests::{notify_status, send_in_call};
use super::{Calls, Side};
use crate::media::relay::Party;
use crate::runtime::sip::context::Context;
use crate::runtime::sip::owners::{CallKey, Owner};
use crate::sip::dialog;
use crate::sip::message;
use crate::sip::transaction::TransactionId;

/// Attended transfers waiting for the transferee's answer to our re-INVITE, by the first
/// call's key.
#[derive(Default)]
pub(super) struct Attended {
    pending: HashMap<CallKey, Pending>,
}

struct Pending {
    transferee: Side,
    /// The second call and S's side in it.
    other: CallKey,
    other_side: Side,
    /// Our re-INVITE to T: transaction and CSeq.
    reinvite: TransactionId,
    cseq: u32,
}

/// The dialog a `Replaces` value names: Call-ID and the two tags (either way round: RFC 3891
/// gives them from the recipient's view, and we are both recipients).
pub(super) fn parse_replaces(refer_to: &str) -> Option<(String, String, String)> {
    let at = refer_to.to_ascii_lowercase().find("replaces=")?;
    let raw = &refer_to[at + "replaces=".len()..];
    let raw = raw.split(['>', '&']).next().unwrap_or(raw);
    let value = percent_decode(raw);
    let mut parts = value.split(';');
    let call_id = parts.next()?.trim().to_owned();
    let (mut to_tag, mut from_tag) = (None, None);
    for p in parts {
        let (k, v) = p.split_once('=')?;
        match k.trim().to_ascii_lowercase().as_str() {
            "to-tag" => to_tag = Some(v.trim().to_owned()),
            "from-tag" => from_tag = Some(v.trim().to_owned()),
            _ => {}
        }
    }
    Some((call_id, to_tag?, from_tag?))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A REFER with `Replaces` from `side` of call `key`: answered here (202, or why not).
pub(super) fn on_refer(
    cx: &mut Context,
    calls: &mut Calls,
    key: CallKey,
    side: Side,
    transaction: TransactionId,
    request: &rsip::Request,
) {
    let answer = |cx: &mut Context, code: u16, why: Option<&str>| {
        let response = crate::runtime::sip::reply::reply(request, code, why);
        cx.respond(transaction, response);
    };
    let refer_to = dialog::header_value(&request.headers, "Refer-To").unwrap_or_default();
    let Some((call_id, tag_a, tag_b)) = parse_replaces(&refer_to) else {
        answer(cx, 400, Some("Bad Replaces"));
        return;
    };
    // The second call: the one holding the named dialog, with S on one side of it.
    let found = calls.calls.iter().find_map(|(other, running)| {
        if *other == key {
            return None;
        }
        let side = *running.call_ids.get(&call_id)?;
        let d = running.call.dialog_with(side)?;
        let tags_match = (d.local_tag == tag_a && d.remote_tag == tag_b)
            || (d.local_tag == tag_b && d.remote_tag == tag_a);
        tags_match.then_some((*other, side))
    });
    let Some((other, other_side)) = found else {
        // RFC 3891 §3: no matching dialog.
        answer(cx, 481, Some("Replaced Dialog Not Found"));
        return;
    };
    let Some(transferee) = calls.calls.get(&key).and_then(|r| r.call.other_side(side)) else {
        answer(cx, 481, None);
        return;
    };
    if calls.refers.busy(key) || calls.attended.pending.contains_key(&key) {
        answer(cx, 491, None);
        return;
    }
    answer(cx, 202, Some("Accepted"));
    info!(?side, "attended transfer asked (REFER with Replaces)");
    calls.refers.hold_transferor(key, side);
    notify_status(cx, calls, key, "100 Trying", false);
    // T's SDP, pointed at the second call's relay endpoint that faced S.
    let offer = (|| {
        let facing = calls.calls.get(&other)?.call.anchor_facing(other_side)?;
        let template = calls.calls.get(&key)?.call.sdp_of(transferee)?.to_vec();
        crate::media::anchor_sdp::rewrite(&template, facing).ok()
    })();
    let Some(offer) = offer else {
        debug!("second call not anchored: attended transfer not carried");
        notify_status(cx, calls, key, "488 Not Acceptable Here", true);
        calls.refers.release_transferor(key);
        return;
    };
    let sent_by = cx.sent_by();
    let Some(running) = calls.calls.get_mut(&key) else {
        return;
    };
    let Some((mut invite, destination, transport)) =
        running.call.request_to(transferee, Method::Invite)
    else {
        notify_status(cx, calls, key, "481 Call/Transaction Does Not Exist", true);
        calls.refers.release_transferor(key);
        return;
    };
    let cseq = dialog::cseq_number(&invite.headers).unwrap_or(1);
    let body = offer.body.into_bytes();
    let mut headers: Vec<rsip::Header> = invite
        .headers
        .iter()
        .filter(|h| !matches!(h, rsip::Header::ContentLength(_)))
        .cloned()
        .collect();
    headers.push(rsip::Header::Contact(rsip::headers::Contact::new(format!(
        "<sip:onestatus@{sent_by}>"
    ))));
    headers.push(message::allow_header());
    headers.push(rsip::Header::ContentType(rsip::headers::ContentType::new(
        "application/sdp",
    )));
    headers.push(rsip::Header::ContentLength(
        rsip::headers::ContentLength::new(body.len().to_string()),
    ));
    invite.headers = headers.into();
    invite.body = body;
    let Some(reinvite) = send_in_call(cx, calls, key, invite, destination, transport) else {
        notify_status(cx, calls, key, "500 Server Internal Error", true);
        calls.refers.release_transferor(key);
        return;
    };
    calls.attended.pending.insert(
        key,
        Pending {
            transferee,
            other,
            other_side,
            reinvite,
            cseq,
        },
    );
}

/// The transferee's final answer to our re-INVITE (or none); false when it is not ours.
pub(super) fn on_answer(
    cx: &mut Context,
    calls: &mut Calls,
    transaction: TransactionId,
    response: Option<&rsip::Response>,
) -> bool {
    let Some(key) = calls
        .attended
        .pending
        .iter()
        .find(|(_, p)| p.reinvite == transaction)
        .map(|(k, _)| *k)
    else {
        return false;
    };
    let Some(p) = calls.attended.pending.remove(&key) else {
        return true;
    };
    let ok = response.is_some_and(|r| (200..300).contains(&r.status_code.code()));
    if !ok {
        let code = response.map_or(408, |r| r.status_code.code());
        info!(
            code,
            "attended transfer: the transferee refused the move; the call goes on"
        );
        notify_status(
            cx,
            calls,
            key,
            &format!("{code} {}", message::canonical_reason(code)),
            true,
        );
        calls.refers.release_transferor(key);
        return true;
    }
    // ACK T's 2xx in its dialog (§13.2.2.4).
    let Some(first) = calls.calls.get(&key) else {
        return true;
    };
    let (Some(t_dialog), Some(t_address)) = (
        first.call.dialog_with(p.transferee).cloned(),
        first.call.address_of(p.transferee),
    ) else {
        return true;
    };
    let via = cx.via(t_address.1);
    if let Ok(ack) = t_dialog.ack(p.cseq, &via) {
        cx.layer
            .send_stateless(rsip::SipMessage::Request(ack), t_address.0, t_address.1);
    }
    let t_media =
        response.and_then(|r| crate::media::anchor_sdp::remote_of(&r.body).ok().flatten());
    // S leaves the second call: BYE, then T takes its place there.
    if let Some(second) = calls.calls.get_mut(&p.other) {
        if let Some((bye, destination, transport)) =
            second.call.request_to(p.other_side, Method::Bye)
        {
            let now = cx.instant();
            if let Err(error) = cx.layer.send_request(now, bye, destination, transport) {
                debug!(%error, "BYE to the transferor in the second call not sent");
            }
        }
        let old_ids: Vec<String> = second
            .call_ids
            .iter()
            .filter(|(_, s)| **s == p.other_side)
            .map(|(id, _)| id.clone())
            .collect();
        for id in old_ids {
            second.call_ids.remove(&id);
            cx.owners.release_dialog(&id, &Owner::Call(p.other));
        }
        second
            .call
            .replace_party(p.other_side, t_dialog.clone(), t_address);
        second
            .call_ids
            .insert(t_dialog.call_id.clone(), p.other_side);
        if let Some(relay) = &second.relay {
            let party = match p.other_side {
                Side::Caller => Party::Caller,
                Side::Callee(_) => Party::Callee,
            };
            relay.set_remote(party, t_media);
        }
    }
    cx.owners
        .bind_dialog(t_dialog.call_id.clone(), Owner::Call(p.other));
    info!("attended transfer done: the transferee talks to the target");
    notify_status(cx, calls, key, "200 OK", true);
    calls.refers.release_transferor(key);
    if let Some(first) = calls.calls.get_mut(&key) {
        first.call.detach(p.transferee);
    }
    super::drive(cx, calls, key, crate::b2bua::Event::HangUp);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_is_read_from_an_escaped_refer_to() {
        assert_eq!(
            parse_replaces(
                "<sip:4570100003@onestatus?Replaces=abc%40host%3Bto-tag%3Dt1%3Bfrom-tag%3Df1>"
            ),
            Some(("abc@host".into(), "t1".into(), "f1".into()))
        );
        assert_eq!(parse_replaces("<sip:4570100003@onestatus>"), None);
        assert_eq!(parse_replaces("<sip:x@y?Replaces=abc%3Bto-tag%3Dt1>"), None);
    }
}
