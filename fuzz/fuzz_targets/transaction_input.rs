//! Sequences of datagrams fed to the §17 transaction layer, with virtual time advancing between
//! them: whatever parses must be taken or refused by the layer without a panic, and the layer's
//! outputs must drain. The input is split on a 0xFF byte into messages; the byte after each
//! split advances the clock by that many 100 ms steps.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use onestatus::sip::message;
use onestatus::sip::transaction::{LayerConfig, TransactionLayer, TransportKind};

fuzz_target!(|data: &[u8]| {
    let mut layer = TransactionLayer::new(LayerConfig { max_transactions: 64, ..LayerConfig::default() });
    let mut now = Instant::now();
    let source = "127.0.0.1:5060".parse().unwrap();
    for (i, chunk) in data.split(|b| *b == 0xFF).enumerate() {
        let (step, bytes) = chunk.split_first().map_or((0, chunk), |(s, rest)| (*s, rest));
        now += Duration::from_millis(u64::from(step) * 100);
        layer.handle_timeout(now);
        if let Ok(parsed) = message::parse(bytes) {
            let transport = if i % 2 == 0 { TransportKind::Udp } else { TransportKind::Tcp };
            let _ = layer.handle_message(now, parsed, source, transport);
        }
        while layer.poll_transmit().is_some() {}
        while layer.poll_event().is_some() {}
    }
    // Let every timer run out: the layer must end empty.
    for _ in 0..200 {
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
});
