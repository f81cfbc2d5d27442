//! RFC 5118 §4.3 and §4.4 (issue #19): a REGISTER whose Request-URI is an IPv6 reference with
//! the port inside the brackets (ambiguous: `[2001:db8::10:5070]` is one address) and outside
//! them (`[2001:db8::10]:5070`), from a phone on IPv6, parsed as the RFC reads them and
//! answered: through the §17 transaction layer, back to the phone's IPv6 source, with Via,
//! From and To printed with their brackets, and the same answer for a retransmission.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use onestatus::sip::message::{host_ip, make_response, parse, serialize};
use onestatus::sip::transaction::{LayerConfig, TransactionLayer, TransportKind, TuEvent};

fn corpus(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/sip/valid")
        .join(name);
    std::fs::read(path).unwrap()
}

fn answered(name: &str, expected_host: &str, expected_port: Option<u16>) {
    let bytes = corpus(name);
    let Ok(rsip::SipMessage::Request(request)) = parse(&bytes) else {
        panic!("{name} does not parse");
    };
    assert_eq!(
        host_ip(request.uri.host()),
        Some(expected_host.parse::<IpAddr>().unwrap()),
        "{name}: Request-URI host"
    );
    assert_eq!(
        request.uri.port().map(|p| *p.value()),
        expected_port,
        "{name}: Request-URI port"
    );

    let phone: SocketAddr = "[2001:db8::9:1]:5060".parse().unwrap();
    let mut layer = TransactionLayer::new(LayerConfig::default());
    // Virtual time needs an origin; nothing waits on it.
    #[allow(clippy::disallowed_methods)]
    let now = Instant::now();
    layer
        .handle_message(
            now,
            rsip::SipMessage::Request(request),
            phone,
            TransportKind::Udp,
        )
        .unwrap();
    let Some(TuEvent::Request {
        transaction,
        request,
        source,
        ..
    }) = layer.poll_event()
    else {
        panic!("{name}: no request event");
    };
    assert_eq!(source, phone);
    let response = make_response(&request, 401, "Unauthorized", Some("t1"));
    layer.respond(now, transaction, response).unwrap();
    let sent = layer.poll_transmit().expect("an answer");
    assert_eq!(sent.destination, phone, "{name}: answered to the phone");
    let text = String::from_utf8(serialize(&sent.message)).unwrap();
    assert!(text.starts_with("SIP/2.0 401 Unauthorized\r\n"), "{text}");
    assert!(
        text.contains("Via: SIP/2.0/UDP [2001:db8::9:1];branch=z9hG4bKas3-"),
        "{text}"
    );
    assert!(
        text.contains("<sip:caller@[2001:db8::9:1]>;tag="),
        "{name}: {text}"
    );
    assert!(!text.contains(".invalid"), "{text}");
    assert!(matches!(
        parse(text.as_bytes()),
        Ok(rsip::SipMessage::Response(_))
    ));

    // A retransmission is absorbed by the transaction and answered again, unchanged.
    let again = parse(&bytes).unwrap();
    layer
        .handle_message(
            now + Duration::from_millis(500),
            again,
            phone,
            TransportKind::Udp,
        )
        .unwrap();
    assert!(layer.poll_event().is_none(), "{name}: no second TU event");
    let resent = layer.poll_transmit().expect("the answer again");
    assert_eq!(
        String::from_utf8(serialize(&resent.message)).unwrap(),
        text,
        "{name}"
    );
}

/// §4.3: "the port is part of the address": host 2001:db8::10:5070, no port.
#[test]
fn port_ambiguous_request_uri() {
    answered("ipv6_port_ambiguous.sip", "2001:db8::10:5070", None);
}

/// §4.4: host 2001:db8::10, port 5070.
#[test]
fn port_unambiguous_request_uri() {
    answered("ipv6_port_unambiguous.sip", "2001:db8::10", Some(5070));
}
