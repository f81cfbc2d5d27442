//! A phone registered directly over TCP to node A, reached from node B (issue #20,
//! `cluster::node_reach`), with the real parts: two `onestatus` nodes on one PostgreSQL
//! database, no proxy, the phone's one TCP connection to node A driven byte by byte (the
//! `nodes_path` desk phone), and SIPp callers into node B. Node B sends the leg for that binding
//! to node A's advertised address; node A rings it on the connection it holds. Answer, BYE
//! either way and CANCEL cross both B2BUAs, node B keeps the history, and an INVITE naming the
//! binding from an address that is no node's is not bridged to the phone.
// Tests drive real processes over real sockets: wall-clock deadlines are the point here.
#![allow(clippy::disallowed_methods)]

use std::net::UdpSocket;
use std::time::Duration;

use onestatus::domain::model::{CallDirection, UserId};
use onestatus::store::Store;

use crate::nodes::{self, header, PgDatabase, HANS_ONE_NUMBER, SECRET};
use crate::nodes_path::{response, stored_paths, wait_hans_free, TcpPhone};
use crate::support::{self, TestServer};

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Node `id` on `db`.
fn node(db: &PgDatabase, id: &str) -> TestServer {
    nodes::node(
        db,
        &[
            ("ONESTATUS_SIP_NONCE_SECRET", SECRET),
            ("ONESTATUS_CLUSTER_NODE_ID", id),
        ],
    )
}

/// Waits (bounded) until `count` nodes advertise their SIP address with their heartbeat.
fn wait_advertised(db: &PgDatabase, count: usize) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    let seen = nodes::eventually(Duration::from_secs(15), || {
        rows = block_on(async {
            let store = Store::connect(&db.url).await.unwrap();
            let since = chrono::Utc::now() - chrono::Duration::seconds(60);
            let rows = store.cluster_node_addresses(since).await.unwrap();
            store.close().await;
            rows
        });
        rows.len() == count
    });
    assert!(seen, "nodes advertised: {rows:?}");
    rows
}

/// Hans's store id and his binding's row id (the phone's one binding).
fn hans_and_binding(db: &PgDatabase) -> (UserId, i64) {
    block_on(async {
        let store = Store::connect(&db.url).await.unwrap();
        let hans = store.user_by_local_number("1000001").await.unwrap();
        let bindings = store
            .registrations_active(hans.id, chrono::Utc::now())
            .await
            .unwrap();
        store.close().await;
        assert_eq!(bindings.len(), 1, "{bindings:?}");
        (hans.id, bindings[0].id.0)
    })
}

/// Two nodes, and the phone registered directly over TCP to node A (no Path).
fn phone_on_node_a() -> (PgDatabase, TestServer, TestServer, TcpPhone) {
    let db = PgDatabase::create();
    let a = node(&db, "node-a");
    let b = node(&db, "node-b");
    let mut phone = TcpPhone::connect(a.sip_tcp, "1000001");
    let registered = phone.register();
    assert!(registered.starts_with("SIP/2.0 200"), "{registered}");
    assert!(header(&registered, "Path").is_empty(), "{registered}");
    assert_eq!(stored_paths(&db, "1000001"), [Vec::<String>::new()]);
    let rows = wait_advertised(&db, 2);
    assert!(
        rows.iter()
            .any(|(n, addr)| n == "node-a" && *addr == format!("sip:{}", a.sip_udp)),
        "{rows:?}"
    );
    (db, a, b, phone)
}

#[test]
fn a_direct_tcp_phone_is_rung_from_the_other_node_through_the_one_holding_it() {
    let (db, a, b, mut phone) = phone_on_node_a();
    let (hans, _) = hans_and_binding(&db);

    // A call into node B, the caller hangs up: node B's leg goes to node A, node A rings the
    // phone on its connection.
    let target = b.sip_udp;
    let caller = std::thread::spawn(move || {
        support::sipp("uac_call.xml", target, &["-s", HANS_ONE_NUMBER, "-m", "1"])
    });
    let invite = phone
        .request("INVITE", Duration::from_secs(15))
        .expect("node B's call reaches the TCP phone through node A");
    // The binding's Contact is the Request-URI; the header naming it stays between the nodes.
    assert!(
        invite.starts_with("INVITE sip:1000001@127.0.0.1:"),
        "{invite}"
    );
    assert!(
        header(&invite, "X-OneStatus-Binding").is_empty(),
        "{invite}"
    );
    phone.answer(&invite);
    let bye = phone
        .request("BYE", Duration::from_secs(15))
        .expect("the caller's BYE reaches the phone through both nodes");
    phone.send(&response(&bye, "200 OK", None, "", ""));
    caller.join().unwrap().unwrap();
    assert!(
        b.wait_log("through the node holding it", Duration::from_secs(5))
            .is_some(),
        "node B did not ring the binding through node A"
    );
    let line = a
        .wait_log("ringing a binding held here", Duration::from_secs(5))
        .expect("node A rang its binding for node B");
    assert!(line.contains("1000001@"), "{line}");

    // History: node B, which routed the call, wrote it, answered; node A wrote none.
    let history = block_on(async {
        let store = Store::connect(&db.url).await.unwrap();
        let rows = store.call_history(hans, None, 10).await.unwrap();
        store.close().await;
        rows
    });
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0].data.direction, CallDirection::In, "{history:?}");
    assert!(history[0].data.answered_at.is_some(), "{history:?}");
    assert_eq!(history[0].data.other_number, "4512345678", "{history:?}");
    wait_hans_free(&b, &db);

    // The phone hangs up: its BYE goes to node A on its connection, and on to node B.
    let target = b.sip_udp;
    let caller = std::thread::spawn(move || {
        support::sipp(
            "uac_call_callee_hangs_up.xml",
            target,
            &["-s", HANS_ONE_NUMBER, "-m", "1"],
        )
    });
    let invite = phone
        .request("INVITE", Duration::from_secs(15))
        .expect("the second call reaches the phone");
    phone.answer(&invite);
    std::thread::sleep(Duration::from_millis(300));
    let answer = phone.hang_up(&invite);
    assert!(answer.starts_with("SIP/2.0 200"), "{answer}");
    caller.join().unwrap().unwrap();
    wait_hans_free(&b, &db);

    // The caller gives up while it rings: node B's CANCEL reaches the phone through node A.
    let target = b.sip_udp;
    let caller = std::thread::spawn(move || {
        support::sipp(
            "uac_cancel.xml",
            target,
            &["-s", HANS_ONE_NUMBER, "-m", "1"],
        )
    });
    let invite = phone
        .request("INVITE", Duration::from_secs(15))
        .expect("the third call reaches the phone");
    phone.send(&response(&invite, "180 Ringing", Some("ring3"), "", ""));
    let cancel = phone
        .request("CANCEL", Duration::from_secs(15))
        .expect("the caller's CANCEL reaches the phone through both nodes");
    phone.send(&response(&cancel, "200 OK", None, "", ""));
    phone.send(&response(
        &invite,
        "487 Request Terminated",
        Some("ring3"),
        "",
        "",
    ));
    phone
        .request("ACK", Duration::from_secs(10))
        .expect("node A ACKs the 487");
    caller.join().unwrap().unwrap();
}

#[test]
fn an_invite_naming_a_binding_from_no_nodes_address_is_not_bridged() {
    let (db, a, _b, mut phone) = phone_on_node_a();
    let (_, binding) = hans_and_binding(&db);
    // Both nodes advertise 127.0.0.1; this sender is on 127.0.0.2 (loopback, no node's).
    let socket = UdpSocket::bind("127.0.0.2:0").expect("127.0.0.2 is loopback");
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let local = socket.local_addr().unwrap();
    let invite = format!(
        "INVITE sip:nobody@{phone};transport=tcp SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};rport;branch=z9hG4bK-forged-{token}\r\nMax-Forwards: 70\r\n\
         From: <sip:4512345678@{local}>;tag=forged\r\nTo: <sip:nobody@{phone}>\r\n\
         Call-ID: forged-{token}@test\r\nCSeq: 1 INVITE\r\nContact: <sip:4512345678@{local}>\r\n\
         X-OneStatus-Binding: {binding}\r\nContent-Length: 0\r\n\r\n",
        phone = phone.local,
        token = support::rand_token(),
    );
    socket.send_to(invite.as_bytes(), a.sip_udp).unwrap();
    // Routed as an ordinary call to a number nobody has: a final failure, never the phone.
    let mut last = String::new();
    let finished = nodes::eventually(Duration::from_secs(10), || {
        let mut buffer = [0u8; 4096];
        if let Ok((n, _)) = socket.recv_from(&mut buffer) {
            last = String::from_utf8_lossy(&buffer[..n]).into_owned();
        }
        last.starts_with("SIP/2.0 4") || last.starts_with("SIP/2.0 5")
    });
    assert!(finished, "no final answer: {last}");
    assert!(!last.starts_with("SIP/2.0 2"), "{last}");
    assert!(
        a.wait_log("from no node's address", Duration::from_secs(5))
            .is_some(),
        "node A did not say why it ignored the header"
    );
    assert!(
        phone.request("INVITE", Duration::from_secs(2)).is_none(),
        "the forged INVITE reached the phone"
    );
}
