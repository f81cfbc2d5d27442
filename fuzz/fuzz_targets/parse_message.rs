//! Fuzzes the SIP message façade with arbitrary datagrams.
//!
//! Run (nightly): `cargo fuzz run parse_message fuzz/corpus/parse_message testdata/sip/valid`
//! The valid and invalid corpus files in `testdata/sip/` make good seeds.
//!
//! The body is `onestatus::sip::fuzz::parse_message`, which `tests/sip_fuzz.rs` also runs
//! (bounded, seeded) under `cargo test`: never panics, and whatever we send back (a response to
//! an accepted request, or a 400 built from a refused one) is itself a message we accept, or at
//! worst lacks only the headers the request lacked.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| onestatus::sip::fuzz::parse_message(data));
