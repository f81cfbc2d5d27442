//! "Press 9" carried by the B2BUA (issue #18), with SIPp as the caller and as the
//! receptionist's phone against the real binary: answered (the caller is bridged by a
//! re-INVITE in its own dialog, no REFER, RTP flows both ways through our relay), not
//! answered in time and refused (the caller is back in voicemail and leaves a message).
// Tests drive a real process over real sockets: wall-clock time is the point here.
#![allow(clippy::disallowed_methods)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::voicemail::*;
use crate::support::TestServer;

/// Karen Berg, the demo receptionist: the destination of "press 9" here.
const KAREN: (&str, &str) = ("4570100002", "1000002");

/// The server, Hans's mailbox with "press 9" to Karen, and Karen's phone registered at a
/// SIPp UAS running `scenario`; returns the server, Hans's user and the UAS thread.
fn setup(
    env: &[(&str, &str)],
    scenario: &'static str,
) -> (
    TestServer,
    onestatus::domain::model::User,
    std::thread::JoinHandle<Result<(), String>>,
) {
    let (min, max) = rtp_range();
    let (min, max) = (min.to_string(), max.to_string());
    let mut all = vec![
        ("ONESTATUS_SIP_T1_MS", "500"),
        ("ONESTATUS_TEST_NOW", TEST_NOW),
        ("ONESTATUS_RTP_PORT_MIN", min.as_str()),
        ("ONESTATUS_RTP_PORT_MAX", max.as_str()),
    ];
    all.extend_from_slice(env);
    let server = TestServer::start_with(&["serve", "--demo"], &all);
    let (one_number, local, email, _, secondary) = HANS;
    let _ = one_number;
    let phone = Phone::new();
    let hans = prepare_user(&server, local, email, secondary, phone.addr());
    let uas_port = free_sip_port();
    with_store(&server, async |store| {
        let mut settings = store.voicemail_settings(hans.id).await.unwrap();
        settings.receptionist_group_number = Some(KAREN.0.into());
        store
            .voicemail_settings_update(hans.id, &settings)
            .await
            .unwrap();
        let karen = store.user_by_local_number(KAREN.1).await.unwrap();
        register(
            store,
            &karen,
            format!("127.0.0.1:{uas_port}").parse().unwrap(),
            test_now(),
        )
        .await;
    });
    let uas = uas(scenario, server.sip_udp, uas_port);
    (server, hans, uas)
}

fn free_sip_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A SIPp UAS on `port` for one call, in a thread; given time to bind.
fn uas(
    scenario: &'static str,
    server: std::net::SocketAddr,
    port: u16,
) -> std::thread::JoinHandle<Result<(), String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let media = free_media_port().to_string();
    let handle = std::thread::spawn(move || {
        let output = Command::new("timeout")
            .arg("90")
            .arg("sipp")
            .arg("-sf")
            .arg(root.join("testdata/sipp").join(scenario))
            .arg(server.to_string())
            .current_dir(root)
            .args(["-i", "127.0.0.1", "-p", &port.to_string(), "-mp", &media])
            .args(["-m", "1", "-nostdin", "-timeout", "75s", "-timeout_error"])
            .stdin(Stdio::null())
            .output()
            .expect("sipp runs");
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "uas {scenario}: {:?}\n{}",
                output.status.code(),
                String::from_utf8_lossy(&output.stdout)
            ))
        }
    });
    std::thread::sleep(Duration::from_millis(400));
    handle
}

/// The first log line containing every needle, within `limit`.
fn log_with(server: &TestServer, needles: &[&str], limit: Duration) -> Option<String> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let left = deadline.saturating_duration_since(Instant::now());
        if let Some(line) = server.wait_log(needles[0], left) {
            if needles.iter().all(|n| line.contains(n)) {
                return Some(line);
            }
        }
    }
    None
}

fn field(line: &str, name: &str) -> u64 {
    line.split_whitespace()
        .find_map(|p| p.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {line}"))
}

#[test]
fn press_9_answered_bridges_the_caller_with_media_both_ways_and_no_refer() {
    let (server, hans, uas) = setup(&[], "uas_answer_talk.xml");
    // The scenario fails on any request but our re-INVITE (a REFER included).
    sipp("vm_press9_bridged.xml", server.sip_udp, &["-s", HANS.0]).unwrap();
    uas.join().unwrap().unwrap();
    assert!(server
        .wait_log("caller bridged to the destination", Duration::from_secs(5))
        .is_some());
    // The bridged call's relay carried RTP both ways.
    let closed = log_with(&server, &["media relay closed"], Duration::from_secs(10))
        .expect("the relay closed after the BYE");
    assert!(field(&closed, "caller_to_callee") > 50, "{closed}");
    assert!(field(&closed, "callee_to_caller") > 50, "{closed}");
    let messages = with_store(&server, async |store| {
        store.voicemails(hans.id).await.unwrap()
    });
    assert!(messages.is_empty(), "{messages:?}");
}

/// After a failed transfer the caller is in voicemail again: the message it leaves is stored.
fn back_to_voicemail(env: &[(&str, &str)], scenario: &'static str, listen_ms: &str, why: &str) {
    let (server, hans, uas) = setup(env, scenario);
    sipp(
        "vm_press9_back_to_voicemail.xml",
        server.sip_udp,
        &["-s", HANS.0, "-d", listen_ms],
    )
    .unwrap();
    uas.join().unwrap().unwrap();
    assert!(
        log_with(&server, &["transfer failed", why], Duration::from_secs(5)).is_some(),
        "no failed transfer ({why}) in the log"
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    let messages = loop {
        let messages = with_store(&server, async |store| {
            store.voicemails(hans.id).await.unwrap()
        });
        if !messages.is_empty() || Instant::now() > deadline {
            break messages;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(
        messages.len(),
        1,
        "the caller left a message after the transfer"
    );
    assert!(
        (8_000..=11_000).contains(&messages[0].duration_ms),
        "{:?}",
        messages[0]
    );
}

#[test]
fn press_9_not_answered_in_time_returns_the_caller_to_voicemail() {
    // Karen's phone rings and never answers; after 4 s we cancel it (the UAS expects the
    // CANCEL) and the caller hears "leave a message after the tone".
    back_to_voicemail(
        &[("ONESTATUS_CALLS_TRANSFER_TIMEOUT_SECS", "4")],
        "uas_ring_cancel.xml",
        "11000",
        "NoAnswer",
    );
}

#[test]
fn press_9_refused_returns_the_caller_to_voicemail() {
    // Karen's phone answers 486; her routing then offers her own voicemail, which a transfer
    // never takes (the caller came from Hans's): refused, and the caller is back with Hans's.
    back_to_voicemail(&[], "uas_busy.xml", "7000", "Refused(");
}

/// Sven Svensson: the target of the blind transfer.
const SVEN_NUMBERS: (&str, &str) = ("4570100003", "1000003");

/// A UAS scenario with extra SIPp arguments (`-set target …`).
fn uas_with(
    scenario: &'static str,
    server: std::net::SocketAddr,
    port: u16,
    extra: Vec<String>,
) -> std::thread::JoinHandle<Result<(), String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let media = free_media_port().to_string();
    let handle = std::thread::spawn(move || {
        let output = Command::new("timeout")
            .arg("90")
            .arg("sipp")
            .arg("-sf")
            .arg(root.join("testdata/sipp").join(scenario))
            .arg(server.to_string())
            .current_dir(root)
            .args(["-i", "127.0.0.1", "-p", &port.to_string(), "-mp", &media])
            .args(["-m", "1", "-nostdin", "-timeout", "75s", "-timeout_error"])
            .args(&extra)
            .stdin(Stdio::null())
            .output()
            .expect("sipp runs");
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "uas {scenario}: {:?}\n{}\n{}",
                output.status.code(),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    });
    std::thread::sleep(Duration::from_millis(400));
    handle
}

/// A caller talks to Karen; Karen's phone blind-transfers it to Sven by REFER. We accept
/// (202), NOTIFY Karen "100 Trying" then "200 OK" (the scenario checks the sipfrag bodies and
/// the terminated subscription), re-INVITE the caller onto Sven's call, BYE Karen; the caller
/// and Sven then talk through our relay and the caller hangs up.
#[test]
fn refer_from_a_phone_blind_transfers_the_caller_with_sipfrag_notifies() {
    let (min, max) = rtp_range();
    let (min, max) = (min.to_string(), max.to_string());
    let server = TestServer::start_with(
        &["serve", "--demo"],
        &[
            ("ONESTATUS_SIP_T1_MS", "500"),
            ("ONESTATUS_TEST_NOW", TEST_NOW),
            ("ONESTATUS_RTP_PORT_MIN", min.as_str()),
            ("ONESTATUS_RTP_PORT_MAX", max.as_str()),
        ],
    );
    let (karen_port, sven_port) = (free_sip_port(), free_sip_port());
    with_store(&server, async |store| {
        for (local, port) in [(KAREN.1, karen_port), (SVEN_NUMBERS.1, sven_port)] {
            let user = store.user_by_local_number(local).await.unwrap();
            let addr = format!("127.0.0.1:{port}").parse().unwrap();
            register(store, &user, addr, test_now()).await;
        }
    });
    let sven = uas("uas_answer_talk.xml", server.sip_udp, sven_port);
    let karen = uas_with(
        "uas_blind_transfer.xml",
        server.sip_udp,
        karen_port,
        vec!["-set".into(), "target".into(), SVEN_NUMBERS.0.into()],
    );
    sipp("uac_transferred.xml", server.sip_udp, &["-s", KAREN.0]).unwrap();
    karen.join().unwrap().unwrap();
    sven.join().unwrap().unwrap();
    assert!(server
        .wait_log("transferee bridged to the target", Duration::from_secs(5))
        .is_some());
    // The new call's relay (caller ↔ Sven) carried RTP both ways.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut both_ways = false;
    while !both_ways && Instant::now() < deadline {
        if let Some(line) = server.wait_log("media relay closed", Duration::from_millis(500)) {
            both_ways =
                field(&line, "caller_to_callee") > 50 && field(&line, "callee_to_caller") > 50;
        }
    }
    assert!(both_ways, "no relay carried RTP both ways");
}

/// The target refuses (Sven busy, then his own voicemail, which a transfer never takes): Karen
/// gets the failure in the final NOTIFY, the caller stays with her (no re-INVITE reaches it)
/// and gets the BYE when she hangs up.
#[test]
fn a_refer_whose_target_refuses_reports_the_failure_and_the_call_goes_on() {
    let (min, max) = rtp_range();
    let (min, max) = (min.to_string(), max.to_string());
    let server = TestServer::start_with(
        &["serve", "--demo"],
        &[
            ("ONESTATUS_SIP_T1_MS", "500"),
            ("ONESTATUS_TEST_NOW", TEST_NOW),
            ("ONESTATUS_RTP_PORT_MIN", min.as_str()),
            ("ONESTATUS_RTP_PORT_MAX", max.as_str()),
        ],
    );
    let (karen_port, sven_port) = (free_sip_port(), free_sip_port());
    with_store(&server, async |store| {
        for (local, port) in [(KAREN.1, karen_port), (SVEN_NUMBERS.1, sven_port)] {
            let user = store.user_by_local_number(local).await.unwrap();
            let addr = format!("127.0.0.1:{port}").parse().unwrap();
            register(store, &user, addr, test_now()).await;
        }
    });
    let sven = uas("uas_busy.xml", server.sip_udp, sven_port);
    let karen = uas_with(
        "uas_blind_transfer_fails.xml",
        server.sip_udp,
        karen_port,
        vec!["-set".into(), "target".into(), SVEN_NUMBERS.0.into()],
    );
    sipp(
        "uac_call_callee_hangs_up.xml",
        server.sip_udp,
        &["-s", KAREN.0],
    )
    .unwrap();
    karen.join().unwrap().unwrap();
    sven.join().unwrap().unwrap();
    assert!(log_with(
        &server,
        &["transfer failed; the call goes on"],
        Duration::from_secs(5)
    )
    .is_some());
}

/// The caller transfers: a caller talking to Karen sends REFER naming Sven; Karen's phone is
/// re-INVITEd onto Sven's call (as the transferee, from our UAC side of her dialog), the
/// caller gets the sipfrag NOTIFYs and our BYE, and Karen talks to Sven until she hangs up.
#[test]
fn refer_from_the_caller_transfers_the_callee() {
    let (min, max) = rtp_range();
    let (min, max) = (min.to_string(), max.to_string());
    let server = TestServer::start_with(
        &["serve", "--demo"],
        &[
            ("ONESTATUS_SIP_T1_MS", "500"),
            ("ONESTATUS_TEST_NOW", TEST_NOW),
            ("ONESTATUS_RTP_PORT_MIN", min.as_str()),
            ("ONESTATUS_RTP_PORT_MAX", max.as_str()),
        ],
    );
    let (karen_port, sven_port) = (free_sip_port(), free_sip_port());
    with_store(&server, async |store| {
        for (local, port) in [(KAREN.1, karen_port), (SVEN_NUMBERS.1, sven_port)] {
            let user = store.user_by_local_number(local).await.unwrap();
            let addr = format!("127.0.0.1:{port}").parse().unwrap();
            register(store, &user, addr, test_now()).await;
        }
    });
    let sven = uas("uas_answer_talk.xml", server.sip_udp, sven_port);
    let karen = uas("uas_transferred.xml", server.sip_udp, karen_port);
    sipp(
        "uac_blind_transfer.xml",
        server.sip_udp,
        &["-s", KAREN.0, "-set", "target", SVEN_NUMBERS.0],
    )
    .unwrap();
    karen.join().unwrap().unwrap();
    sven.join().unwrap().unwrap();
    assert!(server
        .wait_log("transferee bridged to the target", Duration::from_secs(5))
        .is_some());
}

/// `calls.transfer = "refer"` and a caller that refuses REFER: we bridge instead (no silence).
#[test]
fn press_9_with_a_refused_refer_is_carried_by_the_bridge() {
    let (server, hans, uas) = setup(
        &[("ONESTATUS_CALLS_TRANSFER", "refer")],
        "uas_answer_talk.xml",
    );
    sipp(
        "vm_press9_refer_refused.xml",
        server.sip_udp,
        &["-s", HANS.0],
    )
    .unwrap();
    uas.join().unwrap().unwrap();
    assert!(server
        .wait_log(
            "REFER not accepted: carrying the transfer ourselves",
            Duration::from_secs(5)
        )
        .is_some());
    assert!(server
        .wait_log("caller bridged to the destination", Duration::from_secs(5))
        .is_some());
    let messages = with_store(&server, async |store| {
        store.voicemails(hans.id).await.unwrap()
    });
    assert!(messages.is_empty(), "{messages:?}");
}
