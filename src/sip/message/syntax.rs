//! The few RFC 3261 §25.1 productions we check ourselves before rsip sees a message.
//!
//! rsip 0.4 parses header values lazily (`.typed()` on demand) and its errors are strings, so
//! a broken CSeq would only surface deep in the transaction layer, with no way to say "Malformed
//! CSeq" to the peer. We check the start line and the headers every layer depends on here, and
//! hand rsip a canonical spelling of them (rsip's typed Via, for one, fails on `SIP / 2.0 / UDP`
//! and on spaces around `;`, both legal LWS).

use std::net::Ipv6Addr;

use super::error::{EssentialHeader, ParseError};
use super::ipv6::Positions;
use super::normalize::{is_token_byte, split_list};

/// The methods rsip 0.4 can represent ([`rsip::Method`]), spelled as on the wire.
///
/// §7.1: "The method names are case-sensitive"; `invite` is an unknown method, not INVITE.
pub(crate) const KNOWN_METHODS: [&str; 14] = [
    "ACK",
    "BYE",
    "CANCEL",
    "INFO",
    "INVITE",
    "MESSAGE",
    "NOTIFY",
    "OPTIONS",
    "PRACK",
    "PUBLISH",
    "REFER",
    "REGISTER",
    "SUBSCRIBE",
    "UPDATE",
];

/// A checked Request-Line (§7.1).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct RequestLine<'a> {
    /// The method, one of [`KNOWN_METHODS`].
    pub method: &'a str,
    /// The Request-URI with its scheme in lower case (rsip only knows `sip:`/`sips:`).
    pub uri: String,
}

/// Checks `Method SP Request-URI SP SIP-Version` (§7.1, §25.1).
///
/// Errors come in the order a UAS would answer them: the version first (§8.2 does not say, but a
/// SIP/3.0 message cannot be read further), then the method (§8.2.1, 501), then the URI scheme
/// (§8.2.2.1, 416), then the URI itself.
pub(crate) fn request_line(line: &str) -> Result<RequestLine<'_>, ParseError> {
    let mut parts = line.split(' ');
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ParseError::MalformedRequestLine);
    };
    if method.is_empty() || !method.bytes().all(is_token_byte) || uri.is_empty() {
        return Err(ParseError::MalformedRequestLine);
    }
    sip_version(version, ParseError::MalformedRequestLine)?;
    if !KNOWN_METHODS.contains(&method) {
        return Err(ParseError::NotImplemented(method.to_owned()));
    }
    // §19.1.1/§25.1: a URI is ASCII; anything else must arrive %-escaped.
    if !uri.is_ascii() {
        return Err(ParseError::MalformedRequestUri);
    }
    let Some((scheme, rest)) = uri.split_once(':') else {
        return Err(ParseError::MalformedRequestUri);
    };
    if scheme.is_empty()
        || !scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    {
        return Err(ParseError::MalformedRequestUri);
    }
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "sip" && scheme != "sips" {
        return Err(ParseError::UnsupportedUriScheme(scheme));
    }
    // IPv6 references become placeholder hosts here, before rsip sees the URI (ipv6.rs).
    let uri = super::ipv6::encode_references(&format!("{scheme}:{rest}"), Positions::Uri)
        .map_err(|error| super::ipv6_error(error, ParseError::MalformedRequestUri))?
        .into_owned();
    // Ask rsip's own Request-Line tokenizer, not `Uri::try_from`: the standalone URI parser
    // accepts URIs (`sip:user;par=x@host`) that the Request-Line tokenizer then rejects.
    let readable = |uri: &str| {
        let probe = format!("{method} {uri} SIP/2.0\r\n\r\n");
        rsip::Request::try_from(probe.as_bytes()).is_ok()
    };
    if readable(&uri) {
        return Ok(RequestLine { method, uri });
    }
    // RFC 4475 §3.1.1.9 (`semiuri`): `;` is legal in the user part (§25.1 user-unreserved),
    // but rsip 0.4's tokenizer takes it for the start of the URI parameters. Escaped as %3B
    // the user reads the same to us (we route by user part, and a Request-URI is never
    // echoed in a response), and rsip can carry it.
    match escape_user_semicolons(&uri) {
        Some(escaped) if readable(&escaped) => Ok(RequestLine {
            method,
            uri: escaped,
        }),
        _ => Err(ParseError::MalformedRequestUri),
    }
}

/// `sip:user;par=x@host` → `sip:user%3Bpar=x@host`; `None` when the URI has no user part or
/// no `;` in it. The user part ends at the first `@` (§25.1: `@` is not allowed unescaped in a
/// user, nor in a URI parameter).
fn escape_user_semicolons(uri: &str) -> Option<String> {
    let (scheme, rest) = uri.split_once(':')?;
    let (user, host) = rest.split_once('@')?;
    user.contains(';')
        .then(|| format!("{scheme}:{}@{host}", user.replace(';', "%3B")))
}

/// A checked Status-Line (§7.2).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct StatusLine<'a> {
    /// 100..=699.
    pub code: u16,
    /// Free text, possibly empty.
    pub reason: &'a str,
}

/// Checks `SIP-Version SP Status-Code SP Reason-Phrase` (§7.2, §25.1).
pub(crate) fn status_line(line: &str) -> Result<StatusLine<'_>, ParseError> {
    let mut parts = line.splitn(3, ' ');
    let (Some(version), Some(code), reason) = (parts.next(), parts.next(), parts.next()) else {
        return Err(ParseError::MalformedStatusLine);
    };
    sip_version(version, ParseError::MalformedStatusLine)?;
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::MalformedStatusLine);
    }
    let code: u16 = code.parse().map_err(|_| ParseError::MalformedStatusLine)?;
    if !(100..=699).contains(&code) {
        return Err(ParseError::MalformedStatusLine);
    }
    Ok(StatusLine {
        code,
        reason: reason.unwrap_or(""),
    })
}

/// `SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT`; only 2.0 is accepted.
///
/// §7.1: "The SIP-Version string is case-insensitive". Anything that looks like a version but is
/// not 2.0 is [`ParseError::UnsupportedVersion`] (505); anything else is `otherwise`.
fn sip_version(version: &str, otherwise: ParseError) -> Result<(), ParseError> {
    if version.eq_ignore_ascii_case("SIP/2.0") {
        return Ok(());
    }
    let numbers = version
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case("SIP/"))
        .and(version.get(4..));
    let looks_like_version = numbers
        .and_then(|n| n.split_once('.'))
        .is_some_and(|(a, b)| {
            !a.is_empty()
                && !b.is_empty()
                && a.bytes().all(|c| c.is_ascii_digit())
                && b.bytes().all(|c| c.is_ascii_digit())
        });
    if looks_like_version {
        Err(ParseError::UnsupportedVersion(version.to_owned()))
    } else {
        Err(otherwise)
    }
}

/// Checks one `via-parm` (§20.42, §25.1) and returns it spelled canonically:
/// `SIP/2.0/UDP host:port;param=value`.
///
/// `via-parm = sent-protocol LWS sent-by *( SEMI via-params )`, with SWS allowed around every
/// `/`, `:`, `;` and `=`. IPv6 references (`[2001:db8::1]`) are checked here and kept; the
/// caller turns them into placeholders for rsip (`ipv6.rs`). `received` and `maddr` may also
/// hold a bare IPv6 address (§25.1 `via-received`; RFC 5118 §4.5).
pub(crate) fn via(value: &str) -> Result<String, ParseError> {
    let mut cursor = Cursor::new(value);
    cursor.skip_ws();
    let protocol = cursor.token();
    cursor.skip_ws();
    let version = if cursor.eat('/') {
        cursor.skip_ws();
        cursor.take_while(|c| c.is_ascii_digit() || c == '.')
    } else {
        ""
    };
    cursor.skip_ws();
    let transport = if cursor.eat('/') {
        cursor.skip_ws();
        cursor.token()
    } else {
        ""
    };
    if !protocol.eq_ignore_ascii_case("SIP") || version != "2.0" || transport.is_empty() {
        return Err(ParseError::BadVia);
    }
    if !cursor.skip_ws() {
        return Err(ParseError::BadVia);
    }
    let host = cursor.host().ok_or(ParseError::BadVia)?;
    let mut canonical = format!("SIP/2.0/{} {host}", transport.to_ascii_uppercase());
    cursor.skip_ws();
    if cursor.eat(':') {
        cursor.skip_ws();
        let port = cursor.take_while(|c| c.is_ascii_digit());
        if port.is_empty() || port.len() > 5 || port.parse::<u16>().is_err() {
            return Err(ParseError::BadVia);
        }
        canonical.push(':');
        canonical.push_str(port);
    }
    loop {
        cursor.skip_ws();
        if cursor.is_empty() {
            return Ok(canonical);
        }
        if !cursor.eat(';') {
            return Err(ParseError::BadVia);
        }
        cursor.skip_ws();
        let name = cursor.token();
        if name.is_empty() {
            return Err(ParseError::BadVia);
        }
        canonical.push(';');
        canonical.push_str(name);
        cursor.skip_ws();
        if cursor.eat('=') {
            cursor.skip_ws();
            let bare_address =
                name.eq_ignore_ascii_case("received") || name.eq_ignore_ascii_case("maddr");
            let value = if cursor.peek() == Some('"') {
                cursor.quoted_string()
            } else if bare_address {
                cursor.bare_ipv6().or_else(|| cursor.host())
            } else {
                cursor.host()
            }
            .ok_or(ParseError::BadVia)?;
            canonical.push('=');
            canonical.push_str(value);
        }
    }
}

/// Checks `CSeq = 1*DIGIT LWS Method` (§20.16) and returns `(number, method)`.
///
/// §8.1.1.5: "The sequence number value MUST be expressible as a 32-bit unsigned integer and
/// MUST be less than 2**31."
pub(crate) fn cseq(value: &str) -> Result<(u32, &str), ParseError> {
    let mut cursor = Cursor::new(value);
    cursor.skip_ws();
    let digits = cursor.take_while(|c| c.is_ascii_digit());
    if !cursor.skip_ws() {
        return Err(ParseError::MalformedCSeq);
    }
    let method = cursor.token();
    cursor.skip_ws();
    if method.is_empty() || !cursor.is_empty() {
        return Err(ParseError::MalformedCSeq);
    }
    match digits.parse::<u32>() {
        Ok(number) if number < 1 << 31 => Ok((number, method)),
        _ => Err(ParseError::MalformedCSeq),
    }
}

/// Checks `Call-ID = word [ "@" word ]` (§20.8, §25.1).
pub(crate) fn call_id(value: &str) -> Result<(), ParseError> {
    let is_word_byte = |b: u8| {
        is_token_byte(b)
            || matches!(
                b,
                b'(' | b')'
                    | b'<'
                    | b'>'
                    | b':'
                    | b'\\'
                    | b'"'
                    | b'/'
                    | b'['
                    | b']'
                    | b'?'
                    | b'{'
                    | b'}'
            )
    };
    let mut words = value.splitn(2, '@');
    let valid_word =
        |w: Option<&str>| w.is_some_and(|w| !w.is_empty() && w.bytes().all(is_word_byte));
    let first = words.next();
    let second = words.next();
    if valid_word(first) && (second.is_none() || valid_word(second)) {
        Ok(())
    } else {
        Err(ParseError::MalformedCallId)
    }
}

/// Checks that a From/To value is a plausible `name-addr` or `addr-spec` (§20.20, §20.39) and
/// returns it spelled canonically: `display-name <uri>;param=value`.
///
/// Not a full URI parse (rsip does that lazily, and accepts more schemes than it understands):
/// the checks catch what breaks framing and matching: unterminated quoted strings (RFC 4475
/// `quotbal`), a `<` without its `>`, a display name without `<...>`, junk after the `>`, and no
/// URI at all. The canonical spelling drops the LWS §25.1 allows around `;` and `=`
/// (`<sip:a@b> ; tag = 1`), which rsip's typed From/To cannot read, so that the dialog layer
/// finds its tags.
pub(crate) fn name_addr(value: &str, header: EssentialHeader) -> Result<String, ParseError> {
    let error = || ParseError::MalformedNameAddr(header);
    let mut in_quotes = false;
    let mut escaped = false;
    let mut saw_display_name = false;
    let mut angle_start = None;
    let mut angle_end = None;
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
            '"' if angle_start.is_none() => {
                in_quotes = true;
                saw_display_name = true;
            }
            '<' if angle_start.is_none() => angle_start = Some(index),
            '<' => return Err(error()),
            '>' if angle_start.is_some() && angle_end.is_none() => angle_end = Some(index),
            '>' => return Err(error()),
            _ => {}
        }
    }
    if in_quotes {
        return Err(error());
    }
    let (display, uri, params) = match (angle_start, angle_end) {
        (Some(start), Some(end)) => (
            value[..start].trim_matches([' ', '\t']),
            &value[start..=end],
            &value[end + 1..],
        ),
        (None, None) if !saw_display_name => {
            // addr-spec: §20.10, any `;` after the URI starts header parameters.
            let (uri, params) = match value.split_once(';') {
                Some((uri, params)) => (uri, value.get(uri.len()..).unwrap_or(params)),
                None => (value, ""),
            };
            ("", uri.trim_matches([' ', '\t']), params)
        }
        _ => return Err(error()),
    };
    // An unquoted display-name is `*(token LWS)` (§25.1); RFC 4475 `baddn` has `Bell, Alexander`.
    if !display.starts_with('"')
        && !display
            .bytes()
            .all(|b| is_token_byte(b) || b == b' ' || b == b'\t')
    {
        return Err(error());
    }
    let uri_body = uri.trim_start_matches('<').trim_end_matches('>');
    if !uri_body.contains(':') || uri_body.contains([' ', '\t']) {
        return Err(error());
    }
    let mut canonical = String::with_capacity(value.len());
    if !display.is_empty() {
        canonical.push_str(display);
        canonical.push(' ');
    }
    canonical.push_str(uri);
    let mut pieces = split_list(params, ';').into_iter();
    // Whatever precedes the first `;` after the URI must be nothing (e.g. not `<sip:a@b> junk`).
    if pieces.next().is_some_and(|first| !first.is_empty()) {
        return Err(error());
    }
    for piece in pieces {
        let (name, value) = match piece.split_once('=') {
            Some((name, value)) => (name.trim_matches([' ', '\t']), Some(value)),
            None => (piece, None),
        };
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Err(error());
        }
        canonical.push(';');
        canonical.push_str(name);
        if let Some(value) = value {
            let value = value.trim_matches([' ', '\t']);
            if value.is_empty() {
                return Err(error());
            }
            canonical.push('=');
            canonical.push_str(value);
        }
    }
    Ok(canonical)
}

/// `1*DIGIT` as a number, saturating at `u64::MAX` for absurdly long runs (they are still
/// digits; the caller compares them with something smaller).
pub(crate) fn digits(value: &str) -> Option<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(value.parse::<u64>().unwrap_or(u64::MAX))
}

/// A byte cursor over a header value, for the hand-written grammars above.
struct Cursor<'a> {
    text: &'a str,
    position: usize,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Self {
        Self { text, position: 0 }
    }

    fn rest(&self) -> &'a str {
        self.text.get(self.position..).unwrap_or("")
    }

    fn is_empty(&self) -> bool {
        self.rest().is_empty()
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn eat(&mut self, expected: char) -> bool {
        if self.peek() == Some(expected) {
            self.position += expected.len_utf8();
            true
        } else {
            false
        }
    }

    /// Skips SP/HTAB; says whether there were any (LWS is mandatory in places).
    fn skip_ws(&mut self) -> bool {
        !self.take_while(|c| c == ' ' || c == '\t').is_empty()
    }

    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> &'a str {
        let rest = self.rest();
        let end = rest.find(|c: char| !keep(c)).unwrap_or(rest.len());
        self.position += end;
        &rest[..end]
    }

    fn token(&mut self) -> &'a str {
        self.take_while(|c| c.is_ascii() && is_token_byte(c as u8))
    }

    /// `host` (hostname / IPv4address / IPv6reference) or a token-ish parameter value.
    fn host(&mut self) -> Option<&'a str> {
        if self.peek() == Some('[') {
            let rest = self.rest();
            let end = rest.find(']')?;
            rest.get(1..end)?.parse::<Ipv6Addr>().ok()?;
            self.position += end + 1;
            return Some(&rest[..=end]);
        }
        let host = self.token();
        (!host.is_empty()).then_some(host)
    }

    /// An IPv6 address without brackets (`via-received`, RFC 3261 §25.1; RFC 5118 §4.5), or
    /// `None` with the cursor unmoved.
    fn bare_ipv6(&mut self) -> Option<&'a str> {
        let rest = self.rest();
        let end = rest
            .find(|c: char| !(c.is_ascii_hexdigit() || c == ':' || c == '.'))
            .unwrap_or(rest.len());
        let candidate = &rest[..end];
        if !candidate.contains(':') || candidate.parse::<Ipv6Addr>().is_err() {
            return None;
        }
        self.position += end;
        Some(candidate)
    }

    /// `quoted-string` including its quotes (§25.1), honouring `\` escapes.
    fn quoted_string(&mut self) -> Option<&'a str> {
        let rest = self.rest();
        let mut escaped = false;
        for (index, ch) in rest.char_indices().skip(1) {
            match (escaped, ch) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => {
                    self.position += index + 1;
                    return Some(&rest[..=index]);
                }
                _ => {}
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines() {
        let line = request_line("INVITE SIP:bob@example.com SIP/2.0").unwrap();
        assert_eq!(line.method, "INVITE");
        assert_eq!(line.uri, "sip:bob@example.com");
        assert!(request_line("INVITE sip:bob@example.com sip/2.0").is_ok());
        assert!(matches!(
            request_line("INVITE sip:bob@example.com SIP/7.0"),
            Err(ParseError::UnsupportedVersion(v)) if v == "SIP/7.0"
        ));
        assert!(matches!(
            request_line("invite sip:bob@example.com SIP/2.0"),
            Err(ParseError::NotImplemented(m)) if m == "invite"
        ));
        assert!(matches!(
            request_line("INVITE tel:+4512345678 SIP/2.0"),
            Err(ParseError::UnsupportedUriScheme(s)) if s == "tel"
        ));
        assert!(matches!(
            request_line("INVITE  sip:bob@example.com SIP/2.0"),
            Err(ParseError::MalformedRequestLine)
        ));
        assert!(matches!(
            request_line("INVITE sip:bob@example.com SIP/2.0 extra"),
            Err(ParseError::MalformedRequestLine)
        ));
        assert!(matches!(
            request_line("INVITE sip:bob@example.com HTTP/1.1"),
            Err(ParseError::MalformedRequestLine)
        ));
        assert!(matches!(
            request_line("INVITE bob SIP/2.0"),
            Err(ParseError::MalformedRequestUri)
        ));
    }

    #[test]
    fn status_lines() {
        assert_eq!(
            status_line("SIP/2.0 200 OK").unwrap(),
            StatusLine {
                code: 200,
                reason: "OK"
            }
        );
        assert_eq!(
            status_line("SIP/2.0 486 Busy Here").unwrap(),
            StatusLine {
                code: 486,
                reason: "Busy Here"
            }
        );
        assert!(status_line("SIP/2.0 700 Nope").is_err());
        assert!(status_line("SIP/2.0 20 OK").is_err());
        assert!(matches!(
            status_line("SIP/3.0 200 OK"),
            Err(ParseError::UnsupportedVersion(_))
        ));
    }

    #[test]
    fn via_canonical_forms() {
        assert_eq!(
            via("SIP / 2.0 / udp  host.example.com : 5060 ; branch = z9hG4bK1 ;rport").unwrap(),
            "SIP/2.0/UDP host.example.com:5060;branch=z9hG4bK1;rport"
        );
        assert_eq!(
            via("SIP/2.0/TCP [2001:db8::9]:5061;branch=z9hG4bK2;x=\"a b\"").unwrap(),
            "SIP/2.0/TCP [2001:db8::9]:5061;branch=z9hG4bK2;x=\"a b\""
        );
        assert_eq!(
            via("SIP/2.0/UDP [::1];received=2001:db8::1 ;maddr = ::2;rport").unwrap(),
            "SIP/2.0/UDP [::1];received=2001:db8::1;maddr=::2;rport"
        );
        for bad in [
            "",
            "garbage",
            "SIP/2.0/UDP a;branch=2001:db8::1",
            "SIP/2.0/UDP a;received=2001:db8::zz",
            "SIP/2.0/UDP [fe80::1%25eth0]",
            "SIP/2.0/UDP [::1",
            "SIP/3.0/UDP a",
            "SIP/2.0/UDP",
            "SIP/2.0/UDPa.example.com",
            "SIP/2.0/UDP a:99999",
            "SIP/2.0/UDP a:",
            "SIP/2.0/UDP a;",
            "SIP/2.0/UDP a;branch=",
            "SIP/2.0/UDP a;x=\"open",
            "SIP/2.0/UDP [zz::1]",
            "SIP/2.0/UDP a b",
        ] {
            assert!(via(bad).is_err(), "{bad:?} should be a bad Via");
        }
    }

    #[test]
    fn cseq_values() {
        assert_eq!(cseq("1 INVITE").unwrap(), (1, "INVITE"));
        assert_eq!(cseq("  2147483647\tBYE ").unwrap(), (2147483647, "BYE"));
        for bad in [
            "",
            "1",
            "INVITE",
            "1INVITE",
            "-1 INVITE",
            "2147483648 INVITE",
            "1 INVITE x",
        ] {
            assert!(cseq(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn call_ids() {
        assert!(call_id("a84b4c76e66710@pc33.atlanta.com").is_ok());
        assert!(call_id("abc").is_ok());
        for bad in ["", "a b", "@x", "x@", "a@b@c", "é"] {
            assert!(call_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn name_addrs() {
        let canonical = |v| name_addr(v, EssentialHeader::From).ok();
        let ok = |v| canonical(v).is_some();
        assert_eq!(
            canonical("<sip:bob@example.com>;tag=1").as_deref(),
            Some("<sip:bob@example.com>;tag=1")
        );
        assert_eq!(
            canonical("  Bob   <sip:bob@example.com> ;  tag = 1 ; x").as_deref(),
            Some("Bob <sip:bob@example.com>;tag=1;x")
        );
        assert_eq!(
            canonical("sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n").as_deref(),
            Some("sip:vivekg@chair-dnrc.example.com;tag=1918181833n")
        );
        assert!(ok("\"Bob \\\"B\\\" <x>\" <sip:bob@example.com>;tag=1"));
        assert!(ok("<tel:+4512345678>"));
        assert!(ok("Alexander Graham Bell <sip:a.g.bell@example.com>"));
        assert!(ok("<sip:a@b;x=1>;p=\"q;r\""));
        for bad in [
            "\"Bob <sip:bob@example.com>;tag=1",
            "Bob <sip:bob@example.com",
            "\"Bob\" sip:bob@example.com",
            "",
            "bob",
            "<sip:a@b> <sip:c@d>",
            "<sip:a@b> junk",
            "<sip:a@b>;",
            "<sip:a@b>;tag=",
            "<sip:a b@c>",
            "sip:a@b c",
            "Bell, Alexander <sip:a.g.bell@example.com>",
        ] {
            assert!(!ok(bad), "{bad:?}");
        }
    }

    #[test]
    fn digit_runs() {
        assert_eq!(digits("0"), Some(0));
        assert_eq!(digits("99999999999999999999999"), Some(u64::MAX));
        assert_eq!(digits("-1"), None);
        assert_eq!(digits(""), None);
        assert_eq!(digits("1 2"), None);
    }
}
