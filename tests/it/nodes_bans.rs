//! Bans and rate-limit counters shared by every node and kept over a restart (issue #20),
//! with the real binary: two `onestatus` processes on one PostgreSQL database behind a
//! trusted proxy (a socket of the test's on 127.0.0.1, the client named in the Via below its
//! own, as Kamailio adds it).
//!
//! - Wrong digest responses for one client, two at node A and one at node B, add up to the
//!   shared limit: the client is then dropped by both nodes, the proxy and its other clients
//!   are not.
//! - Node B restarted still drops the client; once the ban time is over both answer it again.
//! - Failed logins at node A use up the address's attempts at node B too.
// Tests drive real processes over real sockets: wall-clock deadlines are the point here.
#![allow(clippy::disallowed_methods)]

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::nodes::{node, PgDatabase};
use crate::support::{self, SipClient, TestServer};

const SECRET: &str = "0b7e3c9a1d4f6e8a2c5b7d9f1e3a5c7b9d1f3e5a7c9b1d3f5e7a9c1b3d5f7e9a";
/// The guesser, as the proxy names it (`received` of the Via below the proxy's).
const GUESSER: &str = "198.51.100.77";
/// Another client of the same proxy.
const NEIGHBOUR: &str = "198.51.100.78";
const BAN_SECS: u64 = 15;

fn env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("ONESTATUS_SIP_NONCE_SECRET", SECRET),
        ("ONESTATUS_SECURITY_TRUSTED_PROXIES", "[\"127.0.0.1\"]"),
        ("ONESTATUS_SIP_AUTH_FAILURES_MAX", "3"),
        ("ONESTATUS_SIP_BAN_SECS", "15"),
        ("ONESTATUS_CLUSTER_HEARTBEAT_SECS", "1"),
        ("ONESTATUS_API_IP_MAX_ATTEMPTS", "3"),
    ]
}

/// The Via a proxy at `proxy` puts on top of the client's `client` (stamped `received`).
fn vias(proxy: SocketAddr, client: &str) -> String {
    format!(
        "Via: SIP/2.0/UDP {proxy};branch=z9hG4bK-px-{}\r\n\
         Via: SIP/2.0/UDP 10.0.0.9:5060;received={client};branch=z9hG4bK-cl-{}\r\n",
        support::rand_token(),
        support::rand_token()
    )
}

/// A REGISTER for 1000003 from `client` through the proxy, with `auth` as Authorization.
fn register(proxy: SocketAddr, client: &str, cseq: u32, auth: Option<&str>) -> String {
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    format!(
        "REGISTER sip:onestatus SIP/2.0\r\n{}Max-Forwards: 69\r\n\
         From: <sip:1000003@onestatus>;tag=g1\r\nTo: <sip:1000003@onestatus>\r\n\
         Call-ID: bans-{}@test\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:1000003@10.0.0.9:5060>\r\n\
         Expires: 600\r\n{auth}Content-Length: 0\r\n\r\n",
        vias(proxy, client),
        std::process::id()
    )
}

/// The next response on `proxy` containing `needle` within `limit`; others (late answers to
/// earlier requests on a loaded host) are passed over.
fn response_with(proxy: &SipClient, needle: &str, limit: Duration) -> Option<String> {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let reply = proxy.recv_response_within(left)?;
        if reply.contains(needle) {
            return Some(reply);
        }
    }
}

/// An OPTIONS from `client` through the proxy socket `proxy` to `to`; whether it is answered
/// 200 within `limit`.
fn answered_within(proxy: &SipClient, to: SocketAddr, client: &str, limit: Duration) -> bool {
    let call_id = format!("bans-opt-{}@test", support::rand_token());
    let msg = format!(
        "OPTIONS sip:{to} SIP/2.0\r\n{}Max-Forwards: 69\r\nFrom: <sip:probe@{client}>;tag=o1\r\n\
         To: <sip:{to}>\r\nCall-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        vias(proxy.local(), client),
    );
    proxy.socket.send_to(msg.as_bytes(), to).unwrap();
    response_with(proxy, &call_id, limit).is_some_and(|r| r.starts_with("SIP/2.0 200"))
}

/// Whether `client` is answered at `to` (waiting long enough for a loaded host).
fn answered(proxy: &SipClient, to: SocketAddr, client: &str) -> bool {
    answered_within(proxy, to, client, Duration::from_secs(5))
}

/// Whether `client` is dropped at `to`: no answer within 2 s.
fn dropped(proxy: &SipClient, to: SocketAddr, client: &str) -> bool {
    !answered_within(proxy, to, client, Duration::from_secs(2))
}

/// Whether `f` holds within `limit`, asked every 300 ms.
fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// A wrong digest response for the guesser to `to`, with a nonce the proxy got from `from`
/// (the nodes share the nonce secret, so either accepts it as theirs); returns the answer.
fn wrong_password(proxy: &SipClient, from: SocketAddr, to: SocketAddr, cseq: u32) -> String {
    let local = proxy.local();
    proxy
        .socket
        .send_to(register(local, GUESSER, cseq, None).as_bytes(), from)
        .unwrap();
    let challenge = response_with(
        proxy,
        &format!("CSeq: {cseq} REGISTER"),
        Duration::from_secs(10),
    )
    .expect("a challenge");
    assert!(challenge.starts_with("SIP/2.0 401"), "{challenge}");
    let offer = challenge
        .lines()
        .find(|l| l.starts_with("WWW-Authenticate:") && l.contains("SHA-256"))
        .expect("a SHA-256 challenge");
    let param = |name: &str| {
        offer
            .split([',', ' '])
            .find_map(|p| p.trim().strip_prefix(&format!("{name}=")))
            .map(|v| v.trim_matches('"').to_owned())
            .unwrap_or_default()
    };
    let auth = format!(
        "Digest username=\"1000003\", realm=\"onestatus\", nonce=\"{}\", uri=\"sip:onestatus\", \
         response=\"{}\", algorithm=SHA-256, cnonce=\"bad\", nc=00000001, qop=auth, opaque=\"{}\"",
        param("nonce"),
        "0".repeat(64),
        param("opaque")
    );
    proxy
        .socket
        .send_to(
            register(local, GUESSER, cseq + 1, Some(&auth)).as_bytes(),
            to,
        )
        .unwrap();
    response_with(
        proxy,
        &format!("CSeq: {} REGISTER", cseq + 1),
        Duration::from_secs(10),
    )
    .expect("an answer to the wrong password")
}

/// A login with a wrong PIN at `server`; the status.
fn bad_login(server: &TestServer) -> u16 {
    let body = r#"{"local_number":"1000002","pin":"999999"}"#;
    let mut stream = std::net::TcpStream::connect(server.http).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
    write!(
        stream,
        "POST /api/v1/login HTTP/1.0\r\nHost: test\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    reply
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[test]
fn failures_at_two_nodes_ban_at_both_and_the_ban_outlives_a_restart_then_expires() {
    let db = PgDatabase::create();
    let env = env();
    let a = node(&db, &env);
    let mut b = node(&db, &env);
    let proxy = SipClient::new(a.sip_udp);
    assert!(answered(&proxy, a.sip_udp, GUESSER), "not banned before");

    // Two wrong passwords at A, one at B: the third, counted in the store, bans.
    for (n, (from, to)) in [
        (a.sip_udp, a.sip_udp),
        (a.sip_udp, a.sip_udp),
        (a.sip_udp, b.sip_udp),
    ]
    .into_iter()
    .enumerate()
    {
        let answer = wrong_password(&proxy, from, to, 10 * n as u32 + 1);
        assert!(!answer.starts_with("SIP/2.0 200"), "{answer}");
    }
    let line = b
        .wait_log(
            "banning source after failed authentications on every node",
            Duration::from_secs(10),
        )
        .expect("the shared count bans at B");
    assert!(line.contains(GUESSER), "{line}");
    let banned_at = Instant::now();
    assert!(
        a.wait_log("source banned (shared ban)", Duration::from_secs(10))
            .is_some_and(|l| l.contains(GUESSER)),
        "A hears of B's ban"
    );
    assert!(dropped(&proxy, a.sip_udp, GUESSER), "dropped at A");
    assert!(dropped(&proxy, b.sip_udp, GUESSER), "dropped at B");
    assert!(answered(&proxy, a.sip_udp, NEIGHBOUR), "not the proxy");
    assert!(answered(&proxy, b.sip_udp, NEIGHBOUR), "not the proxy");

    // Failed logins: three at A use up the address's attempts at B.
    for _ in 0..3 {
        assert_eq!(bad_login(&a), 401);
    }
    assert_eq!(bad_login(&b), 429, "the count is shared");

    // B restarts: it reads the ban in force before it takes the guesser's requests again.
    b.terminate();
    let b = node(&db, &env);
    assert!(
        b.wait_log("source banned (shared ban)", Duration::from_secs(10))
            .is_some_and(|l| l.contains(GUESSER)),
        "the restarted node reads the ban"
    );
    assert!(dropped(&proxy, b.sip_udp, GUESSER), "still dropped at B");
    assert_eq!(bad_login(&b), 429, "the login count too");

    // The ban ends at both nodes.
    let left = Duration::from_secs(BAN_SECS).saturating_sub(banned_at.elapsed());
    std::thread::sleep(left);
    assert!(
        eventually(Duration::from_secs(10), || answered(
            &proxy, b.sip_udp, GUESSER
        )),
        "answered at B after the ban"
    );
    assert!(
        eventually(Duration::from_secs(10), || answered(
            &proxy, a.sip_udp, GUESSER
        )),
        "answered at A after the ban"
    );
}
