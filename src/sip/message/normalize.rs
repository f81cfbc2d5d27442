//! From wire bytes to header lines rsip 0.4 can read (RFC 3261 §7.3.1, §7.3.3, §7.5).
//!
//! rsip's tokenizer expects a tidy message: no leading CRLFs, one header per physical line,
//! `Name:` with no space before the colon, long header names. Real peers send keep-alive CRLFs,
//! folded lines, `v:` instead of `Via:` and `Call-ID : x`. This module undoes all of that, and
//! bounds the work (no header section can make us allocate more than the message itself).
//! Checked against rsip 0.4.0 by hand: it fails on folding, on a space before the colon and on
//! leading CRLFs, and it keeps compact names as unknown `Header::Other("v", ..)`.

use std::borrow::Cow;

use super::error::ParseError;
use super::{MAX_HEADERS, MAX_HEADER_LINE_LEN};

/// The head of a message cut into its start line and logical (unfolded) header lines.
#[derive(Debug)]
pub(crate) struct Head<'a> {
    /// The Request-Line or Status-Line, without its line end.
    pub start_line: &'a str,
    /// Header lines in arrival order, unfolded, names expanded from compact forms.
    pub headers: Vec<HeaderLine<'a>>,
    /// Everything after the empty line, not yet cut to Content-Length.
    pub body: &'a [u8],
}

/// One logical header line: `field-name HCOLON field-value` (§7.3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HeaderLine<'a> {
    /// The long name (compact forms expanded, §7.3.3); otherwise as received.
    pub name: &'a str,
    /// The value with surrounding whitespace removed and folds replaced by one SP.
    pub value: Cow<'a, str>,
}

impl HeaderLine<'_> {
    /// Header names are case-insensitive (§7.3.1: "field names are always case-insensitive").
    pub(crate) fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }
}

/// Drops the CRLFs that may precede a message.
///
/// RFC 3261 §7.5: "Implementations processing SIP messages over stream-oriented transports MUST
/// ignore any CRLF appearing before the start-line". The same bytes are the RFC 5626 keep-alive
/// on datagrams, so we ignore them everywhere. Bare LFs are tolerated as well.
pub(crate) fn strip_leading_crlf(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(bytes.len());
    &bytes[start..]
}

/// Cuts `bytes` (which must not start with CRLF) into start line, header lines and body.
///
/// Lines end with CRLF; a bare LF is accepted too (robustness: many stacks accept it and it
/// cannot be confused with anything else). The header section ends at the first empty line. If
/// the bytes end right after a complete header line without the empty line, the body is empty
/// (seen from truncating UDP senders); if they end in the middle of a line, the message is
/// [`ParseError::Truncated`].
pub(crate) fn split_head(bytes: &[u8]) -> Result<Head<'_>, ParseError> {
    let mut rest = bytes;
    let mut start_line: Option<&str> = None;
    let mut headers: Vec<HeaderLine<'_>> = Vec::new();
    let mut line_number = 0usize;
    loop {
        let Some(lf) = rest.iter().position(|&b| b == b'\n') else {
            if rest.is_empty() && start_line.is_some() {
                // Ended on a line end but without the empty line: no body.
                break;
            }
            return Err(ParseError::Truncated);
        };
        let raw = &rest[..lf];
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        rest = &rest[lf + 1..];
        if raw.is_empty() {
            if start_line.is_none() {
                // Unreachable after strip_leading_crlf, but harmless: nothing to parse.
                return Err(ParseError::Empty);
            }
            break;
        }
        if raw.len() > MAX_HEADER_LINE_LEN {
            return Err(ParseError::HeaderTooLong { length: raw.len() });
        }
        let line = checked_text(raw)?;
        let Some(_) = start_line else {
            start_line = Some(line);
            continue;
        };
        line_number += 1;
        if line.starts_with([' ', '\t']) {
            // §7.3.1: "a header field value [may be extended] over multiple lines by preceding
            // each extra line with at least one SP or horizontal tab"; the fold is one SP.
            let Some(last) = headers.last_mut() else {
                return Err(ParseError::MalformedHeader { line: line_number });
            };
            let extra = line.trim_matches([' ', '\t']);
            if !extra.is_empty() {
                let value = last.value.to_mut();
                if !value.is_empty() {
                    value.push(' ');
                }
                value.push_str(extra);
            }
            let length = last.name.len() + 2 + last.value.len();
            if length > MAX_HEADER_LINE_LEN {
                return Err(ParseError::HeaderTooLong { length });
            }
            continue;
        }
        if headers.len() >= MAX_HEADERS {
            return Err(ParseError::TooManyHeaders {
                count: headers.len() + 1,
            });
        }
        let (name, value) =
            split_header(line).ok_or(ParseError::MalformedHeader { line: line_number })?;
        headers.push(HeaderLine {
            name: expand_compact_name(name),
            value: Cow::Borrowed(value),
        });
    }
    let start_line = start_line.ok_or(ParseError::Truncated)?;
    Ok(Head {
        start_line,
        headers,
        body: rest,
    })
}

/// Checks one header-section line for controls and UTF-8.
///
/// §25.1: header values are TEXT-UTF8 plus LWS; the only control allowed bare is HTAB. A NUL
/// or a stray CR inside a line would otherwise reach rsip and the application. Inside a
/// quoted string, though, `quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F)` escapes any
/// control but CR and LF, and RFC 4475 §3.1.1.2 (`intmeth`) sends BEL, NUL and DEL that way in
/// a display name: those are accepted.
fn checked_text(raw: &[u8]) -> Result<&str, ParseError> {
    let is_control = |b: u8| (b < 0x20 && b != b'\t') || b == 0x7f;
    let mut in_quotes = false;
    let mut escaped = false;
    for &byte in raw {
        if escaped {
            escaped = false;
            if byte == b'\r' || byte == b'\n' {
                return Err(ParseError::ControlCharacter { byte });
            }
            continue;
        }
        if is_control(byte) {
            return Err(ParseError::ControlCharacter { byte });
        }
        match byte {
            b'"' => in_quotes = !in_quotes,
            b'\\' if in_quotes => escaped = true,
            _ => {}
        }
    }
    std::str::from_utf8(raw).map_err(|_| ParseError::InvalidUtf8)
}

/// Splits `field-name HCOLON field-value`, allowing whitespace on both sides of the colon.
///
/// §7.3.1: "the header field name [is followed by] a colon [...] Any amount of whitespace
/// is allowed on either side of the colon" (HCOLON = *( SP / HTAB ) ":" SWS, §25.1). rsip wants
/// `Name:` exactly, so we hand it the trimmed parts. Returns `None` when there is no colon or the
/// name is not a token.
pub(crate) fn split_header(line: &str) -> Option<(&str, &str)> {
    let (name, value) = line.split_once(':')?;
    let name = name.trim_end_matches([' ', '\t']);
    if name.is_empty() || !name.bytes().all(is_token_byte) {
        return None;
    }
    Some((name, value.trim_matches([' ', '\t'])))
}

/// Expands a compact header name to its long form (§7.3.3 and the RFCs that added letters).
///
/// rsip 0.4 only knows long names and would file `i: abc` under `Header::Other("i", ..)`, so the
/// application would not find its Call-ID. Compact names are case-insensitive like all names.
pub(crate) fn expand_compact_name(name: &str) -> &str {
    let &[letter] = name.as_bytes() else {
        return name;
    };
    match letter.to_ascii_lowercase() {
        b'a' => "Accept-Contact",      // RFC 3841
        b'b' => "Referred-By",         // RFC 3892
        b'c' => "Content-Type",        // RFC 3261 §20.15
        b'd' => "Request-Disposition", // RFC 3841
        b'e' => "Content-Encoding",    // RFC 3261 §20.12
        b'f' => "From",                // RFC 3261 §20.20
        b'i' => "Call-ID",             // RFC 3261 §20.8
        b'j' => "Reject-Contact",      // RFC 3841
        b'k' => "Supported",           // RFC 3261 §20.37
        b'l' => "Content-Length",      // RFC 3261 §20.14
        b'm' => "Contact",             // RFC 3261 §20.10
        b'n' => "Identity-Info",       // RFC 4474
        b'o' => "Event",               // RFC 6665
        b'r' => "Refer-To",            // RFC 3515
        b's' => "Subject",             // RFC 3261 §20.36
        b't' => "To",                  // RFC 3261 §20.39
        b'u' => "Allow-Events",        // RFC 6665
        b'v' => "Via",                 // RFC 3261 §20.42
        b'x' => "Session-Expires",     // RFC 4028
        b'y' => "Identity",            // RFC 8224
        _ => name,
    }
}

/// Splits a header value at `separator` outside quoted strings and `<...>`, trimming each piece.
///
/// With `,`: the elements of a list header (§7.3.1: several values "can be combined into a
/// single header field row [...] separated by a comma"). Used for Via, because rsip 0.4's typed
/// Via silently keeps only the first value of `Via: a, b`, and a response must echo every Via
/// (§8.2.6.2). With `;`: the parameters of a From/To value.
pub(crate) fn split_list(value: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut in_quotes = false;
    let mut escaped = false;
    let mut angle = false;
    let mut start = 0;
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
            '<' => angle = true,
            '>' => angle = false,
            _ if ch == separator && !angle => {
                parts.push(value[start..index].trim_matches([' ', '\t']));
                start = index + 1;
            }
            _ => {}
        }
    }
    parts.push(value[start..].trim_matches([' ', '\t']));
    parts
}

/// `token` characters of §25.1: alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" /
/// "'" / "~".
pub(crate) fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric()
        || matches!(
            byte,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leading_crlfs_are_ignored() {
        assert_eq!(strip_leading_crlf(b"\r\n\r\nOPTIONS"), b"OPTIONS");
        assert_eq!(strip_leading_crlf(b"\n\r\n"), b"");
        assert_eq!(strip_leading_crlf(b"INVITE"), b"INVITE");
    }

    #[test]
    fn folded_lines_become_one_value() {
        let head = split_head(
            b"OPTIONS sip:a@b SIP/2.0\r\nSubject: I know\r\n   you're\r\n\tthere\r\n\r\n",
        )
        .unwrap();
        assert_eq!(head.headers.len(), 1);
        assert_eq!(head.headers[0].value, "I know you're there");
        let head = split_head(b"OPTIONS sip:a@b SIP/2.0\r\nMax-Forwards:\r\n\t70\r\n\r\n").unwrap();
        assert_eq!(head.headers[0].value, "70");
    }

    #[test]
    fn fold_before_any_header_is_malformed() {
        let err = split_head(b"OPTIONS sip:a@b SIP/2.0\r\n folded\r\n\r\n").unwrap_err();
        assert!(matches!(err, ParseError::MalformedHeader { line: 1 }));
    }

    #[test]
    fn whitespace_around_colon() {
        assert_eq!(split_header("Call-ID  :  abc  "), Some(("Call-ID", "abc")));
        assert_eq!(split_header("Call-ID\t:\tabc"), Some(("Call-ID", "abc")));
        assert_eq!(split_header("Subject:"), Some(("Subject", "")));
        assert_eq!(split_header("no colon"), None);
        assert_eq!(split_header("bad name: x"), None);
        assert_eq!(split_header(": x"), None);
    }

    #[test]
    fn compact_names_expand_case_insensitively() {
        assert_eq!(expand_compact_name("i"), "Call-ID");
        assert_eq!(expand_compact_name("V"), "Via");
        assert_eq!(expand_compact_name("l"), "Content-Length");
        assert_eq!(expand_compact_name("o"), "Event");
        assert_eq!(expand_compact_name("z"), "z");
        assert_eq!(expand_compact_name("To"), "To");
    }

    #[test]
    fn list_split_respects_quotes_and_angles() {
        assert_eq!(
            split_list("SIP/2.0/UDP a;branch=1 , SIP/2.0/TCP b;x=\"p,q\"", ','),
            vec!["SIP/2.0/UDP a;branch=1", "SIP/2.0/TCP b;x=\"p,q\""]
        );
        assert_eq!(
            split_list("<sip:a@b;x=1,2>, c", ','),
            vec!["<sip:a@b;x=1,2>", "c"]
        );
        assert_eq!(
            split_list(" ;tag=1; x=\"a;b\"", ';'),
            vec!["", "tag=1", "x=\"a;b\""]
        );
        assert_eq!(split_list("\"a\\\",b\" x", ','), vec!["\"a\\\",b\" x"]);
    }

    #[test]
    fn body_starts_after_the_empty_line() {
        let head = split_head(b"SIP/2.0 200 OK\r\nl: 3\r\n\r\nabc\r\n\r\n").unwrap();
        assert_eq!(head.start_line, "SIP/2.0 200 OK");
        assert_eq!(head.headers[0].name, "Content-Length");
        assert_eq!(head.body, b"abc\r\n\r\n");
    }

    #[test]
    fn bare_lf_and_missing_empty_line() {
        let head = split_head(b"OPTIONS sip:a@b SIP/2.0\nTo: x\n").unwrap();
        assert_eq!(head.headers.len(), 1);
        assert!(head.body.is_empty());
        assert!(matches!(
            split_head(b"OPTIONS sip:a@b SIP/2.0\r\nTo: x"),
            Err(ParseError::Truncated)
        ));
    }

    #[test]
    fn controls_and_bad_utf8_are_refused() {
        assert!(matches!(
            split_head(b"OPTIONS sip:a@b SIP/2.0\r\nTo: a\0b\r\n\r\n"),
            Err(ParseError::ControlCharacter { byte: 0 })
        ));
        assert!(matches!(
            split_head(b"OPTIONS sip:a@b SIP/2.0\r\nTo: a\rb\r\n\r\n"),
            Err(ParseError::ControlCharacter { byte: b'\r' })
        ));
        assert!(matches!(
            split_head(b"OPTIONS sip:a@b SIP/2.0\r\nTo: \xff\r\n\r\n"),
            Err(ParseError::InvalidUtf8)
        ));
    }

    #[test]
    fn limits_are_enforced() {
        let mut many = b"OPTIONS sip:a@b SIP/2.0\r\n".to_vec();
        for _ in 0..=MAX_HEADERS {
            many.extend_from_slice(b"X: y\r\n");
        }
        many.extend_from_slice(b"\r\n");
        assert!(matches!(
            split_head(&many),
            Err(ParseError::TooManyHeaders { .. })
        ));

        let mut long = b"OPTIONS sip:a@b SIP/2.0\r\nSubject: ".to_vec();
        long.extend(std::iter::repeat_n(b'a', MAX_HEADER_LINE_LEN));
        long.extend_from_slice(b"\r\n\r\n");
        assert!(matches!(
            split_head(&long),
            Err(ParseError::HeaderTooLong { .. })
        ));

        // Folding cannot be used to get around the line limit.
        let mut folded = b"OPTIONS sip:a@b SIP/2.0\r\nSubject: x\r\n".to_vec();
        for _ in 0..(MAX_HEADER_LINE_LEN / 100 + 1) {
            folded.push(b' ');
            folded.extend(std::iter::repeat_n(b'a', 100));
            folded.extend_from_slice(b"\r\n");
        }
        folded.extend_from_slice(b"\r\n");
        assert!(matches!(
            split_head(&folded),
            Err(ParseError::HeaderTooLong { .. })
        ));
    }
}
