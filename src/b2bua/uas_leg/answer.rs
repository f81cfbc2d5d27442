//! The 2xx that answers the caller's INVITE with our own SDP (RFC 3264 §6), for a leg whose
//! answer we make ourselves (the IVR): RFC 3261 §12.1.1 asks the UAS to copy Record-Route and
//! add a Contact, the dialog's remote target for the caller; Allow says what we accept in the
//! dialog (§20.5).

use rsip::headers::{self, Header, UntypedHeader};
use rsip::{Request, Response};

use super::UasConfig;
use crate::sip::transaction::fields::response_to;

/// 200 OK to `invite` in our dialog (`local_tag`) with `sdp` as its body.
pub fn ok_with_sdp(
    config: &UasConfig,
    invite: &Request,
    local_tag: &str,
    sdp: Vec<u8>,
) -> Response {
    let mut response = response_to(invite, 200, Some(local_tag));
    let mut out: Vec<Header> = response
        .headers
        .iter()
        .filter(|h| !matches!(h, Header::ContentLength(_) | Header::ContentType(_)))
        .cloned()
        .collect();
    out.extend(
        invite
            .headers
            .iter()
            .filter(|h| matches!(h, Header::RecordRoute(_)))
            .cloned(),
    );
    out.push(Header::Contact(headers::Contact::new(format!(
        "<{}>",
        config.contact
    ))));
    out.push(crate::sip::message::allow_header());
    out.push(Header::Server(headers::Server::new(config.server.clone())));
    out.push(Header::ContentType(headers::ContentType::new(
        "application/sdp",
    )));
    out.push(Header::ContentLength(headers::ContentLength::new(
        sdp.len().to_string(),
    )));
    response.headers = out.into();
    response.body = sdp;
    response
}
