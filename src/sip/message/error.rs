//! Why a message was refused, precisely enough to answer it (RFC 3261 §8.2, §21).
//!
//! Every refusal of network bytes ends here. The variant says *what* is wrong; the
//! [`ParseError::status_code`] and [`ParseError::reason_phrase`] say how a UAS answers it when
//! an answer is possible at all (see [`super::recover_request_basics`]).

use std::borrow::Cow;

/// The header fields whose absence, duplication or damage makes a request unusable.
///
/// RFC 3261 §8.1.1: "A valid SIP request formulated by a UAC MUST, at a minimum, contain the
/// following header fields: To, From, CSeq, Call-ID, Max-Forwards, and Via". Content-Length is
/// here because §18.3 makes it decide where the body ends. Variants follow the §8.1.1 order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EssentialHeader {
    /// `To` (§8.1.1.2, §20.39).
    To,
    /// `From` (§8.1.1.3, §20.20).
    From,
    /// `CSeq` (§8.1.1.5, §20.16).
    CSeq,
    /// `Call-ID` (§8.1.1.4, §20.8).
    CallId,
    /// `Max-Forwards` (§8.1.1.6, §20.22); mandatory in requests only.
    MaxForwards,
    /// `Via` (§8.1.1.7, §20.42).
    Via,
    /// `Content-Length` (§18.3, §20.14); mandatory on stream transports only.
    ContentLength,
}

impl EssentialHeader {
    /// The header name as RFC 3261 spells it, used in reason phrases ("Missing Call-ID").
    pub fn as_str(self) -> &'static str {
        match self {
            Self::To => "To",
            Self::From => "From",
            Self::CSeq => "CSeq",
            Self::CallId => "Call-ID",
            Self::MaxForwards => "Max-Forwards",
            Self::Via => "Via",
            Self::ContentLength => "Content-Length",
        }
    }
}

impl std::fmt::Display for EssentialHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why [`super::parse`] refused a message.
///
/// Variants are in alphabetical order. Each one maps to the response a UAS sends
/// ([`Self::status_code`], [`Self::reason_phrase`]); whether it *can* send one depends on what
/// survives of the request ([`super::recover_request_basics`]). Malformed responses are never
/// answered, only dropped and logged (RFC 3261 §16.7 / §18.1.2 by analogy: there is no one to
/// answer).
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// A `Via` value does not follow `sent-protocol LWS sent-by *( SEMI via-params )`
    /// (§20.42, §25.1), so the response cannot be routed back by it either.
    #[error("bad Via header")]
    BadVia,
    /// The header section contains a control character other than HTAB (a NUL, a bare CR...).
    /// §25.1: header values are TEXT-UTF8 / LWS; controls are never legal.
    #[error("control character 0x{byte:02x} in the header section")]
    ControlCharacter {
        /// The offending byte.
        byte: u8,
    },
    /// The body is shorter than `Content-Length` says. §18.3: "If the message is shorter than
    /// the value of Content-Length, the message is truncated [...] the message is invalid".
    #[error("Content-Length is {declared} but only {available} body bytes arrived")]
    ContentLengthMismatch {
        /// The value of the `Content-Length` header.
        declared: u64,
        /// How many bytes followed the empty line.
        available: usize,
    },
    /// A header that may appear only once appears several times (RFC 4475 `multi01`).
    #[error("duplicate {0} header")]
    DuplicateHeader(EssentialHeader),
    /// Nothing but CRLFs: a keep-alive (RFC 5626 §3.5.1, RFC 3261 §7.5) or an empty datagram.
    /// Not an error worth logging loudly; drop silently.
    #[error("empty message (keep-alive)")]
    Empty,
    /// One logical header line (after unfolding) exceeds [`super::MAX_HEADER_LINE_LEN`].
    #[error("header line of {length} bytes exceeds the limit")]
    HeaderTooLong {
        /// Length in bytes of the unfolded line.
        length: usize,
    },
    /// The header section is not UTF-8. §25.1 allows UTF-8 in TEXT-UTF8 values and nothing else.
    #[error("header section is not valid UTF-8")]
    InvalidUtf8,
    /// The CSeq method differs from the Request-Line's, on a request whose method we do not
    /// implement (§8.1.1.5: "The method MUST match that of the request"). Checked before the
    /// 501: RFC 4475 §3.1.2.18 (`mismatch02`) wants 400 for such a request, not 501.
    #[error("CSeq method {cseq:?} differs from the request method {method:?}")]
    CSeqMethodMismatch {
        /// The Request-Line method.
        method: String,
        /// The CSeq method.
        cseq: String,
    },
    /// `Content-Length` is not `1*DIGIT` (negative, garbage, overflowing) (§20.14).
    #[error("malformed Content-Length")]
    MalformedContentLength,
    /// `CSeq` is not `1*DIGIT LWS Method` with a number below 2**31 (§8.1.1.5, §20.16).
    #[error("malformed CSeq")]
    MalformedCSeq,
    /// `Call-ID` is empty or contains whitespace (`word [ "@" word ]`, §20.8).
    #[error("malformed Call-ID")]
    MalformedCallId,
    /// A header line is not `field-name HCOLON field-value` (no colon, a name that is not a token,
    /// a continuation line with nothing to continue) (§7.3.1).
    #[error("malformed header line {line}")]
    MalformedHeader {
        /// 1-based line number in the header section (the start line is line 0).
        line: usize,
    },
    /// A host-bearing header (Contact, Route...) has a `[` in a host position that does not
    /// hold an IPv6 address up to its `]`: unterminated, a zone identifier (RFC 6874), garbage
    /// (§25.1 `IPv6reference`). Via, From, To and the Request-URI report their own errors.
    #[error("malformed IPv6 reference in {0}")]
    MalformedIpv6Reference(&'static str),
    /// `Max-Forwards` is not `1*DIGIT` (§20.22) in 0..=255 (RFC 4475 `scalar02`).
    #[error("malformed Max-Forwards")]
    MalformedMaxForwards,
    /// `From` or `To` is not a name-addr / addr-spec: an unterminated quoted string, a `<`
    /// without `>`, two values, a display name that is neither tokens nor quoted, no URI at all
    /// (§20.20, §20.39, §25.1).
    #[error("malformed {0} header")]
    MalformedNameAddr(EssentialHeader),
    /// The Request-Line is not `Method SP Request-URI SP SIP-Version CRLF` (§7.1, §25.1).
    #[error("malformed Request-Line")]
    MalformedRequestLine,
    /// The Request-URI has a sip/sips scheme but does not parse (including a broken IPv6
    /// reference: `sip:[2001:db8::1`, a zone identifier). Also the answer for what rsip 0.4
    /// cannot represent: URI headers (`?Subject=x`). (A `;` in the user part, RFC 4475
    /// §3.1.1.9, is carried escaped instead.)
    #[error("malformed Request-URI")]
    MalformedRequestUri,
    /// The Status-Line is not `SIP-Version SP Status-Code SP Reason-Phrase CRLF` with a code in
    /// 100..=699 (§7.2, §25.1). Responses are dropped, never answered.
    #[error("malformed Status-Line")]
    MalformedStatusLine,
    /// The message is longer than [`super::MAX_MESSAGE_LEN`].
    #[error("message of {length} bytes exceeds the limit")]
    MessageTooLarge {
        /// Length in bytes of what arrived.
        length: usize,
    },
    /// A mandatory header is absent (§8.1.1; Content-Length only on streams, §18.3).
    #[error("missing {0} header")]
    MissingHeader(EssentialHeader),
    /// The method is a well-formed token this stack does not implement. §8.2.1: "If a UAS does
    /// not understand a method it MUST respond with 501 (Not Implemented)". Methods are
    /// case-sensitive (§7.1), so `invite` lands here too.
    #[error("method {0:?} is not implemented")]
    NotImplemented(String),
    /// rsip refused what the pre-validation let through. Kept as a last resort so that a gap in
    /// the pre-validation is still a clean 400, not a panic or a silent accept.
    #[error("rsip refused the message: {0}")]
    Rejected(#[source] rsip::Error),
    /// A host-bearing header or the Request-URI already contains the `.ipv6.invalid` suffix of
    /// the placeholders that carry IPv6 references through rsip. RFC 2606 §2 reserves
    /// `.invalid`, so no peer has a reason to send it, and accepting it would make the message
    /// printer turn that name into an IPv6 address the peer never sent.
    #[error("reserved host name (.ipv6.invalid)")]
    ReservedHost,
    /// Too many header lines (after unfolding): more than [`super::MAX_HEADERS`].
    #[error("{count} header lines exceed the limit")]
    TooManyHeaders {
        /// How many logical header lines were seen before giving up.
        count: usize,
    },
    /// The bytes end inside the header section (no empty line and no final CRLF).
    #[error("message ends inside the header section")]
    Truncated,
    /// The Request-URI scheme is not sip or sips. §8.2.2.1: "If the Request-URI uses a scheme
    /// not supported by the UAS, it SHOULD reject the request with a 416".
    #[error("unsupported Request-URI scheme {0:?}")]
    UnsupportedUriScheme(String),
    /// The SIP-Version is not 2.0. §8.2 / §21.5.6: answered 505.
    #[error("unsupported SIP version {0:?}")]
    UnsupportedVersion(String),
}

impl ParseError {
    /// The status code a UAS answers with (RFC 3261 §21). Mostly 400; 501, 505, 416 and 513
    /// where RFC 3261 names a more precise one.
    pub fn status_code(&self) -> u16 {
        match self {
            Self::NotImplemented(_) => 501,
            Self::UnsupportedVersion(_) => 505,
            Self::UnsupportedUriScheme(_) => 416,
            // §21.5.7 513 Message Too Large: "the message length exceeded its capabilities".
            Self::MessageTooLarge { .. }
            | Self::HeaderTooLong { .. }
            | Self::TooManyHeaders { .. } => 513,
            _ => 400,
        }
    }

    /// The reason phrase of that answer, naming the problem (architecture: "a malformed SIP
    /// request gets 400 Bad Request with a reason phrase naming the problem").
    pub fn reason_phrase(&self) -> Cow<'static, str> {
        let phrase: &'static str = match self {
            Self::BadVia => "Bad Via header",
            Self::ControlCharacter { .. } => "Illegal control character in header",
            Self::ContentLengthMismatch { .. } => "Content-Length mismatch",
            Self::CSeqMethodMismatch { .. } => "CSeq method mismatch",
            Self::DuplicateHeader(header) => return format!("Duplicate {header} header").into(),
            Self::Empty => "Empty message",
            Self::HeaderTooLong { .. } => "Header line too long",
            Self::InvalidUtf8 => "Invalid UTF-8 in header",
            Self::MalformedContentLength => "Malformed Content-Length",
            Self::MalformedCSeq => "Malformed CSeq",
            Self::MalformedCallId => "Malformed Call-ID",
            Self::MalformedHeader { .. } => "Malformed header line",
            Self::MalformedIpv6Reference(header) => {
                return format!("Malformed IPv6 reference in {header}").into()
            }
            Self::MalformedMaxForwards => "Malformed Max-Forwards",
            Self::MalformedNameAddr(header) => return format!("Malformed {header} header").into(),
            Self::MalformedRequestLine => "Malformed Request-Line",
            Self::MalformedRequestUri => "Bad Request-URI",
            Self::MalformedStatusLine => "Malformed Status-Line",
            Self::MessageTooLarge { .. } => "Message Too Large",
            Self::MissingHeader(header) => return format!("Missing {header}").into(),
            Self::NotImplemented(_) => "Not Implemented",
            Self::Rejected(_) => "Malformed message",
            Self::ReservedHost => "Reserved host name",
            Self::TooManyHeaders { .. } => "Too many headers",
            Self::Truncated => "Truncated message",
            Self::UnsupportedUriScheme(_) => "Unsupported URI Scheme",
            Self::UnsupportedVersion(_) => "Version Not Supported",
        };
        Cow::Borrowed(phrase)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_phrases_name_the_header() {
        assert_eq!(
            ParseError::MissingHeader(EssentialHeader::CallId).reason_phrase(),
            "Missing Call-ID"
        );
        assert_eq!(
            ParseError::DuplicateHeader(EssentialHeader::ContentLength).reason_phrase(),
            "Duplicate Content-Length header"
        );
        assert_eq!(ParseError::MalformedCSeq.reason_phrase(), "Malformed CSeq");
    }

    #[test]
    fn precise_status_codes() {
        assert_eq!(
            ParseError::UnsupportedVersion("SIP/7.0".into()).status_code(),
            505
        );
        assert_eq!(ParseError::NotImplemented("FOO".into()).status_code(), 501);
        assert_eq!(
            ParseError::UnsupportedUriScheme("tel".into()).status_code(),
            416
        );
        assert_eq!(ParseError::MessageTooLarge { length: 1 }.status_code(), 513);
        assert_eq!(ParseError::BadVia.status_code(), 400);
    }
}
