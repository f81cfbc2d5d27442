//! Stamping the top Via of a received request with where it really came from: `received`
//! (RFC 3261 §18.2.1) and `rport` (RFC 3581 §4), so responses reach phones behind NAT.
//!
//! The parameter edit is done on the header's text: rsip 0.4 keeps Via values as text and
//! re-serialises typed ones in its own way, so editing the text keeps every other parameter
//! exactly as the phone sent it (the branch must survive byte for byte).

use std::net::SocketAddr;

use rsip::headers::UntypedHeader;
use rsip::Header;

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
    let source_ip = source.ip().to_string();
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
            *part = format!("received={source_ip}");
        }
    }
    let host_differs = sent_by_host.trim_matches(|c| c == '[' || c == ']') != source_ip;
    if !has_received && (host_differs || wants_rport) {
        parts.push(format!("received={source_ip}"));
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
    fn only_the_first_of_several_values_changes() {
        let v = stamp_value(
            "SIP/2.0/UDP [2001:db8::1]:5060;rport;branch=z9hG4bKa, SIP/2.0/UDP h2;branch=z9hG4bKb",
            src("[2001:db8::1]:5062"),
        );
        assert_eq!(
            v,
            "SIP/2.0/UDP [2001:db8::1]:5060;rport=5062;branch=z9hG4bKa;received=2001:db8::1, SIP/2.0/UDP h2;branch=z9hG4bKb"
        );
    }
}
