//! The SIP message façade: bytes from the network in, an [`rsip::SipMessage`] or a
//! [`ParseError`] precise enough to answer out (RFC 3261 §7, §8.2, §18.3, §21).
//!
//! First step of the call flow: `sip::transport` hands every datagram (or every message framed
//! off a stream) to [`parse`]. What rsip 0.4 does not handle is normalised before it sees the
//! bytes (`normalize.rs`: folding, compact names, whitespace, leading CRLFs); the headers every
//! layer relies on are checked here (`syntax.rs`) so that their errors have names, and re-spelled
//! canonically (Via, CSeq, From, To without the optional LWS, which rsip's typed views cannot
//! read; the values stay equal under the §20 comparison rules); and the body is cut to
//! Content-Length as §18.3 says. rsip is never asked to parse anything we have not bounded: at
//! most [`MAX_MESSAGE_LEN`] bytes, [`MAX_HEADERS`] headers of [`MAX_HEADER_LINE_LEN`] bytes.
//!
//! When parsing fails on a request, [`recover_request_basics`] digs the Vias, From, To, Call-ID
//! and CSeq out of the raw bytes so that [`bad_request_response`] can answer with the
//! [`ParseError::reason_phrase`]. When it cannot (no usable Via or CSeq, an ACK, a response), the
//! caller drops the bytes and logs.
//!
//! A parsed request then goes through [`validate_request`] (§8.2: 505, 400, 483, 405, 420), and
//! every layer builds its responses with [`make_response`] (§8.2.6).
//!
//! IPv6 references, which rsip 0.4 cannot represent, are rewritten into reserved placeholder
//! hosts (`[2001:db8::1]` ⇄ `v6-2001-db8--1.ipv6.invalid`, `ipv6.rs`) in the start line and the
//! host-bearing headers; [`serialize`] prints a message for the wire with the brackets back, and
//! [`host_ip`] gives the address behind a host. **Send only what [`serialize`] printed**, never
//! `to_string()`, and build hosts from socket addresses with [`ip_host`] / [`host_with_port`].
//!
//! Known rsip 0.4 limits, answered rather than misparsed: URI headers in the Request-URI (400
//! Bad Request-URI); non-sip Request-URI schemes (416); methods outside [`rsip::Method`] (501).
//! A `;` in the user part of the Request-URI (RFC 4475 §3.1.1.9) is carried escaped as `%3B`. Accepted but unreadable by rsip's `.typed()`: `tel:` URIs in From/To,
//! a `<` inside a quoted display name, several values in one Contact line. rsip also prints its
//! named status codes with the Rust variant as reason (`486 BusyHere`) and forgets the received
//! reason phrase of a known code; [`make_response`] avoids the former.
//!
//! No `catch_unwind`: rsip 0.4 has no `unwrap`/`expect`/`panic!` in its parsers, everything it
//! sees has passed the checks here, and `tests/it/sip_corpus.rs` throws 20,000 mutated messages at
//! [`parse`] (plus the `fuzz/` target for longer runs).

mod allow;
mod build;
mod error;
mod ipv6;
mod normalize;
mod recover;
mod syntax;
mod validate;

use std::borrow::Cow;

pub use allow::{allow_header, ALLOWED_METHODS};
pub use build::{
    canonical_reason, make_response, new_branch, new_branch_with, new_call_id, new_call_id_with,
    new_tag, new_tag_with, BRANCH_MAGIC_COOKIE, SERVER,
};
pub use error::{EssentialHeader, ParseError};
pub use ipv6::{
    decode_placeholder, decode_text, host_ip, host_with_port, ip_host, serialize, HOST_HEADERS,
    PLACEHOLDER_PREFIX, PLACEHOLDER_SUFFIX,
};
pub use recover::{
    bad_request_response, bad_request_response_allowing, recover_request_basics, RequestBasics,
};
pub use validate::{validate_request, RequestRejection};

/// Largest message accepted, in bytes. UDP cannot carry more than 65 507 bytes anyway; on TCP
/// this bounds what one peer can make us buffer and parse.
pub const MAX_MESSAGE_LEN: usize = 64 * 1024;

/// Most header lines (after unfolding) accepted in one message. Real INVITEs carry 15 to 40.
pub const MAX_HEADERS: usize = 200;

/// Longest header line (after unfolding) accepted, in bytes. Long enough for big
/// Record-Route sets and Identity headers, short enough to bound rsip's work per line.
pub const MAX_HEADER_LINE_LEN: usize = 8 * 1024;

/// How the bytes reached us; decides what a missing Content-Length means (§18.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// UDP: one datagram is one message. Without Content-Length the body is the rest of the
    /// datagram; a longer body is cut to Content-Length.
    Datagram,
    /// TCP/TLS: the transport has already cut the message at Content-Length. §18.3: "In the case
    /// of stream-oriented transports such as TCP, the Content-Length header field indicates the
    /// size of the body [...] it MUST be used", so a message without one is refused.
    Stream,
}

/// Parses one datagram. Same as [`parse_framed`] with [`Framing::Datagram`].
///
/// Never panics, whatever the bytes.
pub fn parse(bytes: &[u8]) -> Result<rsip::SipMessage, ParseError> {
    parse_framed(bytes, Framing::Datagram)
}

/// Parses one message received with the given framing.
///
/// Order of checks, which is also the order in which errors are reported: size; keep-alive;
/// header section (controls, UTF-8, folding, limits); start line (version, method, URI scheme,
/// URI, IPv6 references); headers in arrival order (Via, From, To, Call-ID, CSeq, Max-Forwards,
/// Content-Length syntax and duplicates, IPv6 references in the [`HOST_HEADERS`]); missing
/// headers in §8.1.1 order; body against Content-Length; rsip.
///
/// Missing Max-Forwards is not a parse error (responses do not carry it); [`validate_request`]
/// answers it.
pub fn parse_framed(bytes: &[u8], framing: Framing) -> Result<rsip::SipMessage, ParseError> {
    if bytes.len() > MAX_MESSAGE_LEN {
        return Err(ParseError::MessageTooLarge {
            length: bytes.len(),
        });
    }
    let bytes = normalize::strip_leading_crlf(bytes);
    if bytes.is_empty() {
        return Err(ParseError::Empty);
    }
    let head = normalize::split_head(bytes)?;
    let start_line = match canonical_start_line(head.start_line) {
        Ok(line) => line,
        Err(ParseError::NotImplemented(method)) => return Err(not_implemented(&head, method)),
        Err(error) => return Err(error),
    };
    let checked = check_headers(&head.headers)?;
    let body = frame_body(head.body, checked.content_length, framing)?;

    let mut normalised = Vec::with_capacity(bytes.len() + 64);
    normalised.extend_from_slice(start_line.as_bytes());
    normalised.extend_from_slice(b"\r\n");
    for (name, value) in &checked.headers {
        normalised.extend_from_slice(name.as_bytes());
        normalised.extend_from_slice(b": ");
        normalised.extend_from_slice(value.as_bytes());
        normalised.extend_from_slice(b"\r\n");
    }
    normalised.extend_from_slice(b"\r\n");
    normalised.extend_from_slice(body);
    rsip::SipMessage::try_from(normalised.as_slice()).map_err(ParseError::Rejected)
}

/// The error for a request whose method we do not implement: 501, unless its CSeq names
/// another method (400, RFC 4475 §3.1.2.18 `mismatch02`). Only the CSeq is read: the rest of
/// such a request may use every corner of the grammar (§3.1.1.2 `intmeth`) and still deserves
/// its 501.
fn not_implemented(head: &normalize::Head<'_>, method: String) -> ParseError {
    let cseq_methods: Vec<&str> = head
        .headers
        .iter()
        .filter(|line| line.is("CSeq"))
        .filter_map(|line| syntax::cseq(line.value.as_ref()).ok())
        .map(|(_, cseq_method)| cseq_method)
        .collect();
    match cseq_methods.as_slice() {
        [cseq] if *cseq != method => ParseError::CSeqMethodMismatch {
            method,
            cseq: (*cseq).to_owned(),
        },
        _ => ParseError::NotImplemented(method),
    }
}

/// Checks the start line and spells it the way rsip expects (upper-case `SIP/2.0`, lower-case
/// URI scheme).
fn canonical_start_line(line: &str) -> Result<String, ParseError> {
    let is_response = line
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case("SIP/"));
    if is_response {
        let status = syntax::status_line(line)?;
        Ok(format!("SIP/2.0 {} {}", status.code, status.reason))
    } else {
        let request = syntax::request_line(line)?;
        Ok(format!("{} {} SIP/2.0", request.method, request.uri))
    }
}

/// Header lines ready for rsip, plus what framing needs.
struct CheckedHeaders<'a> {
    /// `(name, value)` in arrival order; each Via value on its own line.
    headers: Vec<(&'a str, Cow<'a, str>)>,
    /// The Content-Length value, if the header was present.
    content_length: Option<u64>,
}

/// Checks the essential headers (syntax, duplicates, presence) and canonicalises Via and CSeq.
fn check_headers<'a>(
    lines: &'a [normalize::HeaderLine<'a>],
) -> Result<CheckedHeaders<'a>, ParseError> {
    let mut headers: Vec<(&'a str, Cow<'a, str>)> = Vec::with_capacity(lines.len());
    let mut seen: Vec<EssentialHeader> = Vec::new();
    let mut content_length = None;
    let mut once = |header: EssentialHeader| {
        if seen.contains(&header) {
            return Err(ParseError::DuplicateHeader(header));
        }
        seen.push(header);
        Ok(())
    };
    let mut vias = 0usize;
    for line in lines {
        let value = line.value.as_ref();
        if line.is("Via") {
            for element in normalize::split_list(value, ',') {
                // Via values are counted as headers too, so splitting cannot exceed the limit.
                vias += 1;
                if headers.len() >= MAX_HEADERS {
                    return Err(ParseError::TooManyHeaders {
                        count: headers.len() + 1,
                    });
                }
                let canonical = syntax::via(element)?;
                let encoded = ipv6::encode_references(&canonical, ipv6::Positions::Via)
                    .map_err(|error| ipv6_error(error, ParseError::BadVia))?
                    .into_owned();
                headers.push(("Via", Cow::Owned(encoded)));
            }
            continue;
        }
        if line.is("From") || line.is("To") {
            let header = if line.is("From") {
                EssentialHeader::From
            } else {
                EssentialHeader::To
            };
            once(header)?;
            let canonical = syntax::name_addr(value, header)?;
            let encoded = ipv6::encode_references(&canonical, ipv6::Positions::Uri)
                .map_err(|error| ipv6_error(error, ParseError::MalformedNameAddr(header)))?
                .into_owned();
            headers.push((line.name, Cow::Owned(encoded)));
            continue;
        } else if let Some(name) = ipv6::host_header(line.name) {
            let encoded = ipv6::encode_references(value, ipv6::Positions::Uri)
                .map_err(|error| ipv6_error(error, ParseError::MalformedIpv6Reference(name)))?;
            headers.push((line.name, encoded));
            continue;
        } else if line.is("Call-ID") {
            once(EssentialHeader::CallId)?;
            syntax::call_id(value)?;
        } else if line.is("CSeq") {
            once(EssentialHeader::CSeq)?;
            let (number, method) = syntax::cseq(value)?;
            headers.push(("CSeq", Cow::Owned(format!("{number} {method}"))));
            continue;
        } else if line.is("Max-Forwards") {
            once(EssentialHeader::MaxForwards)?;
            // §20.22 1*DIGIT; RFC 4475 `scalar02` calls a value above 255 "outside [its] legal
            // range" (it is decremented per hop from a recommended 70).
            syntax::digits(value)
                .filter(|&n| n <= 255)
                .ok_or(ParseError::MalformedMaxForwards)?;
        } else if line.is("Content-Length") {
            once(EssentialHeader::ContentLength)?;
            content_length = Some(syntax::digits(value).ok_or(ParseError::MalformedContentLength)?);
        }
        headers.push((line.name, Cow::Borrowed(value)));
    }
    // §8.1.1 order; Max-Forwards is left to validate_request (responses have none).
    for header in [
        EssentialHeader::To,
        EssentialHeader::From,
        EssentialHeader::CSeq,
        EssentialHeader::CallId,
    ] {
        if !seen.contains(&header) {
            return Err(ParseError::MissingHeader(header));
        }
    }
    if vias == 0 {
        return Err(ParseError::MissingHeader(EssentialHeader::Via));
    }
    Ok(CheckedHeaders {
        headers,
        content_length,
    })
}

/// The parse error for an IPv6 reference that cannot be rewritten (`malformed` says which
/// header, in that header's own terms).
pub(crate) fn ipv6_error(error: ipv6::Ipv6Error, malformed: ParseError) -> ParseError {
    match error {
        ipv6::Ipv6Error::Malformed => malformed,
        ipv6::Ipv6Error::ReservedHost => ParseError::ReservedHost,
    }
}

/// Cuts the body to Content-Length (RFC 3261 §18.3).
///
/// "If a message is received with a Content-Length larger than the body: [...] the message is
/// invalid" → [`ParseError::ContentLengthMismatch`]. "Any bytes beyond the end of the body
/// [in a datagram] MUST be discarded" → truncation. No Content-Length on a datagram: the body is
/// the rest of the datagram (§18.3, §20.14); on a stream: [`ParseError::MissingHeader`].
fn frame_body(
    body: &[u8],
    content_length: Option<u64>,
    framing: Framing,
) -> Result<&[u8], ParseError> {
    match (content_length, framing) {
        (Some(declared), _) => usize::try_from(declared)
            .ok()
            .and_then(|length| body.get(..length))
            .ok_or(ParseError::ContentLengthMismatch {
                declared,
                available: body.len(),
            }),
        (None, Framing::Datagram) => Ok(body),
        (None, Framing::Stream) => Err(ParseError::MissingHeader(EssentialHeader::ContentLength)),
    }
}

#[cfg(test)]
mod tests {
    use rsip::prelude::*;

    use super::*;

    const OPTIONS: &str = "OPTIONS sip:carol@chicago.example.com SIP/2.0\r\n\
        Via: SIP/2.0/UDP pc33.example.com;branch=z9hG4bKhjhs8ass877\r\n\
        Max-Forwards: 70\r\n\
        To: <sip:carol@chicago.example.com>\r\n\
        From: Alice <sip:alice@example.com>;tag=1928301774\r\n\
        Call-ID: a84b4c76e66710\r\n\
        CSeq: 63104 OPTIONS\r\n\
        Content-Length: 0\r\n\r\n";

    fn request(text: &str) -> rsip::Request {
        match parse(text.as_bytes()) {
            Ok(rsip::SipMessage::Request(request)) => request,
            other => panic!("expected a request, got {other:?}"),
        }
    }

    #[test]
    fn plain_request() {
        let request = request(OPTIONS);
        assert_eq!(request.method, rsip::Method::Options);
        assert_eq!(request.call_id_header().unwrap().value(), "a84b4c76e66710");
    }

    #[test]
    fn keep_alive_is_empty() {
        assert!(matches!(parse(b"\r\n\r\n"), Err(ParseError::Empty)));
        assert!(matches!(parse(b""), Err(ParseError::Empty)));
    }

    #[test]
    fn leading_crlf_compact_and_folding() {
        let text = "\r\n\r\nOPTIONS sip:carol@chicago.example.com SIP/2.0\r\n\
            v: SIP/2.0/UDP pc33.example.com;branch=z9hG4bK1,\r\n SIP/2.0/TCP b.example.com;branch=z9hG4bK2\r\n\
            t: <sip:carol@chicago.example.com>\r\n\
            f: <sip:alice@example.com>\r\n  ;tag=x\r\n\
            i : abc\r\n\
            CSEQ:\t1   OPTIONS\r\n\
            l: 0\r\n\r\n";
        let request = request(text);
        let vias: Vec<_> = request
            .headers
            .iter()
            .filter_map(|h| match h {
                rsip::Header::Via(via) => Some(via.value().to_owned()),
                _ => None,
            })
            .collect();
        assert_eq!(
            vias,
            [
                "SIP/2.0/UDP pc33.example.com;branch=z9hG4bK1",
                "SIP/2.0/TCP b.example.com;branch=z9hG4bK2"
            ]
        );
        assert_eq!(
            request.from_header().unwrap().value(),
            "<sip:alice@example.com>;tag=x"
        );
        assert!(request.from_header().unwrap().typed().is_ok());
        assert_eq!(request.call_id_header().unwrap().value(), "abc");
        assert_eq!(request.cseq_header().unwrap().typed().unwrap().seq, 1);
        assert!(request.via_header().unwrap().typed().is_ok());
    }

    #[test]
    fn datagram_body_is_cut_to_content_length() {
        let text = OPTIONS.replace("Content-Length: 0", "Content-Length: 4") + "abcdEXTRA";
        assert_eq!(request(&text).body, b"abcd");
        let short = OPTIONS.replace("Content-Length: 0", "Content-Length: 40") + "abcd";
        assert!(matches!(
            parse(short.as_bytes()),
            Err(ParseError::ContentLengthMismatch {
                declared: 40,
                available: 4
            })
        ));
    }

    #[test]
    fn missing_content_length_depends_on_framing() {
        let text = OPTIONS.replace("Content-Length: 0\r\n", "") + "body";
        assert_eq!(request(&text).body, b"body");
        assert!(matches!(
            parse_framed(text.as_bytes(), Framing::Stream),
            Err(ParseError::MissingHeader(EssentialHeader::ContentLength))
        ));
    }

    #[test]
    fn essential_header_errors() {
        let cases = [
            ("Call-ID: a84b4c76e66710\r\n", "", "Missing Call-ID"),
            ("CSeq: 63104 OPTIONS", "CSeq: x OPTIONS", "Malformed CSeq"),
            ("SIP/2.0/UDP", "SIP/2.0/XYZ/UDP", "Bad Via header"),
            (
                "Content-Length: 0",
                "Content-Length: -1",
                "Malformed Content-Length",
            ),
            (
                "Max-Forwards: 70",
                "Max-Forwards: seventy",
                "Malformed Max-Forwards",
            ),
            (
                "To: <sip:carol",
                "To: \"Carol <sip:carol",
                "Malformed To header",
            ),
            (
                "Call-ID: a84b4c76e66710",
                "Call-ID: a b",
                "Malformed Call-ID",
            ),
            (
                "CSeq: 63104 OPTIONS\r\n",
                "CSeq: 63104 OPTIONS\r\nCSeq: 1 OPTIONS\r\n",
                "Duplicate CSeq header",
            ),
        ];
        for (from, to, reason) in cases {
            let text = OPTIONS.replace(from, to);
            let err = parse(text.as_bytes()).unwrap_err();
            assert_eq!(err.reason_phrase(), reason, "{text}");
        }
    }

    #[test]
    fn response_parses() {
        let text = "SIP/2.0 180 Ringing\r\n\
            Via: SIP/2.0/UDP pc33.example.com;branch=z9hG4bK1\r\n\
            To: <sip:carol@chicago.example.com>;tag=93810874\r\n\
            From: <sip:alice@example.com>;tag=1928301774\r\n\
            Call-ID: a84b4c76e66710\r\n\
            CSeq: 1 INVITE\r\n\
            Content-Length: 0\r\n\r\n";
        let Ok(rsip::SipMessage::Response(response)) = parse(text.as_bytes()) else {
            panic!("expected a response");
        };
        assert_eq!(response.status_code.code(), 180);
        // An empty Reason-Phrase is legal (§25.1: *(reserved / unreserved / ...)).
        for start in [
            "SIP/2.0 299 ",
            "SIP/2.0 299",
            "sip/2.0 183 Session Progress",
        ] {
            let text = text.replace("SIP/2.0 180 Ringing", start);
            assert!(parse(text.as_bytes()).is_ok(), "{start:?}");
        }
    }

    #[test]
    fn too_large() {
        let big = vec![b'a'; MAX_MESSAGE_LEN + 1];
        assert!(matches!(
            parse(&big),
            Err(ParseError::MessageTooLarge { .. })
        ));
    }
}
