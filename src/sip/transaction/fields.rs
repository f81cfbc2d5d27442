//! The header fields §17 works with, read from `rsip` messages without panicking, and the few
//! messages the transaction layer must build itself: the ACK for a non-2xx final response
//! (§17.1.1.3), a CANCEL (§9.1), and the responses it sends on its own (100 Trying, 200 to
//! CANCEL, 481, 503; §8.2.6).
//!
//! `rsip` parses headers lazily, so every accessor here can fail on a malformed field; the
//! failure becomes a [`TransactionError`] naming the header, never a panic.

use rsip::headers::{self, Header};
use rsip::prelude::*;
use rsip::{Method, Request, Response};

use super::TransactionError;

/// The magic cookie that marks an RFC 3261 branch (§8.1.1.7): "MUST begin with z9hG4bK".
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// The top Via header field value, parsed.
///
/// A Via header line may carry several comma-separated values (§7.3.1); the top value is the
/// first one, so the line is cut at its first comma before parsing.
pub fn top_via(headers: &rsip::Headers) -> Result<rsip::typed::Via, TransactionError> {
    let via = headers
        .iter()
        .find_map(|h| match h {
            Header::Via(via) => Some(via),
            _ => None,
        })
        .ok_or(TransactionError::MissingHeader("Via"))?;
    let first = via.value().split(',').next().unwrap_or_default().trim();
    headers::Via::new(first)
        .typed()
        .map_err(|_| TransactionError::MalformedHeader("Via"))
}

/// The branch parameter of a parsed Via, if any.
pub fn branch(via: &rsip::typed::Via) -> Option<String> {
    via.branch().map(|b| b.to_string())
}

/// The sent-by of a Via (§18.2.1), normalised for comparison: host lower-cased, port as given
/// (an absent port is not equal to an explicit 5060; §17.2.3 compares the values as sent).
pub fn sent_by(via: &rsip::typed::Via) -> String {
    let host = via.uri.host_with_port.host.to_string().to_ascii_lowercase();
    match via.uri.host_with_port.port {
        Some(port) => format!("{host}:{port}"),
        None => host,
    }
}

/// CSeq number and method (§8.1.1.5).
pub fn cseq(headers: &rsip::Headers) -> Result<(u32, Method), TransactionError> {
    let cseq = headers
        .iter()
        .find_map(|h| match h {
            Header::CSeq(c) => Some(c),
            _ => None,
        })
        .ok_or(TransactionError::MissingHeader("CSeq"))?;
    let typed = cseq
        .typed()
        .map_err(|_| TransactionError::MalformedHeader("CSeq"))?;
    Ok((typed.seq, typed.method))
}

/// The Call-ID value (§8.1.1.4).
pub fn call_id(headers: &rsip::Headers) -> Result<String, TransactionError> {
    headers
        .iter()
        .find_map(|h| match h {
            Header::CallId(c) => Some(c.value().trim().to_string()),
            _ => None,
        })
        .ok_or(TransactionError::MissingHeader("Call-ID"))
}

/// The From tag (§8.1.1.3); `None` only for RFC 2543 peers.
pub fn from_tag(headers: &rsip::Headers) -> Result<Option<String>, TransactionError> {
    let from = headers
        .iter()
        .find_map(|h| match h {
            Header::From(f) => Some(f),
            _ => None,
        })
        .ok_or(TransactionError::MissingHeader("From"))?;
    from.tag()
        .map(|t| t.map(|t| t.to_string()))
        .map_err(|_| TransactionError::MalformedHeader("From"))
}

/// The To tag (§8.1.1.2); `None` outside a dialog.
pub fn to_tag(headers: &rsip::Headers) -> Result<Option<String>, TransactionError> {
    let to = headers
        .iter()
        .find_map(|h| match h {
            Header::To(t) => Some(t),
            _ => None,
        })
        .ok_or(TransactionError::MissingHeader("To"))?;
    to.tag()
        .map(|t| t.map(|t| t.to_string()))
        .map_err(|_| TransactionError::MalformedHeader("To"))
}

/// The status code of a response as a number.
pub fn status(response: &Response) -> u16 {
    response.status_code.code()
}

/// Builds a response to `request` the way §8.2.6 asks: Via (all values, in order), From,
/// Call-ID and CSeq copied; To copied with `to_tag` added if it had none; Timestamp echoed in a
/// 100 (§8.2.6.1); no body.
pub fn response_to(request: &Request, code: u16, to_tag: Option<&str>) -> Response {
    let mut out: Vec<Header> = Vec::new();
    for header in request.headers.iter() {
        match header {
            Header::Via(_) | Header::From(_) | Header::CallId(_) | Header::CSeq(_) => {
                out.push(header.clone())
            }
            Header::To(to) => {
                let has_tag = matches!(to.tag(), Ok(Some(_)));
                let to = match to_tag {
                    Some(tag) if !has_tag => {
                        headers::To::new(format!("{};tag={tag}", to.value().trim()))
                    }
                    _ => to.clone(),
                };
                out.push(Header::To(to));
            }
            Header::Timestamp(_) if code == 100 => out.push(header.clone()),
            _ => {}
        }
    }
    out.push(Header::ContentLength(headers::ContentLength::new("0")));
    Response {
        // rsip prints its named codes as identifiers ("503 ServiceUnavailable"); send the
        // RFC's phrase instead.
        status_code: rsip::StatusCode::Other(
            code,
            crate::sip::message::canonical_reason(code).to_owned(),
        ),
        version: rsip::Version::V2,
        headers: out.into(),
        body: Vec::new(),
    }
}

/// Builds the ACK for a non-2xx final `response` to `invite` (§17.1.1.3): same Request-URI,
/// Call-ID, From and CSeq number as the INVITE, CSeq method ACK, only the top Via of the
/// INVITE (same branch), To taken from the response (so it carries the UAS's tag), and the
/// INVITE's Route header fields.
pub fn ack_for(invite: &Request, response: &Response) -> Result<Request, TransactionError> {
    let (seq, _) = cseq(&invite.headers)?;
    let mut out: Vec<Header> = Vec::new();
    let mut via_done = false;
    for header in invite.headers.iter() {
        match header {
            Header::Via(via) if !via_done => {
                via_done = true;
                let first = via.value().split(',').next().unwrap_or_default().trim();
                out.push(Header::Via(headers::Via::new(first)));
            }
            Header::From(_) | Header::CallId(_) | Header::Route(_) | Header::MaxForwards(_) => {
                out.push(header.clone())
            }
            _ => {}
        }
    }
    let to = response
        .headers
        .iter()
        .find_map(|h| match h {
            Header::To(t) => Some(t.clone()),
            _ => None,
        })
        .ok_or(TransactionError::MissingHeader("To"))?;
    out.push(Header::To(to));
    out.push(Header::CSeq(headers::CSeq::new(format!("{seq} ACK"))));
    out.push(Header::ContentLength(headers::ContentLength::new("0")));
    Ok(Request {
        method: Method::Ack,
        uri: invite.uri.clone(),
        version: rsip::Version::V2,
        headers: out.into(),
        body: Vec::new(),
    })
}

/// Builds the CANCEL for `request` (§9.1): same Request-URI, Call-ID, To, From and CSeq number,
/// CSeq method CANCEL, a single Via equal to the top Via of the request (so the branch matches
/// it, §9.2), and the request's Route header fields.
pub fn cancel_for(request: &Request) -> Result<Request, TransactionError> {
    let (seq, _) = cseq(&request.headers)?;
    let mut out: Vec<Header> = Vec::new();
    let mut via_done = false;
    for header in request.headers.iter() {
        match header {
            Header::Via(via) if !via_done => {
                via_done = true;
                let first = via.value().split(',').next().unwrap_or_default().trim();
                out.push(Header::Via(headers::Via::new(first)));
            }
            Header::From(_)
            | Header::To(_)
            | Header::CallId(_)
            | Header::Route(_)
            | Header::MaxForwards(_) => out.push(header.clone()),
            _ => {}
        }
    }
    if !via_done {
        return Err(TransactionError::MissingHeader("Via"));
    }
    out.push(Header::CSeq(headers::CSeq::new(format!("{seq} CANCEL"))));
    out.push(Header::ContentLength(headers::ContentLength::new("0")));
    Ok(Request {
        method: Method::Cancel,
        uri: request.uri.clone(),
        version: rsip::Version::V2,
        headers: out.into(),
        body: Vec::new(),
    })
}
