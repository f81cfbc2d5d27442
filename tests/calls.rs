//! Calls end to end through the real binary: a SIPp caller dials a OneNumber, a SIPp UAS
//! stands in for the callee's registered desk phone (its binding is written through the store
//! API, as the registrar would after a REGISTER), and the B2BUA in between routes and relays.
//!
//! The voicemail IVR is not wired in yet, so a hand-off is checked through its log line and
//! the 480 + Reason the caller gets meanwhile.
// Tests drive a real process: wall-clock time is the point here.
#![allow(clippy::disallowed_methods)]

mod common;

use std::net::UdpSocket;
use std::thread;
use std::time::Duration;

use chrono::{Duration as ChronoDuration, Utc};
use common::{sipp, TestServer};
use onestatus::domain::{Origin, Reason};
use onestatus::store::model::{AbsenceData, Binding, Destination};
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
    let client = common::SipClient::new(server.sip_udp);
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
