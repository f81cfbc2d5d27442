//! Runs the SIP corpus in `testdata/sip/` through the message façade, then hammers the façade
//! with seeded random mutations of the valid corpus.
//!
//! - `valid/*.sip` must parse, and requests must pass `validate_request`.
//! - `invalid/*.sip` must end as `invalid/expected.toml` says: a status and reason phrase, or
//!   "drop" (no answer possible).
//! - 20,000 mutated messages (bit flips, truncation, insertion, duplication) must never panic,
//!   and whatever we send back must itself parse.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use onestatus::sip::fuzz::mutate;
use onestatus::sip::message::{
    bad_request_response, host_ip, make_response, parse, parse_framed, recover_request_basics,
    serialize, validate_request, Framing, ParseError, RequestBasics, MAX_MESSAGE_LEN,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rsip::headers::UntypedHeader;

/// Option-tags this UAS claims in the tests (the Require check is against these).
const SUPPORTED: [&str; 3] = ["timer", "100rel", "replaces"];

/// Methods the B2BUA accepts in the tests (PUBLISH is deliberately not one: 405).
const ALLOWED: [rsip::Method; 13] = [
    rsip::Method::Invite,
    rsip::Method::Ack,
    rsip::Method::Bye,
    rsip::Method::Cancel,
    rsip::Method::Options,
    rsip::Method::Register,
    rsip::Method::Message,
    rsip::Method::Info,
    rsip::Method::PRack,
    rsip::Method::Update,
    rsip::Method::Refer,
    rsip::Method::Notify,
    rsip::Method::Subscribe,
];

fn corpus(kind: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/sip")
        .join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "sip"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect()
}

fn request(name: &str, bytes: &[u8]) -> rsip::Request {
    match parse(bytes) {
        Ok(rsip::SipMessage::Request(request)) => request,
        other => panic!("{name}: expected a request, got {other:?}"),
    }
}

fn headers_named(message: &rsip::Request, name: &str) -> Vec<String> {
    message
        .headers
        .iter()
        .filter_map(|header| {
            let text = header.to_string();
            let (header_name, value) = text.split_once(':')?;
            header_name
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
        .collect()
}

#[test]
fn valid_corpus_parses_and_validates() {
    let files = corpus("valid");
    assert!(
        files.len() >= 20,
        "the valid corpus shrank: {}",
        files.len()
    );
    for (name, bytes) in &files {
        let message = parse(bytes).unwrap_or_else(|e| panic!("{name}: {e} ({e:?})"));
        let rsip::SipMessage::Request(request) = message else {
            continue;
        };
        if let Err(rejection) = validate_request(&request, &SUPPORTED, &ALLOWED) {
            panic!(
                "{name}: rejected {} {}",
                rejection.status_code, rejection.reason_phrase
            );
        }
        // rsip's typed views must work on what we hand over (IPv6 references included, as
        // placeholder hosts), except where rsip 0.4 cannot represent the value at all: tel:
        // URIs (misread as host:port), and a `<` inside a quoted display name (it splits at
        // the first `<`).
        let rsip_limit = name.contains("tel_") || name == "quoted_display_names.sip";
        if !rsip_limit {
            use rsip::prelude::*;
            let typed_ok = request.from_header().is_ok_and(|h| h.typed().is_ok())
                && request.to_header().is_ok_and(|h| h.typed().is_ok())
                && request.cseq_header().is_ok_and(|h| h.typed().is_ok())
                && request.via_header().is_ok_and(|h| h.typed().is_ok());
            assert!(typed_ok, "{name}: rsip cannot read its typed headers");
        }
        // Our own answer to it must be a message we accept, with no placeholder left over.
        let response = make_response(&request, 486, "Busy Here", Some("tag1"));
        let response = String::from_utf8(serialize(&response.into())).unwrap();
        assert!(!response.contains(".ipv6.invalid"), "{name}: {response}");
        match parse(response.as_bytes()) {
            Ok(rsip::SipMessage::Response(_)) => {}
            other => panic!("{name}: our response does not parse: {other:?}\n{response}"),
        }
    }
}

#[test]
fn valid_corpus_details() {
    let files: BTreeMap<_, _> = corpus("valid").into_iter().collect();
    let get = |name: &str| request(name, &files[name]);

    let vias = headers_named(&get("multiple_vias.sip"), "Via");
    let branches: Vec<_> = vias
        .iter()
        .map(|v| {
            v.rsplit("branch=")
                .next()
                .unwrap()
                .split(';')
                .next()
                .unwrap()
        })
        .collect();
    assert_eq!(branches, ["z9hG4bK3", "z9hG4bK2", "z9hG4bK1", "z9hG4bK0"]);

    let compact = get("compact_forms.sip");
    assert_eq!(headers_named(&compact, "Via").len(), 3);
    assert_eq!(
        headers_named(&compact, "Call-ID"),
        ["wsinv.ndaksdj@192.0.2.1"]
    );
    assert_eq!(headers_named(&compact, "CSeq"), ["9 INVITE"]);
    assert_eq!(headers_named(&compact, "Contact").len(), 1);
    assert_eq!(
        headers_named(&compact, "NewFangledHeader"),
        ["newfangled value continued newfangled value"]
    );

    let letters = get("compact_letters.sip");
    assert_eq!(letters.body, b"Hello");
    assert_eq!(headers_named(&letters, "Supported"), ["timer"]);

    let folded = get("folded_headers.sip");
    assert_eq!(
        headers_named(&folded, "Subject"),
        ["I know you're there, pick up the phone and talk to me!"]
    );
    assert_eq!(headers_named(&folded, "Max-Forwards"), ["70"]);

    assert_eq!(
        get("udp_body_longer_than_content_length.sip").body,
        b"Hello"
    );
    let no_length = get("udp_no_content_length.sip");
    assert!(no_length.body.starts_with(b"v=0\r\n") && no_length.body.ends_with(b"0-15\r\n"));
    assert_eq!(
        get("ack_with_body_binary.sip").body,
        b"\x00\xff\r\n\r\n\x00\x01"
    );
    assert_eq!(
        headers_named(&get("long_but_legal.sip"), "Record-Route").len(),
        150
    );
    assert_eq!(
        get("leading_crlf_keepalive.sip").method,
        rsip::Method::Invite
    );

    let invite = get("invite_sdp.sip");
    assert!(invite.body.starts_with(b"v=0\r\n") && invite.body.ends_with(b"a=fmtp:101 0-15\r\n"));
    assert_eq!(
        invite.headers.iter().find_map(|h| match h {
            rsip::Header::ContentLength(length) => Some(length.value().to_owned()),
            _ => None,
        }),
        Some(invite.body.len().to_string())
    );
}

/// The header lines of `text` named `name` (case-insensitive), values trimmed.
fn lines_named<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    text.split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .filter(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
        .collect()
}

/// IPv6 references (RFC 5118) read through rsip's typed views as placeholder hosts, decode to
/// their addresses, and print back exactly as received.
#[test]
fn ipv6_references_are_typed_and_printed_back() {
    use rsip::prelude::*;
    use std::net::IpAddr;

    let files: BTreeMap<_, _> = corpus("valid").into_iter().collect();
    let ip = |text: &str| Some(text.parse::<IpAddr>().unwrap());

    let options = get_request(&files, "ipv6_options.sip");
    assert_eq!(host_ip(options.uri.host()), ip("2001:db8::10"));
    assert_eq!(options.uri.port().map(|p| *p.value()), Some(5060));
    let via = options.via_header().unwrap().typed().unwrap();
    assert_eq!(host_ip(&via.uri.host_with_port.host), ip("2001:db8::9:1"));
    assert_eq!(via.uri.host_with_port.port.map(|p| *p.value()), Some(5062));
    let from = options.from_header().unwrap().typed().unwrap();
    assert_eq!(host_ip(from.uri.host()), ip("2001:db8::9:1"));
    assert_eq!(from.display_name.as_deref(), Some("\"Phone [desk]\""));
    let contacts: Vec<_> = options
        .headers
        .iter()
        .filter_map(|h| match h {
            rsip::Header::Contact(c) => Some(c.clone()),
            _ => None,
        })
        .collect();
    let first = contacts[0].typed().unwrap();
    assert_eq!(host_ip(first.uri.host()), ip("2001:db8::9:1"));
    assert_eq!(first.uri.port().map(|p| *p.value()), Some(5062));

    let ambiguous = get_request(&files, "ipv6_port_ambiguous.sip");
    assert_eq!(host_ip(ambiguous.uri.host()), ip("2001:db8::10:5070"));
    assert_eq!(ambiguous.uri.port(), None);

    let bye = get_request(&files, "ipv6_received_bare.sip");
    let via = bye.via_header().unwrap().typed().unwrap();
    assert_eq!(
        onestatus::sip::via::received(&via),
        ip("2001:db8::9:255"),
        "bare received is read whole, not as 2001"
    );

    // Printing restores every reference character for character (received bare, per §25.1).
    for name in [
        "ipv6_options.sip",
        "ipv6_port_ambiguous.sip",
        "ipv6_received_bare.sip",
        "ipv6_request_uri.sip",
        "ipv6_via_and_contact.sip",
    ] {
        let original = String::from_utf8(files[name].clone()).unwrap();
        let message = parse(&files[name]).unwrap();
        let printed = String::from_utf8(serialize(&message)).unwrap();
        assert!(!printed.contains(".invalid"), "{name}:\n{printed}");
        assert_eq!(
            printed.lines().next(),
            original.lines().next(),
            "{name}: Request-URI"
        );
        for header in ["From", "To", "Contact", "Route", "Call-ID"] {
            assert_eq!(
                lines_named(&printed, header),
                lines_named(&original, header),
                "{name}: {header}"
            );
        }
        let expected_vias: Vec<String> = lines_named(&original, "Via")
            .into_iter()
            .map(|v| {
                v.replace("received=[2001:db8::9:255]", "received=2001:db8::9:255")
                    .replace("received=[2001:db8::9:254]", "received=2001:db8::9:254")
                    .replace("maddr=2001:db8::9:3", "maddr=[2001:db8::9:3]")
            })
            .collect();
        assert_eq!(lines_named(&printed, "Via"), expected_vias, "{name}: Via");
        // And what we print parses to the same message.
        assert_eq!(parse(printed.as_bytes()).unwrap(), message, "{name}");
    }
}

fn get_request(files: &BTreeMap<String, Vec<u8>>, name: &str) -> rsip::Request {
    request(name, &files[name])
}

/// What `expected.toml` says about one file.
#[derive(Debug, PartialEq)]
enum Outcome {
    Answer(u16, String),
    Drop(String),
}

fn expected() -> BTreeMap<String, Outcome> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/sip/invalid/expected.toml");
    let table: toml::Table = std::fs::read_to_string(path).unwrap().parse().unwrap();
    table
        .into_iter()
        .map(|(file, entry)| {
            let reason = entry["reason"].as_str().unwrap().to_owned();
            let outcome = match &entry["outcome"] {
                toml::Value::Integer(code) => {
                    Outcome::Answer(u16::try_from(*code).unwrap(), reason)
                }
                toml::Value::String(s) if s == "drop" => Outcome::Drop(reason),
                other => panic!("{file}: bad outcome {other}"),
            };
            (file, outcome)
        })
        .collect()
}

/// Runs one message the way the transport will: parse; on failure answer if recoverable; on
/// success validate requests.
fn outcome(bytes: &[u8]) -> Outcome {
    match parse(bytes) {
        Err(error) => outcome_of_error(bytes, &error),
        Ok(rsip::SipMessage::Response(_)) => panic!("an invalid response parsed"),
        Ok(rsip::SipMessage::Request(request)) => {
            let rejection = validate_request(&request, &SUPPORTED, &ALLOWED)
                .expect_err("an invalid request passed validation");
            let reason = rejection.reason_phrase.clone().into_owned();
            if request.method == rsip::Method::Ack {
                return Outcome::Drop(reason);
            }
            let response = serialize(&rejection.to_response(&request, Some("t")).into());
            let response = String::from_utf8(response).unwrap();
            let status_line = format!("SIP/2.0 {} {}\r\n", rejection.status_code, reason);
            assert!(response.starts_with(&status_line), "{response}");
            assert!(parse(response.as_bytes()).is_ok(), "{response}");
            Outcome::Answer(rejection.status_code, reason)
        }
    }
}

fn outcome_of_error(bytes: &[u8], error: &ParseError) -> Outcome {
    let reason = error.reason_phrase().into_owned();
    let Some(basics) = recover_request_basics(bytes) else {
        return Outcome::Drop(reason);
    };
    let response = bad_request_response(&basics, error);
    let status_line = format!("SIP/2.0 {} {}\r\n", error.status_code(), reason);
    assert!(response.starts_with(status_line.as_bytes()));
    match parse(&response) {
        Ok(rsip::SipMessage::Response(_)) => {}
        // A response missing a header the request lacked is refused by our own parser, which
        // is right: the peer's transaction layer matches it by branch and CSeq only (§17.1.3).
        Err(ParseError::MissingHeader(_)) if lacks_a_header(&basics) => {}
        // A Via of another version or an overlarge CSeq, echoed as received (§8.2.6.2).
        Err(_) if basics.echoed_as_received => {}
        other => panic!(
            "our 4xx does not parse: {other:?}\n{}",
            String::from_utf8_lossy(&response)
        ),
    }
    Outcome::Answer(error.status_code(), reason)
}

/// Whether a From, To or Call-ID could not be recovered (so our answer lacks it too).
fn lacks_a_header(basics: &RequestBasics) -> bool {
    basics.call_id.is_none() || basics.to.is_none() || basics.from.is_none()
}

#[test]
fn invalid_corpus_matches_expected_outcomes() {
    let expected = expected();
    let files = corpus("invalid");
    let names: Vec<_> = files.iter().map(|(name, _)| name.clone()).collect();
    let listed: Vec<_> = expected.keys().cloned().collect();
    assert_eq!(names, listed, "files and expected.toml entries differ");
    let mut wrong = Vec::new();
    for (name, bytes) in &files {
        let actual = outcome(bytes);
        if actual != expected[name] {
            wrong.push(format!(
                "{name}: expected {:?}, got {actual:?}",
                expected[name]
            ));
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

#[test]
fn oversized_message_is_answered_513() {
    let files: BTreeMap<_, _> = corpus("valid").into_iter().collect();
    let mut big = files["options.sip"].clone();
    big.resize(MAX_MESSAGE_LEN + 1, b'x');
    assert_eq!(
        outcome(&big),
        Outcome::Answer(513, "Message Too Large".into())
    );
}

#[test]
fn stream_framing_requires_content_length() {
    let files: BTreeMap<_, _> = corpus("valid").into_iter().collect();
    assert!(parse_framed(&files["invite_sdp.sip"], Framing::Stream).is_ok());
    let error = parse_framed(&files["udp_no_content_length.sip"], Framing::Stream).unwrap_err();
    assert_eq!(error.reason_phrase(), "Missing Content-Length");
}

#[test]
fn random_mutations_never_panic() {
    let seeds = corpus("valid");
    let mut rng = StdRng::seed_from_u64(0x0E57_A7E5);
    let (mut parsed, mut answered, mut dropped) = (0, 0, 0);
    for _ in 0..20_000 {
        let (_, original) = &seeds[rng.gen_range(0..seeds.len())];
        let mut bytes = original.clone();
        for _ in 0..rng.gen_range(1..=4) {
            mutate(&mut rng, &mut bytes);
        }
        let _ = parse_framed(&bytes, Framing::Stream);
        match parse(&bytes) {
            Ok(rsip::SipMessage::Request(request)) => {
                parsed += 1;
                let _ = validate_request(&request, &SUPPORTED, &ALLOWED);
                let response = make_response(&request, 500, "Server Internal Error", Some("x"));
                let text = String::from_utf8_lossy(&serialize(&response.into())).into_owned();
                assert!(
                    parse(text.as_bytes()).is_ok(),
                    "our response to an accepted request does not parse:\n{}\n---\n{text}",
                    String::from_utf8_lossy(&bytes)
                );
            }
            Ok(rsip::SipMessage::Response(_)) => parsed += 1,
            Err(error) => match recover_request_basics(&bytes) {
                Some(basics) => {
                    answered += 1;
                    let response = bad_request_response(&basics, &error);
                    match parse(&response) {
                        Ok(_) => {}
                        Err(ParseError::MissingHeader(_)) if lacks_a_header(&basics) => {}
                        Err(_) if basics.echoed_as_received => {}
                        Err(e) => panic!(
                            "our answer does not parse ({e}):\n{}\n---\n{}",
                            String::from_utf8_lossy(&bytes),
                            String::from_utf8_lossy(&response)
                        ),
                    }
                }
                None => dropped += 1,
            },
        }
    }
    println!("mutations: {parsed} parsed, {answered} answered, {dropped} dropped");
    // The loop must exercise all three paths, or it tests nothing.
    assert!(
        parsed > 1_000 && answered > 1_000 && dropped > 100,
        "{parsed} {answered} {dropped}"
    );
}
