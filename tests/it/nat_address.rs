//! A node behind NAT (issue #20): with `[sip] public_address` and `[rtp] public_ip` set, the
//! real binary names the public address in the Via and Contact of what it sends and in the
//! `o=` and `c=` of its SDP — on an anchored call's INVITE to the desk phone and on the
//! voicemail IVR's answer — while it still listens and relays where it is bound.
// Tests drive a real process over real sockets: wall-clock deadlines are the point here.
#![allow(clippy::disallowed_methods)]

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use crate::support::{self, SipClient, TestServer};

const PUBLIC_SIP: &str = "203.0.113.10:5099";
const PUBLIC_RTP: &str = "203.0.113.11";

fn invite(caller: &SipClient, to_user: &str) {
    let local = caller.local();
    let srv = caller.server;
    let sdp = format!(
        "v=0\r\no=c 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n",
        support::free_udp_port()
    );
    caller.send(
        format!(
            "INVITE sip:{to_user}@{srv} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-nat-{}\r\n\
             Max-Forwards: 70\r\nFrom: \"Caller\" <sip:4512345678@{local}>;tag=c1\r\n\
             To: <sip:{to_user}@{srv}>\r\nCall-ID: nat-{}@test\r\nCSeq: 1 INVITE\r\n\
             Contact: <sip:4512345678@{local}>\r\nContent-Type: application/sdp\r\n\
             Content-Length: {}\r\n\r\n{sdp}",
            support::rand_token(),
            support::rand_token(),
            sdp.len(),
        )
        .as_bytes(),
    );
}

/// The lines of `message` starting with `prefix` (case-insensitive header names).
fn lines<'a>(message: &'a str, prefix: &str) -> Vec<&'a str> {
    message
        .lines()
        .filter(|l| {
            l.get(..prefix.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
        })
        .collect()
}

/// The SDP of `message` names the public RTP address in `o=` and `c=`.
fn assert_public_sdp(message: &str) {
    let origin = lines(message, "o=");
    assert!(
        origin.len() == 1 && origin[0].ends_with(&format!("IN IP4 {PUBLIC_RTP}")),
        "{message}"
    );
    let connections = lines(message, "c=");
    assert!(
        !connections.is_empty()
            && connections
                .iter()
                .all(|c| *c == format!("c=IN IP4 {PUBLIC_RTP}")),
        "{message}"
    );
}

#[test]
fn a_call_sdp_and_contact_carry_the_configured_public_address() {
    let server = TestServer::start_with(
        &["serve", "--demo"],
        &[
            ("ONESTATUS_SIP_PUBLIC_ADDRESS", PUBLIC_SIP),
            ("ONESTATUS_RTP_PUBLIC_IP", PUBLIC_RTP),
        ],
    );
    // Hans's desk phone is a socket of ours.
    let desk = UdpSocket::bind("127.0.0.1:0").unwrap();
    desk.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let url = format!(
        "sqlite://{}",
        server.data_dir.join("onestatus.db").display()
    );
    let port = desk.local_addr().unwrap().port();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let store = onestatus::store::Store::connect(&url).await.unwrap();
            support::bind_device(&store, "1000001", port).await;
            store.close().await;
        });

    support::work_around_the_clock(&server, "1000001");

    // An anchored call: the INVITE to the desk names the public address.
    let caller = SipClient::new(server.sip_udp);
    invite(&caller, "4570100001");
    let mut buffer = [0u8; 65536];
    let deadline = Instant::now() + Duration::from_secs(10);
    let ringing = loop {
        assert!(Instant::now() < deadline, "the desk phone never rang");
        if let Ok((n, _)) = desk.recv_from(&mut buffer) {
            let text = String::from_utf8_lossy(&buffer[..n]).into_owned();
            if text.starts_with("INVITE") {
                break text;
            }
        }
    };
    let via = lines(&ringing, "Via:");
    assert!(
        via.first()
            .is_some_and(|v| v.contains(&format!("SIP/2.0/UDP {PUBLIC_SIP}"))),
        "{ringing}"
    );
    assert!(
        lines(&ringing, "Contact:")
            .first()
            .is_some_and(|c| c.contains(&format!("@{PUBLIC_SIP}"))),
        "{ringing}"
    );
    assert_public_sdp(&ringing);

    // The voicemail IVR answers with the public address in Contact and SDP.
    let mailbox = SipClient::new(server.sip_udp);
    invite(&mailbox, "8000");
    let deadline = Instant::now() + Duration::from_secs(10);
    let answer = loop {
        assert!(Instant::now() < deadline, "the IVR never answered");
        let Some(reply) = mailbox.recv_response_within(Duration::from_secs(1)) else {
            continue;
        };
        if reply.starts_with("SIP/2.0 200") {
            break reply;
        }
        assert!(
            reply.starts_with("SIP/2.0 1"),
            "a provisional or 200: {reply}"
        );
    };
    assert!(
        lines(&answer, "Contact:")
            .first()
            .is_some_and(|c| c.contains(&format!("@{PUBLIC_SIP}"))),
        "{answer}"
    );
    assert_public_sdp(&answer);
}
