//! Answering what could not be parsed (RFC 3261 §8.2, §8.2.6, §17.1.3, §18.2.2).
//!
//! The architecture promises that "a malformed SIP request gets 400 Bad Request with a reason
//! phrase naming the problem (where a response is possible at all)". This module decides when it
//! is possible: the UAC's client transaction matches a response by the top Via branch and the
//! CSeq method (§17.1.3), and the response travels back by the top Via (§18.2.2). So a usable
//! Via set and a well-formed CSeq are required; From, To and Call-ID are copied when they are
//! usable and left out otherwise (like Kamailio's sanity module, a 400 "Missing Call-ID" is more
//! help to the peer than silence, and the UAC still matches it by branch). Everything else is
//! dropped by the caller: responses (§18.1.2: never answered), ACKs (§17: an ACK gets no
//! response), and requests without Via or CSeq.

use sha2::{Digest, Sha256};

use super::build::{has_tag, SERVER};
use super::error::{EssentialHeader, ParseError};
use super::ipv6;
use super::normalize::{expand_compact_name, split_header, split_list, strip_leading_crlf};
use super::syntax;
use super::{MAX_HEADERS, MAX_HEADER_LINE_LEN, MAX_MESSAGE_LEN};

/// What survives of a refused request: enough to address a response to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestBasics {
    /// The request method as it appeared on the Request-Line (may be one we do not implement).
    pub method: String,
    /// Every Via value, in order, as received (each one checked). Never empty.
    pub vias: Vec<String>,
    /// The From value, if present once and well formed (LWS around `;`/`=` removed).
    pub from: Option<String>,
    /// The To value, if present once and well formed (LWS around `;`/`=` removed).
    pub to: Option<String>,
    /// The Call-ID, if present once and well formed.
    pub call_id: Option<String>,
    /// The CSeq, canonical (`314159 INVITE`); the first one when the request has several
    /// (RFC 4475 §3.3.8), and with its number as received when that is too large for us
    /// (§3.1.2.4).
    pub cseq: String,
    /// Some echoed value is one our own parser refuses — a Via of another SIP version (RFC
    /// 4475 §3.1.2.16, answered 505), an overlarge CSeq number (§3.1.2.4) — copied as
    /// received, as §8.2.6.2 says: the peer's client transaction matches by the top Via's
    /// branch and the CSeq method (§17.1.3), which are intact.
    pub echoed_as_received: bool,
}

/// Pulls the transaction-identifying headers out of a message [`super::parse`] refused.
///
/// Lenient where `parse` is strict: lines with controls, bad UTF-8 or excessive length are
/// skipped rather than fatal, folding and compact names are understood, and the Request-Line
/// need only start with a method token. Bounded like `parse` (first [`MAX_MESSAGE_LEN`] bytes,
/// [`MAX_HEADERS`] lines).
///
/// Returns `None`, meaning "drop it and log", for a response, an ACK, or when there is no
/// usable Via set or CSeq (see the module docs for why these two).
pub fn recover_request_basics(bytes: &[u8]) -> Option<RequestBasics> {
    let bytes = strip_leading_crlf(&bytes[..bytes.len().min(MAX_MESSAGE_LEN)]);
    let mut lines = bytes
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let start_line = lines.next()?;
    let method_end = start_line.iter().position(|&b| b == b' ')?;
    let method = std::str::from_utf8(&start_line[..method_end]).ok()?;
    // A Status-Line starts with `SIP/2.0`, and `/` is not a token character: responses stop here.
    if method.is_empty() || !method.bytes().all(super::normalize::is_token_byte) || method == "ACK"
    {
        return None;
    }

    // Unfold into logical lines, skipping anything unreadable.
    let mut logical: Vec<String> = Vec::new();
    let mut last_kept = false;
    for raw in lines.take(MAX_HEADERS * 2) {
        if raw.is_empty() {
            break;
        }
        let Some(text) = readable(raw) else {
            last_kept = false;
            continue;
        };
        if text.starts_with([' ', '\t']) {
            if let (true, Some(last)) = (last_kept, logical.last_mut()) {
                if last.len() + text.len() <= MAX_HEADER_LINE_LEN {
                    last.push(' ');
                    last.push_str(text.trim_matches([' ', '\t']));
                }
            }
            continue;
        }
        logical.push(text.to_owned());
        last_kept = true;
    }

    let mut vias = Vec::new();
    let mut from = Single::default();
    let mut to = Single::default();
    let mut call_id = Single::default();
    let mut cseq = Single::default();
    for line in &logical {
        let Some((name, value)) = split_header(line) else {
            continue;
        };
        let name = expand_compact_name(name);
        if name.eq_ignore_ascii_case("Via") {
            vias.extend(split_list(value, ',').into_iter().map(str::to_owned));
        } else if name.eq_ignore_ascii_case("From") {
            from.offer(value);
        } else if name.eq_ignore_ascii_case("To") {
            to.offer(value);
        } else if name.eq_ignore_ascii_case("Call-ID") {
            call_id.offer(value);
        } else if name.eq_ignore_ascii_case("CSeq") {
            cseq.offer(value);
        }
    }

    // The same checks parse makes, IPv6 references included (ipv6.rs), so that what we echo
    // back is a response our own parser (and the peer's) accepts.
    let via_ok = |via: &str| {
        syntax::via(via).is_ok_and(|canonical| {
            ipv6::encode_references(&canonical, ipv6::Positions::Via).is_ok()
        })
    };
    // A Via of another SIP version (`SIP/7.0/UDP …`, RFC 4475 §3.1.2.16) is usable to answer
    // 505 if it is otherwise well formed.
    let other_version = |via: &str| {
        other_version_via(via)
            .map(|as_2_0| via_ok(&as_2_0))
            .unwrap_or(false)
    };
    let name_addr = |value: &str, header: EssentialHeader| {
        syntax::name_addr(value, header)
            .ok()
            .filter(|canonical| ipv6::encode_references(canonical, ipv6::Positions::Uri).is_ok())
    };
    if vias.is_empty() || !vias.iter().all(|v| via_ok(v) || other_version(v)) {
        return None;
    }
    let echoed_vias = vias.iter().any(|v| !via_ok(v));
    let (cseq, overlarge) = lenient_cseq(cseq.first()?)?;
    Some(RequestBasics {
        method: method.to_owned(),
        vias,
        from: from
            .value()
            .and_then(|v| name_addr(v, EssentialHeader::From)),
        to: to.value().and_then(|v| name_addr(v, EssentialHeader::To)),
        call_id: call_id
            .value()
            .filter(|v| syntax::call_id(v).is_ok())
            .map(str::to_owned),
        cseq,
        echoed_as_received: echoed_vias || overlarge,
    })
}

/// The CSeq as it can be echoed: canonical when [`syntax::cseq`] accepts it, else, for a
/// number too large for us (RFC 4475 §3.1.2.4 `scalar02`: `36893488147419103232`), the digits
/// as received (at most 40) and `true`.
fn lenient_cseq(value: &str) -> Option<(String, bool)> {
    if let Ok((number, method)) = syntax::cseq(value) {
        return Some((format!("{number} {method}"), false));
    }
    let mut words = value.split([' ', '\t']).filter(|w| !w.is_empty());
    let (digits, method) = (words.next()?, words.next()?);
    let ok = words.next().is_none()
        && (1..=40).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !method.is_empty()
        && method.bytes().all(super::normalize::is_token_byte);
    ok.then(|| (format!("{digits} {method}"), true))
}

/// `via` with its protocol version replaced by `2.0`, if it names another `SIP/x.y`.
fn other_version_via(via: &str) -> Option<String> {
    let rest = via.trim_start();
    let (protocol, rest) = rest.split_once('/')?;
    if !protocol.trim().eq_ignore_ascii_case("SIP") {
        return None;
    }
    let (version, rest) = rest.split_once('/')?;
    let version = version.trim();
    let (major, minor) = version.split_once('.')?;
    let numeric = |s: &str| !s.is_empty() && s.len() <= 3 && s.bytes().all(|b| b.is_ascii_digit());
    (numeric(major) && numeric(minor) && version != "2.0").then(|| format!("SIP/2.0/{rest}"))
}

/// [`bad_request_response`] with an `Allow` header listing `allowed` on a 501 or 405: RFC 4475
/// §3.1.1.2 expects the 501 to an unknown method to say what we do implement, and §20.5 makes
/// `Allow` mandatory in a 405.
pub fn bad_request_response_allowing(
    basics: &RequestBasics,
    error: &ParseError,
    allowed: &[rsip::Method],
) -> Vec<u8> {
    let mut out = bad_request_response(basics, error);
    if matches!(error.status_code(), 405 | 501) && !allowed.is_empty() {
        let allow = allowed
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        // Before the final `Content-Length: 0` and the empty line.
        let tail = b"Content-Length: 0\r\n\r\n".len();
        let at = out.len() - tail;
        out.splice(at..at, format!("Allow: {allow}\r\n").into_bytes());
    }
    out
}

/// Builds the response to a refused request: status and reason from `error`, the recovered
/// headers copied as §8.2.6.2 says, `Server`, `Content-Length: 0`.
///
/// The To tag is derived from the request (a hash of its Via branch, Call-ID, From and CSeq), not
/// random: a retransmitted bad request then gets a byte-identical answer, as §8.2.6.2 requires
/// of responses to the same request ("the same tag MUST be used for all responses to that
/// request") without keeping any state for garbage.
pub fn bad_request_response(basics: &RequestBasics, error: &ParseError) -> Vec<u8> {
    let mut out = format!(
        "SIP/2.0 {} {}\r\n",
        error.status_code(),
        error.reason_phrase()
    );
    for via in &basics.vias {
        push_header(&mut out, "Via", via);
    }
    if let Some(from) = &basics.from {
        push_header(&mut out, "From", from);
    }
    if let Some(to) = &basics.to {
        if has_tag(to) {
            push_header(&mut out, "To", to);
        } else {
            push_header(
                &mut out,
                "To",
                &format!("{to};tag={}", stateless_tag(basics)),
            );
        }
    }
    if let Some(call_id) = &basics.call_id {
        push_header(&mut out, "Call-ID", call_id);
    }
    push_header(&mut out, "CSeq", &basics.cseq);
    push_header(&mut out, "Server", SERVER);
    out.push_str("Content-Length: 0\r\n\r\n");
    out.into_bytes()
}

fn push_header(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push_str(": ");
    out.push_str(value);
    out.push_str("\r\n");
}

/// A To tag that is the same for every retransmission of one request (see
/// [`bad_request_response`]). 64 bits of a SHA-256 over the identifying headers.
fn stateless_tag(basics: &RequestBasics) -> String {
    let mut hasher = Sha256::new();
    for part in [
        basics.vias.first().map(String::as_str),
        basics.call_id.as_deref(),
        basics.from.as_deref(),
        Some(basics.cseq.as_str()),
    ] {
        hasher.update(part.unwrap_or("").as_bytes());
        hasher.update([0]);
    }
    hex::encode(&hasher.finalize()[..8])
}

/// A line of the header section if it is UTF-8 without controls and not too long.
fn readable(raw: &[u8]) -> Option<&str> {
    if raw.len() > MAX_HEADER_LINE_LEN || raw.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f)
    {
        return None;
    }
    std::str::from_utf8(raw).ok()
}

/// A header that must appear once: remembers the value, or that it was duplicated.
#[derive(Default)]
struct Single<'a> {
    value: Option<&'a str>,
    first: Option<&'a str>,
    duplicated: bool,
}

impl<'a> Single<'a> {
    fn offer(&mut self, value: &'a str) {
        if self.value.is_some() {
            self.duplicated = true;
        }
        self.first.get_or_insert(value);
        self.value = Some(value);
    }

    /// The value if it appeared exactly once.
    fn value(&self) -> Option<&'a str> {
        self.value.filter(|_| !self.duplicated)
    }

    /// The first value, however many there were.
    fn first(&self) -> Option<&'a str> {
        self.first.or(self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::parse;

    const BROKEN: &str = "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
        v: SIP/2.0/UDP proxy.example.com;branch=z9hG4bK2, SIP/2.0/UDP [2001:db8::9];branch=z9hG4bK1\r\n\
        Max-Forwards: 70\r\n\
        To: Bob\r\n <sip:bob@biloxi.example.com>\r\n\
        From: Alice <sip:alice@example.com>;tag=1928301774\r\n\
        i: a84b4c76e66710\r\n\
        CSeq: 314159 INVITE\r\n\
        Content-Length: 400\r\n\r\nv=0\r\n";

    #[test]
    fn recovers_and_answers() {
        let error = parse(BROKEN.as_bytes()).unwrap_err();
        assert!(matches!(error, ParseError::ContentLengthMismatch { .. }));
        let basics = recover_request_basics(BROKEN.as_bytes()).unwrap();
        assert_eq!(basics.method, "INVITE");
        assert_eq!(basics.vias.len(), 2);
        assert_eq!(
            basics.to.as_deref(),
            Some("Bob <sip:bob@biloxi.example.com>")
        );
        let response = bad_request_response(&basics, &error);
        let text = String::from_utf8(response.clone()).unwrap();
        assert!(
            text.starts_with("SIP/2.0 400 Content-Length mismatch\r\n"),
            "{text}"
        );
        assert!(text.contains("Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bK2\r\nVia: SIP/2.0/UDP [2001:db8::9];branch=z9hG4bK1\r\n"));
        assert!(text.contains("Call-ID: a84b4c76e66710\r\n"));
        assert!(text.contains("To: Bob <sip:bob@biloxi.example.com>;tag="));
        // Deterministic, and itself a valid response.
        assert_eq!(response, bad_request_response(&basics, &error));
        assert!(matches!(
            parse(&response),
            Ok(rsip::SipMessage::Response(_))
        ));
    }

    #[test]
    fn missing_call_id_is_still_answered() {
        let text = BROKEN.replace("i: a84b4c76e66710\r\n", "");
        let basics = recover_request_basics(text.as_bytes()).unwrap();
        assert_eq!(basics.call_id, None);
        let response =
            bad_request_response(&basics, &ParseError::MissingHeader(EssentialHeader::CallId));
        assert!(response.starts_with(b"SIP/2.0 400 Missing Call-ID\r\n"));
    }

    #[test]
    fn drops_what_cannot_be_answered() {
        // No usable CSeq, a bad Via, an ACK, a response, garbage.
        for text in [
            BROKEN.replace("CSeq: 314159 INVITE", "CSeq: x"),
            BROKEN.replace("CSeq: 314159 INVITE\r\n", ""),
            BROKEN.replace("SIP/2.0/UDP proxy", "SIP/2.0/UDP pro xy"),
            BROKEN.replace("INVITE sip:bob", "ACK sip:bob"),
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\nCSeq: 1 INVITE\r\n\r\n".into(),
            "\u{1}\u{2}garbage".into(),
            String::new(),
        ] {
            assert_eq!(recover_request_basics(text.as_bytes()), None, "{text}");
        }
    }

    #[test]
    fn duplicated_to_is_left_out() {
        let text = BROKEN.replace("Max-Forwards: 70", "To: <sip:eve@example.com>");
        let basics = recover_request_basics(text.as_bytes()).unwrap();
        assert_eq!(basics.to, None);
    }

    /// RFC 4475 §3.1.1.2: an unknown method with escaped controls in a quoted string is a
    /// 501, and the 501 says what we do implement.
    #[test]
    fn unknown_method_gets_501_with_allow() {
        let text = "FROB sip:bob@example.com SIP/2.0\r\n\
            Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKfrob\r\n\
            To: \"BEL:\\\u{7} NUL:\\\u{0} DEL:\\\u{7f}\" <sip:bob@example.com>\r\n\
            From: <sip:alice@example.com>;tag=1\r\n\
            Call-ID: frob-1\r\n\
            CSeq: 1 FROB\r\n\
            Max-Forwards: 70\r\n\
            Content-Length: 0\r\n\r\n";
        let error = parse(text.as_bytes()).unwrap_err();
        assert!(
            matches!(error, ParseError::NotImplemented(ref m) if m == "FROB"),
            "{error}"
        );
        // A control outside a quoted string, or an escaped CR, is still refused.
        let bare = text.replace("\\\u{7}", "\u{7}");
        assert!(matches!(
            parse(bare.as_bytes()),
            Err(ParseError::ControlCharacter { byte: 7 })
        ));
        let basics = recover_request_basics(text.as_bytes()).unwrap();
        let allowed = [rsip::Method::Invite, rsip::Method::Options];
        let response = bad_request_response_allowing(&basics, &error, &allowed);
        let response = String::from_utf8(response).unwrap();
        assert!(
            response.starts_with("SIP/2.0 501 Not Implemented\r\n"),
            "{response}"
        );
        assert!(
            response.contains("\r\nAllow: INVITE, OPTIONS\r\n"),
            "{response}"
        );
        assert!(response.ends_with("Content-Length: 0\r\n\r\n"));
        // Other errors get no Allow.
        let other = ParseError::MalformedCSeq;
        let response = bad_request_response_allowing(&basics, &other, &allowed);
        assert!(!String::from_utf8(response).unwrap().contains("Allow:"));
    }

    /// RFC 4475 §3.1.2.18: a CSeq naming another method is found before the unknown method.
    #[test]
    fn unknown_method_with_cseq_mismatch_is_400() {
        let text = BROKEN
            .replace("INVITE sip:bob", "FROB sip:bob")
            .replace("Content-Length: 400", "Content-Length: 0");
        let error = parse(text.as_bytes()).unwrap_err();
        assert_eq!(error.status_code(), 400);
        assert_eq!(error.reason_phrase(), "CSeq method mismatch");
    }
}
