//! Calls end to end through the real binary: a SIPp caller dials a OneNumber, a SIPp UAS
//! stands in for the callee's registered desk phone (its binding is written through the store
//! API, as the registrar would after a REGISTER), and the B2BUA in between routes and relays.
//!
//! A hand-off to voicemail is checked through its log line (reason, back_at); the caller's
//! side of OneVoicemail (greeting, recording) is tested in tests/it/voicemail.rs.
// Tests drive a real process: wall-clock time is the point here.
#![allow(clippy::disallowed_methods)]

use crate::support;

use std::net::UdpSocket;
use std::thread;
use std::time::Duration;

use crate::support::{sipp, TestServer};
use chrono::{Duration as ChronoDuration, Utc};
use onestatus::domain::model::{AbsenceData, Binding, CallDirection, CallRecord, Destination};
use onestatus::domain::{Origin, Reason};
use onestatus::store::Store;

const HANS_ONE_NUMBER: &str = "4570100001";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn store(server: &TestServer) -> (tokio::runtime::Runtime, Store) {
    let rt = runtime();
    let url = format!(
        "sqlite://{}",
        server.data_dir.join("onestatus.db").display()
    );
    let store = rt.block_on(Store::connect(&url)).unwrap();
    (rt, store)
}

/// A UDP port free right now, for a SIPp UAS to bind.
fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Registers a device binding for the user with this local number at 127.0.0.1:`port`.
fn register(server: &TestServer, local_number: &str, port: u16) {
    let (rt, store) = store(server);
    rt.block_on(async {
        let now = Utc::now();
        let user = store.user_by_local_number(local_number).await.unwrap();
        let device = store.devices(user.id).await.unwrap().remove(0);
        store
            .registration_upsert(
                &Binding {
                    user_id: user.id,
                    device_id: Some(device.id),
                    contact_uri: format!("sip:{local_number}@127.0.0.1:{port}"),
                    expires_at: now + ChronoDuration::hours(1),
                    call_id: format!("test-{port}"),
                    cseq: 1,
                    q_millis: 1000,
                    received_addr: format!("127.0.0.1:{port}"),
                    transport: "udp".into(),
                    instance_id: None,
                    reg_id: None,
                    path: Vec::new(),
                    node_id: None,
                },
                now,
            )
            .await
            .unwrap();
    });
}

/// Runs a SIPp UAS scenario on `port` in a thread; join for its result.
fn device(
    server: &TestServer,
    scenario: &'static str,
    port: u16,
) -> thread::JoinHandle<Result<(), String>> {
    let target = server.sip_udp;
    let port = port.to_string();
    let handle = thread::spawn(move || sipp(scenario, target, &["-p", &port, "-m", "1"]));
    // Let SIPp bind before the call arrives.
    thread::sleep(Duration::from_millis(400));
    handle
}

fn caller(server: &TestServer, scenario: &str, number: &str) -> Result<(), String> {
    sipp(scenario, server.sip_udp, &["-s", number, "-m", "1"])
}

#[test]
fn basic_call_invite_180_200_ack_bye_end_to_end() {
    let server = TestServer::start_demo();
    let port = free_port();
    register(&server, "1000001", port);
    let uas = device(&server, "uas_answer.xml", port);
    caller(&server, "uac_call.xml", HANS_ONE_NUMBER).unwrap();
    uas.join().unwrap().unwrap();
    assert!(server
        .wait_log("call over", Duration::from_secs(5))
        .is_some());
    // The callee's history has the answered incoming call (written just after the BYE).
    let (rt, store) = store(&server);
    let rows = rt.block_on(async {
        let user = store.user_by_one_number(HANS_ONE_NUMBER).await.unwrap();
        for _ in 0..30 {
            let rows = store.call_history(user.id, None, 10).await.unwrap();
            if !rows.is_empty() {
                return rows;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Vec::new()
    });
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].data.other_number, "4512345678");
    assert!(rows[0].data.answered_at.is_some());
}

#[test]
fn callee_busy_hands_off_to_voicemail_on_the_phone() {
    let server = TestServer::start_demo();
    let port = free_port();
    register(&server, "1000001", port);
    let uas = device(&server, "uas_busy.xml", port);
    caller(&server, "uac_unavailable.xml", HANS_ONE_NUMBER).unwrap();
    uas.join().unwrap().unwrap();
    let line = server
        .wait_log("voicemail hand-off", Duration::from_secs(5))
        .expect("hand-off logged");
    assert!(line.contains("reason=on the phone"), "{line}");
}

#[test]
fn no_answer_hands_off_after_the_timeout_and_cancels_the_device() {
    let server = TestServer::start_demo();
    let port = free_port();
    register(&server, "1000001", port);
    {
        let (rt, store) = store(&server);
        rt.block_on(async {
            let mut user = store.user_by_local_number("1000001").await.unwrap();
            // Routing clamps to its minimum ring time (5 s), which keeps this test short.
            user.profile.no_answer_timeout_secs = 2;
            store
                .user_update_profile(user.id, &user.profile)
                .await
                .unwrap();
        });
    }
    let uas = device(&server, "uas_ring_cancel.xml", port);
    let started = std::time::Instant::now();
    caller(&server, "uac_unavailable.xml", HANS_ONE_NUMBER).unwrap();
    let rang = started.elapsed();
    uas.join().unwrap().unwrap();
    assert!(
        rang >= Duration::from_secs(4) && rang < Duration::from_secs(15),
        "{rang:?}"
    );
    let line = server
        .wait_log("voicemail hand-off", Duration::from_secs(5))
        .expect("hand-off logged");
    assert!(line.contains("reason=not available"), "{line}");
}

#[test]
fn caller_cancel_while_ringing_gets_487_and_the_device_sees_cancel() {
    let server = TestServer::start_demo();
    let port = free_port();
    register(&server, "1000001", port);
    let uas = device(&server, "uas_ring_cancel.xml", port);
    caller(&server, "uac_cancel.xml", HANS_ONE_NUMBER).unwrap();
    uas.join().unwrap().unwrap();
}

#[test]
fn absence_in_force_hands_off_with_reason_and_back_at() {
    let server = TestServer::start_demo();
    // Whatever the hour, the absence's end is within Hans's working time.
    support::work_around_the_clock(&server, "1000001");
    let back = {
        let (rt, store) = store(&server);
        rt.block_on(async {
            let now = Utc::now();
            let user = store.user_by_local_number("1000001").await.unwrap();
            let ends = now + ChronoDuration::minutes(45);
            store
                .absence_create(
                    &AbsenceData {
                        user_id: user.id,
                        reason: Reason::Meeting,
                        starts_at: now - ChronoDuration::minutes(5),
                        ends_at: Some(ends),
                        destination: Destination::voicemail(),
                        free_text: None,
                        receptionist_note: None,
                        origin: Origin::Web,
                        calendar_entry_id: None,
                        created_by: None,
                    },
                    now,
                )
                .await
                .unwrap();
            ends
        })
    };
    caller(&server, "uac_unavailable.xml", HANS_ONE_NUMBER).unwrap();
    let line = server
        .wait_log("voicemail hand-off", Duration::from_secs(5))
        .expect("hand-off logged");
    assert!(line.contains("reason=meeting"), "{line}");
    // Stored at millisecond precision; compare to the minute.
    let minute = back.format("%Y-%m-%dT%H:%M").to_string();
    assert!(line.contains(&format!("back_at={minute}")), "{line}");
}

#[test]
fn forward_to_a_colleague_rings_their_device_with_diversion() {
    let server = TestServer::start_demo();
    let port = free_port();
    // Karen (1000002) has the device; Hans forwards to Karen's OneNumber.
    register(&server, "1000002", port);
    {
        let (rt, store) = store(&server);
        rt.block_on(async {
            let now = Utc::now();
            let user = store.user_by_local_number("1000001").await.unwrap();
            store
                .absence_create(
                    &AbsenceData {
                        user_id: user.id,
                        reason: Reason::Lunch,
                        starts_at: now - ChronoDuration::minutes(1),
                        ends_at: Some(now + ChronoDuration::minutes(30)),
                        destination: Destination::number("4570100002"),
                        free_text: None,
                        receptionist_note: None,
                        origin: Origin::Web,
                        calendar_entry_id: None,
                        created_by: None,
                    },
                    now,
                )
                .await
                .unwrap();
        });
    }
    let uas = device(&server, "uas_diverted_busy.xml", port);
    caller(&server, "uac_unavailable.xml", HANS_ONE_NUMBER).unwrap();
    uas.join().unwrap().unwrap();
    let line = server
        .wait_log("voicemail hand-off", Duration::from_secs(5))
        .expect("hand-off logged");
    assert!(line.contains("reason=on the phone"), "{line}");
}

#[test]
fn invite_from_a_users_own_device_is_challenged_with_407() {
    let server = TestServer::start_demo();
    let client = support::SipClient::new(server.sip_udp);
    let local = client.local();
    let srv = server.sip_udp;
    client.send(
        format!(
            "INVITE sip:{HANS_ONE_NUMBER}@{srv} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-own-1\r\n\
             Max-Forwards: 70\r\nFrom: <sip:1000002@{srv}>;tag=own1\r\nTo: <sip:{HANS_ONE_NUMBER}@{srv}>\r\n\
             Call-ID: own-device-1@test\r\nCSeq: 1 INVITE\r\nContact: <sip:1000002@{local}>\r\n\
             Content-Length: 0\r\n\r\n"
        )
        .as_bytes(),
    );
    let answers = client.collect(Duration::from_secs(2));
    let challenge = answers
        .iter()
        .find(|a| a.starts_with("SIP/2.0 407"))
        .unwrap_or_else(|| panic!("no 407 in {answers:?}"));
    assert!(
        challenge.contains("Proxy-Authenticate: Digest"),
        "{challenge}"
    );
}

// ---- helpers for the scenarios below --------------------------------------------------------

/// The user's call history once it has at least `n` rows (rows are written just after the
/// call ends, by a spawned task).
fn history(server: &TestServer, local_number: &str, n: usize) -> Vec<CallRecord> {
    let (rt, store) = store(server);
    rt.block_on(async {
        let user = store.user_by_local_number(local_number).await.unwrap();
        let mut rows = Vec::new();
        for _ in 0..50 {
            rows = store.call_history(user.id, None, 10).await.unwrap();
            if rows.len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        rows
    })
}

fn user_id(server: &TestServer, local_number: &str) -> i64 {
    let (rt, store) = store(server);
    rt.block_on(async { store.user_by_local_number(local_number).await.unwrap().id.0 })
}

fn set_mobile(server: &TestServer, local_number: &str, mobile: &str) {
    let (rt, store) = store(server);
    rt.block_on(async {
        let mut user = store.user_by_local_number(local_number).await.unwrap();
        user.profile.mobile_number = Some(mobile.to_owned());
        store
            .user_update_profile(user.id, &user.profile)
            .await
            .unwrap();
    });
}

/// An absence in force now for the next half hour.
fn absent(server: &TestServer, local_number: &str, reason: Reason, destination: Destination) {
    let (rt, store) = store(server);
    rt.block_on(async {
        let now = Utc::now();
        let user = store.user_by_local_number(local_number).await.unwrap();
        store
            .absence_create(
                &AbsenceData {
                    user_id: user.id,
                    reason,
                    starts_at: now - ChronoDuration::minutes(1),
                    ends_at: Some(now + ChronoDuration::minutes(30)),
                    destination,
                    free_text: None,
                    receptionist_note: None,
                    origin: Origin::Web,
                    calendar_entry_id: None,
                    created_by: None,
                },
                now,
            )
            .await
            .unwrap();
    });
}

// ---- mid-call and the remaining issue-4 scenarios -------------------------------------------

#[test]
fn hold_and_resume_reinvites_cross_both_legs() {
    let server = TestServer::start_demo();
    let port = free_port();
    register(&server, "1000001", port);
    let uas = device(&server, "uas_reinvite_hold.xml", port);
    caller(&server, "uac_reinvite_hold.xml", HANS_ONE_NUMBER).unwrap();
    uas.join().unwrap().unwrap();
    assert!(server
        .wait_log("call over", Duration::from_secs(5))
        .is_some());
}

#[test]
fn bye_from_the_callee_ends_the_callers_leg() {
    let server = TestServer::start_demo();
    let port = free_port();
    register(&server, "1000001", port);
    let uas = device(&server, "uas_answer_then_bye.xml", port);
    caller(&server, "uac_call_callee_hangs_up.xml", HANS_ONE_NUMBER).unwrap();
    uas.join().unwrap().unwrap();
    let rows = history(&server, "1000001", 1);
    assert_eq!(rows[0].data.direction, CallDirection::In);
    assert!(rows[0].data.ended_at.is_some());
}

#[test]
fn answered_on_the_mobile_via_the_trunk_cancels_the_desk() {
    let trunk_port = free_port();
    let trunk = format!("sip:127.0.0.1:{trunk_port}");
    let server = TestServer::start_with(
        &["serve", "--demo"],
        &[("ONESTATUS_SIP_TRUNK", trunk.as_str())],
    );
    let desk = free_port();
    register(&server, "1000001", desk);
    set_mobile(&server, "1000001", "+4520000001");
    let desk_uas = device(&server, "uas_ring_cancel.xml", desk);
    let mobile = device(&server, "uas_answer.xml", trunk_port);
    caller(&server, "uac_call.xml", HANS_ONE_NUMBER).unwrap();
    mobile.join().unwrap().unwrap();
    desk_uas.join().unwrap().unwrap();
}

#[test]
fn two_devices_ring_one_answers_the_other_is_cancelled() {
    let server = TestServer::start_demo();
    let (a, b) = (free_port(), free_port());
    register(&server, "1000001", a);
    register(&server, "1000001", b);
    let answering = device(&server, "uas_answer.xml", a);
    let ringing = device(&server, "uas_ring_cancel.xml", b);
    caller(&server, "uac_call.xml", HANS_ONE_NUMBER).unwrap();
    answering.join().unwrap().unwrap();
    ringing.join().unwrap().unwrap();
}

#[test]
fn keep_phone_open_absence_still_rings_the_desk() {
    let server = TestServer::start_demo();
    let port = free_port();
    register(&server, "1000001", port);
    absent(&server, "1000001", Reason::Meeting, Destination::open());
    let uas = device(&server, "uas_answer.xml", port);
    caller(&server, "uac_call.xml", HANS_ONE_NUMBER).unwrap();
    uas.join().unwrap().unwrap();
}

#[test]
fn session_expires_below_90_s_gets_422_with_min_se() {
    let server = TestServer::start_demo();
    let client = support::SipClient::new(server.sip_udp);
    let local = client.local();
    let srv = server.sip_udp;
    client.send(
        format!(
            "INVITE sip:{HANS_ONE_NUMBER}@{srv} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-se-1\r\n\
             Max-Forwards: 70\r\nFrom: <sip:4512345678@{local}>;tag=se1\r\nTo: <sip:{HANS_ONE_NUMBER}@{srv}>\r\n\
             Call-ID: session-expires-1@test\r\nCSeq: 1 INVITE\r\nContact: <sip:4512345678@{local}>\r\n\
             Supported: timer\r\nSession-Expires: 60\r\nContent-Length: 0\r\n\r\n"
        )
        .as_bytes(),
    );
    let answers = client.collect(Duration::from_secs(2));
    let too_small = answers
        .iter()
        .find(|a| a.starts_with("SIP/2.0 422"))
        .unwrap_or_else(|| panic!("no 422 in {answers:?}"));
    assert!(too_small.contains("Min-SE: 90"), "{too_small}");
}

#[test]
fn forwarded_and_answered_call_is_in_both_users_history() {
    let server = TestServer::start_demo();
    let port = free_port();
    register(&server, "1000002", port);
    absent(
        &server,
        "1000001",
        Reason::Lunch,
        Destination::number("4570100002"),
    );
    let uas = device(&server, "uas_answer.xml", port);
    caller(&server, "uac_call.xml", HANS_ONE_NUMBER).unwrap();
    uas.join().unwrap().unwrap();
    let karen = history(&server, "1000002", 1);
    assert_eq!(karen[0].data.direction, CallDirection::In, "{karen:?}");
    let hans = history(&server, "1000001", 1);
    assert_eq!(hans.len(), 1, "{hans:?}");
    assert_eq!(hans[0].data.direction, CallDirection::Missed);
    assert_eq!(hans[0].data.route.as_deref(), Some("forward:4570100002"));
    assert_eq!(hans[0].data.other_number, "4512345678");
}

/// Logs in over the real HTTP API and returns the bearer token.
fn login(server: &TestServer, local_number: &str) -> String {
    use std::io::{Read, Write};
    let body = format!(r#"{{"local_number":"{local_number}","pin":"2580"}}"#);
    let mut stream = std::net::TcpStream::connect(server.http).unwrap();
    write!(
        stream,
        "POST /api/v1/login HTTP/1.0\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    let json = reply.split("\r\n\r\n").nth(1).unwrap_or_default();
    let value: serde_json::Value = serde_json::from_str(json).unwrap_or_else(|_| panic!("{reply}"));
    value["token"].as_str().unwrap().to_owned()
}

#[test]
fn presence_goes_ringing_talking_ended_within_the_second() {
    use std::io::{BufRead, BufReader, Write};
    let server = TestServer::start_demo();
    let port = free_port();
    register(&server, "1000001", port);
    let hans = user_id(&server, "1000001");
    // Karen watches the live status stream (GET /api/v1/events, Server-Sent Events).
    let token = login(&server, "1000002");
    let mut stream = std::net::TcpStream::connect(server.http).unwrap();
    write!(
        stream,
        "GET /api/v1/events HTTP/1.0\r\nHost: test\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if let Some(data) = line.strip_prefix("data:") {
                if tx
                    .send((std::time::Instant::now(), data.trim().to_owned()))
                    .is_err()
                {
                    break;
                }
            }
        }
    });
    // The stream is up once its `ready` event arrives.
    rx.recv_timeout(Duration::from_secs(5))
        .expect("ready event");
    let uas = device(&server, "uas_answer.xml", port);
    let started = std::time::Instant::now();
    caller(&server, "uac_call.xml", HANS_ONE_NUMBER).unwrap();
    let hung_up = std::time::Instant::now();
    uas.join().unwrap().unwrap();
    let mut seen = Vec::new();
    while let Ok((at, data)) = rx.recv_timeout(Duration::from_secs(2)) {
        let v: serde_json::Value = serde_json::from_str(&data).unwrap();
        if v["user_id"] == hans {
            seen.push((at, v));
        }
        if seen.len() == 3 {
            break;
        }
    }
    let kinds: Vec<(String, i64)> = seen
        .iter()
        .map(|(_, v)| {
            (
                v["type"].as_str().unwrap_or("").to_owned(),
                v["active"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("ringing".to_owned(), -1),
            ("calls".to_owned(), 1),
            ("calls".to_owned(), 0)
        ]
    );
    // Ringing within a second of the INVITE; ended within a second of the BYE.
    assert!(seen[0].0.duration_since(started) < Duration::from_secs(1));
    assert!(seen[2].0.saturating_duration_since(hung_up) < Duration::from_secs(1));
}

// ---- a call between two of our users: both histories, both presences -----------------------

fn text_header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    message.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn status_of(message: &str) -> Option<u16> {
    message.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()
}

fn digest_param<'a>(challenge: &'a str, name: &str) -> Option<&'a str> {
    challenge.split(',').find_map(|p| {
        let (k, v) = p.trim().trim_start_matches("Digest ").split_once('=')?;
        (k.trim() == name).then(|| v.trim().trim_matches('"'))
    })
}

/// The next message on `client` that `wanted` accepts, within `limit`.
fn next_message(
    client: &support::SipClient,
    limit: Duration,
    wanted: impl Fn(&str) -> bool,
) -> String {
    let deadline = std::time::Instant::now() + limit;
    let mut seen = Vec::new();
    while std::time::Instant::now() < deadline {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if let Some(m) = client.recv_within(left) {
            if wanted(&m) {
                return m;
            }
            seen.push(m);
        }
    }
    panic!("expected message not seen; got {seen:#?}");
}

/// Karen's desk phone (a raw SIP client: SIPp 3.6 cannot answer the 407 with the digest
/// username of an injection file) calls Hans's OneNumber: INVITE, 407, ACK, INVITE with
/// SHA-256 Proxy-Authorization (RFC 8760), 200, ACK; then, after `talk`, BYE. Returns when
/// the call was answered and when the BYE was sent.
fn karen_calls_hans(
    server: &TestServer,
    talk: Duration,
) -> (std::time::Instant, std::time::Instant) {
    use sha2::{Digest, Sha256};
    let sha = |s: &str| hex::encode(Sha256::digest(s.as_bytes()));
    let phone = support::SipClient::new(server.sip_udp);
    let local = phone.local();
    let srv = server.sip_udp;
    let uri = format!("sip:{HANS_ONE_NUMBER}@{srv}");
    let call_id = format!("karen-{}@test", support::rand_token());
    let sdp = format!(
        "v=0\r\no=karen 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n",
        local.port() + 1
    );
    let invite = |cseq: u32, branch: &str, auth: &str| {
        format!(
            "INVITE {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch}\r\nMax-Forwards: 70\r\n\
             From: \"Karen\" <sip:1000002@{srv}>;tag=karen1\r\nTo: <{uri}>\r\nCall-ID: {call_id}\r\n\
             CSeq: {cseq} INVITE\r\nContact: <sip:1000002@{local}>\r\n{auth}\
             Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        )
    };
    phone.send(invite(1, "z9hG4bK-karen-1", "").as_bytes());
    let challenge = next_message(&phone, Duration::from_secs(5), |m| {
        status_of(m) == Some(407)
    });
    // §17.1.1.3: the 407 is ACKed in its transaction (same branch).
    phone.send(
        format!(
            "ACK {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-karen-1\r\nMax-Forwards: 70\r\n\
             From: \"Karen\" <sip:1000002@{srv}>;tag=karen1\r\nTo: {}\r\nCall-ID: {call_id}\r\n\
             CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
            text_header(&challenge, "To").unwrap()
        )
        .as_bytes(),
    );
    let offer = challenge
        .lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(n, _)| n.trim().eq_ignore_ascii_case("Proxy-Authenticate"))
        .map(|(_, v)| v.trim())
        .find(|v| v.contains("algorithm=SHA-256"))
        .expect("SHA-256 offered");
    let nonce = digest_param(offer, "nonce").unwrap();
    let opaque = digest_param(offer, "opaque").unwrap();
    let ha1 = sha("1000002:onestatus:demo1000002");
    let ha2 = sha(&format!("INVITE:{uri}"));
    let response = sha(&format!("{ha1}:{nonce}:00000001:c0ffee:auth:{ha2}"));
    let auth = format!(
        "Proxy-Authorization: Digest username=\"1000002\", realm=\"onestatus\", nonce=\"{nonce}\", \
         uri=\"{uri}\", response=\"{response}\", algorithm=SHA-256, cnonce=\"c0ffee\", nc=00000001, \
         qop=auth, opaque=\"{opaque}\"\r\n"
    );
    phone.send(invite(2, "z9hG4bK-karen-2", &auth).as_bytes());
    let ok = next_message(&phone, Duration::from_secs(10), |m| {
        status_of(m).is_some_and(|s| s >= 200)
    });
    assert_eq!(status_of(&ok), Some(200), "{ok}");
    let answered = std::time::Instant::now();
    let to = text_header(&ok, "To").unwrap().to_owned();
    let contact = text_header(&ok, "Contact").unwrap();
    let target = contact
        .trim_start_matches('<')
        .split('>')
        .next()
        .unwrap()
        .to_owned();
    let in_dialog = |method: &str, cseq: u32| {
        format!(
            "{method} {target} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-karen-{method}{cseq}\r\n\
             Max-Forwards: 70\r\nFrom: \"Karen\" <sip:1000002@{srv}>;tag=karen1\r\nTo: {to}\r\n\
             Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n"
        )
    };
    phone.send(in_dialog("ACK", 2).as_bytes());
    thread::sleep(talk);
    phone.send(in_dialog("BYE", 3).as_bytes());
    let hung_up = std::time::Instant::now();
    next_message(&phone, Duration::from_secs(5), |m| {
        status_of(m) == Some(200) && text_header(m, "CSeq").is_some_and(|c| c.ends_with("BYE"))
    });
    (answered, hung_up)
}

#[test]
fn a_call_between_two_users_is_in_both_histories_and_both_presences_at_once() {
    use std::io::{BufRead, BufReader, Write};
    let server = TestServer::start_demo();
    let port = free_port();
    register(&server, "1000001", port);
    let (hans, karen) = (user_id(&server, "1000001"), user_id(&server, "1000002"));
    // Hans watches the live status stream.
    let token = login(&server, "1000001");
    let mut stream = std::net::TcpStream::connect(server.http).unwrap();
    write!(
        stream,
        "GET /api/v1/events HTTP/1.0\r\nHost: test\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if let Some(data) = line.strip_prefix("data:") {
                if tx
                    .send((std::time::Instant::now(), data.trim().to_owned()))
                    .is_err()
                {
                    break;
                }
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(5))
        .expect("ready event");

    // Hans's desk (SIPp) answers and takes the BYE.
    let uas = device(&server, "uas_answer.xml", port);
    let started = std::time::Instant::now();
    let (answered, hung_up) = karen_calls_hans(&server, Duration::from_millis(1500));
    uas.join().unwrap().unwrap();

    // Presence: Hans rings then talks, Karen talks (callers do not ring), both end; each
    // change within a second of the signalling that caused it.
    let mut events: Vec<(std::time::Instant, i64, String, i64)> = Vec::new();
    while let Ok((at, data)) = rx.recv_timeout(Duration::from_secs(2)) {
        let v: serde_json::Value = serde_json::from_str(&data).unwrap();
        let user = v["user_id"].as_i64().unwrap_or(-1);
        if user == hans || user == karen {
            events.push((
                at,
                user,
                v["type"].as_str().unwrap_or("").to_owned(),
                v["active"].as_i64().unwrap_or(-1),
            ));
        }
        if events.len() == 5 {
            break;
        }
    }
    let of = |user: i64| -> Vec<(String, i64)> {
        events
            .iter()
            .filter(|e| e.1 == user)
            .map(|e| (e.2.clone(), e.3))
            .collect()
    };
    assert_eq!(
        of(hans),
        vec![
            ("ringing".to_owned(), -1),
            ("calls".to_owned(), 1),
            ("calls".to_owned(), 0)
        ],
        "{events:?}"
    );
    assert_eq!(
        of(karen),
        vec![("calls".to_owned(), 1), ("calls".to_owned(), 0)],
        "{events:?}"
    );
    let second = Duration::from_secs(1);
    for (at, _, kind, active) in &events {
        let cause = match (kind.as_str(), active) {
            ("ringing", _) => started,
            ("calls", 1) => answered,
            _ => hung_up,
        };
        let gap = if *at > cause {
            at.duration_since(cause)
        } else {
            cause.duration_since(*at)
        };
        assert!(gap < second, "{kind} {active} {gap:?} from its cause");
    }

    // History: outgoing for Karen (to Hans's OneNumber), incoming for Hans (from Karen's
    // local number), both answered and ended.
    let hans_rows = history(&server, "1000001", 1);
    let karen_rows = history(&server, "1000002", 1);
    assert_eq!(hans_rows.len(), 1, "{hans_rows:?}");
    assert_eq!(karen_rows.len(), 1, "{karen_rows:?}");
    assert_eq!(hans_rows[0].data.direction, CallDirection::In);
    assert_eq!(hans_rows[0].data.other_number, "1000002");
    assert_eq!(karen_rows[0].data.direction, CallDirection::Out);
    assert_eq!(karen_rows[0].data.other_number, HANS_ONE_NUMBER);
    for row in [&hans_rows[0], &karen_rows[0]] {
        assert!(row.data.answered_at.is_some(), "{row:?}");
        let talked = row.data.ended_at.unwrap() - row.data.answered_at.unwrap();
        assert!(
            talked >= ChronoDuration::milliseconds(1200) && talked < ChronoDuration::seconds(4),
            "{row:?}"
        );
    }
}
