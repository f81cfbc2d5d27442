//! Building responses and fresh identifiers (RFC 3261 §8.2.6, §8.1.1.4, §8.1.1.7, §19.3).
//!
//! Every layer that answers a request (transactions, registrar, B2BUA) goes through
//! [`make_response`], so the §8.2.6.2 copying rules live in one place.

use rand::distributions::Alphanumeric;
use rand::Rng;
use rsip::headers::UntypedHeader;

/// The `Server` header value of every response we build (§20.35).
pub const SERVER: &str = concat!("OneStatus/", env!("CARGO_PKG_VERSION"));

/// §8.1.1.7: "The branch ID inserted by an element compliant with this specification MUST
/// always begin with the characters "z9hG4bK"".
pub const BRANCH_MAGIC_COOKIE: &str = "z9hG4bK";

/// Builds a response to `request` as §8.2.6 says.
///
/// §8.2.6.2: "The From field of the response MUST equal the From header field of the request.
/// The Call-ID [...] CSeq [...] Via header field values in the response MUST equal the Via
/// header field values in the request and MUST maintain the same ordering." The To header is
/// copied and, if `to_tag` is given and the request's To has no tag, gets `;tag=<to_tag>`
/// ("If a request contained a To tag in the request, the To header field in the response MUST
/// equal that of the request"). §8.2.6.2 wants a tag on every response but 100 Trying: passing
/// `None` for a non-100 out-of-dialog response is the caller's mistake, not checked here.
/// §8.2.6.1: a 100 (Trying) copies the Timestamp header.
///
/// Adds `Server` and `Content-Length: 0`; a caller adding a body replaces the latter. The status
/// is `StatusCode::Other(code, reason)` so that `reason` is what goes on the wire (see
/// `status_code` below); compare with `.code()`.
pub fn make_response(
    request: &rsip::Request,
    code: u16,
    reason: &str,
    to_tag: Option<&str>,
) -> rsip::Response {
    let mut headers = rsip::Headers::default();
    for header in request.headers.iter() {
        match header {
            rsip::Header::Via(_)
            | rsip::Header::From(_)
            | rsip::Header::CallId(_)
            | rsip::Header::CSeq(_) => headers.push(header.clone()),
            rsip::Header::Timestamp(_) if code == 100 => headers.push(header.clone()),
            rsip::Header::To(to) => {
                let value = match to_tag {
                    Some(tag) if !has_tag(to.value()) => format!("{};tag={tag}", to.value()),
                    _ => to.value().to_owned(),
                };
                headers.push(rsip::Header::To(rsip::headers::To::new(value)));
            }
            _ => {}
        }
    }
    headers.push(rsip::Header::Server(rsip::headers::Server::new(SERVER)));
    headers.push(rsip::Header::ContentLength(
        rsip::headers::ContentLength::new("0"),
    ));
    rsip::Response {
        status_code: status_code(code, reason),
        version: rsip::Version::V2,
        headers,
        body: Vec::new(),
    }
}

/// Always `StatusCode::Other(code, reason)`: rsip 0.4 prints its named codes with the Rust
/// variant name as the reason phrase (`486 BusyHere`, `183 SessionProgress`), which is not what
/// §21 spells and not what a peer's logs should show. Compare responses by `.code()`, not by
/// variant.
fn status_code(code: u16, reason: &str) -> rsip::StatusCode {
    rsip::StatusCode::Other(code, reason.to_owned())
}

/// Whether a From/To value carries a `tag` header parameter (§19.3, §20.20).
///
/// Parameters of the header follow the `>` of a name-addr, or the URI of an addr-spec (which,
/// §20.10, cannot itself have parameters then). Quoted display names are skipped. Written here
/// rather than with rsip's typed To because that one cannot parse `tel:` or IPv6 URIs.
pub(crate) fn has_tag(value: &str) -> bool {
    let mut in_quotes = false;
    let mut escaped = false;
    let mut params_start = None;
    let mut saw_angle = false;
    for (index, ch) in value.char_indices() {
        if in_quotes {
            match (escaped, ch) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_quotes = false,
                _ => {}
            }
            continue;
        }
        match ch {
            '"' => in_quotes = true,
            '<' => saw_angle = true,
            '>' => {
                params_start = Some(index + 1);
                break;
            }
            _ => {}
        }
    }
    let params = match (params_start, saw_angle) {
        (Some(start), _) => value.get(start..).unwrap_or(""),
        (None, false) => value.split_once(';').map_or("", |(_, params)| params),
        (None, true) => "",
    };
    params.split(';').any(|param| {
        let name = param.split_once('=').map_or(param, |(name, _)| name);
        name.trim_matches([' ', '\t']).eq_ignore_ascii_case("tag")
    })
}

/// A fresh From/To tag (§19.3: "at least 32 bits of randomness"); 16 alphanumerics ≈ 95 bits.
pub fn new_tag() -> String {
    new_tag_with(&mut rand::thread_rng())
}

/// [`new_tag`] from a given generator (seeded in tests).
pub fn new_tag_with(rng: &mut impl Rng) -> String {
    random_alphanumerics(rng, 16)
}

/// A fresh Via branch: the RFC 3261 magic cookie plus 24 random alphanumerics, unique across
/// space and time as §8.1.1.7 requires.
pub fn new_branch() -> String {
    new_branch_with(&mut rand::thread_rng())
}

/// [`new_branch`] from a given generator (seeded in tests).
pub fn new_branch_with(rng: &mut impl Rng) -> String {
    format!("{BRANCH_MAGIC_COOKIE}{}", random_alphanumerics(rng, 24))
}

/// A fresh Call-ID, `random@host` (§8.1.1.4: "the use of cryptographically random identifiers
/// [...] is RECOMMENDED"; the host part is optional and helps debugging).
pub fn new_call_id(host: Option<&str>) -> String {
    new_call_id_with(&mut rand::thread_rng(), host)
}

/// [`new_call_id`] from a given generator (seeded in tests).
pub fn new_call_id_with(rng: &mut impl Rng, host: Option<&str>) -> String {
    let random = random_alphanumerics(rng, 32);
    match host {
        Some(host) if !host.is_empty() => format!("{random}@{host}"),
        _ => random,
    }
}

fn random_alphanumerics(rng: &mut impl Rng, length: usize) -> String {
    rng.sample_iter(&Alphanumeric)
        .take(length)
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use rsip::prelude::*;

    use super::*;

    fn invite() -> rsip::Request {
        let text = "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
            Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bK2\r\n\
            Via: SIP/2.0/UDP pc33.example.com;branch=z9hG4bK1\r\n\
            Max-Forwards: 69\r\n\
            To: Bob <sip:bob@biloxi.example.com>\r\n\
            From: Alice <sip:alice@example.com>;tag=1928301774\r\n\
            Call-ID: a84b4c76e66710@pc33.example.com\r\n\
            CSeq: 314159 INVITE\r\n\
            Timestamp: 54\r\n\
            Contact: <sip:alice@pc33.example.com>\r\n\
            Content-Length: 0\r\n\r\n";
        match crate::sip::message::parse(text.as_bytes()) {
            Ok(rsip::SipMessage::Request(request)) => request,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn response_copies_the_transaction_headers() {
        let response = make_response(&invite(), 486, "Busy Here", Some("abc"));
        assert_eq!(response.status_code.code(), 486);
        let text = response.to_string();
        assert!(text.starts_with("SIP/2.0 486 Busy Here\r\n"), "{text}");
        let via_top = text.find("branch=z9hG4bK2").unwrap();
        let via_bottom = text.find("branch=z9hG4bK1").unwrap();
        assert!(via_top < via_bottom, "Via order kept: {text}");
        assert!(
            text.contains("To: Bob <sip:bob@biloxi.example.com>;tag=abc\r\n"),
            "{text}"
        );
        assert!(text.contains("From: Alice <sip:alice@example.com>;tag=1928301774\r\n"));
        assert!(text.contains("Call-ID: a84b4c76e66710@pc33.example.com\r\n"));
        assert!(text.contains("CSeq: 314159 INVITE\r\n"));
        assert!(text.contains("Content-Length: 0\r\n"));
        assert!(text.contains(&format!("Server: {SERVER}\r\n")));
        assert!(!text.contains("Contact"));
        assert!(!text.contains("Max-Forwards"));
        assert!(!text.contains("Timestamp"));
        // And it parses back.
        assert!(crate::sip::message::parse(text.as_bytes()).is_ok());
    }

    #[test]
    fn trying_copies_timestamp_and_custom_reasons_survive() {
        let response = make_response(&invite(), 100, "Trying", None);
        assert!(response.to_string().contains("Timestamp: 54"));
        assert!(response.to_header().unwrap().value().ends_with('>'));
        let response = make_response(&invite(), 480, "Back at 14:30", Some("t"));
        assert_eq!(response.status_code.code(), 480);
        assert!(response
            .to_string()
            .starts_with("SIP/2.0 480 Back at 14:30\r\n"));
    }

    #[test]
    fn existing_to_tag_is_kept() {
        let mut request = invite();
        for header in request.headers.iter_mut() {
            if let rsip::Header::To(to) = header {
                *to = rsip::headers::To::new("<sip:bob@biloxi.example.com>;tag=old");
            }
        }
        let response = make_response(&request, 200, "OK", Some("new"));
        assert_eq!(
            response.to_header().unwrap().value(),
            "<sip:bob@biloxi.example.com>;tag=old"
        );
    }

    #[test]
    fn tag_detection() {
        assert!(has_tag("<sip:a@b>;tag=1"));
        assert!(has_tag("sip:a@b;TAG=1"));
        assert!(has_tag("\"x>;tag=y\" <sip:a@b> ; tag = 1"));
        assert!(!has_tag("<sip:a@b;tag=1>"));
        assert!(!has_tag("\"a;tag=1\" <sip:a@b>"));
        assert!(!has_tag("<tel:+4512345678>"));
        assert!(!has_tag("<sip:a@b>;tagx=1"));
    }

    #[test]
    fn identifiers() {
        let mut rng = StdRng::seed_from_u64(7);
        let branch = new_branch_with(&mut rng);
        assert!(branch.starts_with("z9hG4bK") && branch.len() == 31);
        let tag = new_tag_with(&mut rng);
        assert_eq!(tag.len(), 16);
        assert_ne!(tag, new_tag_with(&mut rng));
        let call_id = new_call_id_with(&mut rng, Some("onestatus.example.com"));
        assert!(call_id.ends_with("@onestatus.example.com"));
        assert!(crate::sip::message::syntax::call_id(&call_id).is_ok());
        assert!(crate::sip::message::syntax::call_id(&new_call_id(None)).is_ok());
        assert_ne!(new_branch(), new_branch());
    }
}

/// The RFC 3261 §21 (and RFC 3265/4412/6665/…) reason phrase of a status code, for responses
/// we build without a phrase of our own. rsip 0.4 prints its named codes as identifiers
/// ("486 BusyHere"), so every response we send carries `StatusCode::Other(code, phrase)`.
pub fn canonical_reason(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        305 => "Use Proxy",
        380 => "Alternative Service",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        410 => "Gone",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        421 => "Extension Required",
        423 => "Interval Too Brief",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        484 => "Address Incomplete",
        485 => "Ambiguous",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        489 => "Bad Event",
        491 => "Request Pending",
        493 => "Undecipherable",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        _ => match code / 100 {
            1 => "Progress",
            2 => "Success",
            3 => "Redirection",
            4 => "Client Error",
            5 => "Server Error",
            _ => "Global Failure",
        },
    }
}

#[cfg(test)]
mod canonical_reason_tests {
    use super::canonical_reason;

    #[test]
    fn phrases_are_words_not_identifiers() {
        assert_eq!(canonical_reason(486), "Busy Here");
        assert_eq!(canonical_reason(503), "Service Unavailable");
        assert_eq!(canonical_reason(599), "Server Error");
    }
}
