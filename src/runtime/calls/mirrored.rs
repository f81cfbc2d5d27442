//! The INVITE that hands a party we already hold a dialog with to a new call: a transfer
//! carried by the B2BUA ("press 9" out of the IVR, `ivr_leg::transfer`) and a REFER inside a
//! bridged call (`calls::refer`) both place the new call as if that party had dialled the
//! destination in its dialog with us.
//!
//! The INVITE carries the party's tag and ours, its Call-ID, CSeq, Contact and route set, and
//! its SDP as the offer, so the new call's `Dialog::from_uas` of it is our existing dialog
//! with the party — whether we are that dialog's UAS (a caller) or its UAC (a device we rang).
//! It is fed to `calls::on_invite` as an originated request; nothing of it goes on the wire.

use std::net::SocketAddr;

use rsip::headers::UntypedHeader;
use rsip::{Header, Method};

use crate::b2bua::CallerInfo;
use crate::sip::dialog::Dialog;
use crate::sip::message;
use crate::sip::transaction::TransportKind;

/// The INVITE to `number@domain` in dialog `d` with the party at `source`, offering `offer`;
/// `None` when `number` makes no SIP URI.
pub(crate) fn invite(
    d: &Dialog,
    source: SocketAddr,
    transport: TransportKind,
    domain: &str,
    number: &str,
    offer: Vec<u8>,
) -> Option<rsip::Request> {
    let transport = match transport {
        TransportKind::Udp => "UDP",
        TransportKind::Tcp => "TCP",
    };
    let mut headers: Vec<Header> = vec![
        Header::Via(rsip::headers::Via::new(format!(
            "SIP/2.0/{transport} {source};branch={}",
            message::new_branch()
        ))),
        Header::MaxForwards(rsip::headers::MaxForwards::new("70")),
        Header::From(rsip::headers::From::new(format!(
            "{};tag={}",
            d.remote_uri, d.remote_tag
        ))),
        // Our tag is on To already: the new call answers with it, in the party's dialog.
        Header::To(rsip::headers::To::new(format!(
            "{};tag={}",
            d.local_uri, d.local_tag
        ))),
        Header::CallId(rsip::headers::CallId::new(d.call_id.clone())),
        Header::CSeq(rsip::headers::CSeq::new(format!(
            "{} INVITE",
            d.remote_cseq.unwrap_or(1)
        ))),
        Header::Contact(rsip::headers::Contact::new(format!(
            "<{}>",
            d.remote_target
        ))),
    ];
    for route in &d.route_set {
        headers.push(Header::RecordRoute(rsip::headers::RecordRoute::new(
            route.clone(),
        )));
    }
    if !offer.is_empty() {
        headers.push(Header::ContentType(rsip::headers::ContentType::new(
            "application/sdp",
        )));
    }
    headers.push(Header::ContentLength(rsip::headers::ContentLength::new(
        offer.len().to_string(),
    )));
    let uri = rsip::Uri::try_from(format!("sip:{number}@{domain}").as_str()).ok()?;
    Some(rsip::Request {
        method: Method::Invite,
        uri,
        version: rsip::Version::V2,
        headers: headers.into(),
        body: offer,
    })
}

/// The party as the history and the callee's display see it: the user part and display name
/// of a From/To value (`"Kim" <sip:4522334455@host>`, tag or not).
pub(crate) fn caller_info(from: &str) -> CallerInfo {
    let name = from
        .split_once('<')
        .map(|(n, _)| n.trim().trim_matches('"').trim().to_owned())
        .filter(|n| !n.is_empty());
    let uri = match (from.find('<'), from.find('>')) {
        (Some(o), Some(c)) if c > o => &from[o + 1..c],
        _ => from,
    };
    let number = uri
        .split_once(':')
        .and_then(|(_, rest)| rest.split_once('@'))
        .map(|(user, _)| user.split(';').next().unwrap_or(user).to_owned())
        .unwrap_or_default();
    CallerInfo {
        number,
        name,
        user_id: None,
    }
}

#[cfg(test)]
mod tests {
    use super::caller_info;

    #[test]
    fn the_caller_is_the_user_part_and_the_display_name() {
        let c = caller_info("\"Kim Larsen\" <sip:4522334455@192.0.2.1:5060>");
        assert_eq!(c.number, "4522334455");
        assert_eq!(c.name.as_deref(), Some("Kim Larsen"));
        assert_eq!(caller_info("<sip:100@onestatus>").name, None);
        assert_eq!(
            caller_info("<sip:4522334455@192.0.2.1;user=phone>;tag=x").number,
            "4522334455"
        );
    }
}
