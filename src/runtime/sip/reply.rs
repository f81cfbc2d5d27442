//! What every answer of the SIP task carries: the option tags we implement (Supported; RFC
//! 3261 §20.37), our Server header, and [`reply`], a response with a To tag of ours. The
//! methods for Allow are `sip::message::allow`, the one list.

use rsip::headers::UntypedHeader;
use rsip::Header;

use crate::sip::message;
use crate::sip::transaction::fields::response_to;

/// Option tags we support (Supported, and what Require may name without a 420).
pub const SUPPORTED: &[&str] = &["path", "outbound", "timer"];
/// The Server / User-Agent string.
pub const SERVER: &str = concat!("OneStatus/", env!("CARGO_PKG_VERSION"));
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
