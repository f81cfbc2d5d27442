//! Message-waiting lamps (issue #18, RFC 3842 / RFC 6665) against the real binary: a raw-UDP
//! desk phone ([`LampPhone`]) registers with digest, subscribes to `message-summary`, and
//! keeps its lamp from the NOTIFYs it gets. Every way a mailbox changes flips it: a new
//! REGISTER, the subscription itself, the web API's read, save and delete; the subscription
//! refreshes, ends on `Expires: 0` and expires on its own. A phone that did not subscribe gets
//! unsolicited NOTIFYs that do not claim an active subscription. (A deposit and retrieval by
//! phone are asserted in `voicemail` and `vm_retrieve_sipp`: they publish the same way.)
// Tests drive a real process over real sockets: wall-clock deadlines are the point here.
#![allow(clippy::disallowed_methods)]

use std::time::Duration;

use onestatus::store::{NewVoicemail, Store, UserId};
use serde_json::json;

use crate::support::lamp_phone::{header, to_tag, LampPhone};
use crate::support::{http_json, TestServer};

const WAIT: Duration = Duration::from_secs(10);

fn with_store<T>(server: &TestServer, f: impl AsyncFnOnce(&Store) -> T) -> T {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = format!(
        "sqlite://{}",
        server.data_dir.join("onestatus.db").display()
    );
    rt.block_on(async {
        let store = Store::connect(&url).await.unwrap();
        let out = f(&store).await;
        store.close().await;
        out
    })
}

/// Leaves `n` messages in `local`'s mailbox straight in the store (no NOTIFY: the test then
/// sees the state only through REGISTER or SUBSCRIBE). Returns the owner and message ids.
fn seed_messages(server: &TestServer, local: &str, n: usize) -> (UserId, Vec<i64>) {
    with_store(server, async |store| {
        let user = store.user_by_local_number(local).await.unwrap().id;
        let mut ids = Vec::new();
        for k in 0..n {
            let m = store
                .voicemail_insert(&NewVoicemail {
                    user_id: user,
                    caller_number: Some(format!("4512345{k:03}")),
                    caller_name: None,
                    received_at: chrono::Utc::now(),
                    duration_ms: 3000,
                    audio: vec![0; 44],
                })
                .await
                .unwrap();
            ids.push(m.id.0);
        }
        (user, ids)
    })
}

fn login(server: &TestServer, local: &str) -> String {
    let (status, body) = http_json(
        server.http,
        "POST",
        "/api/v1/login",
        None,
        Some(json!({"local_number": local, "pin": "2580"})),
    );
    assert_eq!(status, 200, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

#[test]
fn every_mailbox_change_flips_a_subscribed_phones_lamp() {
    let server = TestServer::start_demo();
    let (_, ids) = seed_messages(&server, "1000001", 2);
    let mut phone = LampPhone::new(server.sip_udp, "1000001");

    // A new REGISTER tells the phone the state at once (unsolicited: it has not subscribed),
    // and that NOTIFY does not claim a subscription the phone does not have.
    let ok = phone.register();
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}");
    let first = phone.lamp_shows(2, 0, WAIT);
    assert_eq!(first.state, "terminated", "{}", first.text);

    // SUBSCRIBE: challenged, then 200 with the granted Expires and an in-dialog NOTIFY with the
    // current state and `active;expires=`.
    let ok = phone.subscribe("mwi-sub-1", "message-summary", 600);
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}");
    assert_eq!(header(&ok, "Expires").as_deref(), Some("600"), "{ok}");
    assert!(header(&ok, "Contact").is_some(), "RFC 6665 §4.1.2.1: {ok}");
    let tag = to_tag(&ok);
    let initial = phone.lamp_shows(2, 0, WAIT);
    assert_eq!(initial.call_id, "mwi-sub-1", "{}", initial.text);
    assert!(
        initial.state.starts_with("active;expires="),
        "{}",
        initial.text
    );
    let remaining: u32 = initial.state.rsplit('=').next().unwrap().parse().unwrap();
    assert!((590..=600).contains(&remaining), "{}", initial.text);

    // The web API: read one, save the other, delete one: the lamp follows each, inside the
    // subscription, and no unsolicited NOTIFY doubles it.
    let token = login(&server, "1000001");
    let path = |id: i64| format!("/api/v1/me/voicemail/{id}");
    let (status, _) = http_json(
        server.http,
        "PATCH",
        &path(ids[0]),
        Some(&token),
        Some(json!({"state": "read"})),
    );
    assert_eq!(status, 204);
    let read = phone.lamp_shows(1, 1, WAIT);
    assert!(read.waiting);
    assert_eq!(read.call_id, "mwi-sub-1");
    let (status, _) = http_json(
        server.http,
        "PATCH",
        &path(ids[1]),
        Some(&token),
        Some(json!({"state": "saved"})),
    );
    assert_eq!(status, 204);
    let saved = phone.lamp_shows(0, 2, WAIT);
    assert!(
        !saved.waiting,
        "lamp off once nothing is new: {}",
        saved.text
    );
    let (status, _) = http_json(server.http, "DELETE", &path(ids[0]), Some(&token), None);
    assert_eq!(status, 204);
    let deleted = phone.lamp_shows(0, 1, WAIT);
    assert_eq!(deleted.call_id, "mwi-sub-1");
    let (status, _) = http_json(
        server.http,
        "PATCH",
        &path(ids[1]),
        Some(&token),
        Some(json!({"state": "new"})),
    );
    assert_eq!(status, 204);
    let relit = phone.lamp_shows(1, 0, WAIT);
    assert!(relit.waiting);
    let extra = phone.notifies_within(Duration::from_millis(800));
    assert!(
        extra.iter().all(|n| n.call_id == "mwi-sub-1"),
        "a subscribed phone gets no unsolicited NOTIFY besides: {extra:?}"
    );

    // A refresh inside the dialog: 200 with the new Expires and the state again.
    let refreshed = phone.resubscribe("mwi-sub-1", &tag, 120);
    assert!(refreshed.starts_with("SIP/2.0 200"), "{refreshed}");
    assert_eq!(header(&refreshed, "Expires").as_deref(), Some("120"));
    let again = phone.lamp_shows(1, 0, WAIT);
    assert!(
        again.state.starts_with("active;expires=1"),
        "{}",
        again.text
    );

    // Unsubscribe: 200, a final NOTIFY saying terminated, and the dialog is gone (481).
    let ended = phone.resubscribe("mwi-sub-1", &tag, 0);
    assert!(ended.starts_with("SIP/2.0 200"), "{ended}");
    let last = phone.lamp_shows(1, 0, WAIT);
    assert_eq!(last.state, "terminated;reason=timeout", "{}", last.text);
    assert_eq!(last.call_id, "mwi-sub-1");
    let gone = phone.resubscribe("mwi-sub-1", &tag, 600);
    assert!(gone.starts_with("SIP/2.0 481"), "{gone}");

    // Without the subscription the registered phone is told unsolicited again.
    let (status, _) = http_json(server.http, "DELETE", &path(ids[1]), Some(&token), None);
    assert_eq!(status, 204);
    let unsolicited = phone.lamp_shows(0, 0, WAIT);
    assert_eq!(unsolicited.state, "terminated");
    assert_ne!(unsolicited.call_id, "mwi-sub-1");
}

#[test]
fn subscribe_is_refused_when_it_must_be() {
    let server = TestServer::start_demo();
    let mut phone = LampPhone::new(server.sip_udp, "1000002");

    let brief = phone.subscribe("mwi-brief", "message-summary", 10);
    assert!(brief.starts_with("SIP/2.0 423"), "{brief}");
    assert_eq!(
        header(&brief, "Min-Expires").as_deref(),
        Some("60"),
        "{brief}"
    );

    let other = phone.subscribe("mwi-presence", "presence", 600);
    assert!(other.starts_with("SIP/2.0 489"), "{other}");
    assert_eq!(
        header(&other, "Allow-Events").as_deref(),
        Some("message-summary")
    );

    // A refresh of a dialog we never made.
    let unknown = phone.resubscribe("mwi-nothing", "nosuchtag", 600);
    assert!(unknown.starts_with("SIP/2.0 481"), "{unknown}");

    // Another user's mailbox: authenticated, but 403.
    let mut snoop = LampPhone::new(server.sip_udp, "1000002");
    let foreign = snoop.subscribe_to("mwi-foreign", "sip:1000001@onestatus");
    assert!(foreign.starts_with("SIP/2.0 403"), "{foreign}");

    // A wrong password never subscribes.
    let mut thief = LampPhone::with_password(server.sip_udp, "1000002", "guess");
    let refused = thief.subscribe("mwi-thief", "message-summary", 600);
    assert!(refused.starts_with("SIP/2.0 401"), "{refused}");
}

#[test]
fn a_subscription_expires_with_a_terminated_notify_and_a_481_ends_it() {
    let server = TestServer::start_with(
        &["serve", "--demo"],
        &[("ONESTATUS_SIP_MIN_EXPIRES_SECS", "2")],
    );
    let (_, ids) = seed_messages(&server, "1000003", 1);
    let mut phone = LampPhone::new(server.sip_udp, "1000003");

    // Expiry: a 3 s subscription ends by itself with `terminated;reason=timeout`.
    let ok = phone.subscribe("mwi-short", "message-summary", 3);
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}");
    assert_eq!(header(&ok, "Expires").as_deref(), Some("3"));
    let initial = phone.lamp_shows(1, 0, WAIT);
    assert!(initial.state.starts_with("active"), "{}", initial.text);
    let expired = phone.lamp_shows(1, 0, WAIT);
    assert_eq!(
        expired.state, "terminated;reason=timeout",
        "{}",
        expired.text
    );
    assert_eq!(expired.call_id, "mwi-short");
    let gone = phone.resubscribe("mwi-short", &to_tag(&ok), 600);
    assert!(gone.starts_with("SIP/2.0 481"), "expired: {gone}");

    // A phone that answers our NOTIFY with 481 has dropped the subscription (RFC 6665
    // §4.2.2): the next change no longer goes to it in that dialog.
    let ok = phone.subscribe("mwi-dropped", "message-summary", 600);
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}");
    phone.notify_answer = 481;
    let refused = phone.lamp_shows(1, 0, WAIT);
    assert_eq!(refused.call_id, "mwi-dropped");
    phone.notify_answer = 200;
    let token = login(&server, "1000003");
    let (status, _) = http_json(
        server.http,
        "PATCH",
        &format!("/api/v1/me/voicemail/{}", ids[0]),
        Some(&token),
        Some(json!({"state": "read"})),
    );
    assert_eq!(status, 204);
    let after = phone.notifies_within(Duration::from_secs(2));
    assert!(
        after.iter().all(|n| n.call_id != "mwi-dropped"),
        "no NOTIFY in a dialog the phone refused: {after:?}"
    );
    let gone = phone.resubscribe("mwi-dropped", &to_tag(&ok), 600);
    assert!(gone.starts_with("SIP/2.0 481"), "{gone}");
}

#[test]
fn an_expired_message_flips_the_lamp() {
    // Messages are kept one day; the sweeper looks every second.
    let server = TestServer::start_with(
        &["serve", "--demo"],
        &[
            ("ONESTATUS_RETENTION_VOICEMAIL_DAYS", "1"),
            ("ONESTATUS_RETENTION_SWEEP_SECS", "1"),
        ],
    );
    let mut phone = LampPhone::new(server.sip_udp, "1000004");
    let ok = phone.subscribe("mwi-expiry", "message-summary", 600);
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}");
    phone.lamp_shows(0, 0, WAIT);

    // A fresh message and a three-day-old one, straight in the store (no NOTIFY of their own):
    // the sweep deletes the old one and the lamp learns the mailbox as it is now, 1 new.
    with_store(&server, async |store| {
        let user = store.user_by_local_number("1000004").await.unwrap().id;
        for age in [chrono::Duration::minutes(1), chrono::Duration::days(3)] {
            store
                .voicemail_insert(&NewVoicemail {
                    user_id: user,
                    caller_number: Some("4511223344".into()),
                    caller_name: None,
                    received_at: chrono::Utc::now() - age,
                    duration_ms: 2000,
                    audio: vec![0; 44],
                })
                .await
                .unwrap();
        }
    });
    let after = phone.lamp_shows(1, 0, WAIT);
    assert_eq!(after.call_id, "mwi-expiry");
    assert!(after.waiting);
    assert!(
        server
            .wait_log("expired voice messages deleted", WAIT)
            .is_some(),
        "the sweeper did it"
    );
}

#[test]
fn a_phone_that_refuses_unsolicited_notifies_gets_no_more() {
    let server = TestServer::start_demo();
    let (_, ids) = seed_messages(&server, "1000002", 1);
    let mut phone = LampPhone::new(server.sip_udp, "1000002");
    // Like baresip without its mwi module: any NOTIFY outside a subscription gets 481.
    phone.notify_answer = 481;
    let ok = phone.register();
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}");
    let refused = phone.lamp_shows(1, 0, WAIT);
    assert_eq!(refused.state, "terminated");
    assert!(
        server
            .wait_log("contact refuses unsolicited NOTIFYs", WAIT)
            .is_some(),
        "the 481 was heard"
    );

    // The next change is not pushed at it again.
    let token = login(&server, "1000002");
    let (status, _) = http_json(
        server.http,
        "PATCH",
        &format!("/api/v1/me/voicemail/{}", ids[0]),
        Some(&token),
        Some(json!({"state": "read"})),
    );
    assert_eq!(status, 204);
    let after = phone.notifies_within(Duration::from_secs(2));
    assert!(after.is_empty(), "no NOTIFY after its 481: {after:?}");

    // It can still subscribe, and then it is told.
    phone.notify_answer = 200;
    let ok = phone.subscribe("mwi-after-refusal", "message-summary", 600);
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}");
    let told = phone.lamp_shows(0, 1, WAIT);
    assert_eq!(told.call_id, "mwi-after-refusal");
}
