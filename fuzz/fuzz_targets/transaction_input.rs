//! Sequences of datagrams fed to the §17 transaction layer, with virtual time advancing between
//! them: whatever parses must be taken or refused by the layer without a panic, and the layer's
//! outputs must drain. The input is split on a 0xFF byte into messages; the byte after each
//! split advances the clock by that many 100 ms steps.
//!
//! The body is `onestatus::sip::fuzz::transaction_input`, which `tests/sip_fuzz.rs` also runs
//! (bounded, seeded) under `cargo test`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| onestatus::sip::fuzz::transaction_input(data));
