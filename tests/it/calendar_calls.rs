//! Issue 8's end-to-end promise: an Outlook feed imported for a user drives routing for a real
//! call. A call during a Busy entry reaches OneVoicemail with the entry's end as "back at"; a
//! call during a Free entry does not.

use crate::support;

use std::time::Duration;

use crate::support::{SipClient, TestServer};
use chrono::{DateTime, Utc};

const HANS_ONE_NUMBER: &str = "4570100001";

/// An Exchange-style feed with one entry around `now` (UTC times, as Exchange publishes them).
fn feed(now: DateTime<Utc>, busy: &str, subject: &str) -> String {
    let fmt = |t: DateTime<Utc>| t.format("%Y%m%dT%H%M%SZ").to_string();
    let start = now - chrono::Duration::minutes(10);
    let end = now + chrono::Duration::minutes(50);
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Microsoft Corporation//Outlook 16.0 MIMEDIR//EN\r\n\
         METHOD:PUBLISH\r\nBEGIN:VEVENT\r\nUID:040000008200E00074C5B7101A82E008-test\r\n\
         DTSTAMP:{stamp}\r\nDTSTART:{start}\r\nDTEND:{end}\r\nSUMMARY:{subject}\r\n\
         X-MICROSOFT-CDO-BUSYSTATUS:{busy}\r\nTRANSP:OPAQUE\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        stamp = fmt(now),
        start = fmt(start),
        end = fmt(end),
    )
}

fn invite(client: &SipClient, tag: &str) {
    let local = client.local();
    let srv = client.server;
    client.send(
        format!(
            "INVITE sip:{HANS_ONE_NUMBER}@{srv} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-cal-{tag}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:+4533221100@{local}>;tag={tag}\r\nTo: <sip:{HANS_ONE_NUMBER}@{srv}>\r\n\
             Call-ID: calendar-{tag}@test\r\nCSeq: 1 INVITE\r\nContact: <sip:caller@{local}>\r\n\
             Content-Length: 0\r\n\r\n"
        )
        .as_bytes(),
    );
}

fn import(server: &TestServer, ics: &str) {
    let file = server.data_dir.join("feed.ics");
    std::fs::write(&file, ics).unwrap();
    let output = support::command(&server.data_dir)
        .args(["calendar", "import", "--user", "1000001"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_call_during_a_busy_entry_reaches_voicemail_with_the_entry_end_as_back_at() {
    let server = TestServer::start_demo();
    // Whatever the hour, the entry's end is within Hans's working time.
    support::work_around_the_clock(&server, "1000001");
    let now = onestatus::clock::Clock::now(&onestatus::clock::SystemClock);
    let end = now + chrono::Duration::minutes(50);
    import(&server, &feed(now, "BUSY", "Styregruppemøde"));
    let client = SipClient::new(server.sip_udp);
    invite(&client, "busy1");
    let line = server
        .wait_log("voicemail hand-off", Duration::from_secs(10))
        .expect("the call is handed to voicemail");
    assert!(line.contains("reason=meeting"), "{line}");
    // back_at is the entry's end (to the second: the feed carries whole seconds).
    let expected = end.format("%Y-%m-%dT%H:%M:%S").to_string();
    assert!(
        line.contains(&format!("back_at={expected}")),
        "want {expected}: {line}"
    );
}

#[test]
fn a_call_during_a_free_entry_is_not_sent_to_voicemail_for_it() {
    let server = TestServer::start_demo();
    let now = onestatus::clock::Clock::now(&onestatus::clock::SystemClock);
    import(&server, &feed(now, "FREE", "Frokost med kunde"));
    let client = SipClient::new(server.sip_udp);
    invite(&client, "free1");
    // Hans has no phone registered, so the call still ends in voicemail — but as "not
    // available", never as an absence from the Free entry.
    let line = server
        .wait_log("voicemail hand-off", Duration::from_secs(10))
        .expect("hand-off logged");
    assert!(line.contains("reason=not available"), "{line}");
    assert!(!line.contains("reason=meeting"), "{line}");
}

/// A binding for the first device of the user with `local_number` at 127.0.0.1:`port`.
fn register(server: &TestServer, local_number: &str, port: u16) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let url = format!(
            "sqlite://{}",
            server.data_dir.join("onestatus.db").display()
        );
        let store = onestatus::store::Store::connect(&url).await.unwrap();
        support::bind_device(&store, local_number, port).await;
    });
}

/// The example of docs/calendar-codes.md: `[viderestil +45 70 10 00 02]` is Karen's OneNumber
/// 4570100002 written with `+`, country code and spaces. The call to Hans is forwarded to
/// Karen's desk phone (a SIPp UAS that checks the Diversion header and answers busy), not
/// treated as external.
#[test]
fn a_forward_code_written_with_plus_and_spaces_rings_karen() {
    for subject in [
        "Kundebesøg [viderestil +45 70 10 00 02]",
        "Messe [fwd 0045 7010 0002]",
    ] {
        let server = TestServer::start_demo();
        let port = support::free_udp_port();
        register(&server, "1000002", port);
        let now = onestatus::clock::Clock::now(&onestatus::clock::SystemClock);
        import(&server, &feed(now, "BUSY", subject));
        let karen = support::sipp_uas(&server, "uas_diverted_busy.xml", port);
        support::sipp(
            "uac_unavailable.xml",
            server.sip_udp,
            &["-s", HANS_ONE_NUMBER, "-m", "1"],
        )
        .unwrap();
        karen
            .join()
            .unwrap()
            .unwrap_or_else(|e| panic!("{subject}: {e}"));
        let line = server
            .wait_log("forward to a colleague", Duration::from_secs(5))
            .unwrap_or_else(|| panic!("{subject}: no forward to a colleague"));
        assert!(line.contains("to=4570100002"), "{subject}: {line}");
    }
}
