//! What every answer of the SIP task carries: the methods and option tags we implement
//! (Allow, Supported; RFC 3261 §20.5, §20.37), our Server header, and [`reply`], a response
//! with a To tag of ours.

use rsip::headers::UntypedHeader;
use rsip::{Header, Method};

use crate::sip::message;
use crate::sip::transaction::fields::response_to;

/// Methods we implement, for Allow (RFC 3261 §20.5) and 405 answers.
pub const ALLOWED: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, INFO, NOTIFY, SUBSCRIBE";
/// Option tags we support (Supported, and what Require may name without a 420).
pub const SUPPORTED: &[&str] = &["path", "outbound", "timer"];
/// The Server / User-Agent string.
pub const SERVER: &str = concat!("OneStatus/", env!("CARGO_PKG_VERSION"));
/// Methods we accept at all; others get 405 with Allow from validation (§8.2.1).
pub const ALLOWED_METHODS: &[Method] = &[
    Method::Invite,
    Method::Ack,
    Method::Cancel,
    Method::Bye,
    Method::Options,
    Method::Register,
    Method::Info,
    Method::Notify,
    Method::Subscribe,
    Method::Update,
    Method::PRack,
    Method::Refer,
    Method::Message,
];

/// A response to `request` with a tag on To for anything but 100, our Server header, and an
/// optional reason phrase of our own.
pub fn reply(request: &rsip::Request, code: u16, reason: Option<&str>) -> rsip::Response {
    let tag = (code > 100).then(message::new_tag);
    let mut response = response_to(request, code, tag.as_deref());
    let reason = reason.unwrap_or_else(|| message::canonical_reason(code));
    response.status_code = rsip::StatusCode::Other(code, reason.to_owned());
    response
        .headers
        .push(Header::Server(rsip::headers::Server::new(SERVER)));
    response
}
