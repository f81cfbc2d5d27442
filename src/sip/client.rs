//! The client behind a SIP request, for per-source counting (request limit, bans, mailbox PIN
//! attempts): the transport source, or — only when that is one of `[security]
//! trusted_proxies` — the first hop below the proxies in the Via chain, by its `received`
//! (RFC 3261 §18.2.1) or else its sent-by ([`TrustedProxies::sip_client`]).
//!
//! Responses still go to the transport source (§18.2.2); only counting uses this.

use std::net::IpAddr;

use rsip::headers::{ToTypedHeader, UntypedHeader};
use rsip::Header;

use crate::config::security::TrustedProxies;

/// The client address of `request`, received from `peer`.
pub fn client_ip(trusted: &TrustedProxies, peer: IpAddr, request: &rsip::Request) -> IpAddr {
    if !trusted.contains(peer) {
        return peer;
    }
    let hops: Vec<(Option<String>, String)> = request
        .headers
        .iter()
        .filter_map(|h| match h {
            Header::Via(via) => Some(via.value().to_owned()),
            _ => None,
        })
        .flat_map(|line| {
            line.split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(hop)
                .collect::<Vec<_>>()
        })
        .collect();
    trusted.sip_client(
        peer,
        hops.iter()
            .map(|(received, host)| (received.as_deref(), host.as_str())),
    )
}

/// The user part of the From URI: the caller ID as the caller's side gives it.
pub fn caller_user(request: &rsip::Request) -> Option<String> {
    request
        .headers
        .iter()
        .find_map(|h| match h {
            Header::From(from) => from.typed().ok(),
            _ => None,
        })
        .and_then(|from| from.uri.user().map(str::to_owned))
}

/// (`received`, sent-by host) of one Via value, IPv6 placeholders decoded.
fn hop(value: &str) -> (Option<String>, String) {
    let mut parts = value.split(';');
    let sent_by = parts
        .next()
        .and_then(|p| p.split_whitespace().nth(1))
        .unwrap_or("");
    let received = parts.find_map(|p| {
        let (name, v) = p.trim().split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("received")
            .then(|| decode(v.trim()))
    });
    (received, decode(host_of(sent_by)))
}

fn host_of(sent_by: &str) -> &str {
    if let Some(rest) = sent_by.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    match sent_by.matches(':').count() {
        1 => sent_by.split(':').next().unwrap_or(""),
        _ => sent_by,
    }
}

fn decode(host: &str) -> String {
    crate::sip::message::decode_placeholder(host).unwrap_or_else(|| host.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(vias: &[&str]) -> rsip::Request {
        let mut text = String::from("OPTIONS sip:onestatus SIP/2.0\r\n");
        for v in vias {
            text.push_str(&format!("Via: {v}\r\n"));
        }
        text.push_str(
            "From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\n\
             Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        );
        match crate::sip::message::parse(text.as_bytes()).expect("parses") {
            rsip::SipMessage::Request(r) => r,
            rsip::SipMessage::Response(_) => panic!("a request"),
        }
    }

    #[test]
    fn only_a_trusted_proxy_speaks_for_the_client() {
        let proxy: IpAddr = "192.0.2.10".parse().unwrap();
        let r = request(&[
            "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKp1",
            "SIP/2.0/UDP 10.9.9.9:5062;branch=z9hG4bKc1;received=203.0.113.9;rport=40000",
        ]);
        let trusted = TrustedProxies(vec!["192.0.2.10".parse().unwrap()]);
        assert_eq!(
            client_ip(&trusted, proxy, &r),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_ip(&TrustedProxies::default(), proxy, &r), proxy);
        assert_eq!(caller_user(&r).as_deref(), Some("a"));
        let stranger: IpAddr = "198.51.100.4".parse().unwrap();
        assert_eq!(client_ip(&trusted, stranger, &r), stranger);
        // Two values on one line, and no received: the sent-by host.
        let r = request(&[
            "SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKp2, SIP/2.0/TCP 198.51.100.77:5070;branch=z9hG4bKc2",
        ]);
        assert_eq!(
            client_ip(&trusted, proxy, &r),
            "198.51.100.77".parse::<IpAddr>().unwrap()
        );
    }
}
