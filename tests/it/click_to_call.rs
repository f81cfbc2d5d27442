//! Click-to-call (RFC 3725 third-party call control) through the real binary: the API asks,
//! a SIPp UAS stands in for the user's desk phone (registered for Hans), another for the
//! colleague's phone (Karen). The SIPp scenarios check the SIP side of Flow I themselves: the
//! desk's INVITE has no SDP, the target's INVITE carries the desk's offer, the desk's ACK
//! carries the target's answer, and a BYE from either side ends the other (see
//! testdata/sipp/c2c_*.xml). The tests here check the API (states, errors, who may see what),
//! history and presence.
// Tests drive a real process over real sockets: wall-clock time is the point here.
#![allow(clippy::disallowed_methods)]

use crate::support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::thread;
use std::time::{Duration, Instant};

use crate::support::TestServer;
use serde_json::{json, Value};

use onestatus::domain::model::{CallDirection, CallRecord};
use onestatus::store::Store;

const HANS: &str = "1000001";
const KAREN: &str = "1000002";

/// One HTTP/1.1 exchange over a fresh connection: (status, Location, JSON body).
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: Option<Value>,
) -> (u16, Option<String>, Value) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(auth) = auth {
        head.push_str(&format!("Authorization: Bearer {auth}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head[9..12].parse().unwrap();
    let location = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("location: ")
                .or(l.strip_prefix("Location: "))
        })
        .map(str::to_owned);
    (
        status,
        location,
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

fn login(server: &TestServer, number: &str) -> String {
    let (status, _, body) = http(
        server.http,
        "POST",
        "/api/v1/login",
        None,
        Some(json!({"local_number": number, "pin": "2580"})),
    );
    assert_eq!(status, 200, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

fn database_url(server: &TestServer) -> String {
    format!(
        "sqlite://{}",
        server.data_dir.join("onestatus.db").display()
    )
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn with_store<T>(server: &TestServer, f: impl AsyncFnOnce(&Store) -> T) -> T {
    block_on(async {
        let store = Store::connect(&database_url(server)).await.unwrap();
        let out = f(&store).await;
        store.close().await;
        out
    })
}

/// The demo organisation allows external forwards; this turns the toll-fraud guard on (the
/// store has no setter for it: organisations are provisioned by the CLI).
fn forbid_external_calls(server: &TestServer) {
    block_on(async {
        let pool = sqlx::SqlitePool::connect(&database_url(server))
            .await
            .unwrap();
        sqlx::query("UPDATE organisations SET allow_external_forwarding = 0")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    });
}

/// A binding for the user's (desk) device at 127.0.0.1:`port`.
fn register(server: &TestServer, local_number: &str, port: u16) {
    with_store(server, async |store| {
        support::bind_device(store, local_number, port).await
    });
}

/// Polls the call until it ends (bounded), returning every distinct state seen, in order, and
/// the last body.
fn follow(server: &TestServer, token: &str, location: &str) -> (Vec<String>, Value) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen: Vec<String> = Vec::new();
    loop {
        let (status, _, body) = http(server.http, "GET", location, Some(token), None);
        assert_eq!(status, 200, "{body}");
        let state = body["state"].as_str().unwrap().to_owned();
        if seen.last() != Some(&state) {
            seen.push(state.clone());
        }
        if state == "ended" || Instant::now() > deadline {
            return (seen, body);
        }
        thread::sleep(Duration::from_millis(50));
    }
}

fn history(server: &TestServer, number: &str) -> Vec<CallRecord> {
    with_store(server, async |store| {
        let user = store.user_by_local_number(number).await.unwrap();
        for _ in 0..50 {
            let rows = store.call_history(user.id, None, 10).await.unwrap();
            if !rows.is_empty() {
                return rows;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Vec::new()
    })
}

fn start(server: &TestServer, token: &str, to: &str) -> (u16, Option<String>, Value) {
    http(
        server.http,
        "POST",
        "/api/v1/calls",
        Some(token),
        Some(json!({ "to": to })),
    )
}

/// Runs a whole click-to-call from Hans to `to` with the given phones (the target's binds
/// `target_port`); returns the states seen and the final body.
fn click_to_call(
    server: &TestServer,
    to: &str,
    desk: &'static str,
    target: &'static str,
    target_port: u16,
) -> (Vec<String>, Value) {
    let desk_port = support::free_udp_port();
    register(server, HANS, desk_port);
    let desk = support::sipp_uas(server, desk, desk_port);
    let target = support::sipp_uas(server, target, target_port);
    let hans = login(server, HANS);
    let (status, location, body) = start(server, &hans, to);
    assert_eq!(status, 202, "{body}");
    let location = location.expect("Location");
    assert_eq!(
        location,
        format!("/api/v1/calls/{}", body["id"].as_str().unwrap())
    );
    assert_eq!(body["state"], "ringing_you");
    assert_eq!(body["to"], to);
    let (seen, last) = follow(server, &hans, &location);
    desk.join().unwrap().unwrap();
    target.join().unwrap().unwrap();
    (seen, last)
}

/// Hans calls Karen (a colleague, routed like any call to her).
fn bridged_call(desk: &'static str, target: &'static str) -> (TestServer, Vec<String>, Value) {
    let server = TestServer::start_demo();
    let target_port = support::free_udp_port();
    register(&server, KAREN, target_port);
    let (seen, last) = click_to_call(&server, KAREN, desk, target, target_port);
    (server, seen, last)
}

/// A server whose trunk is a SIPp UAS on the returned port.
fn server_with_trunk() -> (TestServer, u16) {
    let trunk_port = support::free_udp_port();
    let trunk = format!("sip:127.0.0.1:{trunk_port}");
    let server = TestServer::start_with(
        &["serve", "--demo"],
        &[("ONESTATUS_SIP_TRUNK", trunk.as_str())],
    );
    (server, trunk_port)
}

#[test]
fn external_number_goes_through_the_trunk_where_allowed() {
    let (server, trunk_port) = server_with_trunk();
    let (seen, last) = click_to_call(
        &server,
        "4512345678",
        "c2c_desk_bye.xml",
        "c2c_target.xml",
        trunk_port,
    );
    assert_eq!(
        seen,
        ["ringing_you", "ringing_them", "connected", "ended"],
        "{last}"
    );
    assert_eq!(last["reason"], "completed");
    let hans = history(&server, HANS);
    assert_eq!(hans.len(), 1, "{hans:?}");
    assert_eq!(hans[0].data.direction, CallDirection::Out);
    assert_eq!(hans[0].data.other_number, "4512345678");
    assert!(hans[0].data.answered_at.is_some());
}

#[test]
fn busy_target_ends_the_desk_call_with_the_reason() {
    let (server, trunk_port) = server_with_trunk();
    let (seen, last) = click_to_call(
        &server,
        "4512345678",
        "c2c_desk_refused.xml",
        "uas_busy.xml",
        trunk_port,
    );
    assert!(!seen.iter().any(|s| s == "connected"), "{seen:?}");
    assert_eq!(last["reason"], "busy", "{last}");
    assert_eq!(last["failed"], true);
    let hans = history(&server, HANS);
    assert_eq!(hans.len(), 1, "{hans:?}");
    assert!(hans[0].data.answered_at.is_none());
}

#[test]
fn desk_answers_target_answers_desk_hangs_up() {
    let (server, seen, last) = bridged_call("c2c_desk_bye.xml", "c2c_target.xml");
    assert_eq!(
        seen,
        ["ringing_you", "ringing_them", "connected", "ended"],
        "{last}"
    );
    assert_eq!(last["reason"], "completed");
    assert_eq!(last["failed"], false);
    assert!(last["connected_at"].is_string() && last["ended_at"].is_string());
    // History like any call: outgoing for Hans, incoming for Karen, both answered.
    let hans = history(&server, HANS);
    assert_eq!(hans.len(), 1, "{hans:?}");
    assert_eq!(hans[0].data.direction, CallDirection::Out);
    assert!(hans[0].data.answered_at.is_some());
    let karen = history(&server, KAREN);
    assert_eq!(karen.len(), 1, "{karen:?}");
    assert_eq!(karen[0].data.direction, CallDirection::In);
    assert_eq!(karen[0].data.other_number, HANS);
    assert!(karen[0].data.answered_at.is_some());
}

#[test]
fn target_hangs_up_and_the_desk_gets_bye() {
    let (server, seen, last) = bridged_call("c2c_desk.xml", "c2c_target_bye.xml");
    assert_eq!(seen.last().map(String::as_str), Some("ended"), "{seen:?}");
    assert!(seen.iter().any(|s| s == "connected"), "{seen:?}");
    assert_eq!(last["reason"], "completed");
    assert_eq!(history(&server, KAREN).len(), 1);
}

#[test]
fn hold_and_resume_from_the_desk_cross_to_the_target() {
    // The target scenario checks the relayed re-INVITEs (a=sendonly, then a=sendrecv) and the
    // desk scenario the answers coming back.
    let (server, seen, last) = bridged_call("c2c_desk_hold.xml", "uas_reinvite_hold.xml");
    assert!(seen.iter().any(|s| s == "connected"), "{seen:?}");
    assert_eq!(last["reason"], "completed");
    assert_eq!(history(&server, KAREN).len(), 1);
}

/// Hans and Karen with phones running `desk` and `target`; Hans's click-to-call to Karen is
/// under way. Returns the server, Hans's token, the call's Location and the phones.
#[allow(clippy::type_complexity)]
fn hans_calls_karen(
    desk: &'static str,
    target: &'static str,
) -> (
    TestServer,
    String,
    String,
    [thread::JoinHandle<Result<(), String>>; 2],
) {
    let server = TestServer::start_demo();
    let (desk_port, target_port) = (support::free_udp_port(), support::free_udp_port());
    register(&server, HANS, desk_port);
    register(&server, KAREN, target_port);
    let desk = support::sipp_uas(&server, desk, desk_port);
    let target = support::sipp_uas(&server, target, target_port);
    let hans = login(&server, HANS);
    let (status, location, body) = start(&server, &hans, KAREN);
    assert_eq!(status, 202, "{body}");
    let location = location.unwrap();
    (server, hans, location, [desk, target])
}

/// Polls until the call is connected (bounded); `also` is asked each time it is.
fn until_connected(
    server: &TestServer,
    token: &str,
    location: &str,
    mut also: impl FnMut() -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, _, call) = http(server.http, "GET", location, Some(token), None);
        if call["state"] == "connected" && also() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "never connected (or never {call})"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn hang_up_while_connected_sends_bye_to_both_phones() {
    // Both phones wait for a BYE: only the API's DELETE can end this call.
    let (server, hans, location, phones) = hans_calls_karen("c2c_desk.xml", "c2c_target.xml");
    until_connected(&server, &hans, &location, || true);
    let (status, _, _) = http(server.http, "DELETE", &location, Some(&hans), None);
    assert_eq!(status, 202);
    for phone in phones {
        phone.join().unwrap().unwrap();
    }
    let (_, last) = follow(&server, &hans, &location);
    assert_eq!(last["reason"], "hung_up");
    assert_eq!(last["failed"], false);
    assert_eq!(history(&server, KAREN).len(), 1);
}

#[test]
fn presence_shows_the_user_on_the_phone_while_connected() {
    let (server, hans, location, phones) = hans_calls_karen("c2c_desk_bye.xml", "c2c_target.xml");
    let karen = login(&server, KAREN);
    let (_, _, me) = http(server.http, "GET", "/api/v1/me", Some(&hans), None);
    let hans_id = me["id"].as_i64().unwrap();
    until_connected(&server, &hans, &location, || {
        let (_, _, seen) = http(
            server.http,
            "GET",
            &format!("/api/v1/users/{hans_id}"),
            Some(&karen),
            None,
        );
        seen["presence"]["status"] == "on_the_phone"
    });
    for phone in phones {
        phone.join().unwrap().unwrap();
    }
}

#[test]
fn hang_up_while_the_desk_rings_cancels_it() {
    let server = TestServer::start_demo();
    let desk_port = support::free_udp_port();
    register(&server, HANS, desk_port);
    let desk = support::sipp_uas(&server, "c2c_desk_cancel.xml", desk_port);
    let hans = login(&server, HANS);
    let (status, location, body) = start(&server, &hans, KAREN);
    assert_eq!(status, 202, "{body}");
    let location = location.unwrap();
    thread::sleep(Duration::from_millis(500));
    // Karen may neither see nor hang up Hans's call.
    let karen = login(&server, KAREN);
    let (status, _, body) = http(server.http, "GET", &location, Some(&karen), None);
    assert_eq!(status, 404, "{body}");
    let (status, _, _) = http(server.http, "DELETE", &location, Some(&karen), None);
    assert_eq!(status, 404);
    let (status, _, body) = http(server.http, "GET", &location, Some(&hans), None);
    assert_eq!((status, body["state"].as_str()), (200, Some("ringing_you")));
    // Hans hangs up: the desk gets CANCEL.
    let (status, _, _) = http(server.http, "DELETE", &location, Some(&hans), None);
    assert_eq!(status, 202);
    desk.join().unwrap().unwrap();
    let (_, last) = follow(&server, &hans, &location);
    assert_eq!(last["reason"], "hung_up");
    assert_eq!(last["failed"], true);
    // The attempt is in Hans's history, unanswered.
    let rows = history(&server, HANS);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].data.direction, CallDirection::Out);
    assert!(rows[0].data.answered_at.is_none());
}

#[test]
fn refusals_name_the_field_and_send_nothing() {
    let server = TestServer::start_demo();
    // Hans's "desk" is a plain socket: nothing may arrive on it.
    let desk = UdpSocket::bind("127.0.0.1:0").unwrap();
    desk.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let hans = login(&server, HANS);
    // No registered phone yet: 409.
    let (status, _, body) = start(&server, &hans, KAREN);
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "no_registered_device");
    register(&server, HANS, desk.local_addr().unwrap().port());
    // Unauthenticated: 401.
    let (status, _, _) = http(
        server.http,
        "POST",
        "/api/v1/calls",
        None,
        Some(json!({"to": KAREN})),
    );
    assert_eq!(status, 401);
    // Bad numbers and unknown fields: 422 naming the field.
    for to in ["", "  ", "abc", "12a4"] {
        let (status, _, body) = start(&server, &hans, to);
        assert_eq!(status, 422, "{to:?}: {body}");
        assert_eq!(body["error"]["field"], "to");
    }
    let (status, _, body) = http(
        server.http,
        "POST",
        "/api/v1/calls",
        Some(&hans),
        Some(json!({"to": KAREN, "from": "x"})),
    );
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "from");
    // The organisation allows external calls, but the deny-list names the range (issue #19
    // finding 7: click-to-call to +882 went out through the trunk): 403 naming `to`.
    for to in ["+88213000000", "0088213000000", "90123456"] {
        let (status, _, body) = start(&server, &hans, to);
        assert_eq!(status, 403, "{to}: {body}");
        assert_eq!(body["error"]["code"], "number_not_allowed", "{to}");
        assert_eq!(body["error"]["field"], "to");
    }
    // The organisation forbids external calls: 403 with a code, naming `to`.
    forbid_external_calls(&server);
    let (status, _, body) = start(&server, &hans, "4512345678");
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "external_calls_not_allowed");
    assert_eq!(body["error"]["field"], "to");
    // Unknown ids are 404.
    let (status, _, _) = http(
        server.http,
        "GET",
        "/api/v1/calls/c2c-nope",
        Some(&hans),
        None,
    );
    assert_eq!(status, 404);
    let mut buffer = [0u8; 2048];
    assert!(
        desk.recv_from(&mut buffer).is_err(),
        "a refused click-to-call sent something to the desk"
    );
}
