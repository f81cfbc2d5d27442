//! Building a B leg's INVITE from the caller's (RFC 3261 §8.1.1, §13.2.1).
//!
//! A B2BUA is a UAC on each outbound leg: new Call-ID, new From tag, CSeq 1, our Via and
//! Contact. From keeps the caller's identity (display name and URI) so the phone shows who
//! calls; To is the number dialled (or the forward target); Max-Forwards is decremented so a
//! loop through other elements still ends (§16.6 step 3 applies to proxies, but the counter
//! only works if every hop honours it). The caller's SDP offer is copied as is here; when the
//! media is anchored the call replaces it with the rewritten offer (see the module doc of
//! [`b2bua`](super) on media).

use rsip::headers::{self, Header, UntypedHeader};
use rsip::{Method, Request};

use crate::routing::DiversionReason;
use crate::sip::dialog::{header_value, split_tag};
use crate::sip::message;

use super::plan::{Diversion, OutboundTarget};
use crate::sip::transaction::TransportKind;

/// Max-Forwards when the caller sent none (§8.1.1.6 recommends 70).
const DEFAULT_MAX_FORWARDS: u32 = 70;

/// The INVITE for one B leg. `via_sent_by` and `contact` are ours; `to` is the To value
/// (without tag); `domain` names us in Diversion/History-Info URIs.
#[allow(clippy::too_many_arguments)]
pub fn outbound_invite(
    caller_invite: &Request,
    target: &OutboundTarget,
    to: &str,
    via_sent_by: &str,
    contact: &str,
    domain: &str,
    diversion: Option<&Diversion>,
) -> Option<Request> {
    let uri = rsip::Uri::try_from(target.uri.as_str()).ok()?;
    let transport = match target.transport {
        TransportKind::Udp => "UDP",
        TransportKind::Tcp => "TCP",
    };
    let (from, _) = split_tag(&header_value(&caller_invite.headers, "From").ok()?);
    let max_forwards = caller_invite
        .headers
        .iter()
        .find_map(|h| match h {
            Header::MaxForwards(m) => m.value().trim().parse::<u32>().ok(),
            _ => None,
        })
        .unwrap_or(DEFAULT_MAX_FORWARDS)
        .saturating_sub(1);
    let mut out: Vec<Header> = vec![
        Header::Via(headers::Via::new(format!(
            "SIP/2.0/{transport} {via_sent_by};branch={};rport",
            message::new_branch()
        ))),
        Header::MaxForwards(headers::MaxForwards::new(max_forwards.to_string())),
    ];
    // §8.1.2: a preloaded Route set (the device's Path, RFC 3327), loose routing.
    out.extend(
        target
            .route
            .iter()
            .map(|value| Header::Route(headers::Route::new(value.clone()))),
    );
    out.extend([
        Header::From(headers::From::new(format!(
            "{from};tag={}",
            message::new_tag()
        ))),
        Header::To(headers::To::new(to.to_owned())),
        Header::CallId(headers::CallId::new(message::new_call_id(None))),
        Header::CSeq(headers::CSeq::new("1 INVITE")),
        Header::Contact(headers::Contact::new(format!("<{contact}>"))),
        message::allow_header(),
    ]);
    if let Some(id) = target.binding {
        // The holding node rings this binding of its own (`cluster::node_reach`).
        out.push(Header::Other(
            crate::cluster::node_reach::BINDING_HEADER.into(),
            id.to_string(),
        ));
    }
    if let Some(d) = diversion {
        // RFC 5806 §4: name-addr of the diverting party, reason and counter.
        out.push(Header::Other(
            "Diversion".into(),
            format!(
                "<sip:{}@{domain}>;reason={};counter={}",
                d.from, d.reason, d.counter
            ),
        ));
        // RFC 7044 §4: the original target (index 1) and the new one (index 1.1), the
        // redirecting cause on the new entry as an escaped Reason (RFC 4458 / RFC 7544 `mp`).
        out.push(Header::Other(
            "History-Info".into(),
            format!(
                "<sip:{}@{domain}>;index=1, <{}?Reason=SIP%3Bcause%3D{}>;index=1.1;mp=1",
                d.from,
                target.uri,
                history_info_cause(d.reason)
            ),
        ));
    }
    let mut body = Vec::new();
    if !caller_invite.body.is_empty() {
        let content_type = caller_invite.headers.iter().find_map(|h| match h {
            Header::ContentType(c) => Some(c.value().to_owned()),
            _ => None,
        });
        if let Some(content_type) = content_type {
            out.push(Header::ContentType(headers::ContentType::new(content_type)));
            body = caller_invite.body.clone();
        }
    }
    out.push(Header::ContentLength(headers::ContentLength::new(
        body.len().to_string(),
    )));
    Some(Request {
        method: Method::Invite,
        uri,
        version: rsip::Version::V2,
        headers: out.into(),
        body,
    })
}

/// The SIP cause for a History-Info entry (RFC 4458 §3.2.1: 302 unconditional, 486 busy,
/// 408 no reply, 480 deflection, 503 unreachable; 404 for reasons it has no code for).
pub fn history_info_cause(reason: DiversionReason) -> u16 {
    match reason {
        DiversionReason::Unconditional
        | DiversionReason::TimeOfDay
        | DiversionReason::FollowMe
        | DiversionReason::Away
        | DiversionReason::DoNotDisturb => 302,
        DiversionReason::UserBusy => 486,
        DiversionReason::NoAnswer => 408,
        DiversionReason::Deflection => 480,
        DiversionReason::Unavailable | DiversionReason::OutOfService => 503,
        DiversionReason::Unknown => 404,
    }
}
