//! Calls to a group number end to end (issue #17): a SIPp caller dials the demo receptionist
//! group 4570100000; SIPp UASes stand in for the members' registered desk phones (bindings
//! written through the store, as the registrar would). The group's members, strategy and
//! fallback are set through the store as the API and CLI would.
// Tests drive a real process: wall-clock time is the point here.
#![allow(clippy::disallowed_methods)]

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use chrono::{Duration as ChronoDuration, Utc};

use crate::support::{bind_device, free_udp_port, sipp, sipp_uas, TestServer};
use onestatus::domain::model::{AbsenceData, CallDirection, CallRecord, Destination};
use onestatus::domain::{Origin, Reason};
use onestatus::store::{demo, GroupFallback, GroupRinging, GroupStrategy, Store, UserId};

const GROUP: &str = demo::RECEPTIONIST_GROUP;
const HANS: &str = "1000001";
const KAREN: &str = "1000002";
const SVEN: &str = "1000003";

fn with_store<T>(server: &TestServer, f: impl AsyncFnOnce(&Store) -> T) -> T {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let url = format!(
            "sqlite://{}",
            server.data_dir.join("onestatus.db").display()
        );
        let store = Store::connect(&url).await.unwrap();
        let out = f(&store).await;
        store.close().await;
        out
    })
}

/// Sets the demo group's members (local numbers, in order) and how it rings.
fn configure(server: &TestServer, members: &[&str], ringing: GroupRinging) {
    let members: Vec<String> = members.iter().map(|m| (*m).to_owned()).collect();
    with_store(server, async move |store| {
        let group = store.group_by_number(GROUP).await.unwrap();
        let mut ids = Vec::new();
        for local in &members {
            ids.push(store.user_by_local_number(local).await.unwrap().id);
        }
        store.group_members_set(group.id, &ids).await.unwrap();
        store.group_ringing_set(group.id, &ringing).await.unwrap();
    });
}

fn register(server: &TestServer, local_number: &str, port: u16) {
    let local = local_number.to_owned();
    with_store(server, async move |store| {
        bind_device(store, &local, port).await
    });
}

fn user_id(server: &TestServer, local_number: &str) -> UserId {
    let local = local_number.to_owned();
    with_store(server, async move |store| {
        store.user_by_local_number(&local).await.unwrap().id
    })
}

/// The user's call history once it has at least `n` rows (written just after the call).
fn history(server: &TestServer, local_number: &str, n: usize) -> Vec<CallRecord> {
    let local = local_number.to_owned();
    with_store(server, async move |store| {
        let user = store.user_by_local_number(&local).await.unwrap();
        let mut rows = Vec::new();
        for _ in 0..100 {
            rows = store.call_history(user.id, None, 10).await.unwrap();
            if rows.len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        rows
    })
}

fn absent(server: &TestServer, local_number: &str) {
    let local = local_number.to_owned();
    with_store(server, async move |store| {
        let now = Utc::now();
        let user = store.user_by_local_number(&local).await.unwrap();
        store
            .absence_create(
                &AbsenceData {
                    user_id: user.id,
                    reason: Reason::Lunch,
                    starts_at: now - ChronoDuration::minutes(1),
                    ends_at: Some(now + ChronoDuration::minutes(30)),
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
    });
}

fn ringing(strategy: GroupStrategy, secs: u64) -> GroupRinging {
    GroupRinging {
        strategy,
        ring_timeout: Duration::from_secs(secs),
        fallback: GroupFallback::Voicemail,
        voicemail_user_id: None,
    }
}

fn call_group(server: &TestServer, scenario: &str) -> Result<(), String> {
    sipp(scenario, server.sip_udp, &["-s", GROUP, "-m", "1"])
}

#[test]
fn all_at_once_one_member_answers_and_the_other_is_cancelled() {
    let server = TestServer::start_demo();
    configure(&server, &[HANS, KAREN], ringing(GroupStrategy::All, 20));
    let (hans, karen) = (free_udp_port(), free_udp_port());
    register(&server, HANS, hans);
    register(&server, KAREN, karen);
    // Hans's phone rings and gets CANCEL; Karen's answers.
    let hans_uas = sipp_uas(&server, "uas_ring_cancel.xml", hans);
    let karen_uas = sipp_uas(&server, "uas_answer.xml", karen);
    call_group(&server, "uac_call.xml").unwrap();
    karen_uas.join().unwrap().unwrap();
    hans_uas.join().unwrap().unwrap();
    // Both members see the group call; Karen's row says she took it, Hans's who did.
    let karen_rows = history(&server, KAREN, 1);
    assert_eq!(karen_rows.len(), 1, "{karen_rows:?}");
    assert_eq!(karen_rows[0].data.direction, CallDirection::In);
    assert_eq!(
        karen_rows[0].data.route.as_deref(),
        Some("group:4570100000")
    );
    assert_eq!(karen_rows[0].data.other_number, "4512345678");
    assert!(karen_rows[0].data.answered_at.is_some());
    let hans_rows = history(&server, HANS, 1);
    assert_eq!(hans_rows.len(), 1, "{hans_rows:?}");
    assert_eq!(hans_rows[0].data.direction, CallDirection::Missed);
    assert_eq!(
        hans_rows[0].data.route.as_deref(),
        Some("group:4570100000;answered_by=4570100002")
    );
}

#[test]
fn in_order_the_first_member_does_not_answer_and_the_next_does() {
    let server = TestServer::start_demo();
    // Sven first, then Karen, five seconds each (routing's minimum ring time).
    configure(&server, &[SVEN, KAREN], ringing(GroupStrategy::InOrder, 5));
    let (sven, karen) = (free_udp_port(), free_udp_port());
    register(&server, SVEN, sven);
    register(&server, KAREN, karen);
    let sven_uas = sipp_uas(&server, "uas_ring_cancel.xml", sven);
    let karen_uas = sipp_uas(&server, "uas_answer.xml", karen);
    let started = Instant::now();
    call_group(&server, "uac_call.xml").unwrap();
    sven_uas.join().unwrap().unwrap();
    karen_uas.join().unwrap().unwrap();
    // Karen rang only after Sven's five seconds.
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(4), "{took:?}");
    let karen_rows = history(&server, KAREN, 1);
    assert_eq!(karen_rows[0].data.direction, CallDirection::In);
    let sven_rows = history(&server, SVEN, 1);
    assert_eq!(sven_rows[0].data.direction, CallDirection::Missed);
    assert_eq!(
        sven_rows[0].data.route.as_deref(),
        Some("group:4570100000;answered_by=4570100002")
    );
}

#[test]
fn nobody_answers_and_the_groups_mailbox_takes_the_call() {
    let server = TestServer::start_demo();
    let mut settings = ringing(GroupStrategy::All, 5);
    settings.voicemail_user_id = Some(user_id(&server, KAREN));
    configure(&server, &[HANS], settings);
    let hans = free_udp_port();
    register(&server, HANS, hans);
    let hans_uas = sipp_uas(&server, "uas_ring_cancel.xml", hans);
    // The deposit IVR answers the caller after Hans's phone rang out.
    call_group(&server, "uac_unavailable.xml").unwrap();
    hans_uas.join().unwrap().unwrap();
    let karen_id = user_id(&server, KAREN).0;
    let line = server
        .wait_log("voicemail hand-off", Duration::from_secs(10))
        .expect("hand-off logged");
    assert!(line.contains(&format!("user_id={karen_id}")), "{line}");
    let hans_rows = history(&server, HANS, 1);
    assert_eq!(hans_rows[0].data.direction, CallDirection::Missed);
    assert_eq!(
        hans_rows[0].data.route.as_deref(),
        Some("group:4570100000;voicemail")
    );
    let karen_rows = history(&server, KAREN, 1);
    assert_eq!(
        karen_rows[0].data.route.as_deref(),
        Some("group:4570100000;voicemail")
    );
}

#[test]
fn an_absent_member_is_skipped() {
    let server = TestServer::start_demo();
    // In order, Hans first: were he not skipped, Karen would ring only after his 20 s.
    configure(&server, &[HANS, KAREN], ringing(GroupStrategy::InOrder, 20));
    let hans_phone = UdpSocket::bind("127.0.0.1:0").unwrap();
    hans_phone
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    register(&server, HANS, hans_phone.local_addr().unwrap().port());
    absent(&server, HANS);
    let karen = free_udp_port();
    register(&server, KAREN, karen);
    let karen_uas = sipp_uas(&server, "uas_answer.xml", karen);
    let started = Instant::now();
    call_group(&server, "uac_call.xml").unwrap();
    karen_uas.join().unwrap().unwrap();
    assert!(started.elapsed() < Duration::from_secs(15));
    let mut buf = [0u8; 2048];
    assert!(
        hans_phone.recv_from(&mut buf).is_err(),
        "the absent member's phone got {:?}",
        String::from_utf8_lossy(&buf)
    );
    let hans_id = user_id(&server, HANS).0;
    let line = server
        .wait_log("group member not rung", Duration::from_secs(5))
        .expect("skip logged");
    assert!(line.contains(&format!("user_id={hans_id}")), "{line}");
    assert!(line.contains("Absent"), "{line}");
}

#[test]
fn an_absence_forwarded_to_the_group_rings_the_group() {
    let server = TestServer::start_demo();
    configure(&server, &[KAREN], ringing(GroupStrategy::All, 20));
    // Hans forwards to the group, written as people write it.
    let hans_id = user_id(&server, HANS);
    with_store(&server, async move |store| {
        let now = Utc::now();
        store
            .absence_create(
                &AbsenceData {
                    user_id: hans_id,
                    reason: Reason::Meeting,
                    starts_at: now - ChronoDuration::minutes(1),
                    ends_at: Some(now + ChronoDuration::minutes(30)),
                    destination: Destination::number(GROUP),
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
    let karen = free_udp_port();
    register(&server, KAREN, karen);
    let karen_uas = sipp_uas(&server, "uas_answer.xml", karen);
    sipp(
        "uac_call.xml",
        server.sip_udp,
        &["-s", "4570100001", "-m", "1"],
    )
    .unwrap();
    karen_uas.join().unwrap().unwrap();
    let karen_rows = history(&server, KAREN, 1);
    assert_eq!(karen_rows[0].data.direction, CallDirection::In);
    let hans_rows = history(&server, HANS, 1);
    assert_eq!(hans_rows[0].data.direction, CallDirection::Missed);
    assert_eq!(
        hans_rows[0].data.route.as_deref(),
        Some("forward:4570100000")
    );
}

#[test]
fn the_demo_receptionist_group_rings_the_receptionist() {
    // As `serve --demo` seeds it: no change to the group.
    let server = TestServer::start_demo();
    let karen_id = user_id(&server, KAREN);
    let demo = with_store(&server, async |store| {
        let group = store.group_by_number(GROUP).await.unwrap();
        store.group_ringing(group.id).await.unwrap()
    });
    assert_eq!(demo.voicemail_user_id, Some(karen_id));
    assert_eq!(demo.strategy, GroupStrategy::All);
    let karen = free_udp_port();
    register(&server, KAREN, karen);
    let karen_uas = sipp_uas(&server, "uas_answer.xml", karen);
    call_group(&server, "uac_call.xml").unwrap();
    karen_uas.join().unwrap().unwrap();
    let rows = history(&server, KAREN, 1);
    assert_eq!(rows[0].data.direction, CallDirection::In);
    assert_eq!(rows[0].data.route.as_deref(), Some("group:4570100000"));
}

#[test]
fn nobody_answers_and_the_groups_fallback_number_rings_next() {
    let server = TestServer::start_demo();
    let mut settings = ringing(GroupStrategy::All, 5);
    // Karen as the fallback number, after the members.
    settings.fallback = GroupFallback::Number {
        number: "4570100002".into(),
    };
    configure(&server, &[HANS], settings);
    let (hans, karen) = (free_udp_port(), free_udp_port());
    register(&server, HANS, hans);
    register(&server, KAREN, karen);
    let hans_uas = sipp_uas(&server, "uas_ring_cancel.xml", hans);
    let karen_uas = sipp_uas(&server, "uas_answer.xml", karen);
    let started = Instant::now();
    call_group(&server, "uac_call.xml").unwrap();
    hans_uas.join().unwrap().unwrap();
    karen_uas.join().unwrap().unwrap();
    assert!(started.elapsed() >= Duration::from_secs(4));
    let karen_rows = history(&server, KAREN, 1);
    assert_eq!(karen_rows[0].data.direction, CallDirection::In);
    assert_eq!(
        karen_rows[0].data.route.as_deref(),
        Some("group:4570100000")
    );
    let hans_rows = history(&server, HANS, 1);
    assert_eq!(
        hans_rows[0].data.route.as_deref(),
        Some("group:4570100000;answered_by=4570100002")
    );
}
