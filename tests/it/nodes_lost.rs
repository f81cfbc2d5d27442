//! Nothing lost with a node (issue #20), with the real binary: two `onestatus` nodes on one
//! PostgreSQL database (`nodes::PgDatabase`), SIPp phones on node A, and node A killed with
//! `kill -9` under a call. Node B, once A's heartbeat has expired, stores the message A was
//! recording (from the chunks A wrote to the store as the caller spoke), ends the call with a
//! BYE the SIPp phones answer, and the call is in the history.
// Tests drive real processes over real sockets: wall-clock deadlines are the point here.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use chrono::Utc;
use onestatus::domain::model::{AbsenceData, Destination};
use onestatus::domain::{Origin, Reason};
use onestatus::store::{CallDirection, Store, UserId};

use crate::nodes::{node, PgDatabase};
use crate::support::{self, TestServer};

const HANS_ONE_NUMBER: &str = "4570100001";

/// Heartbeat every second, dead after four missed (the machine is loaded): the survivor acts within seconds.
const FAST_EXPIRY: [(&str, &str); 2] = [
    ("ONESTATUS_CLUSTER_HEARTBEAT_SECS", "1"),
    ("ONESTATUS_CLUSTER_MISSED_HEARTBEATS", "4"),
];

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Two nodes with their own RTP ports.
fn two_nodes(db: &PgDatabase) -> (TestServer, TestServer) {
    let start = |rtp: (u16, u16)| {
        let (min, max) = (rtp.0.to_string(), rtp.1.to_string());
        let mut env = FAST_EXPIRY.to_vec();
        env.push(("ONESTATUS_RTP_PORT_MIN", &min));
        env.push(("ONESTATUS_RTP_PORT_MAX", &max));
        node(db, &env)
    };
    let a = start(support::voicemail::rtp_range());
    let b = start(support::voicemail::rtp_range());
    (a, b)
}

/// One number from the database (`SELECT` of one BIGINT).
fn scalar(db: &PgDatabase, sql: &str) -> i64 {
    use sqlx::Connection;
    block_on(async {
        let mut connection = sqlx::PgConnection::connect(&db.url).await.unwrap();
        let (n,): (i64,) = sqlx::query_as(sql)
            .fetch_one(&mut connection)
            .await
            .unwrap();
        n
    })
}

fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    f()
}

/// Hans in a meeting for the next hours: his calls go to voicemail. His id.
fn hans_in_a_meeting(db: &PgDatabase) -> UserId {
    block_on(async {
        let store = Store::connect(&db.url).await.unwrap();
        let now = Utc::now();
        let hans = store.user_by_local_number("1000001").await.unwrap();
        store
            .absence_create(
                &AbsenceData {
                    user_id: hans.id,
                    reason: Reason::Meeting,
                    starts_at: now - chrono::Duration::hours(1),
                    ends_at: Some(now + chrono::Duration::hours(3)),
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
        store.close().await;
        hans.id
    })
}

#[test]
fn a_message_on_a_node_killed_mid_recording_is_stored_by_the_survivor_which_ends_the_call() {
    let db = PgDatabase::create();
    let (mut a, b) = two_nodes(&db);
    let hans = hans_in_a_meeting(&db);
    // The caller speaks from the answer on and never hangs up.
    let target = a.sip_udp;
    let caller = std::thread::spawn(move || {
        support::voicemail::sipp("vm_deposit_node_dies.xml", target, &["-s", HANS_ONE_NUMBER])
    });
    // Node A writes the recording to the store a chunk a second; kill it four seconds in.
    let audio =
        "SELECT COALESCE(SUM(octet_length(audio)), 0)::BIGINT FROM cluster_recording_chunks";
    let mut before_kill = 0;
    assert!(
        eventually(Duration::from_secs(60), || {
            before_kill = scalar(&db, audio) / 2;
            before_kill >= 4 * 8000
        }),
        "node A never wrote 4 s of the recording to the store ({before_kill} samples)"
    );
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    let kill_ms = before_kill / 8;

    // Node B stores the message: as long as what was spoken before the kill, within a chunk.
    assert!(
        b.wait_log(
            "message of a dead node's call stored",
            Duration::from_secs(30)
        )
        .is_some(),
        "node B never stored the dead node's message"
    );
    let messages = block_on(async {
        let store = Store::connect(&db.url).await.unwrap();
        let messages = store.voicemails(hans).await.unwrap();
        store.close().await;
        messages
    });
    assert_eq!(messages.len(), 1, "{messages:?}");
    let message = &messages[0];
    let duration = i64::try_from(message.duration_ms).unwrap();
    assert!(
        (kill_ms - 1000..=kill_ms + 1500).contains(&duration),
        "stored {duration} ms; {kill_ms} ms were in the store at the kill"
    );
    assert_eq!(message.caller_number.as_deref(), Some("4512345678"));
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM cluster_recording_chunks")
            + scalar(&db, "SELECT COUNT(*) FROM cluster_recordings"),
        0,
        "the recording's rows are gone with the message"
    );

    // The caller got the survivor's BYE and answered it.
    caller.join().unwrap().unwrap();
    // The call is in Hans's history (written by node A at the hand-off to voicemail).
    let history = block_on(async {
        let store = Store::connect(&db.url).await.unwrap();
        let rows = store.call_history(hans, None, 10).await.unwrap();
        store.close().await;
        rows
    });
    assert!(
        history
            .iter()
            .any(|r| r.data.route.as_deref() == Some("voicemail")
                && r.data.other_number == "4512345678"),
        "{history:?}"
    );
    assert!(
        eventually(Duration::from_secs(10), || scalar(
            &db,
            "SELECT COUNT(*) FROM cluster_dialogs"
        ) == 0),
        "the dead node's call is still in the store"
    );
}

#[test]
fn a_bridged_call_on_a_node_killed_is_ended_on_both_phones_and_kept_in_the_history() {
    let db = PgDatabase::create();
    let (mut a, _b) = two_nodes(&db);
    let desk_port = support::free_udp_port();
    let hans = block_on(async {
        let store = Store::connect(&db.url).await.unwrap();
        support::bind_device(&store, "1000001", desk_port).await;
        let id = store.user_by_local_number("1000001").await.unwrap().id;
        store.close().await;
        id
    });
    // Hans's desk answers; both phones wait for a BYE that only the survivor can send.
    let desk = support::sipp_uas(&a, "uas_answer.xml", desk_port);
    let target = a.sip_udp;
    let caller = std::thread::spawn(move || {
        support::sipp(
            "uac_call_node_dies.xml",
            target,
            &["-s", HANS_ONE_NUMBER, "-m", "1"],
        )
    });
    assert!(
        eventually(Duration::from_secs(20), || scalar(
            &db,
            "SELECT COUNT(*) FROM cluster_dialogs"
        ) == 1),
        "node A never recorded the answered call's dialogs"
    );
    a.child.kill().unwrap();
    a.child.wait().unwrap();

    caller.join().unwrap().unwrap();
    desk.join().unwrap().unwrap();
    let mut rows = Vec::new();
    assert!(
        eventually(Duration::from_secs(10), || {
            rows = block_on(async {
                let store = Store::connect(&db.url).await.unwrap();
                let rows = store.call_history(hans, None, 10).await.unwrap();
                store.close().await;
                rows
            });
            !rows.is_empty()
        }),
        "no history row for the dead node's call"
    );
    let row = &rows[0].data;
    assert_eq!(row.direction, CallDirection::In);
    assert_eq!(row.route.as_deref(), Some("interrupted"));
    assert_eq!(row.other_number, "4512345678");
    assert!(row.answered_at.is_some() && row.ended_at >= row.answered_at);
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM cluster_dialogs"), 0);
}
