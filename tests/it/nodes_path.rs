//! Reaching every phone behind Kamailio (RFC 3327 Path, issue #20), with the real parts:
//! Debian's `kamailio` with `deploy/kamailio/kamailio.cfg` (UDP and TCP) in front of two
//! `onestatus` nodes on one PostgreSQL database, SIPp phones registering through it over UDP
//! and TCP, and a desk phone on TCP driven here byte by byte, so that what reaches it on its one
//! connection can be read: the 200 to its REGISTER echoes the Path, calls placed through either
//! node reach it through Kamailio on that connection, BYE works from either side, and the MWI
//! NOTIFY arrives there too.
// Tests drive real processes over real sockets: wall-clock deadlines are the point here.
#![allow(clippy::disallowed_methods)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::nodes::{self, header, param, sha256_hex, Kamailio, PgDatabase};
use crate::nodes::{HANS_ONE_NUMBER, SECRET};
use crate::support;

/// A desk phone on TCP: one connection to the proxy (or, in `nodes_tcp_reach`, straight to one
/// node), raw SIP, every request it does not wait for (the MWI NOTIFY, a keepalive OPTIONS)
/// answered 200 and kept.
pub(crate) struct TcpPhone {
    stream: TcpStream,
    buffer: Vec<u8>,
    pub(crate) local: SocketAddr,
    user: &'static str,
    /// NOTIFYs answered while waiting for something else.
    notifies: Vec<String>,
    /// Answer NOTIFYs 405, as a phone that takes no unsolicited ones.
    refuses_notify: bool,
}

/// The To tag of the phone's dialogs.
const TAG: &str = "tcpphone1";

impl TcpPhone {
    pub(crate) fn connect(proxy: SocketAddr, user: &'static str) -> TcpPhone {
        let stream = TcpStream::connect(proxy).expect("the proxy or node accepts TCP");
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let local = stream.local_addr().unwrap();
        TcpPhone {
            stream,
            buffer: Vec::new(),
            local,
            user,
            notifies: Vec::new(),
            refuses_notify: false,
        }
    }

    pub(crate) fn send(&mut self, text: &str) {
        self.stream.write_all(text.as_bytes()).unwrap();
    }

    /// The next whole message on the connection (framed by Content-Length), within `limit`.
    fn read(&mut self, limit: Duration) -> Option<String> {
        let deadline = Instant::now() + limit;
        loop {
            // Keepalive CRLFs between messages (RFC 5626 §3.5.1) are not messages.
            while self.buffer.starts_with(b"\r\n") {
                self.buffer.drain(..2);
            }
            if let Some(end) = self.buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buffer[..end]).into_owned();
                let length: usize = head
                    .lines()
                    .filter_map(|l| l.split_once(':'))
                    .find(|(n, _)| {
                        n.trim().eq_ignore_ascii_case("Content-Length")
                            || n.trim().eq_ignore_ascii_case("l")
                    })
                    .and_then(|(_, v)| v.trim().parse().ok())
                    .unwrap_or(0);
                if self.buffer.len() >= end + 4 + length {
                    let message: Vec<u8> = self.buffer.drain(..end + 4 + length).collect();
                    return Some(String::from_utf8_lossy(&message).into_owned());
                }
            }
            if Instant::now() >= deadline {
                return None;
            }
            let mut chunk = [0u8; 8192];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
                Err(_) => {}
            }
        }
    }

    /// The next response, within `limit` (requests meanwhile answered as in [`Self::request`]).
    fn response(&mut self, limit: Duration) -> Option<String> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            let message = self.read(deadline.saturating_duration_since(Instant::now()))?;
            if message.starts_with("SIP/2.0") {
                return Some(message);
            }
            self.answer_aside(&message);
        }
        None
    }

    /// The next request of `method`, within `limit`; NOTIFY and OPTIONS on the way are answered
    /// 200 (NOTIFYs kept), stray responses dropped.
    pub(crate) fn request(&mut self, method: &str, limit: Duration) -> Option<String> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            let message = self.read(deadline.saturating_duration_since(Instant::now()))?;
            if message.starts_with(&format!("{method} ")) {
                return Some(message);
            }
            if !message.starts_with("SIP/2.0") {
                self.answer_aside(&message);
            }
        }
        None
    }

    fn answer_aside(&mut self, request: &str) {
        if request.starts_with("NOTIFY ") && self.refuses_notify {
            self.send(&response(request, "405 Method Not Allowed", None, "", ""));
        } else if request.starts_with("NOTIFY ") || request.starts_with("OPTIONS ") {
            self.send(&response(request, "200 OK", None, "", ""));
        }
        if request.starts_with("NOTIFY ") {
            self.notifies.push(request.to_owned());
        }
    }

    fn register_request(&self, cseq: u32, call_id: &str, auth: Option<&str>) -> String {
        let auth = auth
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        format!(
            "REGISTER sip:onestatus SIP/2.0\r\nVia: SIP/2.0/TCP {local};rport;branch=z9hG4bK-tp{cseq}-{}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:{user}@onestatus>;tag=tp1\r\nTo: <sip:{user}@onestatus>\r\n\
             Call-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\n\
             Contact: <sip:{user}@{local};transport=tcp>\r\nSupported: path\r\nExpires: 600\r\n\
             {auth}Content-Length: 0\r\n\r\n",
            support::rand_token(),
            local = self.local,
            user = self.user,
        )
    }

    /// REGISTERs with digest (SHA-256, password `demo<user>`); returns the final answer.
    pub(crate) fn register(&mut self) -> String {
        let call_id = format!("tcp-phone-{}@test", support::rand_token());
        let first = self.register_request(1, &call_id, None);
        self.send(&first);
        let challenge = self.response(Duration::from_secs(10)).expect("401");
        assert!(challenge.starts_with("SIP/2.0 401"), "{challenge}");
        let offer = header(&challenge, "WWW-Authenticate")
            .into_iter()
            .find(|c| c.contains("algorithm=SHA-256"))
            .expect("a SHA-256 challenge")
            .to_owned();
        let nonce = param(&offer, "nonce").unwrap();
        let opaque = param(&offer, "opaque").unwrap_or_default();
        let user = self.user;
        let ha1 = sha256_hex(&format!("{user}:onestatus:demo{user}"));
        let ha2 = sha256_hex("REGISTER:sip:onestatus");
        let answer = sha256_hex(&format!("{ha1}:{nonce}:00000001:c0ffee:auth:{ha2}"));
        let authorization = format!(
            "Digest username=\"{user}\", realm=\"onestatus\", nonce=\"{nonce}\", uri=\"sip:onestatus\", \
             response=\"{answer}\", algorithm=SHA-256, cnonce=\"c0ffee\", nc=00000001, qop=auth, opaque=\"{opaque}\""
        );
        let second = self.register_request(2, &call_id, Some(&authorization));
        self.send(&second);
        self.response(Duration::from_secs(10)).expect("200")
    }

    /// Rings and answers `invite` (180, then 200 with SDP and the Record-Route set copied,
    /// RFC 3261 §12.1.1), and takes the ACK.
    pub(crate) fn answer(&mut self, invite: &str) {
        let contact = format!(
            "Contact: <sip:{}@{};transport=tcp>\r\n",
            self.user, self.local
        );
        self.send(&response(invite, "180 Ringing", Some(TAG), &contact, ""));
        let sdp = format!(
            "v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
            support::free_udp_port()
        );
        let extra = format!("{contact}Content-Type: application/sdp\r\n");
        self.send(&response(invite, "200 OK", Some(TAG), &extra, &sdp));
        let ack = self
            .request("ACK", Duration::from_secs(10))
            .expect("the ACK reaches the phone through kamailio");
        assert_eq!(header(&ack, "Call-ID"), header(invite, "Call-ID"), "{ack}");
    }

    /// Answers an in-dialog re-INVITE 200 with SDP in `direction` (RFC 3264 §8.4: the
    /// answer to `sendonly` is `recvonly`) and takes its ACK.
    fn answer_reinvite(&mut self, direction: &str) {
        let reinvite = self
            .request("INVITE", Duration::from_secs(10))
            .expect("the re-INVITE reaches the TCP phone through kamailio");
        let sdp = format!(
            "v=0\r\no=phone 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na={direction}\r\n",
            support::free_udp_port()
        );
        let extra = format!(
            "Contact: <sip:{}@{};transport=tcp>\r\nContent-Type: application/sdp\r\n",
            self.user, self.local
        );
        self.send(&response(&reinvite, "200 OK", None, &extra, &sdp));
        self.request("ACK", Duration::from_secs(10))
            .expect("the re-INVITE's ACK reaches the phone");
    }

    /// Hangs up the call `invite` set up (§15.1.1): a BYE along the route set (the INVITE's
    /// Record-Route in order, §12.1.1) to its Contact, on the connection; returns the answer.
    pub(crate) fn hang_up(&mut self, invite: &str) -> String {
        let target = header(invite, "Contact")
            .first()
            .map(|c| c.trim_start_matches('<').split('>').next().unwrap_or(c))
            .expect("the INVITE has a Contact")
            .to_owned();
        let routes: String = header(invite, "Record-Route")
            .iter()
            .flat_map(|v| v.split(','))
            .map(|r| format!("Route: {}\r\n", r.trim()))
            .collect();
        let bye = format!(
            "BYE {target} SIP/2.0\r\nVia: SIP/2.0/TCP {local};rport;branch=z9hG4bK-bye-{}\r\n\
             Max-Forwards: 70\r\n{routes}From: {to};tag={TAG}\r\nTo: {from}\r\nCall-ID: {call_id}\r\n\
             CSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n",
            support::rand_token(),
            local = self.local,
            to = header(invite, "To")[0],
            from = header(invite, "From")[0],
            call_id = header(invite, "Call-ID")[0],
        );
        self.send(&bye);
        loop {
            let answer = self
                .response(Duration::from_secs(10))
                .expect("BYE answered");
            if header(&answer, "CSeq")
                .first()
                .is_some_and(|c| c.ends_with("BYE"))
            {
                return answer;
            }
        }
    }
}

/// A response to `request`: its Via, From, To (with `to_tag` added when it has none),
/// Call-ID, CSeq and Record-Route, then `extra` header lines and `body`.
pub(crate) fn response(
    request: &str,
    status: &str,
    to_tag: Option<&str>,
    extra: &str,
    body: &str,
) -> String {
    let mut out = format!("SIP/2.0 {status}\r\n");
    for line in request.split("\r\n").skip(1) {
        if line.is_empty() {
            break;
        }
        let name = line
            .split(':')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match name.as_str() {
            "via" | "v" | "from" | "f" | "call-id" | "i" | "cseq" | "record-route" => {
                out.push_str(line);
                out.push_str("\r\n");
            }
            "to" | "t" => match to_tag {
                Some(tag) if !line.contains("tag=") => {
                    out.push_str(&format!("{line};tag={tag}\r\n"));
                }
                _ => out.push_str(&format!("{line}\r\n")),
            },
            _ => {}
        }
    }
    out.push_str(extra);
    out.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    out
}

/// Two nodes on one fresh database, sharing the nonce secret, behind Kamailio listening on
/// UDP and TCP. Bound in this order, they are dropped Kamailio first and the database last.
fn two_nodes_behind_kamailio() -> (
    PgDatabase,
    support::TestServer,
    support::TestServer,
    Kamailio,
) {
    let db = PgDatabase::create();
    let secret = [("ONESTATUS_SIP_NONCE_SECRET", SECRET)];
    let a = nodes::node(&db, &secret);
    let b = nodes::node(&db, &secret);
    let kamailio = Kamailio::start_with_tcp(&[a.sip_udp, b.sip_udp]);
    (db, a, b, kamailio)
}

/// Waits (bounded) until `node` shows Hans off the phone: a call just ended on one node must
/// not make the next one, through another node, go to voicemail as "on the phone".
pub(crate) fn wait_hans_free(node: &support::TestServer, db: &PgDatabase) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let hans = runtime.block_on(async {
        let store = onestatus::store::Store::connect(&db.url).await.unwrap();
        let id = store.user_by_local_number("1000001").await.unwrap().id.0;
        store.close().await;
        id
    });
    let token = nodes::login(node, "1000002");
    assert!(
        nodes::eventually(Duration::from_secs(15), || {
            nodes::active_calls_seen(node, &token, hans) == 0
        }),
        "Hans still on the phone after the call"
    );
}

/// The Path stored with the bindings of the user with `local_number`.
pub(crate) fn stored_paths(db: &PgDatabase, local_number: &str) -> Vec<Vec<String>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = onestatus::store::Store::connect(&db.url).await.unwrap();
        let user = store.user_by_local_number(local_number).await.unwrap();
        let paths = store
            .registrations_active(user.id, chrono::Utc::now())
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.binding.path)
            .collect();
        store.close().await;
        paths
    })
}

#[test]
fn sipp_phones_register_through_kamailio_over_udp_and_tcp_and_their_path_is_stored() {
    let db = PgDatabase::create();
    // SIPp 3.6 answers only the first challenge and knows only MD5 (as in `sip.rs`).
    let secret = [
        ("ONESTATUS_SIP_NONCE_SECRET", SECRET),
        ("ONESTATUS_SIP_DIGEST_ALGORITHMS", "[\"MD5\", \"SHA-256\"]"),
    ];
    let a = nodes::node(&db, &secret);
    let b = nodes::node(&db, &secret);
    let kamailio = Kamailio::start_with_tcp(&[a.sip_udp, b.sip_udp]);
    support::sipp(
        "register_auth.xml",
        kamailio.address,
        &[
            "-au",
            "1000002",
            "-ap",
            "demo1000002",
            "-s",
            "1000002",
            "-m",
            "1",
        ],
    )
    .unwrap();
    let tcp = kamailio.tcp.unwrap();
    support::sipp(
        "register_auth.xml",
        tcp,
        &[
            "-t",
            "t1",
            "-au",
            "1000003",
            "-ap",
            "demo1000003",
            "-s",
            "1000003",
            "-m",
            "1",
        ],
    )
    .unwrap();
    // Each binding keeps the one Path Kamailio added, naming Kamailio's UDP side (where the
    // nodes reach it) and, in `received`, where the phone really is and on what.
    let udp = stored_paths(&db, "1000002");
    assert_eq!(udp.len(), 1, "{udp:?}");
    assert_eq!(udp[0].len(), 1, "{udp:?}");
    assert!(
        udp[0][0].contains(&format!("sip:{};lr", kamailio.address))
            || udp[0][0].contains(&format!("sip:{}", kamailio.address)),
        "{udp:?}"
    );
    assert!(udp[0][0].contains("received="), "{udp:?}");
    let over_tcp = stored_paths(&db, "1000003");
    assert_eq!(over_tcp.len(), 1, "{over_tcp:?}");
    assert!(
        over_tcp[0][0]
            .to_ascii_lowercase()
            .contains("transport%3dtcp"),
        "{over_tcp:?}"
    );
}

#[test]
fn a_tcp_phone_registered_through_kamailio_is_reached_from_either_node() {
    let (db, a, b, kamailio) = two_nodes_behind_kamailio();
    let mut phone = TcpPhone::connect(kamailio.tcp.unwrap(), "1000001");

    // RFC 3327 §5.3: the phone said `Supported: path`, so the 200 says the Path back.
    let registered = phone.register();
    assert!(registered.starts_with("SIP/2.0 200"), "{registered}");
    let path = header(&registered, "Path");
    assert_eq!(path.len(), 1, "{registered}");
    assert!(path[0].contains(";lr"), "{registered}");
    assert!(path[0].contains("received="), "{registered}");

    // The registration lights the lamp: the MWI NOTIFY comes through Kamailio on the phone's
    // connection (no node could open one to it).
    let notify = match phone.notifies.pop() {
        Some(notify) => notify,
        None => {
            let notify = phone
                .request("NOTIFY", Duration::from_secs(10))
                .expect("the MWI NOTIFY reaches the TCP phone");
            phone.send(&response(&notify, "200 OK", None, "", ""));
            notify
        }
    };
    assert!(notify.contains("Messages-Waiting"), "{notify}");
    assert_eq!(header(&notify, "Event"), ["message-summary"], "{notify}");

    // A call placed through node A: the caller hangs up, so the BYE comes from node A.
    let target = a.sip_udp;
    let caller = std::thread::spawn(move || {
        support::sipp("uac_call.xml", target, &["-s", HANS_ONE_NUMBER, "-m", "1"])
    });
    let invite = phone
        .request("INVITE", Duration::from_secs(15))
        .expect("node A's INVITE reaches the TCP phone through kamailio");
    // Kamailio stays in the dialog: it record-routed the INVITE on its way in.
    assert!(!header(&invite, "Record-Route").is_empty(), "{invite}");
    phone.answer(&invite);
    let bye = phone
        .request("BYE", Duration::from_secs(15))
        .expect("the caller's BYE reaches the TCP phone");
    phone.send(&response(&bye, "200 OK", None, "", ""));
    caller.join().unwrap().unwrap();
    wait_hans_free(&b, &db);

    // A call placed through node B: the phone hangs up, its BYE goes back through Kamailio.
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
        .expect("node B's INVITE reaches the TCP phone through kamailio");
    phone.answer(&invite);
    std::thread::sleep(Duration::from_millis(300));
    let answer = phone.hang_up(&invite);
    assert!(answer.starts_with("SIP/2.0 200"), "{answer}");
    caller.join().unwrap().unwrap();
    assert!(
        a.wait_log("call over", Duration::from_secs(5)).is_some(),
        "node A carried no call"
    );
    assert!(
        b.wait_log("call over", Duration::from_secs(5)).is_some(),
        "node B carried no call"
    );
}

/// Re-INVITEs (hold, resume) from a caller on node A cross to the TCP phone along the route set
/// through Kamailio, in the phone's own dialog, and the BYE after them too.
#[test]
fn reinvites_reach_a_tcp_phone_through_kamailio() {
    let (_db, a, _b, kamailio) = two_nodes_behind_kamailio();
    let mut phone = TcpPhone::connect(kamailio.tcp.unwrap(), "1000001");
    let registered = phone.register();
    assert!(registered.starts_with("SIP/2.0 200"), "{registered}");
    let target = a.sip_udp;
    let caller = std::thread::spawn(move || {
        support::sipp(
            "uac_reinvite_hold.xml",
            target,
            &["-s", HANS_ONE_NUMBER, "-m", "1"],
        )
    });
    let invite = phone
        .request("INVITE", Duration::from_secs(15))
        .expect("node A's INVITE reaches the TCP phone through kamailio");
    phone.answer(&invite);
    phone.answer_reinvite("recvonly");
    phone.answer_reinvite("sendrecv");
    let bye = phone
        .request("BYE", Duration::from_secs(15))
        .expect("the caller's BYE reaches the TCP phone");
    phone.send(&response(&bye, "200 OK", None, "", ""));
    caller.join().unwrap().unwrap();
}

/// Two phones of one user behind Kamailio share its address: one refusing unsolicited
/// NOTIFYs (405) must not cost the other its lamp.
#[test]
fn one_phone_behind_kamailio_refusing_mwi_does_not_silence_the_other() {
    let (db, _a, _b, kamailio) = two_nodes_behind_kamailio();
    let mut refusing = TcpPhone::connect(kamailio.tcp.unwrap(), "1000001");
    refusing.refuses_notify = true;
    let registered = refusing.register();
    assert!(registered.starts_with("SIP/2.0 200"), "{registered}");
    // Its NOTIFY is answered 405 meanwhile. One only: the node that took the REGISTER tells
    // every phone behind the proxy; the other node hears of the change and leaves them to it.
    assert!(refusing.request("INVITE", Duration::from_secs(2)).is_none());
    assert_eq!(
        refusing.notifies.len(),
        1,
        "one NOTIFY per change, not one per node: {:?}",
        refusing.notifies
    );

    // A second phone of the same user registers: its lamp is still lit through Kamailio.
    let mut other = TcpPhone::connect(kamailio.tcp.unwrap(), "1000001");
    let registered = other.register();
    assert!(registered.starts_with("SIP/2.0 200"), "{registered}");
    if other.notifies.is_empty() {
        let notify = other
            .request("NOTIFY", Duration::from_secs(10))
            .expect("the other phone still gets its MWI NOTIFY");
        other.send(&response(&notify, "200 OK", None, "", ""));
    }
    assert_eq!(stored_paths(&db, "1000001").len(), 2);
}
