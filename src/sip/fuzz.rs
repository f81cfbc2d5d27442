//! The bodies of the fuzz targets (`fuzz/fuzz_targets/*.rs`), as plain functions, so that the
//! same checks run two ways: for hours under libFuzzer (`cargo fuzz run …`, nightly), and for a
//! bounded, seeded few seconds under `cargo test` (`tests/sip_fuzz.rs`), from the corpus in
//! `testdata/sip/` plus [`mutate`]d copies of it. Issue #19 asked for fuzzing in CI; the
//! `cargo test` run is that, without a nightly toolchain.
//!
//! Each function panics when an invariant breaks; that is what both harnesses catch.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::Rng;

use super::message::{
    bad_request_response, make_response, parse, parse_framed, recover_request_basics, serialize,
    validate_request, Framing, ParseError,
};
use super::transaction::{LayerConfig, TransactionLayer, TransportKind};

/// Separator of messages in a [`transaction_input`] sequence.
pub const SEQUENCE_SEPARATOR: u8 = 0xFF;

/// Target `parse_message`: one datagram through the façade. Never panics; whatever we would
/// send back (a response to an accepted request, or a 4xx built from a refused one) is itself
/// a message we accept, or lacks only headers the request lacked.
pub fn parse_message(data: &[u8]) {
    let _ = parse_framed(data, Framing::Stream);
    match parse(data) {
        Ok(rsip::SipMessage::Request(request)) => {
            let _ = validate_request(&request, &["timer"], &[rsip::Method::Invite]);
            let response = make_response(&request, 400, "Bad Request", Some("fuzz"));
            let printed = serialize(&response.into());
            if let Err(error) = parse(&printed) {
                panic!(
                    "our response does not parse ({error}):\n{}",
                    String::from_utf8_lossy(&printed)
                );
            }
        }
        Ok(rsip::SipMessage::Response(_)) => {}
        Err(error) => {
            if let Some(basics) = recover_request_basics(data) {
                let answer = bad_request_response(&basics, &error);
                match parse(&answer) {
                    Ok(_) => {}
                    Err(ParseError::MissingHeader(_))
                        if basics.call_id.is_none()
                            || basics.to.is_none()
                            || basics.from.is_none() => {}
                    // Values our parser refuses, echoed as received (§8.2.6.2).
                    Err(_) if basics.echoed_as_received => {}
                    Err(other) => panic!(
                        "our answer does not parse ({other}):\n{}",
                        String::from_utf8_lossy(&answer)
                    ),
                }
            }
        }
    }
}

/// Target `transaction_input`: a sequence of datagrams fed to the §17 transaction layer with
/// virtual time advancing between them. The input is split on [`SEQUENCE_SEPARATOR`] into
/// messages; the first byte of each advances the clock by that many 100 ms steps. Whatever
/// parses must be taken or refused without a panic, the outputs must drain, and once every
/// timer has run out the layer must be empty.
pub fn transaction_input(data: &[u8]) {
    let mut layer = TransactionLayer::new(LayerConfig {
        max_transactions: 64,
        ..LayerConfig::default()
    });
    // Virtual time needs an origin; nothing waits on the clock, it only orders the timers.
    #[allow(clippy::disallowed_methods)]
    let mut now = Instant::now();
    let source: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 5060));
    for (i, chunk) in data.split(|b| *b == SEQUENCE_SEPARATOR).enumerate() {
        let (step, bytes) = chunk
            .split_first()
            .map_or((0, chunk), |(s, rest)| (*s, rest));
        now += Duration::from_millis(u64::from(step) * 100);
        layer.handle_timeout(now);
        if let Ok(parsed) = parse(bytes) {
            let transport = if i % 2 == 0 {
                TransportKind::Udp
            } else {
                TransportKind::Tcp
            };
            let _ = layer.handle_message(now, parsed, source, transport);
        }
        while layer.poll_transmit().is_some() {}
        while layer.poll_event().is_some() {}
    }
    // Let every timer run out (Timer H/J/L/M are at most 64·T1 = 32 s); bounded, since 64
    // transactions retransmitting take a few hundred rounds.
    for _ in 0..10_000 {
        match layer.poll_timeout() {
            Some(at) => {
                now = now.max(at);
                layer.handle_timeout(now);
                while layer.poll_transmit().is_some() {}
                while layer.poll_event().is_some() {}
            }
            None => break,
        }
    }
    assert!(
        layer.poll_timeout().is_none(),
        "timers still pending after every timer ran out"
    );
}

/// One random edit of `bytes`, of the kinds that break SIP parsers: a bit flip, a cut, an
/// inserted byte or SIP delimiter, a duplicated or a deleted run.
pub fn mutate<R: Rng>(rng: &mut R, bytes: &mut Vec<u8>) {
    const INTERESTING: [&[u8]; 12] = [
        b"\r\n",
        b"\r\n ",
        b":",
        b";",
        b",",
        b"\"",
        b"<",
        b"\0",
        b"SIP/2.0",
        b"\r\n\r\n",
        b"[",
        b"\\",
    ];
    if bytes.is_empty() {
        bytes.push(rng.gen());
        return;
    }
    let at = rng.gen_range(0..bytes.len());
    match rng.gen_range(0..6) {
        0 => bytes[at] ^= 1 << rng.gen_range(0..8),
        1 => bytes.truncate(at),
        2 => bytes.insert(at, rng.gen()),
        3 => {
            let piece = INTERESTING[rng.gen_range(0..INTERESTING.len())];
            bytes.splice(at..at, piece.iter().copied());
        }
        4 => {
            let end = (at + rng.gen_range(1..64)).min(bytes.len());
            let copy = bytes[at..end].to_vec();
            bytes.splice(at..at, copy);
        }
        _ => {
            let end = (at + rng.gen_range(1..16)).min(bytes.len());
            bytes.drain(at..end);
        }
    }
}
