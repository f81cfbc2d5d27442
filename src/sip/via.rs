//! Stamping the top Via of a received request with where it really came from: `received`
//! (RFC 3261 §18.2.1) and `rport` (RFC 3581 §4), so responses reach phones behind NAT.
//!
//! The parameter edit is done on the header's text: rsip 0.4 keeps Via values as text and
//! re-serialises typed ones in its own way, so editing the text keeps every other parameter
//! exactly as the phone sent it (the branch must survive byte for byte).
//!
//! IPv6: on a parsed message the sent-by host of an IPv6 phone is a placeholder
//! (`sip::message`'s `ipv6.rs`), which is decoded before comparing it with the source. The
//! `received` value for an IPv6 source is written in the placeholder form too, because rsip's
//! parameter tokenizer stops at the first `:` and would read `received=2001:db8::1` as `2001`;
//! `sip::message::serialize` prints it as the bare address RFC 3261 §25.1 asks for
//! (`via-received = "received" EQUAL (IPv4address / IPv6address)`, no brackets).

use std::net::{IpAddr, SocketAddr};

use rsip::headers::UntypedHeader;
use rsip::Header;

/// Our own Via value for a request we send from `sent_by` over `transport`: a fresh branch
/// with the RFC 3261 magic cookie (§8.1.1.7) and an empty `rport` asking for the symmetric
/// response (RFC 3581 §3). The B2BUA's legs, the click-to-call and the IVR's BYE/REFER all use
/// this one.
pub fn ours(sent_by: &str, transport: crate::sip::transaction::TransportKind) -> String {
    let transport = match transport {
        crate::sip::transaction::TransportKind::Udp => "UDP",
        crate::sip::transaction::TransportKind::Tcp => "TCP",
    };
    format!(
        "SIP/2.0/{transport} {sent_by};branch={};rport",
        crate::sip::message::new_branch()
    )
}

/// Adds `received=<source ip>` when the sent-by host differs from the source address, or when
/// the client asked for `rport`, and fills in `rport=<source port>` when the client asked for
/// it (§18.2.1, RFC 3581 §4). Only the first Via value is touched.
pub fn stamp_received(request: &mut rsip::Request, source: SocketAddr) {
    let Some(index) = request
        .headers
        .iter()
        .position(|h| matches!(h, Header::Via(_)))
    else {
        return;
    };
    let mut headers: Vec<Header> = request.headers.iter().cloned().collect();
    let Header::Via(via) = &headers[index] else {
        return;
    };
    let stamped = stamp_value(via.value(), source);
    headers[index] = Header::Via(rsip::headers::Via::new(stamped));
    request.headers = headers.into();
}

/// The `received` address of a parsed Via (§18.2.1), IPv4 or IPv6.
///
/// Use this instead of rsip's `Via::received()`, which fails on the placeholder an IPv6
/// address travels as inside rsip.
pub fn received(via: &rsip::typed::Via) -> Option<IpAddr> {
    via.params.iter().find_map(|param| match param {
        rsip::Param::Received(received) => host_ip(received.value()),
        _ => None,
    })
}

/// The stamped text of one Via header line (possibly several comma-separated values, of which
/// only the first is changed).
pub fn stamp_value(value: &str, source: SocketAddr) -> String {
    let (first, rest) = split_first_value(value);
    let mut parts: Vec<String> = first.split(';').map(|p| p.trim().to_owned()).collect();
    let sent_by_host = parts
        .first()
        .and_then(|proto_and_host| proto_and_host.split_whitespace().nth(1))
        .map(host_of)
        .unwrap_or_default();
    // A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; the phone knows its IPv4.
    let source_ip = source.ip().to_canonical();
    let source_text = match source_ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => crate::sip::message::ip_host(IpAddr::V6(v6)).to_string(),
    };
    let mut wants_rport = false;
    let mut has_received = false;
    for part in parts.iter_mut().skip(1) {
        let name = part
            .split('=')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if name == "rport" {
            wants_rport = true;
            *part = format!("rport={}", source.port());
        } else if name == "received" {
            has_received = true;
            *part = format!("received={source_text}");
        }
    }
    // §18.2.1: received is added when the sent-by "contains a domain name or [...] an IP
    // address that differs from the packet source address"; addresses compare as addresses
    // (`2001:DB8::1` is `2001:db8::1`).
    let host_differs = host_ip(&sent_by_host) != Some(source_ip);
    if !has_received && (host_differs || wants_rport) {
        parts.push(format!("received={source_text}"));
    }
    let mut out = parts.join(";");
    if let Some(rest) = rest {
        out.push(',');
        out.push_str(rest);
    }
    out
}

/// Splits "v1, v2" at the first comma outside quotes and brackets.
fn split_first_value(value: &str) -> (&str, Option<&str>) {
    let mut in_quotes = false;
    let mut depth = 0u32;
    for (i, c) in value.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            '[' if !in_quotes => depth += 1,
            ']' if !in_quotes => depth = depth.saturating_sub(1),
            ',' if !in_quotes && depth == 0 => return (&value[..i], Some(&value[i + 1..])),
            _ => {}
        }
    }
    (value, None)
}

/// The address a sent-by host names: an IPv4 or IPv6 literal (brackets already removed by
/// [`host_of`]) or an IPv6 placeholder; `None` for a domain name.
fn host_ip(host: &str) -> Option<IpAddr> {
    host.parse::<IpAddr>()
        .ok()
        .or_else(|| crate::sip::message::decode_placeholder(host)?.parse().ok())
        .map(|ip| ip.to_canonical())
}

/// The host of a sent-by (`host`, `host:port`, `[v6]`, `[v6]:port`).
fn host_of(sent_by: &str) -> String {
    if let Some(rest) = sent_by.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("").to_owned();
    }
    sent_by.split(':').next().unwrap_or("").to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn rport_is_filled_and_received_added() {
        let v = stamp_value(
            "SIP/2.0/UDP 10.0.0.2:5060;rport;branch=z9hG4bK1",
            src("203.0.113.9:40000"),
        );
        assert_eq!(
            v,
            "SIP/2.0/UDP 10.0.0.2:5060;rport=40000;branch=z9hG4bK1;received=203.0.113.9"
        );
    }

    #[test]
    fn same_host_without_rport_is_untouched() {
        let v = stamp_value(
            "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1",
            src("127.0.0.1:5060"),
        );
        assert_eq!(v, "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1");
    }

    #[test]
    fn hostname_gets_received() {
        let v = stamp_value(
            "SIP/2.0/TCP pc.example.com;branch=z9hG4bK1",
            src("192.0.2.1:5060"),
        );
        assert!(v.ends_with(";received=192.0.2.1"), "{v}");
    }

    #[test]
    fn same_ipv6_address_in_another_spelling_is_not_different() {
        let v = stamp_value(
            "SIP/2.0/UDP [2001:DB8:0::1]:5060;branch=z9hG4bK1",
            src("[2001:db8::1]:5060"),
        );
        assert_eq!(v, "SIP/2.0/UDP [2001:DB8:0::1]:5060;branch=z9hG4bK1");
    }

    #[test]
    fn ipv4_mapped_source_is_written_as_ipv4() {
        let v = stamp_value(
            "SIP/2.0/UDP 192.0.2.7;rport;branch=z9hG4bK1",
            src("[::ffff:192.0.2.7]:5070"),
        );
        assert_eq!(
            v,
            "SIP/2.0/UDP 192.0.2.7;rport=5070;branch=z9hG4bK1;received=192.0.2.7"
        );
    }

    /// The real path: a parsed request (IPv6 sent-by already a placeholder), stamped, read by
    /// the transaction layer, answered and printed.
    #[test]
    fn parsed_ipv6_via_is_stamped_read_and_printed() {
        use crate::sip::message::{decode_placeholder, make_response, parse, serialize};
        use crate::sip::transaction::fields;

        let text = "OPTIONS sip:[2001:db8::10]:5060 SIP/2.0\r\n\
            Via: SIP/2.0/UDP [2001:db8::9]:5062;rport;branch=z9hG4bK-v6\r\n\
            Max-Forwards: 70\r\n\
            To: <sip:[2001:db8::10]>\r\n\
            From: <sip:alice@[2001:db8::9]>;tag=1\r\n\
            Call-ID: v6@test\r\n\
            CSeq: 1 OPTIONS\r\n\
            Content-Length: 0\r\n\r\n";
        let Ok(rsip::SipMessage::Request(mut request)) = parse(text.as_bytes()) else {
            panic!("IPv6 OPTIONS does not parse");
        };
        // Behind NAT66 or from a privacy address: the source differs from the sent-by.
        stamp_received(&mut request, src("[2001:db8::99]:40000"));

        let via = fields::top_via(&request.headers).unwrap();
        assert_eq!(fields::branch(&via).as_deref(), Some("z9hG4bK-v6"));
        assert_eq!(fields::sent_by(&via), "v6-2001-db8--9.ipv6.invalid:5062");
        assert_eq!(
            decode_placeholder(&via.uri.host_with_port.host.to_string()).as_deref(),
            Some("2001:db8::9")
        );
        assert_eq!(received(&via), Some(src("[2001:db8::99]:1").ip()));

        let response = make_response(&request, 200, "OK", Some("t"));
        let wire = String::from_utf8(serialize(&response.into())).unwrap();
        assert!(
            wire.contains(
                "Via: SIP/2.0/UDP [2001:db8::9]:5062;rport=40000;branch=z9hG4bK-v6;received=2001:db8::99\r\n"
            ),
            "{wire}"
        );
        assert!(
            wire.contains("From: <sip:alice@[2001:db8::9]>;tag=1\r\n"),
            "{wire}"
        );
        assert!(!wire.contains(".invalid"), "{wire}");
        // What we print, we read back.
        assert!(parse(wire.as_bytes()).is_ok(), "{wire}");
    }

    #[test]
    fn received_reads_ipv4_and_placeholders() {
        use rsip::headers::ToTypedHeader;
        let via = |text: &str| rsip::headers::Via::new(text).typed().expect("typed Via");
        assert_eq!(
            received(&via("SIP/2.0/UDP a;branch=z9hG4bK1;received=192.0.2.1")),
            Some(src("192.0.2.1:1").ip())
        );
        assert_eq!(
            received(&via(
                "SIP/2.0/UDP a;branch=z9hG4bK1;received=v6-2001-db8--7.ipv6.invalid"
            )),
            Some(src("[2001:db8::7]:1").ip())
        );
        assert_eq!(received(&via("SIP/2.0/UDP a;branch=z9hG4bK1")), None);
    }

    #[test]
    fn only_the_first_of_several_values_changes() {
        let v = stamp_value(
            "SIP/2.0/UDP [2001:db8::1]:5060;rport;branch=z9hG4bKa, SIP/2.0/UDP h2;branch=z9hG4bKb",
            src("[2001:db8::1]:5062"),
        );
        assert_eq!(
            v,
            "SIP/2.0/UDP [2001:db8::1]:5060;rport=5062;branch=z9hG4bKa;\
             received=v6-2001-db8--1.ipv6.invalid, SIP/2.0/UDP h2;branch=z9hG4bKb"
        );
    }
}
