//! Is this parsed request one we can process? (RFC 3261 §8.2, §16.3, §21).
//!
//! [`super::parse`] answers "is it SIP"; this answers "may the UAS act on it". Checks run in
//! the order a UAS reports them: version (505), mandatory headers (400), CSeq (400),
//! Max-Forwards (483), method (405, §8.2.1), extensions (420, §8.2.2.3). Content processing
//! (§8.2.3: 415) is the business of whoever reads the body.

use std::borrow::Cow;

use rsip::headers::{ToTypedHeader, UntypedHeader};

use super::build::make_response;

/// Why a request is refused: the status, its reason phrase and the headers that must go with it
/// (`Unsupported` for 420, `Allow` for 405).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRejection {
    /// The final status code (4xx/5xx).
    pub status_code: u16,
    /// Reason phrase naming the problem ("Missing Call-ID").
    pub reason_phrase: Cow<'static, str>,
    /// Headers the RFC requires with this status.
    pub headers: Vec<rsip::Header>,
}

impl RequestRejection {
    fn new(status_code: u16, reason_phrase: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status_code,
            reason_phrase: reason_phrase.into(),
            headers: Vec::new(),
        }
    }

    /// The response to send: [`make_response`] plus [`Self::headers`].
    pub fn to_response(&self, request: &rsip::Request, to_tag: Option<&str>) -> rsip::Response {
        let mut response = make_response(request, self.status_code, &self.reason_phrase, to_tag);
        for header in &self.headers {
            response.headers.push(header.clone());
        }
        response
    }
}

/// Checks a parsed request against RFC 3261 §8.2 before the UAS acts on it.
///
/// - SIP-Version other than 2.0 → 505 Version Not Supported (§8.2, §21.5.6). [`super::parse`]
///   already refuses those; this catches requests built in code.
/// - A missing To, From, CSeq, Call-ID or Via (§8.1.1) → 400 "Missing Via" (etc.). A missing
///   Max-Forwards is accepted: RFC 2543 did not have it, and RFC 4475 §3.4.1 (`inv2543`) says
///   such an INVITE "should be accepted"; we forward our own request with our own
///   Max-Forwards, as §16.6 step 3 has a proxy add one.
/// - A CSeq that rsip cannot read → 400 "Malformed CSeq"; a CSeq method other than the request
///   method → 400 "CSeq method mismatch" (§8.1.1.5: "The method MUST match that of the
///   request").
/// - Max-Forwards 0 → 483 Too Many Hops (§16.3 step 3, which a B2BUA applies because it
///   forwards). §16.3 lets an element answer an OPTIONS with Max-Forwards 0 itself ("a proxy MAY
///   act as the final recipient"); that exception is up to the caller, who sees the 483 and
///   may decide to answer the OPTIONS instead.
/// - A method not in `allowed_methods` → 405 Method Not Allowed with `Allow` (§8.2.1, §21.4.6).
///   Unknown methods never get here: parse answers them 501.
/// - `Require` with option-tags not in `supported_extensions` → 420 Bad Extension with
///   `Unsupported` listing them (§8.2.2.3). CANCEL and ACK are exempt, §8.2.2.3: "Require and
///   Proxy-Require MUST NOT be used in a SIP CANCEL request, or in an ACK request sent for a
///   non-2xx response. These header fields MUST be ignored if they are present in these
///   requests." (An ACK for a 2xx cannot be refused either: it gets no response.)
///
/// The caller must never send a response to an ACK; it gets the rejection only to log it.
pub fn validate_request(
    request: &rsip::Request,
    supported_extensions: &[&str],
    allowed_methods: &[rsip::Method],
) -> Result<(), RequestRejection> {
    if request.version != rsip::Version::V2 {
        return Err(RequestRejection::new(505, "Version Not Supported"));
    }

    let mut max_forwards = None;
    let mut cseq = None;
    let mut present = [false; 6];
    for header in request.headers.iter() {
        match header {
            rsip::Header::To(_) => present[0] = true,
            rsip::Header::From(_) => present[1] = true,
            rsip::Header::CSeq(value) => {
                present[2] = true;
                cseq.get_or_insert(value);
            }
            rsip::Header::CallId(_) => present[3] = true,
            rsip::Header::MaxForwards(value) => {
                present[4] = true;
                max_forwards.get_or_insert(value);
            }
            rsip::Header::Via(_) => present[5] = true,
            _ => {}
        }
    }
    const NAMES: [&str; 6] = ["To", "From", "CSeq", "Call-ID", "Max-Forwards", "Via"];
    const OPTIONAL_MAX_FORWARDS: usize = 4;
    if let Some(index) = present
        .iter()
        .enumerate()
        .position(|(i, p)| !p && i != OPTIONAL_MAX_FORWARDS)
    {
        return Err(RequestRejection::new(
            400,
            format!("Missing {}", NAMES[index]),
        ));
    }

    let Some(Ok(cseq)) = cseq.map(|c| c.typed()) else {
        return Err(RequestRejection::new(400, "Malformed CSeq"));
    };
    if cseq.method != request.method {
        return Err(RequestRejection::new(400, "CSeq method mismatch"));
    }

    let hops = match max_forwards.map(|m| m.num()) {
        None => None,
        Some(Ok(hops)) => Some(hops),
        Some(Err(_)) => return Err(RequestRejection::new(400, "Malformed Max-Forwards")),
    };
    if hops == Some(0) {
        return Err(RequestRejection::new(483, "Too Many Hops"));
    }

    if !allowed_methods.contains(&request.method) {
        let allow = allowed_methods
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let mut rejection = RequestRejection::new(405, "Method Not Allowed");
        rejection
            .headers
            .push(rsip::Header::Allow(rsip::headers::Allow::new(allow)));
        return Err(rejection);
    }

    if !matches!(request.method, rsip::Method::Ack | rsip::Method::Cancel) {
        let unsupported: Vec<&str> = request
            .headers
            .iter()
            .filter_map(|header| match header {
                rsip::Header::Require(require) => Some(require.value()),
                _ => None,
            })
            .flat_map(|value| value.split(','))
            .map(|tag| tag.trim_matches([' ', '\t']))
            .filter(|tag| !tag.is_empty())
            .filter(|tag| {
                !supported_extensions
                    .iter()
                    .any(|s| s.eq_ignore_ascii_case(tag))
            })
            .collect();
        if !unsupported.is_empty() {
            let mut rejection = RequestRejection::new(420, "Bad Extension");
            rejection
                .headers
                .push(rsip::Header::Unsupported(rsip::headers::Unsupported::new(
                    unsupported.join(", "),
                )));
            return Err(rejection);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::parse;

    const ALL: [rsip::Method; 6] = [
        rsip::Method::Invite,
        rsip::Method::Ack,
        rsip::Method::Bye,
        rsip::Method::Cancel,
        rsip::Method::Options,
        rsip::Method::Register,
    ];

    const INVITE: &str = "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
        Via: SIP/2.0/UDP pc33.example.com;branch=z9hG4bK1\r\n\
        Max-Forwards: 70\r\n\
        To: Bob <sip:bob@biloxi.example.com>\r\n\
        From: Alice <sip:alice@example.com>;tag=1928301774\r\n\
        Call-ID: a84b4c76e66710\r\n\
        CSeq: 314159 INVITE\r\n\
        Content-Length: 0\r\n\r\n";

    fn check(text: &str) -> Result<(), RequestRejection> {
        let Ok(rsip::SipMessage::Request(request)) = parse(text.as_bytes()) else {
            panic!("does not parse: {text}");
        };
        validate_request(&request, &["timer", "100rel"], &ALL)
    }

    #[test]
    fn valid_invite_passes() {
        assert_eq!(check(INVITE), Ok(()));
        assert_eq!(
            check(&INVITE.replace("Call-ID", "Require: timer\r\nCall-ID")),
            Ok(())
        );
    }

    /// RFC 4475 §3.4.1 (`inv2543`): an RFC 2543 INVITE has no Max-Forwards, its Via no
    /// branch and its From no tag; it "should be accepted".
    #[test]
    fn an_rfc_2543_invite_is_accepted() {
        let text = INVITE
            .replace("Max-Forwards: 70\r\n", "")
            .replace(";branch=z9hG4bK1", "")
            .replace(";tag=1928301774", "");
        assert_eq!(check(&text), Ok(()));
    }

    #[test]
    fn rejections() {
        let cases = [
            ("Max-Forwards: 70", "Max-Forwards: 0", 483, "Too Many Hops"),
            (
                "CSeq: 314159 INVITE",
                "CSeq: 314159 BYE",
                400,
                "CSeq method mismatch",
            ),
            (
                "CSeq: 314159 INVITE",
                "CSeq: 314159 FOO",
                400,
                "Malformed CSeq",
            ),
            ("INVITE", "PUBLISH", 405, "Method Not Allowed"),
            (
                "Call-ID",
                "Require: foo, timer,bar\r\nCall-ID",
                420,
                "Bad Extension",
            ),
        ];
        for (from, to, code, reason) in cases {
            let text = INVITE.replace(from, to);
            let rejection = check(&text).unwrap_err();
            assert_eq!(
                (rejection.status_code, rejection.reason_phrase.as_ref()),
                (code, reason)
            );
        }
    }

    #[test]
    fn rejection_headers() {
        let text = INVITE.replace("Call-ID", "Require: foo, timer,bar\r\nCall-ID");
        let rejection = check(&text).unwrap_err();
        assert_eq!(
            rejection.headers,
            [rsip::Header::Unsupported(rsip::headers::Unsupported::new(
                "foo, bar"
            ))]
        );
        let Ok(rsip::SipMessage::Request(request)) = parse(text.as_bytes()) else {
            panic!()
        };
        let response = rejection.to_response(&request, Some("x")).to_string();
        assert!(response.starts_with("SIP/2.0 420 Bad Extension\r\n"));
        assert!(response.contains("Unsupported: foo, bar\r\n"));

        let rejection = check(&INVITE.replace("INVITE", "PUBLISH")).unwrap_err();
        assert_eq!(
            rejection.headers,
            [rsip::Header::Allow(rsip::headers::Allow::new(
                "INVITE, ACK, BYE, CANCEL, OPTIONS, REGISTER"
            ))]
        );
    }

    #[test]
    fn cancel_ignores_require_and_version_is_checked() {
        let text = INVITE
            .replace("INVITE", "CANCEL")
            .replace("Call-ID", "Require: foo\r\nCall-ID");
        assert_eq!(check(&text), Ok(()));
        let Ok(rsip::SipMessage::Request(mut request)) = parse(INVITE.as_bytes()) else {
            panic!()
        };
        request.version = rsip::Version::V1;
        assert_eq!(
            validate_request(&request, &[], &ALL)
                .unwrap_err()
                .status_code,
            505
        );
    }
}
