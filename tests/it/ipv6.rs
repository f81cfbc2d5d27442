//! Issue 3 asks for IPv4 and IPv6: the real binary listening on `[::1]`, an IPv6 phone sending
//! OPTIONS and a SHA-256 digest REGISTER over UDP. The answers must route back by Via
//! (`received` / `rport`, RFC 3261 §18.2.1, RFC 3581 §4) and print every IPv6 reference in
//! brackets (received bare, §25.1), with no trace of the placeholders the façade uses inside.

// Tests drive a real process over real sockets: wall-clock deadlines are the point here.
#![allow(clippy::disallowed_methods)]

use crate::support;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use crate::support::TestServer;
use sha2::{Digest, Sha256};

const LISTEN_V6: (&str, &str) = ("ONESTATUS_SIP_LISTEN", "[\"[::1]:0\"]");

/// A phone on `[::1]`.
struct Phone {
    socket: UdpSocket,
    server: SocketAddr,
}

impl Phone {
    fn new(server: SocketAddr) -> Phone {
        let socket = UdpSocket::bind("[::1]:0").expect("IPv6 loopback");
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        Phone { socket, server }
    }

    fn local(&self) -> SocketAddr {
        self.socket.local_addr().unwrap()
    }

    /// Sends `request` and returns the answer that carries `branch` (skipping a 100 Trying).
    fn ask(&self, request: &str, branch: &str) -> String {
        self.socket
            .send_to(request.as_bytes(), self.server)
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut buffer = [0u8; 65536];
        while Instant::now() < deadline {
            if let Ok((n, from)) = self.socket.recv_from(&mut buffer) {
                let text = String::from_utf8_lossy(&buffer[..n]).into_owned();
                assert_eq!(from, self.server, "answered from the listening socket");
                if text.contains(branch) && !text.starts_with("SIP/2.0 100") {
                    return text;
                }
            }
        }
        panic!("no answer to:\n{request}");
    }
}

fn header<'a>(message: &'a str, name: &str) -> Vec<&'a str> {
    message
        .split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .filter(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
        .collect()
}

fn param<'a>(challenge: &'a str, name: &str) -> Option<&'a str> {
    challenge.split(',').find_map(|p| {
        let (k, v) = p.trim().trim_start_matches("Digest ").split_once('=')?;
        (k.trim() == name).then(|| v.trim().trim_matches('"'))
    })
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

fn assert_no_placeholder(message: &str) {
    assert!(
        !message.to_ascii_lowercase().contains(".invalid"),
        "placeholder leaked onto the wire:\n{message}"
    );
}

#[test]
fn ipv6_phone_gets_options_and_registers_with_sha256_digest() {
    let server = TestServer::start_with(&["serve", "--demo"], &[LISTEN_V6]);
    assert_eq!(
        server.sip_udp.ip().to_string(),
        "::1",
        "listening on {}",
        server.sip_udp
    );
    let phone = Phone::new(server.sip_udp);
    let local = phone.local();
    let port = local.port();
    let target = server.sip_udp;

    let options = |sent_by_and_params: &str, branch: &str| {
        format!(
            "OPTIONS sip:{target} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {sent_by_and_params};branch={branch}\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:probe@{local}>;tag=v6p\r\n\
             To: <sip:{target}>\r\n\
             Call-ID: {branch}@v6\r\n\
             CSeq: 1 OPTIONS\r\n\
             Contact: <sip:probe@{local}>\r\n\
             Content-Length: 0\r\n\r\n"
        )
    };

    // OPTIONS with rport: RFC 3581 §4, received is added even when it equals the sent-by, and
    // rport gets the source port.
    let branch = format!("z9hG4bK-v6opt-{}", support::rand_token());
    let answer = phone.ask(&options(&format!("{local};rport"), &branch), &branch);
    assert!(answer.starts_with("SIP/2.0 200 OK\r\n"), "{answer}");
    assert_no_placeholder(&answer);
    assert_eq!(
        header(&answer, "Via"),
        [format!(
            "SIP/2.0/UDP [::1]:{port};rport={port};branch={branch};received=::1"
        )]
    );
    assert_eq!(
        header(&answer, "From"),
        [format!("<sip:probe@[::1]:{port}>;tag=v6p")]
    );
    let to = header(&answer, "To");
    assert!(
        to[0].starts_with(&format!("<sip:[::1]:{}>;tag=", target.port())),
        "{answer}"
    );

    // A sent-by that is not the source (a phone behind NAT66, a stale address), no rport:
    // §18.2.1 received says where it really came from, bare as §25.1 writes it.
    let branch = format!("z9hG4bK-v6nat-{}", support::rand_token());
    let answer = phone.ask(&options("[2001:db8::5]:5060", &branch), &branch);
    assert!(answer.starts_with("SIP/2.0 200 OK\r\n"), "{answer}");
    assert_no_placeholder(&answer);
    assert_eq!(
        header(&answer, "Via"),
        [format!(
            "SIP/2.0/UDP [2001:db8::5]:5060;branch={branch};received=::1"
        )]
    );

    // REGISTER with an IPv6 Request-URI and Contact, SHA-256 digest (RFC 7616, RFC 8760).
    let register = |cseq: u32, auth: Option<String>| {
        let auth = auth
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        let branch = format!("z9hG4bK-v6r{cseq}-{}", support::rand_token());
        let text = format!(
            "REGISTER sip:{target} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};rport;branch={branch}\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:1000003@onestatus>;tag=v6r\r\n\
             To: <sip:1000003@onestatus>\r\n\
             Call-ID: v6-register-{}@[::1]\r\n\
             CSeq: {cseq} REGISTER\r\n\
             Contact: <sip:1000003@{local};transport=udp>\r\n\
             Expires: 600\r\n\
             {auth}Content-Length: 0\r\n\r\n",
            std::process::id()
        );
        (text, branch)
    };
    let (first, branch) = register(1, None);
    let challenge = phone.ask(&first, &branch);
    assert!(
        challenge.starts_with("SIP/2.0 401 Unauthorized\r\n"),
        "{challenge}"
    );
    assert_no_placeholder(&challenge);
    assert_eq!(
        header(&challenge, "Via"),
        [format!(
            "SIP/2.0/UDP [::1]:{port};rport={port};branch={branch};received=::1"
        )]
    );
    let offer = header(&challenge, "WWW-Authenticate")
        .into_iter()
        .find(|o| o.contains("algorithm=SHA-256"))
        .expect("SHA-256 offered")
        .to_owned();
    let nonce = param(&offer, "nonce").unwrap().to_owned();
    let opaque = param(&offer, "opaque").unwrap().to_owned();
    // The digest-uri is the Request-URI as the phone wrote it, brackets included (RFC 7616
    // §3.4.6), and HA2 covers that text.
    let digest_uri = format!("sip:{target}");
    let ha1 = sha256_hex("1000003:onestatus:demo1000003");
    let ha2 = sha256_hex(&format!("REGISTER:{digest_uri}"));
    let response = sha256_hex(&format!("{ha1}:{nonce}:00000001:0a4f113b:auth:{ha2}"));
    let authorization = format!(
        "Digest username=\"1000003\", realm=\"onestatus\", nonce=\"{nonce}\", \
         uri=\"{digest_uri}\", response=\"{response}\", algorithm=SHA-256, \
         cnonce=\"0a4f113b\", nc=00000001, qop=auth, opaque=\"{opaque}\""
    );
    let (second, branch) = register(2, Some(authorization));
    let ok = phone.ask(&second, &branch);
    assert!(ok.starts_with("SIP/2.0 200 OK\r\n"), "{ok}");
    assert_no_placeholder(&ok);
    assert_eq!(
        header(&ok, "Via"),
        [format!(
            "SIP/2.0/UDP [::1]:{port};rport={port};branch={branch};received=::1"
        )]
    );
    let contacts = header(&ok, "Contact");
    assert_eq!(contacts.len(), 1, "{ok}");
    assert!(
        contacts[0].starts_with(&format!("<sip:1000003@[::1]:{port};transport=udp>")),
        "{ok}"
    );
    assert!(contacts[0].contains("expires=600"), "{ok}");
}
