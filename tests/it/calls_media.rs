//! Media of bridged calls end to end through the real binary: with `calls.media = "anchor"`
//! (the default) each phone's SDP names our relay and RTP flows through it both ways, byte
//! for byte; with `"passthrough"` the SDP crosses unchanged. The caller and the callee's
//! desk phone are raw UDP SIP peers here (tests/it/support `SipClient`), so every byte of SDP and
//! RTP can be checked; the SIPp scenarios of tests/it/calls.rs run over the same anchoring.
// Tests drive a real process: wall-clock time is the point here.
#![allow(clippy::disallowed_methods)]

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use crate::support::rtp_peer::PeerStream;
use crate::support::{rand_token, SipClient, TestServer};
use chrono::{Duration as ChronoDuration, Utc};
use onestatus::domain::model::Binding;
use onestatus::store::Store;

const HANS_ONE_NUMBER: &str = "4570100001";
const KAREN_ONE_NUMBER: &str = "4570100002";

/// The default `[rtp]` range.
const RTP_RANGE: std::ops::RangeInclusive<u16> = 20000..=30000;

fn store(server: &TestServer) -> (tokio::runtime::Runtime, Store) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = format!(
        "sqlite://{}",
        server.data_dir.join("onestatus.db").display()
    );
    let store = rt.block_on(Store::connect(&url)).unwrap();
    (rt, store)
}

/// Registers a device binding for the user with this local number at `addr`.
fn register(server: &TestServer, local_number: &str, addr: SocketAddr) {
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
                    contact_uri: format!("sip:{local_number}@{addr}"),
                    expires_at: now + ChronoDuration::hours(1),
                    call_id: format!("test-{}", addr.port()),
                    cseq: 1,
                    q_millis: 1000,
                    received_addr: addr.to_string(),
                    transport: "udp".into(),
                    instance_id: None,
                    reg_id: None,
                    path: Vec::new(),
                    node_id: None,
                },
                now,
            )
            .await
            .unwrap();
    });
}

// ---- SIP and SDP text -----------------------------------------------------------------------

fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    message.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn status(message: &str) -> Option<u16> {
    message.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()
}

fn body(message: &str) -> &str {
    message.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

fn uri_in(value: &str) -> String {
    match (value.find('<'), value.find('>')) {
        (Some(o), Some(c)) if c > o => value[o + 1..c].to_owned(),
        _ => value.split(';').next().unwrap_or(value).to_owned(),
    }
}

/// The audio address an SDP names (`c=` and the first `m=audio` port).
fn sdp_audio(sdp: &str) -> SocketAddr {
    let ip = sdp
        .lines()
        .find_map(|l| l.strip_prefix("c=IN IP4 "))
        .unwrap_or_else(|| panic!("no c= in {sdp}"))
        .trim();
    let port = sdp
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("no m=audio in {sdp}"));
    format!("{ip}:{port}").parse().unwrap()
}

/// An offer as a phone writes it: PCMA, PCMU and telephone-event, sendrecv.
fn phone_sdp(rtp: SocketAddr, session: u64) -> String {
    format!(
        "v=0\r\no=phone {session} 1 IN IP4 {ip}\r\ns=call\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n",
        ip = rtp.ip(),
        port = rtp.port()
    )
}

fn with_sdp(head: &str, sdp: &str) -> String {
    format!(
        "{head}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

/// The next message on `client` that `wanted` accepts, within `limit`.
fn wait_for(client: &SipClient, limit: Duration, wanted: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + limit;
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        if let Some(m) = client.recv_within(deadline.saturating_duration_since(Instant::now())) {
            if wanted(&m) {
                return m;
            }
            seen.push(m);
        }
    }
    panic!("expected message not seen; got {seen:#?}");
}

/// A response to `request` as a UAS writes it (§8.2.6.2): Via, From, Call-ID, CSeq copied,
/// To with our tag.
fn response(
    request: &str,
    code: u16,
    to_tag: &str,
    contact: SocketAddr,
    sdp: Option<&str>,
) -> String {
    let mut head = format!("SIP/2.0 {code} Whatever\r\n");
    for line in request.lines() {
        if let Some((name, _)) = line.split_once(':') {
            let name = name.trim();
            if ["Via", "From", "Call-ID", "CSeq"]
                .iter()
                .any(|n| n.eq_ignore_ascii_case(name))
            {
                head.push_str(line);
                head.push_str("\r\n");
            }
        }
    }
    let to = header(request, "To").unwrap();
    if to.contains(";tag=") {
        head.push_str(&format!("To: {to}\r\n"));
    } else {
        head.push_str(&format!("To: {to};tag={to_tag}\r\n"));
    }
    head.push_str(&format!("Contact: <sip:1000001@{contact}>\r\n"));
    match sdp {
        Some(sdp) => with_sdp(&head, sdp),
        None => format!("{head}Content-Length: 0\r\n\r\n"),
    }
}

/// A phone: SIP and RTP sockets on loopback.
struct Phone {
    sip: SipClient,
    rtp: UdpSocket,
}

impl Phone {
    fn new(server: &TestServer) -> Phone {
        let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
        rtp.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        Phone {
            sip: SipClient::new(server.sip_udp),
            rtp,
        }
    }

    fn rtp_addr(&self) -> SocketAddr {
        self.rtp.local_addr().unwrap()
    }

    /// Sends `count` PCMA packets to `to` (a distinct payload each) and returns them.
    fn send_rtp(&self, to: SocketAddr, ssrc: u32, count: usize) -> Vec<Vec<u8>> {
        let mut stream = PeerStream {
            seq: 1000,
            ts: 160_000,
            ssrc,
        };
        (0..count)
            .map(|i| {
                let pcm: Vec<i16> = (0..160)
                    .map(|s| ((s * 37 + i * 101) % 4000) as i16)
                    .collect();
                let packet = stream.audio(&pcm);
                self.rtp.send_to(&packet, to).unwrap();
                // Paced a little, as a phone would, so no socket buffer overflows.
                std::thread::sleep(Duration::from_millis(2));
                packet
            })
            .collect()
    }

    /// RTP datagrams with their source, until `count` have come or `window` has passed.
    fn receive_rtp(&self, count: usize, window: Duration) -> Vec<(Vec<u8>, SocketAddr)> {
        let deadline = Instant::now() + window;
        let mut out = Vec::new();
        let mut buffer = [0u8; 2048];
        while Instant::now() < deadline && out.len() < count {
            if let Ok((n, from)) = self.rtp.recv_from(&mut buffer) {
                out.push((buffer[..n].to_vec(), from));
            }
        }
        out
    }
}

/// The RTP sequence numbers of received packets, for failure messages.
fn seqs(packets: &[(Vec<u8>, SocketAddr)]) -> Vec<u16> {
    packets
        .iter()
        .filter(|(p, _)| p.len() >= 4)
        .map(|(p, _)| u16::from_be_bytes([p[2], p[3]]))
        .collect()
}

/// An answered call between a caller and Hans's desk phone, through the server.
struct Bridged {
    caller: Phone,
    desk: Phone,
    /// The SDP the desk phone received in the INVITE.
    desk_offer: String,
    /// The SDP the caller received in the 200.
    caller_answer: String,
    /// What each sent.
    caller_offer_sent: String,
    desk_answer_sent: String,
    call_id: String,
    from_tag: String,
    to: String,
    remote_target: String,
}

/// The caller dials Hans; his desk phone answers; the caller ACKs.
fn bridge(server: &TestServer, desk: Phone) -> Bridged {
    let caller = Phone::new(server);
    let local = caller.sip.local();
    let srv = server.sip_udp;
    let call_id = format!("anchor-{}@test", rand_token());
    let from_tag = format!("c{}", rand_token());
    let offer = phone_sdp(caller.rtp_addr(), 1111);
    caller.sip.send(
        with_sdp(
            &format!(
                "INVITE sip:{HANS_ONE_NUMBER}@{srv} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-{}\r\n\
                 Max-Forwards: 70\r\nFrom: \"Caller\" <sip:4512345678@{local}>;tag={from_tag}\r\n\
                 To: <sip:{HANS_ONE_NUMBER}@{srv}>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\n\
                 Contact: <sip:4512345678@{local}>\r\n",
                rand_token()
            ),
            &offer,
        )
        .as_bytes(),
    );
    let invite = wait_for(&desk.sip, Duration::from_secs(5), |m| {
        m.starts_with("INVITE ")
    });
    let desk_offer = body(&invite).to_owned();
    let answer = phone_sdp(desk.rtp_addr(), 2222);
    desk.sip
        .send(response(&invite, 200, "desk1", desk.sip.local(), Some(&answer)).as_bytes());
    let ok = wait_for(&caller.sip, Duration::from_secs(5), |m| {
        status(m) == Some(200)
    });
    let to = header(&ok, "To").unwrap().to_owned();
    let remote_target = uri_in(header(&ok, "Contact").unwrap());
    caller.sip.send(
        format!(
            "ACK {remote_target} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-{}\r\n\
             Max-Forwards: 70\r\nFrom: \"Caller\" <sip:4512345678@{local}>;tag={from_tag}\r\n\
             To: {to}\r\nCall-ID: {call_id}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
            rand_token()
        )
        .as_bytes(),
    );
    wait_for(&desk.sip, Duration::from_secs(5), |m| m.starts_with("ACK "));
    Bridged {
        caller_answer: body(&ok).to_owned(),
        caller,
        desk,
        desk_offer,
        caller_offer_sent: offer,
        desk_answer_sent: answer,
        call_id,
        from_tag,
        to,
        remote_target,
    }
}

impl Bridged {
    /// A re-INVITE from the caller with `offer`; the desk answers with `answer`; the caller
    /// ACKs. Returns the SDP the desk saw and the SDP the caller got back.
    fn reinvite(&self, cseq: u32, offer: &str, answer: &str) -> (String, String) {
        let local = self.caller.sip.local();
        self.caller.sip.send(
            with_sdp(
                &format!(
                    "INVITE {} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-{}\r\n\
                     Max-Forwards: 70\r\nFrom: \"Caller\" <sip:4512345678@{local}>;tag={}\r\n\
                     To: {}\r\nCall-ID: {}\r\nCSeq: {cseq} INVITE\r\n\
                     Contact: <sip:4512345678@{local}>\r\n",
                    self.remote_target,
                    rand_token(),
                    self.from_tag,
                    self.to,
                    self.call_id
                ),
                offer,
            )
            .as_bytes(),
        );
        let invite = wait_for(&self.desk.sip, Duration::from_secs(5), |m| {
            m.starts_with("INVITE ")
                && header(m, "To").is_some_and(|t| t.contains("tag="))
                && !body(m).is_empty()
        });
        self.desk
            .sip
            .send(response(&invite, 200, "desk1", self.desk.sip.local(), Some(answer)).as_bytes());
        let ok = wait_for(&self.caller.sip, Duration::from_secs(5), |m| {
            status(m) == Some(200)
                && header(m, "CSeq").is_some_and(|c| c == format!("{cseq} INVITE"))
        });
        self.caller.sip.send(
            format!(
                "ACK {} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-{}\r\n\
                 Max-Forwards: 70\r\nFrom: \"Caller\" <sip:4512345678@{local}>;tag={}\r\n\
                 To: {}\r\nCall-ID: {}\r\nCSeq: {cseq} ACK\r\nContent-Length: 0\r\n\r\n",
                self.remote_target,
                rand_token(),
                self.from_tag,
                self.to,
                self.call_id
            )
            .as_bytes(),
        );
        wait_for(&self.desk.sip, Duration::from_secs(5), |m| {
            m.starts_with("ACK ")
        });
        (body(&invite).to_owned(), body(&ok).to_owned())
    }

    /// The caller hangs up (BYE with `cseq`); the desk phone answers the relayed BYE; the caller gets its 200.
    fn hang_up(&self, cseq: u32) {
        let local = self.caller.sip.local();
        self.caller.sip.send(
            format!(
                "BYE {} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-{}\r\n\
                 Max-Forwards: 70\r\nFrom: \"Caller\" <sip:4512345678@{local}>;tag={}\r\n\
                 To: {}\r\nCall-ID: {}\r\nCSeq: {cseq} BYE\r\nContent-Length: 0\r\n\r\n",
                self.remote_target,
                rand_token(),
                self.from_tag,
                self.to,
                self.call_id
            )
            .as_bytes(),
        );
        let bye = wait_for(&self.desk.sip, Duration::from_secs(5), |m| {
            m.starts_with("BYE ")
        });
        self.desk
            .sip
            .send(response(&bye, 200, "desk1", self.desk.sip.local(), None).as_bytes());
        wait_for(&self.caller.sip, Duration::from_secs(5), |m| {
            status(m) == Some(200) && header(m, "CSeq").is_some_and(|c| c.contains("BYE"))
        });
    }
}

fn start(env: &[(&str, &str)]) -> (TestServer, Phone) {
    let server = TestServer::start_with(&["serve", "--demo"], env);
    let desk = Phone::new(&server);
    register(&server, "1000001", desk.sip.local());
    (server, desk)
}

// ---- the tests ------------------------------------------------------------------------------

#[test]
fn anchored_call_relays_rtp_both_ways_byte_for_byte_through_our_ports() {
    let (server, desk) = start(&[]);
    let call = bridge(&server, desk);

    // Each side's SDP names us, on a port of our range, not the other party's.
    let towards_desk = sdp_audio(&call.desk_offer);
    let towards_caller = sdp_audio(&call.caller_answer);
    for (seen, what) in [
        (towards_desk, "desk's offer"),
        (towards_caller, "caller's answer"),
    ] {
        assert_eq!(seen.ip().to_string(), "127.0.0.1", "{what}");
        assert!(RTP_RANGE.contains(&seen.port()), "{what}: {seen}");
        assert_eq!(seen.port() % 2, 0, "{what}: RTP on an even port");
    }
    assert_ne!(towards_desk, towards_caller, "one endpoint per side");
    assert_ne!(towards_desk, call.caller.rtp_addr());
    assert_ne!(towards_caller, call.desk.rtp_addr());
    // Codecs, telephone-event, ptime and direction cross as they were.
    for line in [
        "m=audio",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-15",
        "a=ptime:20",
        "a=sendrecv",
    ] {
        assert!(
            call.desk_offer.contains(line),
            "{line} in {}",
            call.desk_offer
        );
        assert!(
            call.caller_answer.contains(line),
            "{line} in {}",
            call.caller_answer
        );
    }
    assert!(
        call.desk_offer.contains(" RTP/AVP 8 0 101\r\n"),
        "{}",
        call.desk_offer
    );

    // Caller → desk: every packet arrives unchanged, from our desk-facing port.
    let sent = call.caller.send_rtp(towards_caller, 0xCA11_E400, 50);
    let got = call.desk.receive_rtp(50, Duration::from_secs(3));
    assert_eq!(got.len(), 50, "caller → desk packets: {:?}", seqs(&got));
    for ((data, from), packet) in got.iter().zip(&sent) {
        assert_eq!(
            data, packet,
            "payload, sequence, timestamp and SSRC as sent"
        );
        assert_eq!(
            *from, towards_desk,
            "symmetric: from the port the desk sends to"
        );
    }
    // Desk → caller likewise.
    let sent = call.desk.send_rtp(towards_desk, 0xDE5C_0001, 40);
    let got = call.caller.receive_rtp(40, Duration::from_secs(3));
    assert_eq!(got.len(), 40, "desk → caller packets: {:?}", seqs(&got));
    for ((data, from), packet) in got.iter().zip(&sent) {
        assert_eq!(data, packet);
        assert_eq!(*from, towards_caller);
    }

    // Once latched, a third party's packets to the caller's relay port go nowhere.
    let intruder = UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..10 {
        intruder
            .send_to(b"\x80\x08injected", towards_caller)
            .unwrap();
    }
    assert!(
        call.desk
            .receive_rtp(1, Duration::from_millis(300))
            .is_empty(),
        "packets from an unexpected source are dropped"
    );

    call.hang_up(2);
    let closed = server
        .wait_log("media relay closed", Duration::from_secs(5))
        .expect("relay closed at the BYE");
    assert!(closed.contains("caller_to_callee=50"), "{closed}");
    assert!(closed.contains("callee_to_caller=40"), "{closed}");
    assert!(closed.contains("dropped=10"), "{closed}");
}

#[test]
fn passthrough_leaves_the_sdp_unchanged() {
    let (server, desk) = start(&[("ONESTATUS_CALLS_MEDIA", "passthrough")]);
    let call = bridge(&server, desk);
    assert_eq!(call.desk_offer, call.caller_offer_sent);
    assert_eq!(call.caller_answer, call.desk_answer_sent);
    call.hang_up(2);
    assert!(server
        .wait_log("call over", Duration::from_secs(5))
        .is_some());
}

/// The caller dials Hans and cancels while the desk rings: 487 to the caller, the desk's
/// INVITE answered 487 after its 200 to the CANCEL.
fn cancelled_while_ringing(server: &TestServer, desk: &Phone) {
    let caller = SipClient::new(server.sip_udp);
    let local = caller.local();
    let srv = server.sip_udp;
    let call_id = format!("cancel-{}@test", rand_token());
    let head = |method: &str| {
        format!(
            "{method} sip:{HANS_ONE_NUMBER}@{srv} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-cancel1\r\n\
             Max-Forwards: 70\r\nFrom: <sip:4512345678@{local}>;tag=cx1\r\n\
             To: <sip:{HANS_ONE_NUMBER}@{srv}>\r\nCall-ID: {call_id}\r\nCSeq: 1 {method}\r\n"
        )
    };
    let sdp = phone_sdp("127.0.0.1:7002".parse().unwrap(), 9);
    caller.send(
        with_sdp(
            &format!("{}Contact: <sip:4512345678@{local}>\r\n", head("INVITE")),
            &sdp,
        )
        .as_bytes(),
    );
    let invite = wait_for(&desk.sip, Duration::from_secs(5), |m| {
        m.starts_with("INVITE ")
    });
    assert!([31100, 31102].contains(&sdp_audio(body(&invite)).port()));
    desk.sip
        .send(response(&invite, 180, "ring1", desk.sip.local(), None).as_bytes());
    wait_for(&caller, Duration::from_secs(5), |m| status(m) == Some(180));
    caller.send(format!("{}Content-Length: 0\r\n\r\n", head("CANCEL")).as_bytes());
    let cancel = wait_for(&desk.sip, Duration::from_secs(5), |m| {
        m.starts_with("CANCEL ")
    });
    desk.sip
        .send(response(&cancel, 200, "ring1", desk.sip.local(), None).as_bytes());
    desk.sip
        .send(response(&invite, 487, "ring1", desk.sip.local(), None).as_bytes());
    let terminated = wait_for(&caller, Duration::from_secs(5), |m| status(m) == Some(487));
    // §17.1.1.3: the ACK for a non-2xx has the response's To (with its tag).
    let ack = head("ACK").replace(
        &format!("To: <sip:{HANS_ONE_NUMBER}@{srv}>"),
        &format!("To: {}", header(&terminated, "To").unwrap()),
    );
    caller.send(format!("{ack}Content-Length: 0\r\n\r\n").as_bytes());
}

#[test]
fn a_small_port_range_serves_call_after_call_and_refuses_a_second_at_once_with_503() {
    // Four ports: two even ones, one relay. Every call must give them back.
    let (server, desk) = start(&[
        ("ONESTATUS_RTP_PORT_MIN", "31100"),
        ("ONESTATUS_RTP_PORT_MAX", "31103"),
    ]);
    // A call the caller gives up while it rings gives its relay back too (CANCEL, §9).
    cancelled_while_ringing(&server, &desk);
    ports_come_back(&[31100, 31102]);
    let mut desk = desk;
    for round in 0..4 {
        let call = bridge(&server, desk);
        assert!(
            [31100, 31102].contains(&sdp_audio(&call.desk_offer).port()),
            "round {round}: {}",
            call.desk_offer
        );
        if round == 3 {
            // The range is taken: a call to Karen now gets 503 (not a panic, not a call whose
            // media cannot flow), and her phone does not ring.
            let karen_desk = SipClient::new(server.sip_udp);
            register(&server, "1000002", karen_desk.local());
            let other = SipClient::new(server.sip_udp);
            let local = other.local();
            let srv = server.sip_udp;
            let sdp = phone_sdp("127.0.0.1:7000".parse().unwrap(), 3);
            other.send(
                with_sdp(
                    &format!(
                        "INVITE sip:{KAREN_ONE_NUMBER}@{srv} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-full\r\n\
                         Max-Forwards: 70\r\nFrom: <sip:4598765432@{local}>;tag=full1\r\n\
                         To: <sip:{KAREN_ONE_NUMBER}@{srv}>\r\nCall-ID: full-{}@test\r\nCSeq: 1 INVITE\r\n\
                         Contact: <sip:4598765432@{local}>\r\n",
                        rand_token()
                    ),
                    &sdp,
                )
                .as_bytes(),
            );
            let refused = wait_for(&other, Duration::from_secs(5), |m| {
                status(m).is_some_and(|s| s >= 200)
            });
            assert_eq!(status(&refused), Some(503), "{refused}");
            assert!(
                karen_desk.collect(Duration::from_millis(300)).is_empty(),
                "no INVITE without media"
            );
        }
        call.hang_up(2);
        desk = call.desk;
        ports_come_back(&[31100, 31102]);
    }
}

/// Waits (at most 2 s) until every port of `ports` can be bound again on the wildcard
/// address, as the server binds them: a relay's ports close when its task sees the call's
/// handle dropped, a moment after the call is over, so a test calling again at once could
/// otherwise meet them still bound (and assert on a race, not on the release).
fn ports_come_back(ports: &[u16]) {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let free = ports
            .iter()
            .all(|&port| UdpSocket::bind(("0.0.0.0", port)).is_ok());
        if free {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "ports {ports:?} still bound after the call"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn hold_and_resume_reinvites_keep_our_ports_and_move_where_we_send() {
    let (server, desk) = start(&[]);
    let call = bridge(&server, desk);
    let towards_desk = sdp_audio(&call.desk_offer);
    let towards_caller = sdp_audio(&call.caller_answer);

    // Hold (RFC 3264 §8.4): sendonly one way, recvonly back, through the same relay ports.
    let hold = phone_sdp(call.caller.rtp_addr(), 1111)
        .replace(" 1 IN IP4", " 2 IN IP4")
        .replace("a=sendrecv", "a=sendonly");
    let held = phone_sdp(call.desk.rtp_addr(), 2222)
        .replace(" 1 IN IP4", " 2 IN IP4")
        .replace("a=sendrecv", "a=recvonly");
    let (desk_saw, caller_got) = call.reinvite(2, &hold, &held);
    assert_eq!(sdp_audio(&desk_saw), towards_desk, "{desk_saw}");
    assert!(desk_saw.contains("a=sendonly\r\n"), "{desk_saw}");
    assert_eq!(sdp_audio(&caller_got), towards_caller, "{caller_got}");
    assert!(caller_got.contains("a=recvonly\r\n"), "{caller_got}");

    // Resume from another RTP port (the phone moved its media): the relay follows the new SDP.
    let moved = UdpSocket::bind("127.0.0.1:0").unwrap();
    moved
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let resume = phone_sdp(moved.local_addr().unwrap(), 1111).replace(" 1 IN IP4", " 3 IN IP4");
    let resumed = phone_sdp(call.desk.rtp_addr(), 2222).replace(" 1 IN IP4", " 3 IN IP4");
    let (desk_saw, caller_got) = call.reinvite(3, &resume, &resumed);
    assert_eq!(sdp_audio(&desk_saw), towards_desk);
    assert!(desk_saw.contains("a=sendrecv\r\n"), "{desk_saw}");
    assert_eq!(sdp_audio(&caller_got), towards_caller);

    let sent = call.desk.send_rtp(towards_desk, 0xDE5C_0002, 20);
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut buffer = [0u8; 2048];
    while Instant::now() < deadline && got.len() < sent.len() {
        if let Ok((n, from)) = moved.recv_from(&mut buffer) {
            assert_eq!(from, towards_caller);
            got.push(buffer[..n].to_vec());
        }
    }
    assert_eq!(got, sent, "the desk's RTP reaches the caller's new port");
    assert!(
        call.caller
            .receive_rtp(1, Duration::from_millis(200))
            .is_empty(),
        "nothing to the old port"
    );
    call.hang_up(4);
}

#[test]
fn a_call_handed_to_voicemail_gives_its_relay_back() {
    let (server, desk) = start(&[]);
    let caller = Phone::new(&server);
    let local = caller.sip.local();
    let srv = server.sip_udp;
    caller.sip.send(
        with_sdp(
            &format!(
                "INVITE sip:{HANS_ONE_NUMBER}@{srv} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-vm\r\n\
                 Max-Forwards: 70\r\nFrom: <sip:4512345678@{local}>;tag=vm1\r\n\
                 To: <sip:{HANS_ONE_NUMBER}@{srv}>\r\nCall-ID: vm-{}@test\r\nCSeq: 1 INVITE\r\n\
                 Contact: <sip:4512345678@{local}>\r\n",
                rand_token()
            ),
            &phone_sdp(caller.rtp_addr(), 5),
        )
        .as_bytes(),
    );
    let invite = wait_for(&desk.sip, Duration::from_secs(5), |m| {
        m.starts_with("INVITE ")
    });
    assert!(RTP_RANGE.contains(&sdp_audio(body(&invite)).port()));
    desk.sip
        .send(response(&invite, 486, "desk1", desk.sip.local(), None).as_bytes());
    // The deposit IVR answers with its own media: the caller's SDP names the IVR's port, and
    // the relay opened for the ringing is closed.
    let ok = wait_for(&caller.sip, Duration::from_secs(5), |m| {
        status(m) == Some(200)
    });
    assert!(RTP_RANGE.contains(&sdp_audio(body(&ok)).port()));
    assert!(server
        .wait_log("media relay closed", Duration::from_secs(5))
        .is_some());
}

/// Both phones vanish without a BYE (a crash, a lost network): once no RTP has crossed the
/// relay either way for `rtp.timeout_secs`, the call is ended with BYE on both legs and its
/// relay ports go back (the one-relay range serves the next call).
#[test]
fn a_call_whose_phones_fall_silent_is_ended_with_bye_on_both_legs() {
    let (server, desk) = start(&[
        ("ONESTATUS_RTP_TIMEOUT_SECS", "1"),
        ("ONESTATUS_RTP_PORT_MIN", "31200"),
        ("ONESTATUS_RTP_PORT_MAX", "31203"),
    ]);
    let call = bridge(&server, desk);
    // Talking keeps the call: the caller sends for two timeouts, and no BYE comes meanwhile.
    let talking_until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < talking_until {
        call.caller
            .send_rtp(sdp_audio(&call.caller_answer), 0x5113_0001, 10);
        assert!(
            call.desk.sip.collect(Duration::from_millis(50)).is_empty(),
            "no BYE while RTP flows"
        );
    }
    // Then silence: both legs get a BYE.
    let bye = wait_for(&call.desk.sip, Duration::from_secs(5), |m| {
        m.starts_with("BYE ")
    });
    call.desk
        .sip
        .send(response(&bye, 200, "desk1", call.desk.sip.local(), None).as_bytes());
    let bye = wait_for(&call.caller.sip, Duration::from_secs(5), |m| {
        m.starts_with("BYE ")
    });
    assert!(bye.contains(&call.call_id), "{bye}");
    call.caller
        .sip
        .send(response(&bye, 200, "caller1", call.caller.sip.local(), None).as_bytes());
    // The relay's ports are free again: the next call is anchored on the same range.
    let next = bridge(&server, call.desk);
    assert!(
        [31200, 31202].contains(&sdp_audio(&next.desk_offer).port()),
        "{}",
        next.desk_offer
    );
    next.hang_up(2);
}
