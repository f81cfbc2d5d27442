//! IPv6 references through rsip 0.4, which cannot represent them (RFC 3261 §19.1.1, §25.1;
//! RFC 5118; RFC 5954).
//!
//! rsip splits a host at its first `:` (`sip:[2001:db8::1]:5060` becomes host `[2001`, port
//! `db8::1]:5060`), so its typed URIs and Vias fail on every IPv6 phone. Rather than fork it,
//! [`super::parse`] rewrites each IPv6 reference of the start line and of the host-bearing
//! headers ([`HOST_HEADERS`]) into a *placeholder host* that rsip takes for a plain domain, and
//! [`serialize`] prints a message with rsip and puts the brackets back. Code that needs the
//! address reads it with [`host_ip`]; code that builds a URI or a Via from a socket address
//! uses [`ip_host`] / [`host_with_port`] (rsip's own `Host::IpAddr(V6)` prints without brackets,
//! which is not SIP).
//!
//! # The encoding
//!
//! `[` *IPv6address* `]` ⇄ `v6-` *IPv6address with every `:` replaced by `-`* `.ipv6.invalid`
//!
//! | on the wire                   | inside rsip                                   |
//! |-------------------------------|-----------------------------------------------|
//! | `[2001:db8::1]`               | `v6-2001-db8--1.ipv6.invalid`                 |
//! | `[::1]:5060`                  | `v6---1.ipv6.invalid:5060`                    |
//! | `[::ffff:192.0.2.1]`          | `v6---ffff-192.0.2.1.ipv6.invalid`            |
//! | `[2001:DB8::A]`               | `v6-2001-DB8--A.ipv6.invalid`                 |
//! | Via `;received=2001:db8::9`   | `;received=v6-2001-db8--9.ipv6.invalid`       |
//!
//! - The text is kept character for character (case, zero compression, embedded IPv4), so a
//!   Via's sent-by goes back exactly as the phone wrote it: §18.1.2 lets a client discard a
//!   response whose sent-by "does not correspond" to what it inserted.
//! - `.invalid` is reserved by RFC 2606 §2 and never resolves, so no real host can be confused
//!   with a placeholder. To keep the mapping one-to-one, a message that already carries
//!   `.ipv6.invalid` in a rewritten place is refused ([`Ipv6Error::ReservedHost`]).
//! - The placeholder contains only letters, digits, `-` and `.`: rsip reads it as
//!   `Host::Domain`, and it cannot contain the `:`, `;`, `,`, `>` or space rsip splits on.
//! - Zone identifiers (RFC 6874 `[fe80::1%25eth0]`) are refused: they are not in the RFC 3261
//!   grammar and mean nothing to the peer a SIP URI is sent to.
//! - Where the IPv6 reference is: the Request-URI and, in the [`HOST_HEADERS`], a `[` right
//!   after `@`, after `sip:`/`sips:` (a URI without user part) or after `;maddr=`; in Via, every
//!   `[` outside a quoted string (sent-by, `received`, `maddr` and any other `host` value, all
//!   already checked by the Via grammar). Other `[` (RFC 3261 allows them in URI parameter
//!   values, `param-unreserved`) and every other header (Call-ID, Subject, Authorization's
//!   digest `uri`, which is hashed as sent) are left alone, on parse and on print alike.
//! - Via `received` carries an IPv6 address *without* brackets: RFC 3261 §25.1 has
//!   `via-received = "received" EQUAL (IPv4address / IPv6address)`, while `via-maddr` is a
//!   `host` (brackets). RFC 5118 §4.5 notes both spellings of received are deployed, so on
//!   parse a Via `received` or `maddr` is accepted bracketed or bare, and both become
//!   placeholders (rsip's parameter tokenizer stops at the first `:` and would read `received`
//!   as `2001`). On print, a placeholder right after `received=` is written bare and every
//!   other one bracketed: the RFC 3261 grammar. Input that follows the grammar comes back
//!   exactly as it came in; `received=[…]` and a bare `maddr=` come back in the grammar's form.
//!   `sip::via::stamp_received` writes the placeholder form itself, so the transaction layer
//!   reads `received` through rsip like any other.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// First label of every placeholder, before the encoded address.
pub const PLACEHOLDER_PREFIX: &str = "v6-";

/// Last labels of every placeholder (RFC 2606 §2 reserves `.invalid`).
pub const PLACEHOLDER_SUFFIX: &str = ".ipv6.invalid";

/// Longest textual IPv6 address (`ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255`).
const MAX_ADDRESS_LEN: usize = 45;

/// The headers whose values carry SIP URIs or hosts, in which IPv6 references are rewritten on
/// parse and restored on print. RFC 3261 §20 (Via, From, To, Contact, Route, Record-Route,
/// Reply-To), RFC 3327 Path, RFC 3608 Service-Route, RFC 3515 Refer-To, RFC 3892 Referred-By,
/// RFC 3325 P-Asserted-/P-Preferred-Identity, RFC 3455 P-Called-Party-ID, RFC 5806 Diversion,
/// RFC 7044 History-Info, and the old Remote-Party-ID draft still sent by many phones.
pub const HOST_HEADERS: [&str; 17] = [
    "Via",
    "From",
    "To",
    "Contact",
    "Route",
    "Record-Route",
    "Reply-To",
    "Path",
    "Service-Route",
    "Refer-To",
    "Referred-By",
    "P-Asserted-Identity",
    "P-Preferred-Identity",
    "P-Called-Party-ID",
    "Diversion",
    "History-Info",
    "Remote-Party-ID",
];

/// The canonical name of a host-bearing header (`name` compared case-insensitively, long form).
pub(crate) fn host_header(name: &str) -> Option<&'static str> {
    HOST_HEADERS
        .iter()
        .copied()
        .find(|known| known.eq_ignore_ascii_case(name))
}

/// Why an IPv6 reference could not be rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Ipv6Error {
    /// A `[` in a host position without a `]`, or brackets around something that is not an
    /// IPv6 address (a zone identifier, garbage).
    #[error("malformed IPv6 reference")]
    Malformed,
    /// The text already contains a placeholder suffix; accepting it would make [`serialize`]
    /// turn a name the peer chose into an address it did not send.
    #[error("reserved host name")]
    ReservedHost,
}

/// The placeholder host for an IPv6 address written as `text` (no brackets).
///
/// `None` unless `text` is an RFC 4291 §2.2 address (which rules out zone identifiers).
pub(crate) fn encode_address(text: &str) -> Option<String> {
    if text.len() > MAX_ADDRESS_LEN || text.parse::<Ipv6Addr>().is_err() {
        return None;
    }
    let mut host =
        String::with_capacity(PLACEHOLDER_PREFIX.len() + text.len() + PLACEHOLDER_SUFFIX.len());
    host.push_str(PLACEHOLDER_PREFIX);
    host.extend(text.chars().map(|c| if c == ':' { '-' } else { c }));
    host.push_str(PLACEHOLDER_SUFFIX);
    Some(host)
}

/// The IPv6 address text a placeholder host stands for, as the peer wrote it.
///
/// Host names are case-insensitive (§19.1.4), and layers such as the transaction key lower-case
/// them, so prefix and suffix are matched regardless of case.
pub fn decode_placeholder(host: &str) -> Option<String> {
    let prefix = host.get(..PLACEHOLDER_PREFIX.len())?;
    let split = host.len().checked_sub(PLACEHOLDER_SUFFIX.len())?;
    let suffix = host.get(split..)?;
    if !prefix.eq_ignore_ascii_case(PLACEHOLDER_PREFIX)
        || !suffix.eq_ignore_ascii_case(PLACEHOLDER_SUFFIX)
    {
        return None;
    }
    let encoded = host.get(PLACEHOLDER_PREFIX.len()..split)?;
    if encoded.contains(':') {
        return None;
    }
    let text: String = encoded
        .chars()
        .map(|c| if c == '-' { ':' } else { c })
        .collect();
    text.parse::<Ipv6Addr>().ok()?;
    Some(text)
}

/// The IP address of a host: an IPv4 literal as rsip parsed it, or the IPv6 address behind a
/// placeholder. `None` for a DNS name.
pub fn host_ip(host: &rsip::Host) -> Option<IpAddr> {
    match host {
        rsip::Host::IpAddr(ip) => Some(*ip),
        rsip::Host::Domain(domain) => decode_placeholder(&domain.to_string())
            .and_then(|text| text.parse::<Ipv6Addr>().ok())
            .map(IpAddr::V6),
    }
}

/// The host to put in a URI or a Via for `ip`: the address itself for IPv4, a placeholder for
/// IPv6 (which [`serialize`] prints as `[ip]`). Never use `rsip::Host::IpAddr` with an IPv6
/// address: rsip prints it without brackets, and the port then merges into the address.
pub fn ip_host(ip: IpAddr) -> rsip::Host {
    match ip {
        IpAddr::V4(_) => rsip::Host::IpAddr(ip),
        // Display of Ipv6Addr is RFC 5952 text, which always parses back.
        IpAddr::V6(v6) => match encode_address(&v6.to_string()) {
            Some(placeholder) => rsip::Host::Domain(placeholder.into()),
            None => rsip::Host::IpAddr(ip),
        },
    }
}

/// `host:port` for a socket address, with [`ip_host`] (rsip's `From<SocketAddr>` is wrong for
/// IPv6).
pub fn host_with_port(address: SocketAddr) -> rsip::HostWithPort {
    rsip::HostWithPort {
        host: ip_host(address.ip()),
        port: Some(address.port().into()),
    }
}

/// Refuses text that already contains a placeholder suffix (see [`Ipv6Error::ReservedHost`]).
pub(crate) fn check_not_reserved(text: &str) -> Result<(), Ipv6Error> {
    let suffix = PLACEHOLDER_SUFFIX.as_bytes();
    let found = text
        .as_bytes()
        .windows(suffix.len())
        .any(|window| window.eq_ignore_ascii_case(suffix));
    if found {
        Err(Ipv6Error::ReservedHost)
    } else {
        Ok(())
    }
}

/// Where a `[` starts an IPv6 reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Positions {
    /// A URI or name-addr value: after `@`, `sip:`, `sips:` or `maddr=` (§25.1 `hostport`,
    /// `maddr-param`).
    Uri,
    /// A canonical Via value (already checked by `syntax::via`): every `[` outside quotes.
    Via,
}

/// Rewrites the IPv6 references of `value` into placeholders (see the module documentation).
pub(crate) fn encode_references(
    value: &str,
    positions: Positions,
) -> Result<Cow<'_, str>, Ipv6Error> {
    check_not_reserved(value)?;
    if !value.contains('[') {
        return Ok(Cow::Borrowed(value));
    }
    let mut out = String::with_capacity(value.len() + 32);
    let mut in_quotes = false;
    let mut escaped = false;
    let mut rest_start = 0;
    let mut index = 0;
    while let Some(ch) = value[index..].chars().next() {
        let next = index + ch.len_utf8();
        if in_quotes {
            match (escaped, ch) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_quotes = false,
                _ => {}
            }
            index = next;
            continue;
        }
        if ch == '"' {
            in_quotes = true;
        } else if positions == Positions::Via
            && ch != '['
            && (ends_with_ci(&value[..index], "received=")
                || ends_with_ci(&value[..index], "maddr="))
        {
            // A bare address (`via-received`, §25.1): rsip's parameter tokenizer stops at the
            // first `:` and would keep `2001` as the received address.
            let end = value[index..]
                .find(|c: char| !(c.is_ascii_hexdigit() || c == ':' || c == '.'))
                .map_or(value.len(), |end| index + end);
            let candidate = &value[index..end];
            if candidate.contains(':') {
                if !ends_host(&value[end..]) {
                    return Err(Ipv6Error::Malformed);
                }
                let placeholder = encode_address(candidate).ok_or(Ipv6Error::Malformed)?;
                out.push_str(&value[rest_start..index]);
                out.push_str(&placeholder);
                rest_start = end;
                index = end;
                continue;
            }
        } else if ch == '[' && starts_host(&value[..index], positions) {
            let close = value[next..].find(']').ok_or(Ipv6Error::Malformed)? + next;
            // `[2001:db8::1]x` would become a placeholder glued to `x`, another domain.
            if !ends_host(&value[close + 1..]) {
                return Err(Ipv6Error::Malformed);
            }
            let placeholder = encode_address(&value[next..close]).ok_or(Ipv6Error::Malformed)?;
            out.push_str(&value[rest_start..index]);
            out.push_str(&placeholder);
            rest_start = close + 1;
            index = close + 1;
            continue;
        }
        index = next;
    }
    out.push_str(&value[rest_start..]);
    Ok(Cow::Owned(out))
}

/// Whether a `[` after `before` is in a host position.
fn starts_host(before: &str, positions: Positions) -> bool {
    if positions == Positions::Via {
        return true;
    }
    ["@", "sip:", "sips:", ";maddr="]
        .iter()
        .any(|marker| ends_with_ci(before, marker))
}

/// Whether `after` can follow a host: nothing, or the port colon, a parameter, the URI
/// headers, the end of a `<...>`, the next list element or whitespace (§25.1 `hostport` in
/// `SIP-URI`, `sent-by`, `via-params`).
fn ends_host(after: &str) -> bool {
    after
        .chars()
        .next()
        .is_none_or(|c| matches!(c, ':' | ';' | '?' | '>' | ',' | ' ' | '\t'))
}

/// `text.ends_with(marker)`, ignoring ASCII case.
fn ends_with_ci(text: &str, marker: &str) -> bool {
    text.len()
        .checked_sub(marker.len())
        .and_then(|start| text.get(start..))
        .is_some_and(|tail| tail.eq_ignore_ascii_case(marker))
}

/// Replaces every placeholder in `text` by its bracketed IPv6 reference.
///
/// A placeholder is recognised only as a whole host: a run of letters, digits, `-` and `.`
/// starting with [`PLACEHOLDER_PREFIX`] and ending with [`PLACEHOLDER_SUFFIX`], not glued to
/// more host characters on either side (`x.v6-...` is another domain and stays as it is).
pub fn decode_text(text: &str) -> Cow<'_, str> {
    let lower = text.to_ascii_lowercase();
    if !lower.contains(PLACEHOLDER_SUFFIX) {
        return Cow::Borrowed(text);
    }
    let is_host_char = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'.';
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut search = 0;
    while let Some(found) = lower[search..].find(PLACEHOLDER_SUFFIX) {
        let suffix_start = search + found;
        let end = suffix_start + PLACEHOLDER_SUFFIX.len();
        search = end;
        if bytes
            .get(end)
            .is_some_and(|&b| b.is_ascii_alphanumeric() || b == b'-')
        {
            continue;
        }
        let start = bytes[..suffix_start]
            .iter()
            .rposition(|&b| !is_host_char(b))
            .map_or(0, |p| p + 1);
        if start < copied {
            continue;
        }
        let Some(address) = text.get(start..end).and_then(decode_placeholder) else {
            continue;
        };
        out.push_str(&text[copied..start]);
        if ends_with_ci(&text[..start], ";received=") {
            // §25.1 `via-received`: an IPv6address, without brackets.
            out.push_str(&address);
        } else {
            out.push('[');
            out.push_str(&address);
            out.push(']');
        }
        copied = end;
    }
    if copied == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// Prints a message for the wire: rsip's spelling, with the placeholders of the Request-URI and
/// of the [`HOST_HEADERS`] turned back into IPv6 references, and the body as raw bytes (rsip's
/// `Display` goes through `from_utf8_lossy`, which would corrupt a binary body).
///
/// Every message the stack sends must go through here, not through `to_string()`.
pub fn serialize(message: &rsip::SipMessage) -> Vec<u8> {
    let (start_line, headers, body) = match message {
        rsip::SipMessage::Request(request) => (
            decode_text(&format!(
                "{} {} {}",
                request.method, request.uri, request.version
            ))
            .into_owned(),
            &request.headers,
            &request.body,
        ),
        // The reason phrase is free text: never rewritten.
        rsip::SipMessage::Response(response) => (
            format!("{} {}", response.version, response.status_code),
            &response.headers,
            &response.body,
        ),
    };
    let mut out = Vec::with_capacity(start_line.len() + 512 + body.len());
    out.extend_from_slice(start_line.as_bytes());
    out.extend_from_slice(b"\r\n");
    for header in headers.iter() {
        let line = header.to_string();
        let name = line.split(':').next().unwrap_or_default().trim();
        if host_header(name).is_some() {
            out.extend_from_slice(decode_text(&line).as_bytes());
        } else {
            out.extend_from_slice(line.as_bytes());
        }
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_round_trip_character_for_character() {
        for text in [
            "2001:db8::1",
            "::1",
            "::",
            "2001:DB8:0:0:0:0:0:A",
            "::ffff:192.0.2.1",
            "fe80::1",
            "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255",
        ] {
            let host = encode_address(text).unwrap();
            assert!(host.ends_with(PLACEHOLDER_SUFFIX), "{host}");
            assert!(
                host.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'),
                "{host}"
            );
            assert_eq!(decode_placeholder(&host).as_deref(), Some(text));
            assert_eq!(
                decode_placeholder(&host.to_ascii_uppercase()).map(|t| t.to_ascii_lowercase()),
                Some(text.to_ascii_lowercase())
            );
        }
        assert_eq!(
            encode_address("2001:db8::1").unwrap(),
            "v6-2001-db8--1.ipv6.invalid"
        );
    }

    #[test]
    fn not_addresses_are_refused() {
        for text in [
            "fe80::1%25eth0",
            "fe80::1%eth0",
            "2001:db8::g",
            "1.2.3.4",
            "",
            "::1::2",
        ] {
            assert_eq!(encode_address(text), None, "{text}");
        }
        for host in [
            "example.com",
            "v6-.ipv6.invalid",
            "v6-2001:db8--1.ipv6.invalid",
            "v6-zz.ipv6.invalid",
            "x.v6---1.ipv6.invalid",
        ] {
            assert_eq!(decode_placeholder(host), None, "{host}");
        }
    }

    #[test]
    fn host_positions_in_uris() {
        let encoded = encode_references(
            "\"Bob [home]\" <sip:bob@[2001:db8::1]:5062;maddr=[2001:db8::2];x=[y]>;tag=1",
            Positions::Uri,
        )
        .unwrap();
        assert_eq!(
            encoded,
            "\"Bob [home]\" <sip:bob@v6-2001-db8--1.ipv6.invalid:5062;\
             maddr=v6-2001-db8--2.ipv6.invalid;x=[y]>;tag=1"
        );
        assert_eq!(
            encode_references("<SIPS:[::1]>", Positions::Uri).unwrap(),
            "<SIPS:v6---1.ipv6.invalid>"
        );
        assert!(matches!(
            encode_references("<sip:a@b>", Positions::Uri),
            Ok(Cow::Borrowed(_))
        ));
        for bad in [
            "<sip:bob@[2001:db8::1>",
            "<sip:bob@[fe80::1%25eth0]>",
            "sip:[example.com]",
            "<sip:a@[2001:db8::1]ort=udp>",
        ] {
            assert_eq!(
                encode_references(bad, Positions::Uri),
                Err(Ipv6Error::Malformed),
                "{bad}"
            );
        }
        assert_eq!(
            encode_references("<sip:a@V6---1.IPv6.Invalid>", Positions::Uri),
            Err(Ipv6Error::ReservedHost)
        );
    }

    #[test]
    fn via_references_everywhere_outside_quotes() {
        let encoded = encode_references(
            "SIP/2.0/UDP [::1]:5060;received=[2001:db8::9];maddr=2001:db8::8;x=\"[a]\";rport",
            Positions::Via,
        )
        .unwrap();
        assert_eq!(
            encoded,
            "SIP/2.0/UDP v6---1.ipv6.invalid:5060;received=v6-2001-db8--9.ipv6.invalid;\
             maddr=v6-2001-db8--8.ipv6.invalid;x=\"[a]\";rport"
        );
        // Printed in the RFC 3261 §25.1 grammar: received bare, maddr (a host) bracketed.
        assert_eq!(
            decode_text(&encoded),
            "SIP/2.0/UDP [::1]:5060;received=2001:db8::9;maddr=[2001:db8::8];x=\"[a]\";rport"
        );
        let conformant =
            "SIP/2.0/TCP [2001:db8::1];received=2001:db8::9;RECEIVED=::1;branch=z9hG4bK1";
        let encoded = encode_references(conformant, Positions::Via).unwrap();
        assert!(!encoded.contains(':'), "{encoded}");
        assert_eq!(decode_text(&encoded), conformant);
        assert_eq!(
            encode_references("SIP/2.0/UDP a;received=192.0.2.1", Positions::Via).unwrap(),
            "SIP/2.0/UDP a;received=192.0.2.1"
        );
        // Only the parameters named received and maddr, not one whose name ends like them.
        let other = "SIP/2.0/UDP a;xreceived=[::1];branch=z9hG4bK1";
        let encoded = encode_references(other, Positions::Via).unwrap();
        assert_eq!(decode_text(&encoded), other);
    }

    #[test]
    fn decoding_only_touches_whole_placeholders() {
        assert_eq!(
            decode_text("<sip:a@v6-2001-db8--1.ipv6.invalid:5060>, <sip:v6---1.IPV6.INVALID>"),
            "<sip:a@[2001:db8::1]:5060>, <sip:[::1]>"
        );
        for untouched in [
            "<sip:a@x.v6---1.ipv6.invalid>",
            "<sip:a@v6---1.ipv6.invalidx>",
            "<sip:a@v6-zz.ipv6.invalid>",
            "<sip:a@example.com>",
        ] {
            assert_eq!(decode_text(untouched), untouched);
        }
    }

    #[test]
    fn hosts_for_addresses() {
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        let host = ip_host(v6);
        assert_eq!(host.to_string(), "v6-2001-db8--1.ipv6.invalid");
        assert_eq!(host_ip(&host), Some(v6));
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(ip_host(v4), rsip::Host::IpAddr(v4));
        assert_eq!(host_ip(&ip_host(v4)), Some(v4));
        assert_eq!(host_ip(&rsip::Host::Domain("example.com".into())), None);
        let hp = host_with_port("[::1]:5062".parse().unwrap());
        assert_eq!(decode_text(&format!("sip:{hp}")), "sip:[::1]:5062");
    }
}
