//! §10.3 rule by rule, with REGISTER requests parsed by rsip from text.

use chrono::TimeZone;

use super::*;

const AOR: &str = "sip:alice@onestatus.example";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 11, 24, 8, 0, 0).unwrap()
}

fn source() -> SocketAddr {
    "203.0.113.5:40112".parse().unwrap()
}

/// A REGISTER from alice with the given Call-ID, CSeq and extra header lines.
fn register(call_id: &str, cseq: u32, extra: &[&str]) -> rsip::Request {
    let mut text = format!(
        "REGISTER sip:onestatus.example SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK{cseq}x\r\n\
         Max-Forwards: 70\r\n\
         To: \"Alice\" <sip:alice@onestatus.example>\r\n\
         From: \"Alice\" <sip:alice@onestatus.example>;tag=456248\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} REGISTER\r\n"
    );
    for line in extra {
        text.push_str(line);
        text.push_str("\r\n");
    }
    text.push_str("Content-Length: 0\r\n\r\n");
    rsip::Request::try_from(text.as_str()).unwrap()
}

fn process(
    request: &rsip::Request,
    existing: &[Binding],
) -> Result<RegisterOutcome, RegisterRejection> {
    process_at(t0(), request, existing, &RegistrarConfig::default())
}

fn process_at(
    now: DateTime<Utc>,
    request: &rsip::Request,
    existing: &[Binding],
    config: &RegistrarConfig,
) -> Result<RegisterOutcome, RegisterRejection> {
    process_register(
        now,
        request,
        AOR,
        existing,
        source(),
        rsip::Transport::Udp,
        config,
    )
}

/// A stored binding, as a previous REGISTER would have left it.
fn stored(contact: &str, call_id: &str, cseq: u32, seconds_left: i64) -> Binding {
    Binding {
        aor: AOR.into(),
        contact_uri: contact.into(),
        expires_at: t0() + Duration::seconds(seconds_left),
        call_id: call_id.into(),
        cseq,
        q: None,
        received: source(),
        transport: rsip::Transport::Udp,
        instance: None,
        path: Vec::new(),
    }
}

fn uris(bindings: &[Binding]) -> Vec<&str> {
    bindings
        .iter()
        .map(|binding| binding.contact_uri.as_str())
        .collect()
}

#[test]
fn new_bindings_take_expires_param_then_header_then_default() {
    let request = register(
        "reg-1",
        1,
        &[
            "Contact: <sip:alice@192.168.1.20:5060>;expires=120;q=0.5, \
             \"Alice, mobile\" <sip:alice@10.1.1.1:5062;transport=tcp>",
            "Contact: <sip:alice@[2001:db8::1]>;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\"",
            "Expires: 300",
        ],
    );
    let outcome = process(&request, &[]).unwrap();
    assert!(outcome.remove.is_empty());
    assert_eq!(outcome.upsert.len(), 3);
    let desk = &outcome.upsert[0];
    assert_eq!(desk.aor, AOR);
    assert_eq!(desk.contact_uri, "sip:alice@192.168.1.20:5060");
    assert_eq!(desk.expires_in(t0()), 120, "expires parameter wins");
    assert_eq!(desk.q, QValue::parse("0.5"));
    assert_eq!((desk.call_id.as_str(), desk.cseq), ("reg-1", 1));
    assert_eq!(
        (desk.received, desk.transport),
        (source(), rsip::Transport::Udp)
    );
    assert_eq!(
        outcome.upsert[1].expires_in(t0()),
        300,
        "then the Expires header"
    );
    assert_eq!(
        outcome.upsert[2].instance.as_deref(),
        Some("<urn:uuid:00000000-0000-1000-8000-000A95A0E128>")
    );
    // The 200 lists all of them, q=1 (absent) before q=0.5.
    assert_eq!(
        outcome.contact_values(t0()),
        [
            "<sip:alice@10.1.1.1:5062;transport=tcp>;expires=300",
            "<sip:alice@[2001:db8::1]>;expires=300;\
             +sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\"",
            "<sip:alice@192.168.1.20:5060>;expires=120;q=0.5",
        ]
    );

    let defaulted = process(
        &register("reg-2", 1, &["Contact: <sip:alice@192.168.1.21>"]),
        &[],
    );
    assert_eq!(
        defaulted.unwrap().upsert[0].expires_in(t0()),
        3600,
        "then the default"
    );
}

#[test]
fn compact_contact_form_is_understood() {
    let outcome = process(
        &register("reg-1", 1, &["m: <sip:alice@192.168.1.20>;expires=60"]),
        &[],
    );
    assert_eq!(uris(&outcome.unwrap().upsert), ["sip:alice@192.168.1.20"]);
}

#[test]
fn too_long_is_shortened_to_max_expires() {
    let request = register(
        "reg-1",
        1,
        &["Contact: <sip:alice@192.168.1.20>;expires=86400"],
    );
    assert_eq!(
        process(&request, &[]).unwrap().upsert[0].expires_in(t0()),
        3600
    );
    let huge = register(
        "reg-1",
        1,
        &["Contact: <sip:alice@192.168.1.20>;expires=99999999999"],
    );
    assert_eq!(
        process(&huge, &[]).unwrap().upsert[0].expires_in(t0()),
        3600
    );
}

#[test]
fn malformed_expires_counts_as_3600() {
    let request = register(
        "reg-1",
        1,
        &["Contact: <sip:alice@192.168.1.20>", "Expires: soon"],
    );
    let config = RegistrarConfig {
        max_expires: 7200,
        ..RegistrarConfig::default()
    };
    let outcome = process_at(t0(), &request, &[], &config).unwrap();
    assert_eq!(outcome.upsert[0].expires_in(t0()), 3600);
}

#[test]
fn too_brief_is_423_with_min_expires() {
    let request = register(
        "reg-1",
        1,
        &["Contact: <sip:alice@192.168.1.20>;expires=30"],
    );
    let rejection = process(&request, &[]).unwrap_err();
    assert_eq!(
        rejection,
        RegisterRejection::IntervalTooBrief { min_expires: 60 }
    );
    assert_eq!(rejection.status_code(), 423);
    assert_eq!(rejection.reason_phrase(), "Interval Too Brief");
    // One too-brief contact fails the whole request, even next to a good one.
    let mixed = register(
        "reg-1",
        1,
        &["Contact: <sip:alice@192.168.1.20>;expires=600, <sip:alice@192.168.1.21>;expires=5"],
    );
    assert!(matches!(
        process(&mixed, &[]),
        Err(RegisterRejection::IntervalTooBrief { .. })
    ));
    // Exactly the minimum is fine.
    let minimum = register(
        "reg-1",
        1,
        &["Contact: <sip:alice@192.168.1.20>;expires=60"],
    );
    assert!(process(&minimum, &[]).is_ok());
}

#[test]
fn an_hour_or_more_is_never_too_brief() {
    // §10.3 step 7: 423 only for intervals "smaller than one hour".
    let config = RegistrarConfig {
        min_expires: 7200,
        max_expires: 86400,
        ..Default::default()
    };
    let request = register(
        "reg-1",
        1,
        &["Contact: <sip:alice@192.168.1.20>;expires=3600"],
    );
    assert!(process_at(t0(), &request, &[], &config).is_ok());
    let brief = register(
        "reg-1",
        1,
        &["Contact: <sip:alice@192.168.1.20>;expires=3599"],
    );
    assert_eq!(
        process_at(t0(), &brief, &[], &config),
        Err(RegisterRejection::IntervalTooBrief { min_expires: 7200 })
    );
}

#[test]
fn expires_zero_removes_that_binding_only() {
    let existing = [
        stored("sip:alice@192.168.1.20", "reg-1", 5, 100),
        stored("sip:alice@10.1.1.1", "other", 9, 100),
    ];
    let request = register("reg-1", 6, &["Contact: <sip:alice@192.168.1.20>;expires=0"]);
    let outcome = process(&request, &existing).unwrap();
    assert_eq!(uris(&outcome.remove), ["sip:alice@192.168.1.20"]);
    assert!(outcome.upsert.is_empty());
    assert_eq!(uris(&outcome.current), ["sip:alice@10.1.1.1"]);
    // Removing an unknown contact is not an error.
    let unknown = register(
        "reg-1",
        6,
        &["Contact: <sip:alice@192.0.2.1>", "Expires: 0"],
    );
    assert!(process(&unknown, &existing).unwrap().remove.is_empty());
}

#[test]
fn wildcard_with_expires_zero_removes_everything() {
    let existing = [
        stored("sip:alice@192.168.1.20", "reg-1", 5, 100),
        stored("sip:alice@10.1.1.1", "other", 9, 100),
    ];
    let request = register("reg-1", 6, &["Contact: *", "Expires: 0"]);
    let outcome = process(&request, &existing).unwrap();
    assert_eq!(outcome.remove, existing);
    assert!(outcome.current.is_empty() && outcome.upsert.is_empty());
}

#[test]
fn wildcard_misuse_is_400() {
    for (extra, expected) in [
        (
            &["Contact: *"][..],
            RegisterRejection::WildcardWithoutZeroExpires,
        ),
        (
            &["Contact: *", "Expires: 60"][..],
            RegisterRejection::WildcardWithoutZeroExpires,
        ),
        (
            &[
                "Contact: *",
                "Contact: <sip:alice@192.168.1.20>",
                "Expires: 0",
            ][..],
            RegisterRejection::WildcardWithOtherContacts,
        ),
        (
            &["Contact: <sip:alice@192.168.1.20>, *", "Expires: 0"][..],
            RegisterRejection::WildcardWithOtherContacts,
        ),
    ] {
        let rejection = process(&register("reg-1", 1, extra), &[]).unwrap_err();
        assert_eq!(rejection, expected, "{extra:?}");
        assert_eq!(rejection.status_code(), 400);
    }
}

#[test]
fn wildcard_obeys_the_call_id_cseq_rule() {
    let existing = [stored("sip:alice@192.168.1.20", "reg-1", 5, 100)];
    let stale = register("reg-1", 5, &["Contact: *", "Expires: 0"]);
    assert_eq!(
        process(&stale, &existing),
        Err(RegisterRejection::OutOfOrder {
            call_id: "reg-1".into(),
            stored: 5,
            received: 5
        })
    );
    // Another Call-ID (another client or a rebooted phone) may remove it whatever its CSeq.
    let other = register("reboot", 1, &["Contact: *", "Expires: 0"]);
    assert_eq!(process(&other, &existing).unwrap().remove.len(), 1);
}

#[test]
fn same_call_id_needs_a_higher_cseq() {
    let existing = [stored("sip:alice@192.168.1.20", "reg-1", 5, 100)];
    for old in [4, 5] {
        let request = register("reg-1", old, &["Contact: <sip:alice@192.168.1.20>"]);
        let rejection = process(&request, &existing).unwrap_err();
        assert_eq!(
            rejection,
            RegisterRejection::OutOfOrder {
                call_id: "reg-1".into(),
                stored: 5,
                received: old
            }
        );
        assert_eq!(rejection.status_code(), 500);
    }
    let newer = register(
        "reg-1",
        6,
        &["Contact: <sip:alice@192.168.1.20>;expires=600"],
    );
    let outcome = process(&newer, &existing).unwrap();
    assert!(outcome.remove.is_empty(), "same text: replaced in place");
    assert_eq!(outcome.upsert[0].cseq, 6);
    assert_eq!(outcome.current.len(), 1);
    assert_eq!(outcome.current[0].expires_in(t0()), 600);
}

#[test]
fn different_call_id_replaces_regardless_of_cseq() {
    let existing = [stored("sip:alice@192.168.1.20", "reg-1", 50, 100)];
    let request = register("reg-2", 1, &["Contact: <sip:alice@192.168.1.20>"]);
    let outcome = process(&request, &existing).unwrap();
    assert_eq!(outcome.upsert[0].call_id, "reg-2");
    assert_eq!(outcome.current.len(), 1);
}

#[test]
fn equivalent_uri_refreshes_the_binding_under_the_new_text() {
    let existing = [stored("sip:alice@PHONE.example;foo=1", "reg-1", 5, 100)];
    let request = register("reg-1", 6, &["Contact: <sip:alice@phone.example>"]);
    let outcome = process(&request, &existing).unwrap();
    assert_eq!(uris(&outcome.remove), ["sip:alice@PHONE.example;foo=1"]);
    assert_eq!(uris(&outcome.upsert), ["sip:alice@phone.example"]);
    assert_eq!(uris(&outcome.current), ["sip:alice@phone.example"]);
    // The CSeq rule applies through the equivalence too.
    let old = register("reg-1", 5, &["Contact: <sip:alice@phone.example>"]);
    assert!(matches!(
        process(&old, &existing),
        Err(RegisterRejection::OutOfOrder { .. })
    ));
    // A different port is a different binding.
    let other_port = register("reg-1", 6, &["Contact: <sip:alice@phone.example:5062>"]);
    assert_eq!(process(&other_port, &existing).unwrap().current.len(), 2);
}

#[test]
fn no_contact_is_a_query() {
    let existing = [
        stored("sip:alice@192.168.1.20", "reg-1", 5, 100),
        stored("sip:alice@10.1.1.1", "other", 9, -1),
    ];
    let outcome = process(&register("query", 1, &[]), &existing).unwrap();
    assert!(outcome.remove.is_empty() && outcome.upsert.is_empty());
    assert_eq!(
        uris(&outcome.current),
        ["sip:alice@192.168.1.20"],
        "expired ones are not listed"
    );
    assert_eq!(
        outcome.contact_values(t0()),
        ["<sip:alice@192.168.1.20>;expires=100"]
    );
}

#[test]
fn q_values_order_the_list_and_bad_ones_are_400() {
    let request = register(
        "reg-1",
        1,
        &["Contact: <sip:a@192.0.2.1>;q=0.1, <sip:a@192.0.2.2>;q=0.9, <sip:a@192.0.2.3>;q=0.5"],
    );
    let outcome = process(&request, &[]).unwrap();
    assert_eq!(
        uris(&outcome.current),
        ["sip:a@192.0.2.2", "sip:a@192.0.2.3", "sip:a@192.0.2.1"]
    );
    for bad in ["1.5", "high", ""] {
        let request = register(
            "reg-1",
            1,
            &[&format!("Contact: <sip:a@192.0.2.1>;q={bad}")],
        );
        let rejection = process(&request, &[]).unwrap_err();
        assert_eq!(rejection, RegisterRejection::MalformedQ(bad.into()));
        assert_eq!(rejection.status_code(), 400);
    }
}

#[test]
fn malformed_requests_are_400() {
    let unterminated = register("reg-1", 1, &["Contact: <sip:alice@192.168.1.20"]);
    assert_eq!(
        process(&unterminated, &[]),
        Err(RegisterRejection::MalformedContact)
    );
    let text =
        "REGISTER sip:onestatus.example SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKa\r\n\
                To: <sip:alice@onestatus.example>\r\nFrom: <sip:alice@onestatus.example>;tag=1\r\n\
                CSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n";
    let no_call_id = rsip::Request::try_from(text).unwrap();
    assert_eq!(
        process(&no_call_id, &[]),
        Err(RegisterRejection::BadHeader("Call-ID"))
    );
}

#[test]
fn too_many_bindings_is_refused() {
    let config = RegistrarConfig {
        max_bindings: 2,
        ..RegistrarConfig::default()
    };
    let existing = [
        stored("sip:alice@192.0.2.1", "a", 1, 100),
        stored("sip:alice@192.0.2.2", "b", 1, 100),
    ];
    let third = register("c", 1, &["Contact: <sip:alice@192.0.2.3>"]);
    let rejection = process_at(t0(), &third, &existing, &config).unwrap_err();
    assert_eq!(rejection, RegisterRejection::TooManyBindings { max: 2 });
    // Refreshing one of the two is fine.
    let refresh = register("c", 1, &["Contact: <sip:alice@192.0.2.2>"]);
    assert!(process_at(t0(), &refresh, &existing, &config).is_ok());
}

#[test]
fn expired_helper_lists_lapsed_bindings() {
    let bindings = [
        stored("sip:alice@192.0.2.1", "a", 1, 0),
        stored("sip:alice@192.0.2.2", "b", 1, 1),
        stored("sip:alice@192.0.2.3", "c", 1, -10),
    ];
    let lapsed: Vec<&str> = expired(t0(), &bindings)
        .iter()
        .map(|binding| binding.contact_uri.as_str())
        .collect();
    assert_eq!(lapsed, ["sip:alice@192.0.2.1", "sip:alice@192.0.2.3"]);
}

#[test]
fn address_of_record_is_canonical() {
    let text =
        "REGISTER sip:onestatus.example SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKa\r\n\
                t: \"Bob\" <sip:Bob%41@Example.COM;transport=udp>;tag=x\r\n\
                From: <sip:bob@example.com>;tag=1\r\nCall-ID: 1\r\nCSeq: 1 REGISTER\r\n\
                Content-Length: 0\r\n\r\n";
    let request = rsip::Request::try_from(text).unwrap();
    assert_eq!(address_of_record(&request).unwrap(), "sip:BobA@example.com");
    assert_eq!(address_of_record(&register("x", 1, &[])).unwrap(), AOR);
    let tel = register("x", 1, &[]);
    let mut tel = tel;
    tel.headers
        .retain(|header| !matches!(header, Header::To(_)));
    tel.headers
        .push(Header::To(rsip::headers::To::new("<tel:+4512345678>")));
    assert_eq!(
        address_of_record(&tel),
        Err(RegisterRejection::NotSipAddressOfRecord)
    );
}

#[test]
fn path_is_stored_in_order_with_each_contact_and_cleared_by_a_refresh_without() {
    let edge = "<sip:192.0.2.10:5060;lr;received=sip:203.0.113.5:40112%3Btransport%3Dtcp>";
    let request = register(
        "p1",
        1,
        &[
            "Contact: <sip:alice@192.168.1.20:5060;transport=tcp>, <sip:alice@192.168.1.20:5062>",
            &format!("Path: {edge}"),
            "Path: <sip:192.0.2.20;lr>",
        ],
    );
    let outcome = process(&request, &[]).unwrap();
    assert_eq!(outcome.upsert.len(), 2);
    for binding in &outcome.upsert {
        assert_eq!(binding.path, [edge, "<sip:192.0.2.20;lr>"]);
    }
    // The phone now registers directly: the binding forgets the proxy.
    let refresh = register(
        "p1",
        2,
        &["Contact: <sip:alice@192.168.1.20:5060;transport=tcp>"],
    );
    let outcome = process(&refresh, &outcome.current).unwrap();
    assert_eq!(outcome.upsert.len(), 1);
    assert!(outcome.upsert[0].path.is_empty());
}
