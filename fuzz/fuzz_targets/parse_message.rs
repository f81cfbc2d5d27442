//! Fuzzes the SIP message façade with arbitrary datagrams.
//!
//! Run (nightly): `cargo fuzz run parse_message fuzz/corpus/parse_message testdata/sip/valid`
//! The valid and invalid corpus files in `testdata/sip/` make good seeds.
//!
//! Besides "never panics", checks what the transport will rely on: whatever we send back (a
//! response to an accepted request, or a 400 built from a refused one) is itself a message we
//! accept, or at worst lacks only the headers the request lacked.
#![no_main]

use libfuzzer_sys::fuzz_target;
use onestatus::sip::message::{
    bad_request_response, make_response, parse, parse_framed, recover_request_basics,
    validate_request, Framing, ParseError,
};

fuzz_target!(|data: &[u8]| {
    let _ = parse_framed(data, Framing::Stream);
    match parse(data) {
        Ok(rsip::SipMessage::Request(request)) => {
            let _ = validate_request(&request, &["timer"], &[rsip::Method::Invite]);
            let response = make_response(&request, 400, "Bad Request", Some("fuzz"));
            assert!(parse(&onestatus::sip::message::serialize(&response.into())).is_ok());
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
                    Err(other) => panic!("our answer does not parse: {other}"),
                }
            }
        }
    }
});
