//! Requests of ours in a transfer's dialogs (RFC 3515): the `message/sipfrag` NOTIFYs that
//! tell the transferor how its transfer goes (§2.4.5), and the re-INVITEs and BYEs sent in a
//! call's dialogs, registered so that their answers come back to [`super::refer::on_response`].
//! Blind transfer ([`super::refer`]) and attended transfer ([`super::attended`]) both send
//! them, which is why they sit apart from both.

use rsip::headers::UntypedHeader;
use rsip::{Header, Method};
use tracing::debug;

use super::Calls;
use crate::runtime::sip::context::Context;
use crate::runtime::sip::owners::{CallKey, Owner};
use crate::sip::transaction::{TransactionId, TransportKind};

/// A NOTIFY to the transferor with the transfer's progress as `message/sipfrag` (RFC 3515
/// §2.4.5); `last` ends the implicit subscription.
pub(super) fn notify_status(
    cx: &mut Context,
    calls: &mut Calls,
    key: CallKey,
    status: &str,
    last: bool,
) {
    notify(cx, calls, key, status, last);
}

pub(super) fn notify(cx: &mut Context, calls: &mut Calls, key: CallKey, status: &str, last: bool) {
    let sent_by = cx.sent_by();
    let Some(transferor) = calls.refers.transferors.get(&key).copied() else {
        return;
    };
    let Some(running) = calls.calls.get_mut(&key) else {
        return;
    };
    let Some((mut request, destination, transport)) =
        running.call.request_to(transferor, Method::Notify)
    else {
        debug!("transferor's dialog gone: no NOTIFY");
        return;
    };
    let body = format!("SIP/2.0 {status}\r\n").into_bytes();
    let state = if last {
        "terminated;reason=noresource"
    } else {
        "active;expires=60"
    };
    let mut headers: Vec<Header> = request
        .headers
        .iter()
        .filter(|h| !matches!(h, Header::ContentLength(_)))
        .cloned()
        .collect();
    headers.push(Header::Event(rsip::headers::Event::new("refer")));
    headers.push(Header::SubscriptionState(
        rsip::headers::SubscriptionState::new(state),
    ));
    headers.push(Header::Contact(rsip::headers::Contact::new(format!(
        "<sip:onestatus@{sent_by}>"
    ))));
    headers.push(Header::ContentType(rsip::headers::ContentType::new(
        "message/sipfrag;version=2.0",
    )));
    headers.push(Header::ContentLength(rsip::headers::ContentLength::new(
        body.len().to_string(),
    )));
    request.headers = headers.into();
    request.body = body;
    send(cx, calls, key, request, destination, transport);
}

/// Sends a request of ours in one of call `key`'s dialogs; its answer comes back to
/// [`super::refer::on_response`].
pub(super) fn send_in_call(
    cx: &mut Context,
    calls: &mut Calls,
    key: CallKey,
    request: rsip::Request,
    destination: std::net::SocketAddr,
    transport: TransportKind,
) -> Option<TransactionId> {
    send(cx, calls, key, request, destination, transport)
}

pub(super) fn send(
    cx: &mut Context,
    calls: &mut Calls,
    key: CallKey,
    request: rsip::Request,
    destination: std::net::SocketAddr,
    transport: TransportKind,
) -> Option<TransactionId> {
    let now = cx.instant();
    let method = request.method;
    match cx.layer.send_request(now, request, destination, transport) {
        Ok(tx) => {
            cx.owners.bind_transaction(tx, Owner::Call(key));
            calls.refers.transactions.insert(tx, (key, method));
            Some(tx)
        }
        Err(error) => {
            debug!(%error, %method, "transfer request not sent");
            None
        }
    }
}
